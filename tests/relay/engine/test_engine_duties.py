"""The engine's duties over a job's life, with a real SQLite store and an in-memory target:
a quarantined job tried again on its widening schedule until it recovers, reconciling on
the job's schedule, purging old provisioning logs, pausing and resuming, a changed job
file taking effect, rejected deprovisions held, and failed objects retried once the
target is back."""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from relay.engine.retry import QuarantinePolicy, RetryPolicy
from relay.engine.settings import EngineSettings
from relay.engine.status import job_status, where
from relay.exceptions import StoreError
from relay.store.base import EntryKind, MemberChange, Store
from relay.store.engine_records import (
    CycleKind,
    CycleState,
    CycleWrite,
    JobRecord,
    JobState,
    LogAction,
    LogEntry,
    LogQuery,
    LogStatus,
    ShadowState,
    StagedDecision,
)
from shared.connector import GROUP, USER, Action, Operation, OperationError, OperationResult
from shared.exceptions import ErrorClass
from tests.relay.engine.cycle_helpers import MemoryEngine, add_group, add_users, eventually, spec
from tests.relay.engine.memory_target import MemoryTarget

SETTINGS = EngineSettings(
    control_interval=0.05,
    batch_size=5,
    batches_in_flight=1,
    retry=RetryPolicy(base=0.2, jitter=0.0),
    quarantine=QuarantinePolicy(schedule=(0.3, 0.6, 1.2)),
)
ASSIGNED = """
target = "sql"
scope = "assigned"

[connection]
agent = "nowhere"
connector = "memory"

[deprovision]
users = "delete"

[guard]
threshold = 3
settle = 0.2
"""


class Gate(MemoryTarget):
    """The in-memory target, which can refuse the relay's credentials (every operation)
    or be down (writes fail as unavailable; reads pass)."""

    def __init__(self) -> None:
        super().__init__()
        self.refusing = False
        self.down = False
        #: When each refused batch came (monotonic seconds).
        self.refused_at: list[float] = []

    async def run(
        self, operations: Sequence[Operation], *, timeout: float | None = 120.0
    ) -> list[OperationResult]:
        if self.refusing:
            self.refused_at.append(time.monotonic())
            error = OperationError(ErrorClass.AUTHENTICATION, "invalid credentials")
            return [OperationResult(op.key, error=error) for op in operations]
        if self.down:
            error = OperationError(ErrorClass.UNAVAILABLE, "service unavailable")
            passing = [o for o in operations if o.action in (Action.SCHEMA, Action.SEARCH)]
            results = {r.key: r for r in await super().run(passing, timeout=timeout)}
            return [
                results.get(op.key) or OperationResult(op.key, error=error) for op in operations
            ]
        return await super().run(operations, timeout=timeout)


@pytest.fixture
async def target() -> Gate:
    return Gate()


@pytest.fixture
async def engine(store: Store, target: Gate) -> AsyncIterator[MemoryEngine]:
    engine = MemoryEngine(store, target, SETTINGS)
    await engine.start()
    yield engine
    await engine.stop()


async def running_job(store: Store, text: str, name: str = "mem") -> None:
    await store.create_job(name, text)
    await store.update_job(name, state=JobState.RUNNING)


async def initial_done(store: Store, name: str = "mem") -> None:
    async def done() -> bool:
        return (await store.get_job(name)).initial_done

    await eventually(done)


async def rename(store: Store, entry_id: str, display_name: str) -> None:
    entry = await store.get_entry(EntryKind.USER, entry_id)
    resource = {**entry.resource, "displayName": display_name}
    await store.update_entry(EntryKind.USER, entry_id, resource=resource)


def display_names(target: MemoryTarget) -> dict[str, Any]:
    return {n: o.get("display_name") for n, o in target.by_name(USER).items()}


# Quarantine ---------------------------------------------------------------------------------


