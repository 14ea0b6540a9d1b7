"""Benchmark of the operator's surface (issue 7): the admin API and /metrics on a relay
with a year's worth of provisioning logs, on the SQLite store.

Run from the checkout::

    .venv/bin/python tests/benchmarks/bench_api.py           # full, about 2 minutes
    .venv/bin/python tests/benchmarks/bench_api.py --quick   # smoke test, about 20 s

The relay runs as its own process (``hatchway relay serve``, engine off so nothing but the
requests measured runs in it) on a store preloaded with 10,000 users, 50 jobs and 200,000
provisioning log entries of one job (2,000 users and 10,000 entries with ``--quick``); this
process is the HTTP client, over loopback with keep-alive, one request at a time. Every
figure is printed beside a baseline measured in the same run on the same machine, because
the machine is shared and noisy: the ratio is the figure to compare.

- Baseline of every request: ``GET /healthz`` on the same relay and connection (HTTP and
  the event loop, no store, no token).
- A user's provisioning logs (``GET /api/v1/jobs/bench/logs?entry=<userName>``) are also
  compared with the same store query run in this process (``Store.query_logs``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from relay.store.base import ApiRole, EntryKind, EntryWrite  # noqa: E402
from relay.store.configured import STORE_FILE  # noqa: E402
from relay.store.engine_records import (  # noqa: E402
    CycleKind,
    CycleWrite,
    LogAction,
    LogEntry,
    LogQuery,
    LogStatus,
)
from relay.store.sqlite import SqliteStore  # noqa: E402
from tests.benchmarks.report import machine, markdown_table, percentile  # noqa: E402
from tests.servers.ports import free_port  # noqa: E402

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
TARGET_P99_MS = 50.0
TARGET_METRICS_P99_MS = 100.0
PRELOAD_BATCH = 5000
START_TIMEOUT = 30.0
WARM_UP = 10
JOB = """
name = "{name}"
target = "scim"
scope = "all"

[connection]
connector = "crm"
"""


@dataclass(frozen=True)
class Plan:
    users: int
    jobs: int
    logs_per_user: int
    requests: int


FULL = Plan(users=10_000, jobs=50, logs_per_user=20, requests=1_000)
QUICK = Plan(users=2_000, jobs=10, logs_per_user=5, requests=150)


def user_name(i: int) -> str:
    return f"user{i}@example.com"


async def preload(data_dir: Path, plan: Plan) -> str:
    """Users, jobs and one job's logs in the store; returns a viewer API token."""
    store = SqliteStore(data_dir / STORE_FILE)
    await store.open()
    try:
        ids: list[str] = []
        for start in range(0, plan.users, PRELOAD_BATCH):
            writes = [
                EntryWrite(
                    EntryKind.USER,
                    resource={"schemas": [USER_SCHEMA], "userName": user_name(i), "active": True},
                )
                for i in range(start, min(plan.users, start + PRELOAD_BATCH))
            ]
            ids.extend(e.id for e in await store.write_entries(writes) if e is not None)
        for n in range(plan.jobs):
            name = "bench" if n == 0 else f"job{n}"
            await store.create_job(name, JOB.format(name=name))
        cycle = await store.start_cycle("bench", CycleKind.INCREMENTAL)
        now = time.time()
        logs: list[LogEntry] = []
        for round_ in range(plan.logs_per_user):
            for i, entry_id in enumerate(ids):
                logs.append(
                    LogEntry(
                        job="bench",
                        cycle=cycle.id,
                        kind=EntryKind.USER,
                        entry_id=entry_id,
                        action=LogAction.CREATE if round_ == 0 else LogAction.UPDATE,
                        status=LogStatus.SUCCESS,
                        at=now - (plan.logs_per_user - round_) * 3600 + i * 0.001,
                        source_name=user_name(i),
                        anchor=f"anchor-{i}",
                        changes={"displayName": [None, f"User {i} v{round_}"]},
                        duration_ms=3.0,
                    )
                )
                if len(logs) == PRELOAD_BATCH:
                    await store.record_batch(CycleWrite(job="bench", logs=tuple(logs)))
                    logs = []
        if logs:
            await store.record_batch(CycleWrite(job="bench", logs=tuple(logs)))
        _, token = await store.create_api_token("bench", ApiRole.VIEWER)
        return token
    finally:
        await store.close()


async def wait_ready(url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession() as http:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url + "/readyz") as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                raise TimeoutError("the relay did not start")
            await asyncio.sleep(0.1)


async def timed(http: aiohttp.ClientSession, count: int, path: Callable[[], str]) -> list[float]:
    """Milliseconds of ``count`` sequential GETs (after a warm-up), each checked to be 200."""
    timings = []
    for i in range(count + WARM_UP):
        begun = time.perf_counter()
        async with http.get(path()) as response:
            await response.read()
            assert response.status == 200, (path(), response.status, await response.text())
        if i >= WARM_UP:
            timings.append((time.perf_counter() - begun) * 1000)
    return timings


