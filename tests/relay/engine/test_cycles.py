"""The initial cycle over a real SQLite store and an in-memory target."""

from __future__ import annotations

import asyncio

import pytest

from relay.engine import control
from relay.engine.initial import run_initial
from relay.store.base import EntryKind, Store
from relay.store.engine_records import CycleKind, CycleRecord, CycleState, StagedDecision
from shared.connector import GROUP, USER
from tests.relay.engine.cycle_helpers import add_group, add_users, eventually, job_run
from tests.relay.engine.memory_target import MemoryTarget


async def test_initial_links_existing_accounts_and_creates_the_rest(store: Store) -> None:
    users = await add_users(store, 12)
    group = await add_group(store, "Sales", users[:3])
    target = MemoryTarget()
    existing = target.add(USER, user_name="user005@example.com", display_name="old name")
    start = await store.latest_change()
    run = await job_run(store, target)

    cycle = await run_initial(run)

    by_name = target.by_name(USER)
    assert sorted(by_name) == [f"user{i:03d}@example.com" for i in range(12)]
    assert len(target.objects[USER]) == 12
    assert target.objects[USER][existing]["display_name"] == "User 005"
    shadows = await store.get_shadows("mem", EntryKind.USER, users[:3])
    [sales] = target.objects[GROUP].values()
    assert sales["name"] == "Sales"
    assert sorted(sales["members"]) == sorted(s.anchor for s in shadows.values())
    assert cycle.state is CycleState.DONE
    assert cycle.counts["created"] == 12  # 11 users and the group
    assert cycle.counts["linked"] == 1
    # 13 entries, each counted once; no shadow is left to deprovision.
    assert cycle.done == cycle.total == 13
    job = await store.get_job("mem")
    assert job.initial_done
    assert job.cursor == start
    assert (await store.get_shadows("mem", EntryKind.GROUP, [group]))[group].anchor


async def test_initial_resumes_from_its_checkpoint_without_duplicates(store: Store) -> None:
    await add_users(store, 20)
    target = MemoryTarget()
    target.hold_after = 10  # two batches of five go through, the third is held
    first = asyncio.create_task(run_initial(await job_run(store, target)))
    await asyncio.wait_for(target.holding.wait(), 10)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    [stopped] = await store.list_cycles("mem", state=CycleState.RUNNING)
    assert stopped.kind is CycleKind.INITIAL
    assert stopped.checkpoint["phase"] == "user"
    assert stopped.checkpoint["after"]
    assert len(target.objects[USER]) == 10

    target.hold_after = None
    cycle = await run_initial(await job_run(store, target))

    assert cycle.id == stopped.id
    assert cycle.state is CycleState.DONE
    assert len(target.objects[USER]) == 20
    assert len(target.by_name(USER)) == 20
    assert target.writes == 20  # nothing written twice, nothing skipped
    assert (await store.get_job("mem")).initial_done


async def test_an_initial_cycle_stopped_by_a_restart_does_not_mark_the_job_done(
    store: Store,
) -> None:
    """A restart (or pause) stops the running cycle while the job's old task is still
    inside it: when that task reaches the end it must neither mark the stopped cycle done
    nor set ``initial_done`` again, which would undo the restart."""
    await add_users(store, 10)
    target = MemoryTarget()
    target.hold_after = 5
    task = asyncio.create_task(run_initial(await job_run(store, target)))
    await asyncio.wait_for(target.holding.wait(), 10)
    [running] = await store.list_cycles("mem", state=CycleState.RUNNING)
    await control.steer(store, "mem", "restart")
    target.released.set()
    ended = await asyncio.wait_for(task, 10)

    assert ended.id == running.id
    assert ended.state is CycleState.STOPPED
    assert (await store.get_cycle(running.id)).state is CycleState.STOPPED
    assert not (await store.get_job("mem")).initial_done


async def test_a_resumed_initial_cycle_counts_each_entry_once(store: Store) -> None:
    await add_users(store, 20)
    target = MemoryTarget()
    # Pages of two batches: the first batch of the second page is written and counted,
    # the second is held, so the stop falls in the middle of a page.
    target.hold_after = 15
    first = asyncio.create_task(run_initial(await job_run(store, target, batches_in_flight=2)))
    await asyncio.wait_for(target.holding.wait(), 10)

    async def counted() -> CycleRecord | None:
        [cycle] = await store.list_cycles("mem", state=CycleState.RUNNING)
        return cycle if cycle.done == 15 else None

    stopped = await eventually(counted)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert stopped.checkpoint["done"] == 10  # the checkpoint is the end of the first page

    target.hold_after = None
    cycle = await run_initial(await job_run(store, target, batches_in_flight=2))

    assert cycle.id == stopped.id
    assert cycle.done == cycle.total == 20
    assert target.writes == 20


async def test_initial_stages_deprovisions_over_the_threshold(store: Store) -> None:
    users = await add_users(store, 8)
    target = MemoryTarget()
    await run_initial(await job_run(store, target, threshold=3))
    for user in users[:5]:
        await store.delete_entry(EntryKind.USER, user)
    await store.update_job("mem", initial_done=False)

    cycle = await run_initial(await job_run(store, target, threshold=3))

    staged = await store.list_staged("mem", decision=StagedDecision.PENDING)
    assert sorted(s.entry_id for s in staged) == sorted(users[:5])
    assert len(target.objects[USER]) == 8  # nothing deleted yet
    assert cycle.counts["staged"] == 5


async def test_initial_sends_deprovisions_under_the_threshold(store: Store) -> None:
    users = await add_users(store, 8)
    target = MemoryTarget()
    await run_initial(await job_run(store, target))
    for user in users[:2]:
        await store.delete_entry(EntryKind.USER, user)
    await store.update_job("mem", initial_done=False)

    cycle = await run_initial(await job_run(store, target))

    assert sorted(target.by_name(USER)) == [f"user{i:03d}@example.com" for i in range(2, 8)]
    assert cycle.counts["deleted"] == 2
