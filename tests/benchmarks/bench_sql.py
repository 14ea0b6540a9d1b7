"""Benchmark of the SQL connector's batch creates (issue 3) on PostgreSQL and SQLite.

Run from the checkout::

    .venv/bin/python tests/benchmarks/bench_sql.py           # full, about a minute
    .venv/bin/python tests/benchmarks/bench_sql.py --quick   # smoke test, a few seconds

For each database, users are created in batches of 500 operations, as the agent receives
them, through ``SqlConnector.apply`` (table mode, whose fast path sends multi-row INSERTs),
and the baseline is the plain pyodbc loop the connector competes with: one connection,
one multi-row INSERT of the same 500 rows per statement, one commit per statement, from
the same attribute dictionaries. Both write into a fresh table of the same shape each
round; rounds alternate, and the best round of each counts, because the machine is shared
and noisy: the ratio is the figure to compare between runs. The script starts its own
throwaway PostgreSQL (as the tests do) and SQLite file, and removes both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyodbc

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from agent.connectors.sql import SqlConnector  # noqa: E402
from shared.connector import USER, Action, Attributes, Operation  # noqa: E402
from tests.benchmarks.report import machine, markdown_table  # noqa: E402
from tests.servers.postgres import running_postgres  # noqa: E402
from tests.servers.sqlite import SqliteOdbcDatabase  # noqa: E402

BATCH = 500
TARGET_RATIO = 0.7
COLUMNS = ("id", "user_name", "display_name", "email", "active")
TABLE = (
    "CREATE TABLE {name} (id VARCHAR(100) PRIMARY KEY, user_name VARCHAR(200) UNIQUE NOT NULL,"
    " display_name TEXT, email TEXT, active BOOLEAN)"
)


@dataclass
class Target:
    dialect: str
    connection_string: str

    def execute(self, sql: str) -> None:
        """One statement on a connection of its own, outside the clock."""
        connection = pyodbc.connect(self.connection_string, autocommit=True)
        try:
            connection.execute(sql)
        finally:
            connection.close()

    def count(self, table: str) -> int:
        connection = pyodbc.connect(self.connection_string, autocommit=True)
        try:
            return int(connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        finally:
            connection.close()


def users(count: int) -> list[Attributes]:
    return [
        {
            "id": f"u{i:08}",
            "user_name": f"user{i:08}",
            "display_name": f"User Number {i}",
            "email": f"user{i}@example.com",
            "active": i % 2 == 0,
        }
        for i in range(count)
    ]


class Baseline:
    """Plain pyodbc: one multi-row INSERT of up to 500 rows per statement, each committed."""

    def __init__(self, target: Target, table: str) -> None:
        self.connection = pyodbc.connect(target.connection_string, autocommit=False)
        self.connection.execute("SELECT 1").fetchall()  # fully open before the clock runs
        self.table = table

    def insert(self, chunk: list[Attributes]) -> None:
        marks = "(" + ", ".join("?" * len(COLUMNS)) + ")"
        sql = f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) VALUES " + ", ".join(
            [marks] * len(chunk)
        )
        self.connection.execute(sql, *[row[c] for row in chunk for c in COLUMNS])
        self.connection.commit()


async def interleaved(
    target: Target, rows: list[Attributes], tables: tuple[str, str]
) -> tuple[float, float]:
    """Seconds spent by the baseline and by the connector, batch by batch in turn, so both
    see the same moments of a noisy machine."""
    plain = Baseline(target, tables[0])
    connector = SqlConnector.from_settings(
        "bench",
        {
            "dialect": target.dialect,
            "connection_string": target.connection_string,
            "users_table": tables[1],
        },
        source="bench_sql.py",
    )
    spent = [0.0, 0.0]
    try:
        await connector.test()  # connected and the table described before the clock runs
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            operations = [
                Operation(f"{start + i}", Action.CREATE, USER, attributes=row)
                for i, row in enumerate(chunk)
            ]
            began = time.perf_counter()
            plain.insert(chunk)
            spent[0] += time.perf_counter() - began
            began = time.perf_counter()
            results = await connector.apply(operations)
            spent[1] += time.perf_counter() - began
            failures = [r.error for r in results if r.error is not None]
            if failures:
                raise SystemExit(f"the connector failed creates: {failures[:3]}")
    finally:
        plain.connection.close()
        await connector.close()
    return spent[0], spent[1]


def measure(target: Target, rows: list[Attributes], rounds: int) -> dict[str, Any]:
    """The best round of each; a round writes every row both ways into fresh tables."""
    best = [float("inf"), float("inf")]
    for round_number in range(rounds):
        tables = (f"plain_{round_number}", f"connector_{round_number}")
        for table in tables:
            target.execute(TABLE.format(name=table))
        spent = asyncio.run(interleaved(target, rows, tables))
        for side, table in enumerate(tables):
            if target.count(table) != len(rows):
                raise SystemExit(f"{table} on {target.dialect} did not get every row")
            target.execute(f"DROP TABLE {table}")
            best[side] = min(best[side], spent[side])
    return {
        "rows": len(rows),
        "baseline_rows_per_s": len(rows) / best[0],
        "connector_rows_per_s": len(rows) / best[1],
    }


@contextlib.contextmanager
def sqlite_target() -> Iterator[Target]:
    with tempfile.TemporaryDirectory(prefix="hatchway-bench-sql-") as folder:
        database = SqliteOdbcDatabase.at(Path(folder) / "bench.sqlite3")
        yield Target("sqlite", database.odbc_connection_string)


@contextlib.contextmanager
def postgres_target() -> Iterator[Target]:
    with running_postgres() as server:
        server.create_database("bench")
        yield Target("postgresql", server.odbc_connection_string("bench"))


def table(results: dict[str, dict[str, Any]]) -> str:
    rows: list[tuple[str, ...]] = []
    for dialect, found in results.items():
        value, base = found["connector_rows_per_s"], found["baseline_rows_per_s"]
        ratio = value / base
        rows.append(
            (
                f"{dialect}: batch creates through the connector ({found['rows']:,} rows)",
                f"{value:,.0f} rows/s",
                f"{base:,.0f} rows/s (pyodbc multi-row INSERT of {BATCH})",
                f"{ratio:.2f}",
                f">= {TARGET_RATIO} x baseline",
                "yes" if ratio >= TARGET_RATIO else "NO",
            )
        )
    return markdown_table(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, as a smoke test")
    args = parser.parse_args(argv)
    count, rounds = (5_000, 1) if args.quick else (50_000, 5)
    started = datetime.now(UTC)
    print(f"hatchway SQL benchmark, {'quick' if args.quick else 'full'}; {machine()}")
    rows = users(count)
    results: dict[str, dict[str, Any]] = {}
    for dialect, opened in (("postgresql", postgres_target), ("sqlite", sqlite_target)):
        print(f"  {dialect}: {count:,} rows, {rounds} round(s) ...", flush=True)
        with opened() as target:
            results[dialect] = measure(target, rows, rounds)
    print()
    print(table(results))
    print(f"\n{started:%Y-%m-%d %H:%M} UTC; {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