async def test_a_quarantined_job_is_tried_on_a_widening_schedule_until_it_recovers(
    store: Store, target: Gate, engine: MemoryEngine
) -> None:
    await add_users(store, 3)
    target.refusing = True
    await running_job(store, spec())

    seen: dict[int, tuple[float, float]] = {}

    async def quarantined(count: int) -> bool:
        job = await store.get_job("mem")
        if job.state is JobState.QUARANTINED and job.quarantine_count == count:
            assert job.next_attempt_at is not None
            seen[count] = (job.next_attempt_at, job.updated_at)
            return True
        return False

    for count in range(3):
        await eventually(functools.partial(quarantined, count))
    # Each failed try moves one step along the schedule.
    for count, step in enumerate(SETTINGS.quarantine.schedule):
        next_attempt_at, updated_at = seen[count]
        assert next_attempt_at - updated_at == pytest.approx(step, abs=0.1)
    # One try per attempt (the schema read), none before it was due.
    tries = target.refused_at
    assert tries[1] - tries[0] >= 0.3 - 0.02
    assert tries[2] - tries[1] >= 0.6 - 0.02
    job = await store.get_job("mem")
    assert "invalid credentials" in (job.quarantine_reason or "")
    assert not job.initial_done
    assert target.objects[USER] == {}

    target.refusing = False

    async def recovered() -> bool:
        job = await store.get_job("mem")
        return job.state is JobState.RUNNING and job.initial_done

    await eventually(recovered)
    job = await store.get_job("mem")
    assert (job.quarantine_reason, job.next_attempt_at, job.quarantine_count) == (None, None, 0)
    assert len(target.by_name(USER)) == 3


