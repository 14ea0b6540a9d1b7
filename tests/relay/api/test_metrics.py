"""``/metrics``: what a relay counts while it provisions a real SCIM server through its
built-in agent and sends batches to a real agent process, the deprovisions waiting for
approval and the cycles running now, who may read it, and the throughput ring behind the
overview's operations per second.

The SCIM server sits behind a gate (tests/relay/api/gate.py), open unless a test closes it
to hold a cycle while it scrapes."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agent.settings import ConnectorSettings
from relay.api.metrics import Metrics, Throughput
from relay.api.settings import ApiSettings
from relay.engine.settings import EngineSettings
from relay.engine.work import Outcome
from relay.hub.hub import Hub
from relay.keys import METRICS
from relay.settings import RelaySettings
from relay.store.base import EntryKind, EntryWrite
from relay.store.engine_records import (
    CycleKind,
    CycleState,
    JobState,
    LogAction,
    LogStatus,
    StagedDecision,
)
from relay.store.sqlite import SqliteStore
from shared.protocol.messages import Limits
from tests.e2e.harness import registered_agent
from tests.e2e.test_batches import _users_table, creates, sql_settings
from tests.relay.api.conftest import ApiRelay
from tests.relay.api.gate import Gate, gate_before
from tests.servers.ports import free_port
from tests.servers.scim import ScimServer
from tests.servers.sqlite import SqliteOdbcDatabase

JOB = "cloud-app"
SPEC = """
target = "scim"
scope = "all"

[connection]
connector = "cloud"
"""
#: Seconds a test waits for the relay to get somewhere.
DEADLINE = 60.0

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def gate(scim_server: ScimServer) -> AsyncIterator[Gate]:
    async with gate_before(f"http://{scim_server.host}:{scim_server.port}") as gate:
        yield gate


@pytest.fixture
def relay_settings(scim_server: ScimServer, gate: Gate) -> RelaySettings:
    """A relay with a built-in SCIM connector on the test SCIM server (through the gate), a
    quick engine, and one batch in flight per agent (so a second one queues)."""
    table: dict[str, Any] = {
        "type": "scim",
        "base_url": gate.url + "/v2",
        "token": scim_server.token,
        "timeout": 10.0,
    }
    return RelaySettings(
        listen=f"127.0.0.1:{free_port()}",
        revocation_check_interval=0.2,
        shutdown_timeout=2,
        limits=Limits(window=1),
        engine=EngineSettings(control_interval=0.1),
        connectors=(ConnectorSettings("cloud", "scim", table),),
    )


async def scrape(relay: ApiRelay, token: str | None) -> tuple[int, str, aiohttp.ClientResponse]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{relay.url}/metrics", headers=headers) as response,
    ):
        return response.status, await response.text(), response


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def scraped_until(relay: ApiRelay, check: Callable[[Samples], bool], what: str) -> Samples:
    """Scrape until ``check`` holds (the engine and hub set no event a test could await)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        status, text, _ = await scrape(relay, relay.viewer_token)
        assert status == 200, text
        samples = parse(text)
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{text}")
        await asyncio.sleep(0.1)


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.mark.server
async def test_provisioning_is_counted_by_result_and_connector_type(relay: ApiRelay) -> None:
    store = relay.store
    prefix = f"metrics-{uuid.uuid4().hex[:8]}"
    ids = [
        (
            await store.create_entry(
                EntryKind.USER, {"userName": f"{prefix}-{i}", "displayName": f"User {i}"}
            )
        ).id
        for i in range(3)
    ]
    await store.create_job(JOB, SPEC)
    await store.update_job(JOB, state=JobState.RUNNING)

    async def initial_done() -> bool:
        return (await store.get_job(JOB)).initial_done

    await until(initial_done, "the initial cycle")
    status, text, response = await scrape(relay, relay.viewer_token)
    assert status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = parse(text)
    created = {"job_name": JOB, "connector_type": "scim", "action": "create", "result": "success"}
    assert value(samples, "hatchway_operations_total", **created) == 3
    initial = {"job_name": JOB, "kind": "initial", "state": "done"}
    assert value(samples, "hatchway_cycle_duration_seconds_count", **initial) == 1
    assert value(samples, "hatchway_jobs", state="running") == 1
    assert value(samples, "hatchway_jobs", state="quarantined") == 0
    assert value(samples, "hatchway_job_quarantined", job_name=JOB) == 0
    assert value(samples, "hatchway_staged_deprovisions", job_name=JOB) == 0
    assert value(samples, "hatchway_store_up") == 1
    assert value(samples, "hatchway_agents_connected") == 0
    assert value(samples, "hatchway_change_latency_seconds_count", job_name=JOB) is None
    # No label is called `job`: Prometheus keeps that one for its scrape job.
    assert all("job" not in dict(labels) for _, labels in samples)

    entry = await store.get_entry(EntryKind.USER, ids[0])
    await store.update_entry(
        EntryKind.USER, ids[0], resource={**entry.resource, "displayName": "Renamed"}
    )
    samples = await scraped_until(
        relay,
        lambda s: (value(s, "hatchway_change_latency_seconds_count", job_name=JOB) or 0) >= 1,
        "the change's latency",
    )
    updated = {**created, "action": "update"}
    assert value(samples, "hatchway_operations_total", **updated) == 1
    latency = value(samples, "hatchway_change_latency_seconds_sum", job_name=JOB)
    assert latency is not None and 0 <= latency < DEADLINE
    assert relay.app is not None
    throughput = relay.app[METRICS].throughput
    assert throughput.rate(60) > 0
    assert sum(s for _, s, _ in throughput.series(600, 60)) == 4


