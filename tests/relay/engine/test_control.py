"""Changes to jobs through ``relay.engine.control`` on a real SQLite store, and an engine that
acts on them as soon as it is told (:meth:`Engine.notice`), not at its next control round."""

from __future__ import annotations

import pytest

from relay.engine import control
from relay.engine.control import Steer
from relay.engine.settings import EngineSettings
from relay.exceptions import Conflict, NotFound
from relay.store.base import EntryKind, Store
from relay.store.engine_records import (
    CycleKind,
    CycleState,
    CycleWrite,
    JobRecord,
    JobState,
    StagedDecision,
    StagedOperation,
)
from shared.connector import USER
from shared.exceptions import SettingsError
from tests.relay.api.job_helpers import JOB
from tests.relay.engine.cycle_helpers import MemoryEngine, add_users, eventually, spec
from tests.relay.engine.memory_target import MemoryTarget

#: A control round every 30 s: whatever happens within seconds was brought on by a notice.
SLOW = EngineSettings(control_interval=30.0, batch_size=5, batches_in_flight=1)


# Defining jobs ---------------------------------------------------------------------------------


async def test_a_job_is_created_from_its_file_and_named_by_it_or_by_the_caller(
    store: Store,
) -> None:
    record = await control.create(store, JOB)
    assert (record.name, record.state, record.spec, record.version) == (
        "crm",
        JobState.CREATED,
        JOB,
        1,
    )
    other = await control.create(store, JOB, "crm-eu")
    assert other.name == "crm-eu"
    assert [j.name for j in await store.list_jobs()] == ["crm", "crm-eu"]
    with pytest.raises(Conflict, match="crm"):
        await control.create(store, JOB)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (JOB.replace('connector = "crm"', 'connector = ""'), "connection.connector"),
        (JOB.replace('scope = "all"', 'scope = "some"'), "scope"),
        (JOB + "\n[guard]\nthreshold = -1\n", "guard.threshold"),
        (JOB.replace('name = "crm"', 'name = "no spaces"'), "name"),
    ],
)
async def test_a_bad_job_file_is_refused_naming_the_key(store: Store, text: str, key: str) -> None:
    with pytest.raises(SettingsError) as info:
        await control.create(store, text)
    assert f"{control.JOB_FILE}: {key}:" in str(info.value)
    assert await store.list_jobs() == []


async def test_a_file_that_is_not_toml_is_refused_saying_where(store: Store) -> None:
    with pytest.raises(SettingsError, match=r"job file: is not valid TOML: .*line 2"):
        await control.create(store, 'name = "crm"\ntarget = \n')


async def test_an_update_replaces_the_file_and_keeps_the_name(store: Store) -> None:
    await control.create(store, JOB)
    changed = JOB.replace('name = "crm"', 'name = "other"').replace('"all"', '"assigned"')
    record = await control.update(store, "crm", changed)
    assert (record.name, record.spec, record.version) == ("crm", changed, 2)
    assert [j.name for j in await store.list_jobs()] == ["crm"]

    with pytest.raises(SettingsError, match=r"connection\.connector"):
        await control.update(store, "crm", JOB.replace('connector = "crm"', 'connector = ""'))
    assert (await store.get_job("crm")).spec == changed
    with pytest.raises(NotFound, match="nope"):
        await control.update(store, "nope", JOB)


async def test_a_deleted_job_is_gone(store: Store) -> None:
    await control.create(store, JOB)
    await control.delete(store, "crm")
    assert await store.list_jobs() == []
    with pytest.raises(NotFound):
        await control.delete(store, "crm")


def test_the_connection_reads_as_agent_and_connector() -> None:
    def record(spec_text: str) -> JobRecord:
        return JobRecord("crm", spec_text, JobState.CREATED, 1, 0.0, 0.0)

    assert control.connection_text(record(JOB)) == "built-in / crm"
    on_agent = JOB.replace("[connection]\n", '[connection]\nagent = "site-a"\n')
    assert control.connection_text(record(on_agent)) == "site-a / crm"
    broken = control.connection_text(record("target = 1\n"))
    assert broken.startswith("(invalid: job crm: target:")


# Steering -------------------------------------------------------------------------------------


async def test_start_pause_resume(store: Store) -> None:
    await control.create(store, JOB)

    before, record = await control.steer(store, "crm", Steer.START)
    assert (before, record.state, record.version) == (JobState.CREATED, JobState.RUNNING, 2)
    before, again = await control.steer(store, "crm", Steer.START)
    assert (before, again) == (JobState.RUNNING, record)  # nothing written
    before, record = await control.steer(store, "crm", Steer.PAUSE)
    assert (before, record.state) == (JobState.RUNNING, JobState.PAUSED)
    before, record = await control.steer(store, "crm", Steer.RESUME)
    assert (before, record.state) == (JobState.PAUSED, JobState.RUNNING)
    # The command's text does as well.
    before, record = await control.steer(store, "crm", "pause")
    assert (before, record.state) == (JobState.RUNNING, JobState.PAUSED)
    with pytest.raises(ValueError, match="stop"):
        await control.steer(store, "crm", "stop")
    with pytest.raises(NotFound, match="nope"):
        await control.steer(store, "nope", Steer.PAUSE)


