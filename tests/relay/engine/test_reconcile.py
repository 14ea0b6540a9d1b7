"""Reconcile: changes made in the target behind the job's back are found and repaired."""

from __future__ import annotations

from relay.engine.initial import run_initial
from relay.engine.reconcile import UNMATCHED, run_reconcile
from relay.store.base import EntryKind, Store
from relay.store.engine_records import LogQuery, LogStatus, StagedDecision
from shared.connector import GROUP, USER
from tests.relay.engine.cycle_helpers import add_group, add_users, job_run
from tests.relay.engine.memory_target import MemoryTarget


async def test_drift_is_restored_and_deleted_objects_recreated(store: Store) -> None:
    users = await add_users(store, 4)
    await add_group(store, "Team", users[:2])
    target = MemoryTarget()
    run = await job_run(store, target)
    await run_initial(run)
    changed = target.by_name(USER)["user001@example.com"]
    changed["display_name"] = "Changed behind our back"
    changed["department"] = "Nowhere"
    gone = next(a for a, o in target.objects[USER].items() if o["user_name"].startswith("user002"))
    del target.objects[USER][gone]
    target.by_name(GROUP)["Team"]["members"] = []

    cycle = await run_reconcile(run)

    restored = target.by_name(USER)
    assert restored["user001@example.com"]["display_name"] == "User 001"
    assert (
        "department" not in restored["user001@example.com"]
        or not restored["user001@example.com"]["department"]
    )
    assert "user002@example.com" in restored
    assert len(target.objects[USER]) == 4
    shadows = await store.get_shadows("mem", EntryKind.USER, users)
    assert shadows[users[2]].anchor != gone
    assert sorted(target.by_name(GROUP)["Team"]["members"]) == sorted(
        shadows[u].anchor for u in users[:2]
    )
    assert cycle.counts.get("unmatched", 0) == 0


async def test_unmatched_accounts_are_reported_not_deleted(store: Store) -> None:
    await add_users(store, 2)
    target = MemoryTarget()
    run = await job_run(store, target)
    await run_initial(run)
    stranger = target.add(USER, user_name="stranger@example.com")

    cycle = await run_reconcile(run)

    assert stranger in target.objects[USER]
    assert cycle.counts["unmatched"] == 1
    [entry] = await store.query_logs(LogQuery(job="mem", status=LogStatus.SKIPPED))
    assert entry.anchor == stranger
    assert entry.reason == UNMATCHED
    assert entry.source_name == "stranger@example.com"


async def test_unmatched_accounts_matching_an_entry_are_linked(store: Store) -> None:
    await add_users(store, 2)
    target = MemoryTarget()
    run = await job_run(store, target)
    await run_initial(run)
    [late] = await add_users(store, 1, prefix="late")
    existing = target.add(USER, user_name="late000@example.com")

    cycle = await run_reconcile(run)

    shadows = await store.get_shadows("mem", EntryKind.USER, [late])
    assert shadows[late].anchor == existing
    assert cycle.counts.get("unmatched", 0) == 0
    assert len(target.objects[USER]) == 3


async def test_unmatched_accounts_are_deleted_when_the_job_says_so(store: Store) -> None:
    await add_users(store, 2)
    target = MemoryTarget()
    run = await job_run(store, target, delete_unmatched=True)
    await run_initial(run)
    stranger = target.add(USER, user_name="stranger@example.com")

    cycle = await run_reconcile(run)

    assert stranger not in target.objects[USER]
    assert cycle.counts["deleted"] == 1


async def test_unmatched_deletions_over_the_threshold_are_staged(store: Store) -> None:
    await add_users(store, 2)
    target = MemoryTarget()
    run = await job_run(store, target, delete_unmatched=True, threshold=2)
    await run_initial(run)
    strangers = [target.add(USER, user_name=f"stranger{i}@example.com") for i in range(3)]

    await run_reconcile(run)

    staged = await store.list_staged("mem", decision=StagedDecision.PENDING)
    assert sorted(s.anchor for s in staged) == sorted(strangers)
    assert all(a in target.objects[USER] for a in strangers)


async def test_unmatched_deletions_waiting_for_approval_are_staged_once(store: Store) -> None:
    await add_users(store, 2)
    target = MemoryTarget()
    run = await job_run(store, target, delete_unmatched=True, threshold=2)
    await run_initial(run)
    strangers = [target.add(USER, user_name=f"stranger{i}@example.com") for i in range(3)]
    await run_reconcile(run)

    again = await run_reconcile(run)

    staged = await store.list_staged("mem", decision=StagedDecision.PENDING)
    assert sorted(s.anchor for s in staged) == sorted(strangers)
    assert again.counts["unmatched"] == 3
    assert again.counts.get("staged", 0) == 0