async def test_a_job_task_that_failed_does_not_keep_the_engine_from_stopping(
    store: Store, target: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    target.refusing = True
    await running_job(store, spec())
    recording = store.update_job

    async def store_down_for_quarantines(name: str, **fields: Any) -> JobRecord:
        if fields.get("state") is JobState.QUARANTINED:
            raise StoreError("the store went away")
        return await recording(name, **fields)

    monkeypatch.setattr(store, "update_job", store_down_for_quarantines)
    engine = MemoryEngine(store, target, SETTINGS)
    await engine.look()
    await asyncio.wait([engine._tasks["mem"].task])  # it ends with the store's error
    with capture_logs() as logs:
        await engine.stop()
    assert [e["task"] for e in logs if e["event"] == "engine task failed"] == ["engine-job-mem"]


async def test_resume_runs_a_quarantined_job_at_once(store: Store, target: Gate) -> None:
    await add_users(store, 2)
    target.refusing = True
    await running_job(store, spec())
    patient = EngineSettings(
        control_interval=0.05, batch_size=5, quarantine=QuarantinePolicy(schedule=(3600.0,))
    )
    engine = MemoryEngine(store, target, patient)
    await engine.start()
    try:

        async def quarantined() -> bool:
            return (await store.get_job("mem")).state is JobState.QUARANTINED

        await eventually(quarantined)
        target.refusing = False
        # What ``hatchway job resume`` writes.
        await store.update_job(
            "mem",
            state=JobState.RUNNING,
            quarantine_reason=None,
            next_attempt_at=None,
            quarantine_count=0,
        )
        await initial_done(store)
    finally:
        await engine.stop()
    job = await store.get_job("mem")
    assert job.state is JobState.RUNNING
    assert len(target.by_name(USER)) == 2


# Reconcile on schedule ------------------------------------------------------------------------


async def test_reconcile_runs_on_the_jobs_schedule(
    store: Store, target: Gate, engine: MemoryEngine
) -> None:
    await add_users(store, 3)
    text = spec().replace("[schedule]", '[schedule]\nreconcile = "0.4s"')
    await running_job(store, text)
    await initial_done(store)
    anchor = next(
        a for a, o in target.objects[USER].items() if o["user_name"].startswith("user001")
    )
    target.objects[USER][anchor]["display_name"] = "Changed behind our back"

    async def repaired() -> bool:
        return display_names(target)["user001@example.com"] == "User 001"

    await eventually(repaired)

    async def reconciles() -> list[Any]:
        cycles = await store.list_cycles("mem", limit=50)
        done = [c for c in cycles if c.kind is CycleKind.RECONCILE and c.state is CycleState.DONE]
        return done if len(done) >= 2 else []

    done = sorted(await eventually(reconciles), key=lambda c: c.started_at)
    # Not back to back: each waits for the interval after the last one finished.
    for earlier, later in itertools.pairwise(done):
        assert earlier.finished_at is not None
        assert later.started_at - earlier.finished_at >= 0.4 - 0.05
    job = await store.get_job("mem")
    assert job.reconciled_at is not None
    assert job.reconciled_at >= done[-1].started_at


async def test_no_reconcile_without_a_schedule(
    store: Store, target: Gate, engine: MemoryEngine
) -> None:
    await add_users(store, 2)
    await running_job(store, spec())
    await initial_done(store)
    anchor = next(iter(target.objects[USER]))
    target.objects[USER][anchor]["display_name"] = "Changed behind our back"
    await asyncio.sleep(0.5)  # ten control rounds: long enough for a schedule to fire
    cycles = await store.list_cycles("mem", limit=50)
    assert [c for c in cycles if c.kind is CycleKind.RECONCILE] == []
    assert (await store.get_job("mem")).reconciled_at is None
    assert target.objects[USER][anchor]["display_name"] == "Changed behind our back"


# Log retention --------------------------------------------------------------------------------


def entry_log(at: float, name: str) -> LogEntry:
    return LogEntry(
        job="mem",
        cycle="",
        kind=EntryKind.USER,
        entry_id=name,
        action=LogAction.CREATE,
        status=LogStatus.SUCCESS,
        at=at,
        source_name=name,
    )


async def test_logs_past_retention_are_purged_once_an_hour(store: Store) -> None:
    now = [time.time()]
    day = 86400.0
    await store.create_job("mem", spec())  # never started: only the purge runs
    settings = EngineSettings(log_retention_days=2.0)
    engine = MemoryEngine(store, Gate(), settings, clock=lambda: now[0])

    async def names() -> list[str]:
        return sorted(e.source_name for e in await store.query_logs(LogQuery(job="mem")))

    async def log(age_days: float, name: str) -> None:
        entry = entry_log(now[0] - age_days * day, name)
        await store.record_batch(CycleWrite(job="mem", logs=(entry,)))

    await log(3, "three days old")
    await log(1.99, "almost two days old")  # 14 minutes to go
    await log(0.1, "fresh")

    await engine.look()
    assert await names() == ["almost two days old", "fresh"]

    # Within the hour nothing more is purged, though an entry has since aged out.
    now[0] += 1800
    await engine.look()
    assert await names() == ["almost two days old", "fresh"]

    now[0] += 1800
    await engine.look()
    assert await names() == ["fresh"]


# Pause, resume, a changed job file, restart -------------------------------------------------------


async def test_a_paused_job_writes_nothing_and_catches_up_when_resumed(
    store: Store, target: Gate, engine: MemoryEngine
) -> None:
    users = await add_users(store, 3)
    await running_job(store, spec())
    await initial_done(store)
    await rename(store, users[0], "Renamed while running")

    async def followed() -> bool:
        return display_names(target)["user000@example.com"] == "Renamed while running"

    await eventually(followed)

    await store.update_job("mem", state=JobState.PAUSED)

    async def stopped() -> bool:
        running = await store.list_cycles("mem", state=CycleState.RUNNING)
        return await engine.progress("mem") is None and not running

    await eventually(stopped)
    [incremental] = await store.list_cycles("mem", state=CycleState.STOPPED)
    assert (incremental.kind, incremental.error) == (CycleKind.INCREMENTAL, "paused")
    await rename(store, users[1], "Renamed while paused")
    [added] = await add_users(store, 1, prefix="late")
    await asyncio.sleep(0.5)  # ten control rounds: time enough to (wrongly) write
    assert display_names(target)["user001@example.com"] == "User 001"
    assert "late000@example.com" not in target.by_name(USER)
    assert (await store.get_job("mem")).cursor < await store.latest_change()

    await store.update_job("mem", state=JobState.RUNNING)
    latest = await store.latest_change()

    async def caught_up() -> bool:
        return (await store.get_job("mem")).cursor == latest

    await eventually(caught_up)
    assert display_names(target)["user001@example.com"] == "Renamed while paused"
    assert "late000@example.com" in target.by_name(USER)
    assert await store.get_shadows("mem", EntryKind.USER, [added])
    assert len(target.objects[USER]) == 4  # nothing written twice


TITLE = """
[[users.mappings]]
target = "title"
value = "Engineer"
"""


async def test_a_changed_job_file_applies_to_the_next_change_and_a_restart_applies_it_to_all(
    store: Store, target: Gate, engine: MemoryEngine
) -> None:
    users = await add_users(store, 3)
    await running_job(store, spec())
    await initial_done(store)
    before = (await store.get_job("mem")).version

    record = await store.update_job("mem", spec=spec() + TITLE)
    assert record.version == before + 1
    await rename(store, users[1], "Renamed")

    async def written() -> bool:
        found = target.by_name(USER)["user001@example.com"]
        return found.get("title") == "Engineer" and found["display_name"] == "Renamed"

    await eventually(written)
    titles = {n: o.get("title") for n, o in target.by_name(USER).items()}
    assert titles == {
        "user000@example.com": None,
        "user001@example.com": "Engineer",
        "user002@example.com": None,
    }

    # What ``hatchway job restart`` writes: a fresh initial cycle over every entry.
    for cycle in await store.list_cycles("mem", state=CycleState.RUNNING):
        await store.update_cycle(cycle.id, state=CycleState.STOPPED)
    await store.update_job("mem", state=JobState.RUNNING, initial_done=False)

    async def everyone() -> bool:
        return all(o.get("title") == "Engineer" for o in target.objects[USER].values())

    await eventually(everyone)
    await initial_done(store)
    initials = [c for c in await store.list_cycles("mem") if c.kind is CycleKind.INITIAL]
    assert len(initials) == 2
    assert initials[0].counts.get("updated") == 2  # links reused: no creates
    assert len(target.objects[USER]) == 3


# Rejected deprovisions --------------------------------------------------------------------------


async def test_rejected_deprovisions_are_held_until_the_entry_changes(
    store: Store, target: Gate, engine: MemoryEngine
) -> None:
    users = await add_users(store, 6)
    for user in users:
        await store.assign("mem", EntryKind.USER, user)
    await running_job(store, ASSIGNED)
    await initial_done(store)
    for user in users[:4]:
        await store.unassign("mem", EntryKind.USER, user)

    async def staged() -> bool:
        found = await store.list_staged("mem", decision=StagedDecision.PENDING)
        return len(found) == 4

    await eventually(staged)
    assert (await job_status(store, "mem")).summary == "running, waiting for approval"

    assert await store.decide_staged("mem", StagedDecision.REJECTED) == 4

    async def held() -> bool:
        shadows = await store.get_shadows("mem", EntryKind.USER, users[:4])
        return all(s.state is ShadowState.HELD for s in shadows.values()) and not (
            await store.list_staged("mem")
        )

    await eventually(held)
    status = await job_status(store, "mem")
    assert status.summary == "running"
    assert status.staged == 0
    assert len(target.objects[USER]) == 6  # nothing deleted
    logs = await store.query_logs(LogQuery(job="mem", status=LogStatus.SKIPPED))
    assert sorted(e.entry_id for e in logs if "rejected" in (e.reason or "")) == sorted(users[:4])

    # Assigned again: linked as before. Changed while still out of scope: deprovisioned
    # (one deletion, under the threshold). The others stay held.
    await store.assign("mem", EntryKind.USER, users[0])
    await rename(store, users[1], "Changed")

    async def lifted() -> bool:
        shadows = await store.get_shadows("mem", EntryKind.USER, users[:2])
        return (
            users[0] in shadows
            and shadows[users[0]].state is ShadowState.LINKED
            and users[1] not in shadows
        )

    await eventually(lifted)
    assert "user001@example.com" not in target.by_name(USER)
    assert len(target.objects[USER]) == 5
    shadows = await store.get_shadows("mem", EntryKind.USER, users[2:4])
    assert [s.state for s in shadows.values()] == [ShadowState.HELD] * 2
    assert await store.list_staged("mem") == []


# Retries ----------------------------------------------------------------------------------------


async def test_a_failed_write_is_retried_once_the_target_is_back(
    store: Store, target: Gate, engine: MemoryEngine
) -> None:
    users = await add_users(store, 3)
    await running_job(store, spec())
    await initial_done(store)
    target.down = True
    await rename(store, users[1], "Renamed")

    async def failing() -> Any:
        retries = await store.get_retries("mem", EntryKind.USER, [users[1]])
        return retries.get(users[1])

    retry = await eventually(failing)
    assert retry.error_class == ErrorClass.UNAVAILABLE.value
    assert retry.next_attempt_at is not None
    changes = await store.latest_change()

    async def retried() -> bool:
        retries = await store.get_retries("mem", EntryKind.USER, [users[1]])
        found = retries.get(users[1])
        return found is not None and found.attempts >= 2

    await eventually(retried)  # tried again while still down, without a change
    target.down = False

    async def written() -> bool:
        return display_names(target)["user001@example.com"] == "Renamed"

    await eventually(written)

    async def cleared() -> bool:
        return not await store.get_retries("mem", EntryKind.USER, [users[1]])

    await eventually(cleared)
    assert await store.latest_change() == changes  # no directory change brought it
    assert (await job_status(store, "mem")).retries == 0
    failures = await store.query_logs(LogQuery(job="mem", status=LogStatus.FAILURE))
    assert failures and all(e.entry_id == users[1] for e in failures)


async def test_a_user_created_on_retry_joins_the_group_it_was_added_to_meanwhile(
    store: Store, target: Gate, engine: MemoryEngine
) -> None:
    users = await add_users(store, 2)
    group = await add_group(store, "Ops", users)
    await running_job(store, spec())
    await initial_done(store)
    target.down = True
    [late] = await add_users(store, 1, prefix="late")
    await store.update_entry(EntryKind.GROUP, group, members=MemberChange(add=(late,)))

    async def failing() -> bool:
        return bool(await store.get_retries("mem", EntryKind.USER, [late]))

    await eventually(failing)
    target.down = False

    async def joined() -> bool:
        shadows = await store.get_shadows("mem", EntryKind.USER, [*users, late])
        members = target.by_name(GROUP)["Ops"].get("members") or []
        return len(shadows) == 3 and sorted(members) == sorted(s.anchor for s in shadows.values())

    await eventually(joined)
    assert sorted(target.by_name(USER)) == [
        "late000@example.com",
        "user000@example.com",
        "user001@example.com",
    ]


async def test_where_tells_an_object_in_flight(
    store: Store, target: Gate, engine: MemoryEngine
) -> None:
    [ada] = await add_users(store, 1)
    target.hold_after = 0  # the first write waits until released
    await running_job(store, spec())
    await asyncio.wait_for(target.holding.wait(), 10)

    held = await where(store, "mem", EntryKind.USER, ada, in_flight=engine.in_flight_since)

    assert held.in_flight_since is not None
    assert held.shadow is None
    target.hold_after = None
    target.released.set()
    await initial_done(store)
    done = await where(store, "mem", EntryKind.USER, ada, in_flight=engine.in_flight_since)
    assert done.in_flight_since is None
    assert done.shadow is not None


async def test_a_job_paused_while_no_relay_ran_has_its_cycles_ended_at_start(
    store: Store, target: Gate
) -> None:
    await store.create_job("mem", spec())
    cycle = await store.start_cycle("mem", CycleKind.INCREMENTAL)
    await store.update_job("mem", state=JobState.PAUSED)
    engine = MemoryEngine(store, target, SETTINGS)
    await engine.start()
    try:

        async def ended() -> bool:
            return (await store.get_cycle(cycle.id)).state is CycleState.STOPPED

        await eventually(ended)
    finally:
        await engine.stop()
    assert (await store.get_cycle(cycle.id)).error == "paused"
