"""Benchmark of the SCIM connector (issue 3): user creates against a scim2-server process.

Run from the checkout::

    .venv/bin/python tests/benchmarks/bench_scim.py           # full, about a minute
    .venv/bin/python tests/benchmarks/bench_scim.py --quick   # smoke test, about 10 s

One ``scim2-server`` process (the tests' throwaway server, in memory, bearer token) serves
every run. Figures, each beside the baseline measured in the same run:

1. Creates through ``ScimConnector.create`` from 8 concurrent callers (the connector's
   ``max_in_flight`` is 8 too). Baseline: a plain aiohttp loop of the same POST bodies from
   8 concurrent workers over one ``ClientSession`` limited to 8 connections. Target: at
   least 0.8 times the baseline.
2. Creates through ``ScimConnector.apply`` in batches of 500, which the connector sends as
   Bulk requests because the server announces Bulk. Same baseline; no target (it shows
   what Bulk buys against this server).

The server's store grows with every create, which slows it down, so runs alternate
baseline, connector, connector, baseline (and the same for Bulk) and each figure sums its
two runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.connectors.scim import ScimConnector
from shared.connector import USER, Action, Attributes, Operation
from tests.benchmarks.report import machine, markdown_table
from tests.servers.scim import ScimServer, running_scim

CONCURRENCY = 8
TARGET_RATIO = 0.8
BATCH = 500
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


def body(prefix: str, i: int) -> dict[str, object]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": f"{prefix}-{i}",
        "displayName": f"Bench User {i}",
        "name": {"givenName": "Bench", "familyName": f"User {i}"},
        "active": True,
    }


def attributes(prefix: str, i: int) -> Attributes:
    return {
        "userName": f"{prefix}-{i}",
        "displayName": f"Bench User {i}",
        "name.givenName": "Bench",
        "name.familyName": f"User {i}",
        "active": True,
    }


async def plain_loop(server: ScimServer, prefix: str, count: int) -> float:
    """Seconds for ``count`` POSTs from CONCURRENCY workers with plain aiohttp."""
    headers = {
        "Authorization": f"Bearer {server.token}",
        "Content-Type": "application/scim+json",
        "Accept": "application/scim+json",
    }
    numbers = iter(range(count))
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

        async def worker() -> None:
            for i in numbers:
                async with session.post(
                    f"{server.base_url}/Users", data=json.dumps(body(prefix, i))
                ) as answer:
                    await answer.read()
                    if answer.status != 201:
                        raise RuntimeError(f"plain POST answered {answer.status}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return time.perf_counter() - started


def connector_for(server: ScimServer) -> ScimConnector:
    return ScimConnector.from_settings(
        "bench",
        {"base_url": server.base_url, "token": server.token, "max_in_flight": CONCURRENCY},
        source="bench_scim.py",
    )


async def connector_creates(server: ScimServer, prefix: str, count: int) -> float:
    connector = connector_for(server)
    await connector.test()
    numbers = iter(range(count))

    async def worker() -> None:
        for i in numbers:
            await connector.create(USER, attributes(prefix, i))

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return time.perf_counter() - started
    finally:
        await connector.close()


async def connector_bulk(server: ScimServer, prefix: str, count: int) -> float:
    connector = connector_for(server)
    await connector.test()
    try:
        started = time.perf_counter()
        for start in range(0, count, BATCH):
            ops = [
                Operation(f"{prefix}-{i}", Action.CREATE, USER, attributes=attributes(prefix, i))
                for i in range(start, min(start + BATCH, count))
            ]
            failed = [r.error for r in await connector.apply(ops) if r.error is not None]
            if failed:
                raise RuntimeError(f"bulk creates failed: {failed[:3]}")
        return time.perf_counter() - started
    finally:
        await connector.close()


async def run(count: int) -> dict[str, float]:
    seconds = {"plain": 0.0, "connector": 0.0, "plain_bulk": 0.0, "bulk": 0.0}
    with running_scim() as server:
        await plain_loop(server, "warm", 50)
        plan = [
            ("plain", plain_loop),
            ("connector", connector_creates),
            ("connector", connector_creates),
            ("plain", plain_loop),
            ("plain_bulk", plain_loop),
            ("bulk", connector_bulk),
            ("bulk", connector_bulk),
            ("plain_bulk", plain_loop),
        ]
        for step, (name, runner) in enumerate(plan):
            print(f"  {name}: {count:,} creates ...", flush=True)
            seconds[name] += await runner(server, f"{name}{step}", count)
    return {name: 2 * count / s for name, s in seconds.items()}


def table(rates: dict[str, float]) -> str:
    rows = []
    for figure, name, base, target in (
        (f"creates, {CONCURRENCY} concurrent callers", "connector", "plain", TARGET_RATIO),
        (f"creates through apply (Bulk), batches of {BATCH}", "bulk", "plain_bulk", None),
    ):
        ratio = rates[name] / rates[base]
        rows.append(
            (
                figure,
                f"{rates[name]:,.0f} creates/s",
                f"{rates[base]:,.0f} creates/s (plain aiohttp, {CONCURRENCY} workers)",
                f"{ratio:.2f}",
                f">= {target:g} x baseline" if target else "none",
                ("yes" if ratio >= target else "NO") if target else "-",
            )
        )
    return markdown_table(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, as a smoke test")
    args = parser.parse_args(argv)
    count = 100 if args.quick else 2000
    started = datetime.now(UTC)
    print(f"hatchway SCIM connector benchmark, {'quick' if args.quick else 'full'}; {machine()}")
    rates = asyncio.run(run(count))
    print()
    print(table(rates))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{started:%Y-%m-%d %H:%M} UTC; {2 * count:,} creates per figure and baseline;")
    print(f"load average at the end (1, 5, 15 min): {load} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