@pytest.mark.server
async def test_batches_in_flight_and_queued_per_agent(
    relay: ApiRelay, tmp_path: Path, sqlite_odbc_database: SqliteOdbcDatabase
) -> None:
    _users_table(sqlite_odbc_database.path)
    pause = tmp_path / "pause"
    pause.touch()
    agent = await registered_agent(relay, tmp_path / "agents", "branch")
    agent.add_connector(
        "hr",
        **{**sql_settings(sqlite_odbc_database), "type": "pausing_connector:PausingSqlConnector"},
        pause_file=str(pause),
        ran_file=str(tmp_path / "ran"),
    )
    sending: list[asyncio.Task[Any]] = []
    await agent.start()
    try:
        await agent.wait_for("connected")
        sending.append(asyncio.create_task(relay.hub.send("branch", "hr", creates("a", 2))))
        await agent.wait_for("batch ran, pausing")
        # The window is one batch: the second waits in the queue.
        sending.append(asyncio.create_task(relay.hub.send("branch", "hr", creates("b", 2, 10))))
        samples = await scraped_until(
            relay,
            lambda s: value(s, "hatchway_agent_batches_queued", agent="branch") == 1,
            "the second batch to queue",
        )
        assert value(samples, "hatchway_agent_batches_in_flight", agent="branch") == 1
        assert value(samples, "hatchway_agents_connected") == 1
        assert value(samples, "hatchway_agents", state="connected") == 1
        assert value(samples, "hatchway_agents", state="revoked") == 0

        await agent.kill()
        # The unanswered batch goes back to the queue for the next connection.
        samples = await scraped_until(
            relay,
            lambda s: value(s, "hatchway_agent_batches_queued", agent="branch") == 2,
            "both batches queued while the agent is down",
        )
        assert value(samples, "hatchway_agent_batches_in_flight", agent="branch") == 0
        assert value(samples, "hatchway_agents_connected") == 0
    finally:
        for task in sending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not agent.exited:
            await agent.kill()


GUARDED_SPEC = """
target = "scim"
scope = "all"

[connection]
connector = "cloud"

[deprovision]
users = "delete"

[guard]
threshold = 2
settle = 0.2
"""


async def running_job(relay: ApiRelay, spec: str, users: int) -> list[str]:
    """Users made in the directory (names unique to the test: the SCIM server serves every
    test), and the job JOB running with its initial cycle done; the users' ids."""
    store = relay.store
    prefix = f"metrics-{uuid.uuid4().hex[:8]}"
    ids = [
        (await store.create_entry(EntryKind.USER, {"userName": f"{prefix}-{i}"})).id
        for i in range(users)
    ]
    await store.create_job(JOB, spec)
    await store.update_job(JOB, state=JobState.RUNNING)

    async def initial_done() -> bool:
        return (await store.get_job(JOB)).initial_done

    await until(initial_done, "the initial cycle")
    return ids


@pytest.mark.server
async def test_deprovisions_waiting_for_approval_are_shown_per_job(relay: ApiRelay) -> None:
    ids = await running_job(relay, GUARDED_SPEC, 4)
    await relay.store.create_job("idle", SPEC)
    status, text, _ = await scrape(relay, relay.viewer_token)
    assert status == 200
    samples = parse(text)
    assert value(samples, "hatchway_staged_deprovisions", job_name=JOB) == 0
    assert value(samples, "hatchway_staged_deprovisions", job_name="idle") == 0

    # Three deletions where the guard lets two through: all three wait for approval.
    await relay.store.write_entries(
        [EntryWrite(EntryKind.USER, entry_id=i, delete=True) for i in ids[:3]]
    )
    samples = await scraped_until(
        relay,
        lambda s: value(s, "hatchway_staged_deprovisions", job_name=JOB) == 3,
        "three deprovisions staged",
    )
    assert value(samples, "hatchway_staged_deprovisions", job_name="idle") == 0
    staged = {"job_name": JOB, "connector_type": "scim", "action": "delete", "result": "staged"}
    assert value(samples, "hatchway_operations_total", **staged) == 3

    [first, *_] = await relay.store.list_staged(JOB, decision=StagedDecision.PENDING)
    await relay.store.decide_staged(JOB, StagedDecision.REJECTED, [first.id])
    _, text, _ = await scrape(relay, relay.viewer_token)
    assert value(parse(text), "hatchway_staged_deprovisions", job_name=JOB) == 2
    await relay.store.decide_staged(JOB, StagedDecision.APPROVED)
    _, text, _ = await scrape(relay, relay.viewer_token)
    assert value(parse(text), "hatchway_staged_deprovisions", job_name=JOB) == 0


