"""What the store keeps for the provisioning engine, in both stores: jobs, cycles, shadows,
retries, staged deprovisions and provisioning logs (directory reads:
``test_directory_engine_reads.py``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import psycopg
import pytest

from relay.exceptions import Conflict, NotFound, StoreError
from relay.store.base import EntryKind, Store
from relay.store.engine_records import (
    CycleKind,
    CycleState,
    CycleWrite,
    JobState,
    LogAction,
    LogEntry,
    LogQuery,
    LogStatus,
    RetryRecord,
    Shadow,
    ShadowState,
    StagedDecision,
    StagedOperation,
)
from relay.store.engine_steps import MANAGER_VALUE
from relay.store.postgresql import CHANNEL, DIRECTORY_LOCK, PostgresStore
from tests.relay.store.conftest import NOW, Backend, Clock, PostgresBackend

USER, GROUP = EntryKind.USER, EntryKind.GROUP
JOB = "slack"
SPEC = 'target = "scim"\n'
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def shadow(entry_id: str, kind: EntryKind = USER, *, version: int = 1, **values: Any) -> Shadow:
    return Shadow(JOB, kind, entry_id, f"anchor-{entry_id}", values, version)


def retry(entry_id: str, next_attempt_at: float | None, *, attempts: int = 1) -> RetryRecord:
    return RetryRecord(
        JOB, USER, entry_id, attempts, "unavailable", "agent offline", NOW, next_attempt_at, 3
    )


def staged(entry_id: str, cycle: str, *, action: str = "delete") -> StagedOperation:
    return StagedOperation(
        0, JOB, cycle, USER, entry_id, f"anchor-{entry_id}", action, "out of scope", entry_id, NOW
    )


def log(
    entry_id: str,
    name: str = "",
    *,
    job: str = JOB,
    cycle: str = "c1",
    action: LogAction = LogAction.CREATE,
    status: LogStatus = LogStatus.SUCCESS,
    at: float = NOW,
) -> LogEntry:
    return LogEntry(job, cycle, USER, entry_id, action, status, at, source_name=name)


async def job_with_cycle(store: Store) -> str:
    await store.create_job(JOB, SPEC)
    cycle = await store.start_cycle(JOB, CycleKind.INITIAL, total=10)
    return cycle.id


# Jobs ----------------------------------------------------------------------------------------


async def test_a_job_is_created_read_listed_and_deleted(store: Store) -> None:
    created = await store.create_job(JOB, SPEC)
    assert created.state is JobState.CREATED
    assert created.version == 1
    assert created.created_at == created.updated_at == NOW
    assert (created.cursor, created.initial_done, created.quarantine_count) == (0, False, 0)
    assert await store.get_job(JOB) == created
    await store.create_job("asana", SPEC)
    assert [job.name for job in await store.list_jobs()] == ["asana", JOB]

    with pytest.raises(Conflict):
        await store.create_job(JOB, "other")
    assert (await store.get_job(JOB)).spec == SPEC

    await store.delete_job(JOB)
    with pytest.raises(NotFound):
        await store.get_job(JOB)
    with pytest.raises(NotFound):
        await store.delete_job(JOB)
    assert [job.name for job in await store.list_jobs()] == ["asana"]


async def test_a_job_update_bumps_the_version_only_for_spec_or_state(
    store: Store, clock: Clock
) -> None:
    await store.create_job(JOB, SPEC)
    clock.now += 5

    job = await store.update_job(JOB, cursor=42, initial_done=True, reconciled_at=NOW + 1)
    assert (job.version, job.cursor, job.initial_done, job.reconciled_at) == (1, 42, True, NOW + 1)
    assert job.updated_at == NOW + 5

    job = await store.update_job(JOB, state=JobState.RUNNING)
    assert (job.version, job.state) == (2, JobState.RUNNING)
    job = await store.update_job(JOB, spec="name = 'x'\n", state="paused")
    assert (job.version, job.spec, job.state) == (3, "name = 'x'\n", JobState.PAUSED)

    job = await store.update_job(
        JOB,
        state=JobState.QUARANTINED,
        quarantine_reason="credentials refused",
        next_attempt_at=NOW + 60,
        quarantine_count=2,
    )
    assert (job.quarantine_reason, job.next_attempt_at, job.quarantine_count) == (
        "credentials refused",
        NOW + 60,
        2,
    )
    job = await store.update_job(JOB, quarantine_reason=None, next_attempt_at=None)
    assert (job.quarantine_reason, job.next_attempt_at, job.version) == (None, None, 4)
    assert await store.get_job(JOB) == job


async def test_a_job_cursor_never_goes_back(store: Store) -> None:
    await store.create_job(JOB, SPEC)
    await store.update_job(JOB, cursor=100)
    assert (await store.update_job(JOB, cursor=90)).cursor == 100
    await store.record_batch(CycleWrite(JOB, cursor=80))
    assert (await store.get_job(JOB)).cursor == 100
    await store.record_batch(CycleWrite(JOB, cursor=120))
    assert (await store.get_job(JOB)).cursor == 120


async def test_a_job_update_refuses_unknown_fields_and_jobs(store: Store) -> None:
    created = await store.create_job(JOB, SPEC)
    for fields in ({"colour": "red"}, {"version": 9}, {"created_at": 1.0}):
        with pytest.raises(ValueError, match="not a field"):
            await store.update_job(JOB, state=JobState.RUNNING, **fields)
    with pytest.raises(ValueError, match="sleeping"):
        await store.update_job(JOB, state="sleeping")
    assert await store.get_job(JOB) == created
    with pytest.raises(NotFound):
        await store.update_job("missing", state=JobState.RUNNING)


# Cycles --------------------------------------------------------------------------------------


async def test_cycles_are_started_listed_newest_first_and_finished(
    store: Store, clock: Clock
) -> None:
    await store.create_job(JOB, SPEC)
    first = await store.start_cycle(JOB, CycleKind.INITIAL, total=3)
    second = await store.start_cycle(JOB, CycleKind.INCREMENTAL)
    assert first.id != second.id
    assert (first.state, first.total, first.done, first.counts) == (CycleState.RUNNING, 3, 0, {})
    assert await store.get_cycle(first.id) == first
    assert [c.id for c in await store.list_cycles(JOB)] == [second.id, first.id]
    assert [c.id for c in await store.list_cycles(JOB, limit=1)] == [second.id]

    clock.now += 30
    checkpoint = {"phase": "groups", "after": "0f3c", "seen": [1, 2]}
    paused = await store.update_cycle(first.id, checkpoint=checkpoint, total=5)
    assert (paused.state, paused.finished_at, paused.checkpoint, paused.total) == (
        CycleState.RUNNING,
        None,
        checkpoint,
        5,
    )
    done = await store.update_cycle(first.id, state=CycleState.DONE)
    assert (done.state, done.finished_at, done.checkpoint) == (
        CycleState.DONE,
        NOW + 30,
        checkpoint,
    )
    failed = await store.update_cycle(second.id, state=CycleState.FAILED, error="agent gone")
    assert (failed.error, failed.finished_at) == ("agent gone", NOW + 30)
    assert [c.id for c in await store.list_cycles(JOB, state=CycleState.DONE)] == [first.id]
    assert await store.list_cycles(JOB, state=CycleState.RUNNING) == []

    with pytest.raises(NotFound):
        await store.get_cycle("missing")
    with pytest.raises(NotFound):
        await store.update_cycle("missing", state=CycleState.DONE)


async def test_cycles_are_paged_back_from_a_cycle_of_an_earlier_page(store: Store) -> None:
    await store.create_job(JOB, SPEC)
    await store.create_job("asana", SPEC)
    started = [await store.start_cycle(JOB, CycleKind.INCREMENTAL) for _ in range(5)]
    other = await store.start_cycle("asana", CycleKind.INITIAL)
    await store.update_cycle(started[1].id, state=CycleState.DONE)

    pages: list[list[str]] = []
    before: str | None = None
    while page := await store.list_cycles(JOB, limit=2, before=before):
        pages.append([c.id for c in page])
        before = page[-1].id
    ids = [c.id for c in reversed(started)]
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]
    running = await store.list_cycles(JOB, state=CycleState.RUNNING, limit=5, before=started[3].id)
    assert [c.id for c in running] == [started[2].id, started[0].id]

    with pytest.raises(NotFound, match="no cycle"):
        await store.list_cycles(JOB, before="missing")
    with pytest.raises(NotFound, match="no cycle"):
        await store.list_cycles(JOB, before=other.id)  # another job's cycle
    with pytest.raises(NotFound):
        await store.start_cycle("missing", CycleKind.INITIAL)


# Batches -------------------------------------------------------------------------------------


async def test_a_batch_writes_everything_it_holds(store: Store, clock: Clock) -> None:
    cycle = await job_with_cycle(store)
    await store.record_batch(
        CycleWrite(
            JOB,
            shadows=(
                shadow("u1", mail="a@x", groups=["g1", "g2"]),
                shadow("u2", version=4),
                shadow("g1", GROUP, members=["anchor-u1"]),
            ),
            retries=(retry("u3", NOW + 10),),
            staged=(staged("u4", cycle), staged("u5", cycle, action="disable")),
            logs=(log("u1", "Alice", cycle=cycle), log("u2", "bob", cycle=cycle)),
            cycle=cycle,
            done=4,
            counts={"created": 2, "failed": 1},
            checkpoint={"after": "u2"},
            cursor=7,
        )
    )

    shadows = await store.get_shadows(JOB, USER, ["u1", "u2", "g1", "nobody"])
    assert shadows == {
        "u1": replace(shadow("u1", mail="a@x", groups=["g1", "g2"]), updated_at=NOW),
        "u2": replace(shadow("u2", version=4), updated_at=NOW),
    }
    assert (await store.get_shadows(JOB, GROUP, ["g1"]))["g1"].values == {"members": ["anchor-u1"]}
    assert list(await store.get_retries(JOB, USER, ["u3", "u1"])) == ["u3"]
    pending = await store.list_staged(JOB)
    assert [(s.entry_id, s.action, s.decision) for s in pending] == [
        ("u4", "delete", StagedDecision.PENDING),
        ("u5", "disable", StagedDecision.PENDING),
    ]
    assert [entry.entry_id for entry in await store.query_logs(LogQuery(job=JOB))] == ["u2", "u1"]
    progress = await store.get_cycle(cycle)
    assert (progress.done, progress.counts, progress.checkpoint) == (
        4,
        {"created": 2, "failed": 1},
        {"after": "u2"},
    )
    assert (await store.get_job(JOB)).cursor == 7

    # The next batch: an update, an unlink, a retry cleared, a staged operation done with.
    clock.now += 60
    await store.record_batch(
        CycleWrite(
            JOB,
            shadows=(replace(shadow("u1", version=2, mail="b@x"), state=ShadowState.DISABLED),),
            unlinked=((USER, "u2"),),
            cleared=((USER, "u3"),),
            unstaged=(pending[0].id,),
            cycle=cycle,
            done=2,
            counts={"created": 1, "updated": 1},
        )
    )
    shadows = await store.get_shadows(JOB, USER, ["u1", "u2"])
    assert shadows == {
        "u1": Shadow(
            JOB, USER, "u1", "anchor-u1", {"mail": "b@x"}, 2, ShadowState.DISABLED, NOW + 60
        )
    }
    assert await store.get_retries(JOB, USER, ["u3"]) == {}
    assert [s.entry_id for s in await store.list_staged(JOB)] == ["u5"]
    progress = await store.get_cycle(cycle)
    assert (progress.done, progress.counts, progress.checkpoint) == (
        6,
        {"created": 3, "failed": 1, "updated": 1},
        {"after": "u2"},
    )


async def test_a_batch_that_fails_part_way_writes_nothing(store: Store) -> None:
    cycle = await job_with_cycle(store)
    before = await store.get_cycle(cycle)
    everything = CycleWrite(
        JOB,
        shadows=(shadow("u1"),),
        retries=(retry("u2", NOW),),
        logs=(log("u1", cycle=cycle),),
        cycle=cycle,
        done=1,
        counts={"created": 1},
        cursor=9,
    )

    # The cycle, written after the rows, does not exist.
    with pytest.raises(NotFound):
        await store.record_batch(replace(everything, cycle="gone"))
    # A staged operation the database refuses (not a disable or delete), after the shadows.
    with pytest.raises(StoreError):
        await store.record_batch(
            replace(everything, staged=(staged("u3", cycle, action="archive"),))
        )

    assert await store.get_shadows(JOB, USER, ["u1"]) == {}
    assert await store.get_retries(JOB, USER, ["u2"]) == {}
    assert await store.list_staged(JOB) == []
    assert await store.query_logs(LogQuery()) == []
    assert await store.get_cycle(cycle) == before
    assert (await store.get_job(JOB)).cursor == 0

    await store.record_batch(everything)
    assert list(await store.get_shadows(JOB, USER, ["u1"])) == ["u1"]


async def test_progress_without_its_cycle_is_refused(store: Store) -> None:
    await store.create_job(JOB, SPEC)
    with pytest.raises(ValueError, match="needs the cycle"):
        await store.record_batch(CycleWrite(JOB, shadows=(shadow("u1"),), done=1))
    assert await store.count_shadows(JOB) == 0


# Shadows and retries -------------------------------------------------------------------------


async def test_shadows_are_read_by_ids_in_pages_and_counted(store: Store) -> None:
    await store.create_job(JOB, SPEC)
    ids = [f"u{n:03}" for n in range(600)]
    await store.record_batch(
        CycleWrite(JOB, shadows=(*[shadow(i) for i in ids], shadow("g1", GROUP)))
    )

    # More ids than one statement takes.
    found = await store.get_shadows(JOB, USER, [*ids, "missing", "g1"])
    assert sorted(found) == ids
    assert await store.get_shadows(JOB, USER, []) == {}
    assert await store.get_shadows("other", USER, ids) == {}

    seen: list[str] = []
    after = ""
    while page := await store.shadows_page(JOB, USER, after_id=after, limit=250):
        seen += [s.entry_id for s in page]
        after = page[-1].entry_id
    assert seen == ids
    assert [s.entry_id for s in await store.shadows_page(JOB, GROUP)] == ["g1"]
    assert await store.count_shadows(JOB) == 601
    assert await store.count_shadows(JOB, USER) == 600
    assert await store.count_shadows(JOB, GROUP) == 1


async def test_retries_come_due_soonest_first(store: Store, clock: Clock) -> None:
    await store.create_job(JOB, SPEC)
    await store.record_batch(
        CycleWrite(
            JOB,
            retries=(
                retry("late", NOW + 30),
                retry("soon", NOW + 10),
                retry("bad-data", None),
                retry("middle", NOW + 20),
            ),
        )
    )
    clock.now += 5
    await store.record_batch(CycleWrite(JOB, retries=(retry("middle", NOW + 20, attempts=2),)))

    due = await store.retries_due(JOB, NOW + 25)
    assert [(r.entry_id, r.attempts) for r in due] == [("soon", 1), ("middle", 2)]
    assert [r.entry_id for r in await store.retries_due(JOB, NOW + 25, limit=1)] == ["soon"]
    assert await store.retries_due(JOB, NOW) == []
    assert await store.retries_due("other", NOW + 100) == []
    # Waiting for a change, never due by time.
    assert "bad-data" not in [r.entry_id for r in await store.retries_due(JOB, NOW + 1e9)]

    recent = await store.list_retries(JOB)
    assert recent[0].entry_id == "middle"
    assert sorted(r.entry_id for r in recent) == ["bad-data", "late", "middle", "soon"]
    assert len(await store.list_retries(JOB, limit=2)) == 2
    assert await store.get_retries(JOB, USER, ["bad-data"]) == {"bad-data": retry("bad-data", None)}


# Staged operations ---------------------------------------------------------------------------


async def test_staged_operations_are_decided_once(store: Store, clock: Clock) -> None:
    cycle = await job_with_cycle(store)
    await store.record_batch(
        CycleWrite(JOB, staged=tuple(staged(f"u{n}", cycle) for n in range(3)))
    )
    first, second, third = await store.list_staged(JOB)
    assert first.id < second.id < third.id

    clock.now += 10
    assert await store.decide_staged(JOB, StagedDecision.APPROVED, [first.id]) == 1
    assert await store.decide_staged(JOB, StagedDecision.REJECTED, [first.id, 999]) == 0
    assert await store.decide_staged(JOB, StagedDecision.APPROVED, []) == 0
    assert await store.decide_staged("other", StagedDecision.REJECTED) == 0
    assert await store.decide_staged(JOB, StagedDecision.REJECTED) == 2
    assert await store.decide_staged(JOB, StagedDecision.REJECTED) == 0

    approved = await store.list_staged(JOB, decision=StagedDecision.APPROVED)
    assert [(s.id, s.decided_at) for s in approved] == [(first.id, NOW + 10)]
    rejected = await store.list_staged(JOB, decision=StagedDecision.REJECTED)
    assert [s.id for s in rejected] == [second.id, third.id]
    assert await store.list_staged(JOB, decision=StagedDecision.PENDING) == []
    with pytest.raises(ValueError, match="approving or rejecting"):
        await store.decide_staged(JOB, StagedDecision.PENDING)


async def test_staged_operations_are_counted_and_read_in_pages(store: Store) -> None:
    cycle = await job_with_cycle(store)
    await store.record_batch(
        CycleWrite(JOB, staged=tuple(staged(f"u{n}", cycle) for n in range(5)))
    )
    assert await store.count_staged(JOB, StagedDecision.PENDING) == 5
    first = await store.list_staged(JOB, decision=StagedDecision.PENDING, limit=2)
    rest = await store.list_staged(
        JOB, decision=StagedDecision.PENDING, after_id=first[-1].id, limit=10
    )
    assert [s.entry_id for s in first + rest] == [f"u{n}" for n in range(5)]

    await store.decide_staged(JOB, StagedDecision.APPROVED, [first[0].id])
    assert await store.count_staged(JOB, StagedDecision.PENDING) == 4
    assert await store.count_staged(JOB, StagedDecision.APPROVED) == 1
    assert await store.count_staged("other", StagedDecision.PENDING) == 0


async def test_staged_operations_are_counted_by_job_at_once(store: Store) -> None:
    assert await store.staged_counts(StagedDecision.PENDING) == {}
    cycle = await job_with_cycle(store)
    await store.create_job("other", SPEC)
    other = (await store.start_cycle("other", CycleKind.RECONCILE)).id
    await store.create_job("idle", SPEC)
    await store.record_batch(
        CycleWrite(JOB, staged=tuple(staged(f"u{n}", cycle) for n in range(3)))
    )
    await store.record_batch(
        CycleWrite("other", staged=(replace(staged("u9", other), job="other"),))
    )
    first = (await store.list_staged(JOB))[0]
    await store.decide_staged(JOB, StagedDecision.REJECTED, [first.id])

    assert await store.staged_counts(StagedDecision.PENDING) == {JOB: 2, "other": 1}
    assert await store.staged_counts(StagedDecision.REJECTED) == {JOB: 1}
    assert await store.staged_counts(StagedDecision.APPROVED) == {}


# Logs ----------------------------------------------------------------------------------------


async def test_logs_are_filtered_and_paged_newest_first(store: Store) -> None:
    await store.create_job(JOB, SPEC)
    entries = (
        log("u1", "Ärne", cycle="c1", at=NOW),
        log("u2", "bob", cycle="c1", action=LogAction.UPDATE, at=NOW + 1),
        log("u1", "Ärne", cycle="c2", status=LogStatus.FAILURE, at=NOW + 2),
        log(
            "u3", "carol", cycle="c2", action=LogAction.DELETE, status=LogStatus.STAGED, at=NOW + 3
        ),
        log("u1", "Ärne", job="asana", cycle="c9", at=NOW + 4),
    )
    await store.record_batch(CycleWrite(JOB, logs=entries))
    rich = LogEntry(
        JOB,
        "c3",
        GROUP,
        "g1",
        LogAction.UPDATE,
        LogStatus.SUCCESS,
        NOW + 5,
        source_name="Staff",
        anchor="cn=staff",
        reason="members changed",
        error_class=None,
        changes={"member": [["a"], ["a", "b"]]},
        steps=[{"step": "scope", "outcome": "in scope", "detail": {"filter": None}}],
        duration_ms=12.5,
    )
    await store.record_batch(CycleWrite(JOB, logs=(rich,)))

    newest = await store.query_logs(LogQuery())
    assert [(e.entry_id, e.at) for e in newest] == [
        ("g1", NOW + 5),
        ("u1", NOW + 4),
        ("u3", NOW + 3),
        ("u1", NOW + 2),
        ("u2", NOW + 1),
        ("u1", NOW),
    ]
    assert newest[0].id is not None
    assert replace(newest[0], id=None) == rich

    async def ats(**filters: Any) -> list[float]:
        return [entry.at - NOW for entry in await store.query_logs(LogQuery(**filters))]

    assert await ats(job=JOB) == [5, 3, 2, 1, 0]
    assert await ats(job=JOB, entry="u1") == [2, 0]
    assert await ats(entry="ärne") == [4, 2, 0]
    assert await ats(entry="ÄRNE", job="asana") == [4]
    assert await ats(entry="Staff") == [5]
    assert await ats(cycle="c2") == [3, 2]
    assert await ats(action=LogAction.UPDATE) == [5, 1]
    assert await ats(status=LogStatus.FAILURE) == [2]
    assert await ats(since=NOW + 1, until=NOW + 3) == [2, 1]
    assert await ats(job=JOB, limit=2) == [5, 3]

    pages: list[list[float]] = []
    before: int | None = None
    while page := await store.query_logs(LogQuery(job=JOB, before_id=before, limit=2)):
        pages.append([entry.at - NOW for entry in page])
        before = page[-1].id
    assert pages == [[5, 3], [2, 1], [0]]

    assert await store.purge_logs(NOW + 2) == 2
    assert await ats() == [5, 4, 3, 2]


# Users by manager ----------------------------------------------------------------------------


async def test_reports_are_found_by_their_manager(store: Store) -> None:
    boss = await store.create_entry(USER, {"userName": "boss"})
    other = await store.create_entry(USER, {"userName": "other"})
    reports = [
        await store.create_entry(
            USER, {"userName": f"report{i}", ENTERPRISE: {"manager": {"value": manager}}}
        )
        for i, manager in enumerate([boss.id, other.id, boss.id])
    ]
    await store.create_entry(
        GROUP, {"displayName": "team", ENTERPRISE: {"manager": {"value": boss.id}}}
    )

    found = await store.reports_of([boss.id, other.id, reports[0].id, "nobody"])

    assert found == {boss.id: [reports[0].id, reports[2].id], other.id: [reports[1].id]}
    assert await store.reports_of([]) == {}


async def test_reports_are_found_through_the_manager_index(backend: Backend, store: Store) -> None:
    manager = MANAGER_VALUE[backend.name]
    query = f"SELECT id FROM directory_entries WHERE kind = 'user' AND {manager} IN ('a', 'b')"
    if backend.name == "sqlite":
        plan = [str(row[-1]) for row in backend.rows(f"EXPLAIN QUERY PLAN {query}")]
    else:
        # A handful of rows is cheaper to scan: ask whether the index can serve at all.
        backend.execute(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET enable_seqscan = off',"
            " current_database()); END $$"
        )
        plan = [str(row[0]) for row in backend.rows(f"EXPLAIN {query}")]
    assert "directory_entries_manager" in " ".join(plan), plan


# Deleting a job ------------------------------------------------------------------------------


async def test_deleting_a_job_drops_its_records_but_keeps_its_logs(store: Store) -> None:
    cycle = await job_with_cycle(store)
    await store.create_job("asana", SPEC)
    for job in (JOB, "asana"):
        await store.record_batch(
            CycleWrite(
                job,
                shadows=(replace(shadow("u1"), job=job),),
                retries=(replace(retry("u2", NOW), job=job),),
                staged=(replace(staged("u3", cycle), job=job),),
                logs=(log("u1", job=job, cycle=cycle),),
            )
        )
    await store.delete_job(JOB)

    assert await store.count_shadows(JOB) == 0
    assert await store.get_retries(JOB, USER, ["u2"]) == {}
    assert await store.list_staged(JOB) == []
    assert await store.list_cycles(JOB) == []
    assert len(await store.query_logs(LogQuery(job=JOB))) == 1
    # Another job keeps its own.
    assert await store.count_shadows("asana") == 1
    assert len(await store.list_staged("asana")) == 1
    # A job created again under the name starts empty.
    await store.create_job(JOB, SPEC)
    assert await store.count_shadows(JOB) == 0


# PostgreSQL: engine writes are no directory changes --------------------------------------------


async def test_engine_writes_take_no_directory_lock_and_notify_no_one(
    postgres_backend: PostgresBackend,
) -> None:
    store = PostgresStore(postgres_backend.url, statement_timeout=2)
    await store.open()
    try:
        cycle = await job_with_cycle(store)
        with psycopg.connect(postgres_backend.url, autocommit=True) as listener:
            listener.execute(f"LISTEN {CHANNEL}")
            with psycopg.connect(postgres_backend.url) as other:
                # A directory writer holds the lock: engine writes go on regardless.
                other.execute("SELECT pg_advisory_xact_lock(%s)", (DIRECTORY_LOCK,))
                await store.record_batch(
                    CycleWrite(JOB, shadows=(shadow("u1"),), logs=(log("u1"),), cycle=cycle, done=1)
                )
                await store.update_job(JOB, state=JobState.RUNNING, cursor=3)
            assert list(listener.notifies(timeout=0.5)) == []
            await store.create_entry(USER, {"userName": "alice"})
            assert len(list(listener.notifies(timeout=5, stop_after=1))) == 1
        assert await store.count_shadows(JOB) == 1
    finally:
        await store.close()