@pytest.mark.parametrize("command", [Steer.START, Steer.RESUME, Steer.RESTART])
async def test_start_resume_and_restart_clear_a_quarantine(store: Store, command: Steer) -> None:
    await control.create(store, JOB)
    await store.update_job(
        "crm",
        state=JobState.QUARANTINED,
        quarantine_reason="refused",
        next_attempt_at=5.0,
        quarantine_count=3,
    )
    before, record = await control.steer(store, "crm", command)
    assert before is JobState.QUARANTINED
    assert record.state is JobState.RUNNING
    assert (record.quarantine_reason, record.next_attempt_at, record.quarantine_count) == (
        None,
        None,
        0,
    )


async def test_restart_stops_running_cycles_and_runs_a_fresh_initial_cycle(store: Store) -> None:
    await control.create(store, JOB)
    await store.update_job("crm", state=JobState.RUNNING, initial_done=True, cursor=7)
    done = await store.start_cycle("crm", CycleKind.INITIAL)
    await store.update_cycle(done.id, state=CycleState.DONE)
    running = await store.start_cycle("crm", CycleKind.INCREMENTAL)

    before, record = await control.steer(store, "crm", Steer.RESTART)

    assert before is JobState.RUNNING
    assert (record.state, record.initial_done, record.cursor) == (JobState.RUNNING, False, 7)
    assert (await store.get_cycle(running.id)).state is CycleState.STOPPED
    assert (await store.get_cycle(done.id)).state is CycleState.DONE


async def test_staged_deprovisions_are_decided(store: Store) -> None:
    await control.create(store, JOB)
    cycle = await store.start_cycle("crm", CycleKind.INCREMENTAL)
    staged = tuple(
        StagedOperation(
            0, "crm", cycle.id, EntryKind.USER, f"u{i}", f"a{i}", "delete", "gone", f"u{i}", 1.0
        )
        for i in range(3)
    )
    await store.record_batch(CycleWrite(job="crm", staged=staged))
    ids = [s.id for s in await store.list_staged("crm")]

    assert await control.decide(store, "crm", StagedDecision.APPROVED, [ids[0], 999]) == 1
    assert await control.decide(store, "crm", StagedDecision.REJECTED, []) == 0
    assert await control.decide(store, "crm", StagedDecision.REJECTED) == 2
    assert await control.decide(store, "crm", StagedDecision.APPROVED) == 0
    decided = await store.list_staged("crm")
    assert [s.decision for s in decided] == [
        StagedDecision.APPROVED,
        StagedDecision.REJECTED,
        StagedDecision.REJECTED,
    ]
    with pytest.raises(NotFound, match="nope"):
        await control.decide(store, "nope", StagedDecision.APPROVED)


# The engine acting on a notice ---------------------------------------------------------------


async def test_a_started_job_runs_at_once_when_the_engine_is_told(store: Store) -> None:
    await add_users(store, 3)
    await store.create_job("mem", spec())
    target = MemoryTarget()
    engine = MemoryEngine(store, target, SLOW)
    await engine.start()
    try:
        # The engine's first round has looked at the job (created, not started).
        await eventually(lambda: engine._seen, what="the first control round")
        await control.steer(store, "mem", Steer.START)
        engine.notice("mem")

        async def initial_done() -> bool:
            return (await store.get_job("mem")).initial_done

        await eventually(initial_done, timeout=10, what="the initial cycle")
    finally:
        await engine.stop()
    assert len(target.objects[USER]) == 3


async def test_approved_deprovisions_are_carried_out_at_once_when_the_engine_is_told(
    store: Store,
) -> None:
    users = await add_users(store, 4)
    await store.create_job("mem", spec(threshold=1))
    await store.update_job("mem", state=JobState.RUNNING)
    target = MemoryTarget()
    engine = MemoryEngine(store, target, SLOW)
    await engine.start()
    try:

        async def initial_done() -> bool:
            return (await store.get_job("mem")).initial_done

        await eventually(initial_done, timeout=10, what="the initial cycle")
        for user in users[:2]:
            await store.delete_entry(EntryKind.USER, user)

        async def staged() -> bool:
            return len(await store.list_staged("mem", decision=StagedDecision.PENDING)) == 2

        await eventually(staged, timeout=10, what="the staged deletions")
        assert len(target.objects[USER]) == 4
        assert await control.decide(store, "mem", StagedDecision.APPROVED) == 2
        engine.notice("mem")
        await eventually(
            lambda: len(target.objects[USER]) == 2, timeout=10, what="the approved deletions"
        )
    finally:
        await engine.stop()
    assert await store.list_staged("mem") == []