@pytest.mark.server
async def test_a_running_reconcile_shows_how_long_it_has_run(relay: ApiRelay, gate: Gate) -> None:
    await running_job(relay, SPEC, 2)
    status, text, _ = await scrape(relay, relay.viewer_token)
    assert status == 200
    running = "hatchway_cycle_running_seconds"
    assert [k for k in parse(text) if k[0] == running] == []  # the initial cycle has ended

    # The reconcile starts, then waits at the gate for the SCIM server's users.
    gate.close()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{relay.api_url}/jobs/{JOB}/reconcile",
            headers={"Authorization": f"Bearer {relay.admin_token}"},
        ) as response,
    ):
        assert response.status == 202, await response.text()

    async def held() -> bool:
        return gate.held > 0

    await until(held, "the reconcile held at the gate")
    [cycle] = [
        c
        for c in await relay.store.list_cycles(JOB, state=CycleState.RUNNING)
        if c.kind is CycleKind.RECONCILE
    ]
    before = time.time()
    status, text, _ = await scrape(relay, relay.viewer_token)
    after = time.time()
    assert status == 200
    samples = parse(text)
    assert [k for k in samples if k[0] == running] == [
        (running, frozenset({("job_name", JOB), ("kind", "reconcile")}))
    ]
    seconds = value(samples, running, job_name=JOB, kind="reconcile")
    assert seconds is not None
    assert before - cycle.started_at <= seconds <= after - cycle.started_at

    gate.open()
    samples = await scraped_until(
        relay,
        lambda s: not [k for k in s if k[0] == running],
        "the reconcile's end",
    )
    done = {"job_name": JOB, "kind": "reconcile", "state": "done"}
    assert value(samples, "hatchway_cycle_duration_seconds_count", **done) == 1


async def test_metrics_need_an_api_token(relay: ApiRelay) -> None:
    status, text, response = await scrape(relay, None)
    assert status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert '"code": "unauthenticated"' in text

    _, scim_token = await relay.store.create_scim_client("idp")
    status, text, _ = await scrape(relay, scim_token)
    assert status == 401
    assert "SCIM client token" in text

    status, text, _ = await scrape(relay, "hwa_not-a-token")
    assert status == 401

    status, text, _ = await scrape(relay, relay.admin_token)
    assert status == 200
    assert value(parse(text), "hatchway_store_up") == 1


async def test_openmetrics_is_answered_to_who_asks_for_it(relay: ApiRelay) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{relay.url}/metrics",
            headers={
                "Authorization": f"Bearer {relay.viewer_token}",
                "Accept": "application/openmetrics-text; version=1.0.0",
            },
        ) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await response.text()).endswith("# EOF\n")


async def test_public_metrics_answer_without_a_token(tmp_path: Path) -> None:
    settings = RelaySettings(
        listen=f"127.0.0.1:{free_port()}",
        shutdown_timeout=2,
        api=ApiSettings(public_metrics=True),
    )
    relay = ApiRelay(tmp_path / "relay", settings)
    await relay.start()
    try:
        status, text, _ = await scrape(relay, None)
    finally:
        await relay.stop()
    assert status == 200
    assert value(parse(text), "hatchway_agents_connected") == 0


#: Jobs the relay has counted work for in the test of a big scrape: megabytes of text.
MANY_JOBS = 1500


