"""Benchmark of the directory's store and import (issue 5).

Run from the checkout::

    .venv/bin/python tests/benchmarks/bench_directory.py           # full, 100,000 users
    .venv/bin/python tests/benchmarks/bench_directory.py --quick   # smoke test, 5,000 users

Every figure is printed beside a baseline measured in the same run on the same machine
(the machine is shared and noisy: compare ratios between runs).

1. ``userName eq`` lookups: the SQLite store holds N users (each with a name, two emails and
   the enterprise extension); ``SqliteStore.query_entries`` with ``userName eq "<random>"``
   and a page of 1, sequentially; p50 and p99. Baseline: the same lookup as a bare
   ``SELECT ... WHERE name_key = ?`` through sqlite3 on the same file, in this thread.
2. Importing a CSV of N users into an empty store: ``hatchway directory import`` as the CLI
   runs it (``import_file``: read and check the file, plan against the store, write in
   batches), in this process; then the same file again, which must write nothing.
   Baseline: the same rows (already parsed) written straight into ``directory_entries``
   with one ``executemany`` in one transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from relay.directory.import_plan import import_file  # noqa: E402
from relay.directory.query import AttributePath, Compare, CompareOp, Query  # noqa: E402
from relay.store.base import EntryKind, EntryWrite  # noqa: E402
from relay.store.sqlite import SqliteStore  # noqa: E402
from tests.benchmarks.report import machine, markdown_table  # noqa: E402

TARGET_LOOKUP_P99_MS = 10.0
TARGET_IMPORT_S = 30.0
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HEADER = "userName,externalId,name.givenName,name.familyName,mail,active,dept,groups"
MAPPING = {"mail": 'emails[type eq "work"].value', "dept": f"{ENTERPRISE}:department"}


def user(i: int) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": f"user{i:06d}@example.org",
        "externalId": f"E{i:06d}",
        "name": {"givenName": f"Given{i}", "familyName": f"Family{i}"},
        "emails": [
            {"type": "work", "value": f"user{i:06d}@example.org", "primary": True},
            {"type": "home", "value": f"u{i}@home.example"},
        ],
        "active": i % 10 != 0,
        ENTERPRISE: {"department": f"Dept{i % 50}", "employeeNumber": str(i)},
    }


async def fill(store: SqliteStore, count: int) -> float:
    started = time.perf_counter()
    for start in range(0, count, 1000):
        batch = [
            EntryWrite(EntryKind.USER, resource=user(i))
            for i in range(start, min(count, start + 1000))
        ]
        await store.write_entries(batch)
    return time.perf_counter() - started


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def figure_1(root: Path, users: int, lookups: int) -> dict[str, Any]:
    path = root / "lookup.sqlite3"
    store = SqliteStore(path)
    await store.open()
    try:
        print(f"  filling the store with {users:,} users ...", flush=True)
        fill_seconds = await fill(store, users)
        rng = random.Random(5)
        names = [f"USER{rng.randrange(users):06d}@EXAMPLE.ORG" for _ in range(lookups)]
        timings = []
        for name in names[:50]:  # warm-up
            await store.query_entries(EntryKind.USER, lookup(name))
        for name in names:
            started = time.perf_counter()
            found, total = await store.query_entries(EntryKind.USER, lookup(name))
            timings.append((time.perf_counter() - started) * 1000)
            assert total == 1 and len(found) == 1, name
    finally:
        await store.close()
    db = sqlite3.connect(path)
    baseline = []
    try:
        for name in names:
            started = time.perf_counter()
            row = db.execute(
                "SELECT id, kind, resource, version, created_at, modified_at"
                " FROM directory_entries WHERE kind = 'user' AND name_key = ?",
                (name.lower(),),
            ).fetchone()
            json.loads(row[2])
            baseline.append((time.perf_counter() - started) * 1000)
    finally:
        db.close()
    return {
        "users": users,
        "lookups": lookups,
        "fill_seconds": fill_seconds,
        "p50_ms": statistics.median(timings),
        "p99_ms": percentile(timings, 0.99),
        "base_p50_ms": statistics.median(baseline),
        "base_p99_ms": percentile(baseline, 0.99),
    }


def lookup(name: str) -> Query:
    return Query(filter=Compare(AttributePath("userName"), CompareOp.EQ, name), count=1)


def write_csv(path: Path, users: int) -> None:
    with path.open("w") as out:
        out.write(HEADER + "\n")
        for i in range(users):
            out.write(
                f"user{i:06d}@example.org,E{i:06d},Given{i},Family{i},user{i:06d}@example.org,"
                f"{'false' if i % 10 == 0 else 'true'},Dept{i % 50},\n"
            )


async def figure_2(root: Path, users: int) -> dict[str, Any]:
    csv_path = root / "people.csv"
    write_csv(csv_path, users)
    store = SqliteStore(root / "import.sqlite3")
    await store.open()
    try:
        print(f"  importing a CSV of {users:,} users ...", flush=True)
        started = time.perf_counter()
        parsed, _ = await import_file(store, csv_path, mapping=MAPPING)
        seconds = time.perf_counter() - started
        _, total = await store.query_entries(EntryKind.USER, Query(count=0))
        assert total == users, total
        again = time.perf_counter()
        _, plan = await import_file(store, csv_path, mapping=MAPPING)
        again_seconds = time.perf_counter() - again
        assert plan.writes == 0, plan.writes
    finally:
        await store.close()

    print("  baseline: the same rows with one executemany ...", flush=True)
    base_path = root / "baseline.sqlite3"
    schema = SqliteStore(base_path)
    await schema.open()  # creates the tables
    await schema.close()
    db = sqlite3.connect(base_path, isolation_level=None)
    try:
        now = time.time()
        rows = [
            (
                str(uuid.uuid4()),
                "user",
                record.resource["userName"].lower(),
                record.resource.get("externalId"),
                json.dumps(record.resource),
                now,
                now,
            )
            for record in parsed.records
        ]
        started = time.perf_counter()
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO directory_entries (id, kind, name_key, external_id, resource, version,"
            " created_at, modified_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
            rows,
        )
        db.execute("COMMIT")
        base_seconds = time.perf_counter() - started
    finally:
        db.close()
    return {
        "users": users,
        "seconds": seconds,
        "again_seconds": again_seconds,
        "base_seconds": base_seconds,
    }


def table(one: dict[str, Any], two: dict[str, Any]) -> str:
    rows = []
    for name in ("p50", "p99"):
        value, base = one[f"{name}_ms"], one[f"base_{name}_ms"]
        target = f"<= {TARGET_LOOKUP_P99_MS:g} ms" if name == "p99" else "-"
        verdict = ("yes" if value <= TARGET_LOOKUP_P99_MS else "NO") if name == "p99" else "-"
        rows.append(
            (
                f"userName eq lookup, {one['users']:,} users, {name}",
                f"{value:.3f} ms",
                f"{base:.3f} ms (bare SELECT)",
                f"{value / base:.1f}",
                target,
                verdict,
            )
        )
    seconds, base = two["seconds"], two["base_seconds"]
    rows.append(
        (
            f"import of a {two['users']:,}-user CSV",
            f"{seconds:.2f} s ({two['users'] / seconds:,.0f} users/s)",
            f"{base:.2f} s (executemany, {two['users'] / base:,.0f} rows/s)",
            f"{seconds / base:.1f}",
            f"<= {TARGET_IMPORT_S:g} s" if two["users"] >= 100_000 else "- (quick)",
            ("yes" if seconds <= TARGET_IMPORT_S else "NO") if two["users"] >= 100_000 else "-",
        )
    )
    return markdown_table(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="5,000 users: a smoke test")
    args = parser.parse_args()
    users = 5_000 if args.quick else 100_000
    lookups = 500 if args.quick else 5_000
    started = datetime.now(UTC)
    print(f"hatchway directory benchmark, {'quick' if args.quick else 'full'}; {machine()}")
    with tempfile.TemporaryDirectory(prefix="hatchway-bench-directory-") as folder:
        root = Path(folder)
        print("figure 1: userName eq lookups", flush=True)
        one = asyncio.run(figure_1(root, users, lookups))
        print("figure 2: CSV import", flush=True)
        two = asyncio.run(figure_2(root, users))
    print()
    print(table(one, two))
    print()
    print(
        f"lookups: {one['lookups']:,} sequential queries after 50 warm-up ones; filling the"
        f" store took {one['fill_seconds']:.1f} s ({users / one['fill_seconds']:,.0f} users/s"
        " through write_entries in batches of 1,000)"
    )
    print(f"import: the same file again (nothing to write) took {two['again_seconds']:.2f} s")
    print(f"\n{started:%Y-%m-%d %H:%M} UTC; {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