async def in_process(count: int, work: Callable[[], Awaitable[object]]) -> list[float]:
    timings = []
    for i in range(count + WARM_UP):
        begun = time.perf_counter()
        await work()
        if i >= WARM_UP:
            timings.append((time.perf_counter() - begun) * 1000)
    return timings


async def run(plan: Plan) -> dict[str, list[float] | float]:
    with tempfile.TemporaryDirectory(prefix="hatchway-bench-api-") as tmp:
        root = Path(tmp)
        begun = time.perf_counter()
        token = await preload(root, plan)
        entries = plan.users * plan.logs_per_user
        print(
            f"  preloaded {plan.users:,} users, {plan.jobs} jobs and {entries:,} log entries"
            f" in {time.perf_counter() - begun:.1f} s",
            flush=True,
        )
        (root / "relay.toml").write_text("[engine]\nenabled = false\n")
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

        def someone() -> str:
            return user_name(random.randrange(plan.users))

        results: dict[str, list[float] | float] = {}
        try:
            await wait_ready(url)
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(headers=headers) as http:
                n = plan.requests
                print("  requests ...", flush=True)
                results["healthz"] = await timed(http, n, lambda: f"{url}/healthz")
                results["status"] = await timed(http, n, lambda: f"{url}/api/v1/jobs/bench/status")
                results["user_logs"] = await timed(
                    http, n, lambda: f"{url}/api/v1/jobs/bench/logs?entry={someone()}"
                )
                results["log_page"] = await timed(
                    http, n // 5, lambda: f"{url}/api/v1/logs?job=bench&limit=1000"
                )
                results["jobs"] = await timed(http, n // 5, lambda: f"{url}/api/v1/jobs")
                results["overview"] = await timed(http, n, lambda: f"{url}/api/v1/overview")
                results["metrics"] = await timed(http, n, lambda: f"{url}/metrics")
        finally:
            relay.terminate()
            await asyncio.wait_for(relay.wait(), timeout=30)
            log.close()
        print("  the same user queries straight on the store ...", flush=True)
        store = SqliteStore(root / STORE_FILE)
        await store.open()
        try:
            results["store_user_logs"] = await in_process(
                plan.requests,
                lambda: store.query_logs(LogQuery(job="bench", entry=someone(), limit=100)),
            )
        finally:
            await store.close()
        results["load_average"] = os.getloadavg()[0]
        results["entries"] = float(entries)
    return results


def table(results: dict[str, list[float] | float], plan: Plan) -> str:
    def ms(name: str, fraction: float) -> float:
        values = results[name]
        assert isinstance(values, list)
        return percentile(values, fraction)

    logs = f"{results['entries']:,.0f} log entries"
    rows = []
    figures = (
        ("status", "GET /jobs/{name}/status", "healthz", "GET /healthz", TARGET_P99_MS),
        (
            "user_logs",
            f"GET /jobs/{{name}}/logs?entry=<userName> ({logs})",
            "store_user_logs",
            "Store.query_logs in-process",
            TARGET_P99_MS,
        ),
        (
            "log_page",
            f"GET /logs?limit=1000 ({logs})",
            "healthz",
            "GET /healthz",
            TARGET_P99_MS * 4,
        ),
        ("jobs", f"GET /jobs ({plan.jobs} jobs)", "healthz", "GET /healthz", TARGET_P99_MS),
        ("overview", "GET /overview", "healthz", "GET /healthz", TARGET_P99_MS),
        (
            "metrics",
            f"GET /metrics ({plan.jobs} jobs)",
            "healthz",
            "GET /healthz",
            TARGET_METRICS_P99_MS,
        ),
    )
    for name, label, base_name, base_label, target in figures:
        for which, fraction in (("p50", 0.5), ("p99", 0.99)):
            value, base = ms(name, fraction), ms(base_name, fraction)
            judged = which == "p99"
            rows.append(
                (
                    f"{label}, {which}",
                    f"{value:.2f} ms",
                    f"{base:.3f} ms ({base_label})",
                    f"{value / base:.1f}",
                    f"<= {target:g} ms" if judged else "-",
                    ("yes" if value <= target else "NO") if judged else "-",
                )
            )
    return markdown_table(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, as a smoke test")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = datetime.now(UTC)
    print(f"hatchway admin API benchmark, {'quick' if args.quick else 'full'}; {machine()}")
    results = asyncio.run(run(plan))
    print()
    print(table(results, plan))
    print(
        f"\nsequential requests over one keep-alive connection; load average"
        f" {results['load_average']:.1f} on {os.cpu_count()} cores at the end"
    )
    print(f"\n{started:%Y-%m-%d %H:%M} UTC; {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
