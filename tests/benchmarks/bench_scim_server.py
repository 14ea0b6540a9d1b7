"""Benchmark of the relay's inbound SCIM endpoint (issue 5) on the SQLite store.

Run from the checkout::

    .venv/bin/python tests/benchmarks/bench_scim_server.py           # full, about 2 minutes
    .venv/bin/python tests/benchmarks/bench_scim_server.py --quick   # smoke test, about 20 s

The relay runs as its own process (``hatchway relay serve``) on a store preloaded with
100,000 users (10,000 with ``--quick``); this process is the HTTP client, over loopback with
keep-alive. Every figure is printed beside a baseline measured in the same run on the same
machine, because the machine is shared and noisy: the ratio is the figure to compare.

1. Lookup: sequential ``GET /Users?filter=userName eq "..."`` of random existing users;
   p50 and p99 latency. Baseline: the same lookup as a direct SQL query
   (``SELECT ... WHERE kind = 'user' AND name_key = ?``) through sqlite3 on the same file.
2. Creates: 16 concurrent clients each POSTing new users; creates per second. Baseline: the
   same rows (the entry and its change-log row) written straight into the database with
   ``executemany`` in one transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from relay.store.base import EntryKind, EntryWrite  # noqa: E402
from relay.store.configured import STORE_FILE  # noqa: E402
from relay.store.sqlite import SqliteStore  # noqa: E402
from tests.benchmarks.report import cpu_seconds, machine, markdown_table, percentile  # noqa: E402
from tests.servers.ports import free_port  # noqa: E402

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
CLIENTS = 16
TARGET_P99_MS = 10.0
TARGET_CREATES = 1000.0
PRELOAD_BATCH = 5000
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Plan:
    users: int
    lookups: int
    creates: int


FULL = Plan(users=100_000, lookups=2_000, creates=20_000)
QUICK = Plan(users=10_000, lookups=300, creates=2_000)


def resource(name: str) -> dict[str, object]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": name,
        "externalId": name.split("@")[0],
        "name": {"givenName": "Bench", "familyName": name.split("@")[0]},
        "emails": [{"value": name, "type": "work", "primary": True}],
        "active": True,
    }


async def preload(data_dir: Path, users: int) -> str:
    """Fill the store with ``users`` users and return a SCIM token."""
    store = SqliteStore(data_dir / STORE_FILE)
    await store.open()
    try:
        for start in range(0, users, PRELOAD_BATCH):
            writes = [
                EntryWrite(EntryKind.USER, resource=resource(f"user{i}@example.com"))
                for i in range(start, min(users, start + PRELOAD_BATCH))
            ]
            await store.write_entries(writes)
        _, token = await store.create_scim_client("bench")
        return token
    finally:
        await store.close()


async def wait_ready(url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession() as http:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                raise TimeoutError("the relay did not start")
            await asyncio.sleep(0.1)


async def lookups(url: str, token: str, plan: Plan) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    names = [f"user{random.randrange(plan.users)}@example.com" for _ in range(plan.lookups)]
    timings = []
    async with aiohttp.ClientSession(headers=headers) as http:
        for i, name in enumerate(names):
            begun = time.perf_counter()
            params = {"filter": f'userName eq "{name}"'}
            async with http.get(url + "/scim/v2/Users", params=params) as response:
                body = await response.json(content_type=None)
            elapsed = time.perf_counter() - begun
            assert response.status == 200 and body["totalResults"] == 1, body
            if i >= 20:  # warm-up
                timings.append(elapsed * 1000)
    return timings


def sql_lookups(db_path: Path, plan: Plan) -> list[float]:
    db = sqlite3.connect(db_path)
    try:
        timings = []
        for i in range(plan.lookups):
            name = f"user{random.randrange(plan.users)}@example.com"
            begun = time.perf_counter()
            row = db.execute(
                "SELECT id, resource, version, created_at, modified_at FROM directory_entries"
                " WHERE kind = 'user' AND name_key = ?",
                (name.lower(),),
            ).fetchone()
            json.loads(row[1])
            if i >= 20:
                timings.append((time.perf_counter() - begun) * 1000)
        return timings
    finally:
        db.close()


async def creates(url: str, token: str, plan: Plan) -> float:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    per_client = plan.creates // CLIENTS
    connector = aiohttp.TCPConnector(limit=CLIENTS)

    async with aiohttp.ClientSession(headers=headers, connector=connector) as http:

        async def client(n: int) -> None:
            for i in range(per_client):
                body = resource(f"new{n}-{i}@example.com")
                async with http.post(url + "/scim/v2/Users", json=body) as response:
                    await response.read()
                    assert response.status == 201, response.status

        begun = time.perf_counter()
        await asyncio.gather(*(client(n) for n in range(CLIENTS)))
        return per_client * CLIENTS / (time.perf_counter() - begun)


def sql_creates(db_path: Path, plan: Plan) -> float:
    """The same rows a create writes (entry and change-log row), with executemany."""
    now = time.time()
    entries, changes = [], []
    for i in range(plan.creates):
        name = f"direct{i}@example.com"
        entry_id = str(uuid.uuid4())
        body = json.dumps(resource(name))
        entries.append((entry_id, "user", name, name.split("@")[0], body, 1, now, now))
        changes.append((now, "user", entry_id, "created", '{"version": 1}'))
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=NORMAL")
        begun = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO directory_entries (id, kind, name_key, external_id, resource, version,"
            " created_at, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            entries,
        )
        db.executemany(
            "INSERT INTO directory_changes (at, kind, entry_id, action, detail)"
            " VALUES (?, ?, ?, ?, ?)",
            changes,
        )
        db.execute("COMMIT")
        return plan.creates / (time.perf_counter() - begun)
    finally:
        db.close()


async def run(plan: Plan) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="hatchway-bench-scim-") as tmp:
        root = Path(tmp)
        begun = time.perf_counter()
        token = await preload(root, plan.users)
        took = time.perf_counter() - begun
        print(f"  preloaded {plan.users:,} users in {took:.1f} s", flush=True)
        port = free_port()
        log = (root / "relay.log").open("w")
        relay = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "relay.cli",
            "--log-level",
            "warning",
            "relay",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--config-dir",
            str(root),
            "--data-dir",
            str(root),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_ready(url)
            print("  lookups through the relay ...", flush=True)
            cpu = cpu_seconds(relay.pid)
            http_ms = await lookups(url, token, plan)
            lookup_cpu = (cpu_seconds(relay.pid) - cpu) / plan.lookups
            print("  lookups in SQL ...", flush=True)
            sql_ms = sql_lookups(root / STORE_FILE, plan)
            print(f"  {CLIENTS} clients creating users ...", flush=True)
            cpu = cpu_seconds(relay.pid)
            http_rate = await creates(url, token, plan)
            create_cpu = (cpu_seconds(relay.pid) - cpu) / (plan.creates // CLIENTS * CLIENTS)
        finally:
            relay.terminate()
            await asyncio.wait_for(relay.wait(), timeout=30)
            log.close()
        print("  the same rows with executemany ...", flush=True)
        sql_rate = sql_creates(root / STORE_FILE, plan)
    return {
        "users": plan.users,
        "lookup_p50_ms": percentile(http_ms, 0.50),
        "lookup_p99_ms": percentile(http_ms, 0.99),
        "sql_p50_ms": percentile(sql_ms, 0.50),
        "sql_p99_ms": percentile(sql_ms, 0.99),
        "creates_per_s": http_rate,
        "sql_rows_per_s": sql_rate,
        "relay_cpu_us_per_lookup": lookup_cpu * 1e6,
        "relay_cpu_us_per_create": create_cpu * 1e6,
        "load_average": os.getloadavg()[0],
    }


def table(results: dict[str, float]) -> str:
    users = f"{results['users']:,.0f} users"
    rows = []
    for name in ("p50", "p99"):
        value, base = results[f"lookup_{name}_ms"], results[f"sql_{name}_ms"]
        target = f"<= {TARGET_P99_MS:g} ms" if name == "p99" else "-"
        met = ("yes" if value <= TARGET_P99_MS else "NO") if name == "p99" else "-"
        rows.append(
            (
                f"GET /Users?filter=userName eq, {name} ({users})",
                f"{value:.2f} ms",
                f"{base:.3f} ms (SQL lookup)",
                f"{value / base:.0f}",
                target,
                met,
            )
        )
    rate, base = results["creates_per_s"], results["sql_rows_per_s"]
    rows.append(
        (
            f"POST /Users, {CLIENTS} concurrent clients ({users})",
            f"{rate:,.0f} creates/s",
            f"{base:,.0f} rows/s (executemany)",
            f"{rate / base:.3f}",
            f">= {TARGET_CREATES:,.0f} creates/s",
            "yes" if rate >= TARGET_CREATES else "NO",
        )
    )
    return markdown_table(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, as a smoke test")
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    print(f"hatchway SCIM server benchmark, {'quick' if args.quick else 'full'}; {machine()}")
    results = asyncio.run(run(QUICK if args.quick else FULL))
    print()
    print(table(results))
    print(
        f"\nrelay process CPU: {results['relay_cpu_us_per_lookup']:,.0f} us per lookup,"
        f" {results['relay_cpu_us_per_create']:,.0f} us per create;"
        f" load average {results['load_average']:.1f} on {os.cpu_count()} cores at the end"
    )
    print(f"\n{started:%Y-%m-%d %H:%M} UTC; {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