async def test_a_scrape_of_many_jobs_leaves_the_event_loop_free(relay: ApiRelay) -> None:
    """Writing the text of a scrape takes most of a second with many jobs; meanwhile the
    relay's loop (agents' websockets, API calls) must keep running."""
    metrics = relay[METRICS]
    every = [outcome(a, s) for a in LogAction if a is not LogAction.NONE for s in LogStatus]
    for j in range(MANY_JOBS):
        metrics.recorded(f"job-{j}", "scim", every)
        metrics.cycle_ended(f"job-{j}", CycleKind.INITIAL, CycleState.DONE, 12.0)
        metrics.applied(f"job-{j}", 0.2)
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    scraped = asyncio.Event()

    async def tick() -> None:
        last = loop.time()
        while not scraped.is_set():
            await asyncio.sleep(0.005)
            gaps.append(loop.time() - last)
            last = loop.time()

    ticking = asyncio.create_task(tick())
    started = loop.time()
    status, text, _ = await scrape(relay, relay.viewer_token)
    took = loop.time() - started
    scraped.set()
    await ticking
    assert status == 200
    last = f"job-{MANY_JOBS - 1}"
    assert value(parse(text), "hatchway_change_latency_seconds_count", job_name=last)
    # The loop went on while the text was written: no pause near the scrape's length.
    assert max(gaps) < took / 2, f"the loop stopped for {max(gaps):.2f} s of {took:.2f} s"


# The engine's outcomes, counted ------------------------------------------------------------


def outcome(action: LogAction, status: LogStatus, *, deferred: bool = False) -> Outcome:
    return Outcome(EntryKind.USER, uuid.uuid4().hex, action, status, deferred=deferred)


def test_outcomes_are_counted_unless_nothing_was_carried_out(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    metrics = Metrics(Hub(SqliteStore(tmp_path / "unused.sqlite3")), clock=lambda: now[0])
    metrics.recorded(
        "hr",
        "sql",
        [
            outcome(LogAction.CREATE, LogStatus.SUCCESS),
            outcome(LogAction.CREATE, LogStatus.SUCCESS),
            outcome(LogAction.UPDATE, LogStatus.FAILURE),
            outcome(LogAction.DISABLE, LogStatus.STAGED),
            outcome(LogAction.NONE, LogStatus.SUCCESS),  # unchanged: nothing was sent
            outcome(LogAction.DELETE, LogStatus.SKIPPED, deferred=True),  # gathered, not sent
        ],
    )
    samples = parse(generate_latest(metrics.registry).decode())
    operations = {
        (dict(labels)["action"], dict(labels)["result"]): count
        for (name, labels), count in samples.items()
        if name == "hatchway_operations_total"
    }
    assert operations == {
        ("create", "success"): 2,
        ("update", "failure"): 1,
        ("disable", "staged"): 1,
    }
    # The hub's and the store's figures are read by a scrape, not kept in the registry.
    assert value(samples, "hatchway_store_up") is None
    assert metrics.throughput.series(10, 10) == [(now[0], 2, 1)]


# The throughput ring ------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rate_is_operations_per_second_over_the_window() -> None:
    clock = Clock(1000.0)
    ring = Throughput(resolution=10, span=600, clock=clock)
    ring.add(100, 20)  # bucket 1000..1010
    clock.now = 1035.0
    ring.add(10, 0)  # bucket 1030..1040
    assert ring.rate(60) == pytest.approx(130 / 65)  # window 975..1035 touches 970..1040
    assert ring.rate(10) == pytest.approx(10 / 15)  # only the bucket from 1020 on
    clock.now = 1200.0
    assert ring.rate(60) == 0.0


def test_series_has_aligned_steps_with_empty_ones_and_rounds_the_step_up() -> None:
    clock = Clock(1000.0)
    ring = Throughput(resolution=10, span=3600, clock=clock)
    ring.add(1, 0)
    clock.now = 1065.0
    ring.add(2, 1)
    clock.now = 1125.0
    ring.add(4, 0)

    assert ring.series(180, 60) == [(960.0, 1, 0), (1020.0, 2, 1), (1080.0, 4, 0)]
    # 25 s is rounded up to 30 s; the last step is the one still filling.
    assert ring.series(90, 25) == [(1050.0, 2, 1), (1080.0, 0, 0), (1110.0, 4, 0)]
    assert ring.series(5, 1) == [(1120.0, 4, 0)]


def test_buckets_older_than_the_span_are_dropped() -> None:
    clock = Clock(1000.0)
    ring = Throughput(resolution=10, span=100, clock=clock)
    ring.add(7, 7)
    clock.now = 1095.0
    ring.add(1, 0)
    assert sum(s for _, s, _ in ring.series(200, 10)) == 8  # still within the span
    clock.now = 1105.0
    ring.add(1, 0)  # the bucket from 1000 is now older than the span
    assert ring.series(200, 200) == [(1000.0, 2, 0)]


def test_series_and_rate_refuse_bad_windows() -> None:
    ring = Throughput(resolution=10, span=100, clock=Clock(1000.0))
    for bad in (lambda: ring.rate(0), lambda: ring.series(0, 10), lambda: ring.series(60, -1)):
        with pytest.raises(ValueError, match="positive"):
            bad()
    with pytest.raises(ValueError, match="points"):
        ring.series(10**9, 10)
