"""Incremental work: directory changes reach the target as they happen, deprovisions pass
the deletion guard's window."""

from __future__ import annotations

import time

from relay.engine.initial import run_initial
from relay.store.base import EntryKind, MemberChange, Store
from relay.store.engine_records import StagedDecision
from shared.connector import GROUP, USER
from tests.relay.engine.cycle_helpers import add_group, add_users, eventually, following, job_run
from tests.relay.engine.memory_target import MemoryTarget


async def test_a_direct_store_write_reaches_the_target_within_a_second(store: Store) -> None:
    users = await add_users(store, 3)
    target = MemoryTarget()
    run = await job_run(store, target)
    await run_initial(run)
    async with following(run):
        entry = await store.get_entry(EntryKind.USER, users[1])
        resource = {**entry.resource, "displayName": "Renamed"}
        await store.update_entry(EntryKind.USER, users[1], resource=resource)

        async def renamed() -> bool:
            return target.by_name(USER)["user001@example.com"]["display_name"] == "Renamed"

        started = time.monotonic()
        await eventually(renamed)
        assert time.monotonic() - started < 1.0
        latest = await store.latest_change()

        async def saved() -> bool:
            return (await store.get_job("mem")).cursor == latest

        await eventually(saved)


async def test_created_users_join_their_groups_in_the_target(store: Store) -> None:
    users = await add_users(store, 2)
    group = await add_group(store, "Ops", users[:1])
    target = MemoryTarget()
    run = await job_run(store, target)
    await run_initial(run)
    async with following(run):
        [late] = await add_users(store, 1, prefix="late")
        await store.update_entry(EntryKind.GROUP, group, members=MemberChange(add=(late,)))

        async def joined() -> bool:
            shadows = await store.get_shadows("mem", EntryKind.USER, [users[0], late])
            wanted = sorted(s.anchor for s in shadows.values())
            members = sorted(target.by_name(GROUP)["Ops"].get("members") or [])
            return len(wanted) == 2 and members == wanted

        await eventually(joined)
    assert sorted(target.by_name(USER)) == [
        "late000@example.com",
        "user000@example.com",
        "user001@example.com",
    ]


async def test_a_burst_of_deletions_over_the_threshold_is_staged(store: Store) -> None:
    users = await add_users(store, 10)
    target = MemoryTarget()
    run = await job_run(store, target, threshold=3)
    await run_initial(run)
    async with following(run):
        for user in users[:4]:
            await store.delete_entry(EntryKind.USER, user)

        async def staged() -> bool:
            found = await store.list_staged("mem", decision=StagedDecision.PENDING)
            return sorted(s.entry_id for s in found) == sorted(users[:4])

        await eventually(staged)
    assert len(target.objects[USER]) == 10


async def test_a_few_deletions_are_sent_once_settled(store: Store) -> None:
    users = await add_users(store, 10)
    target = MemoryTarget()
    run = await job_run(store, target, threshold=3)
    await run_initial(run)
    async with following(run):
        for user in users[:2]:
            await store.delete_entry(EntryKind.USER, user)

        async def deleted() -> bool:
            return len(target.objects[USER]) == 8

        await eventually(deleted)
    assert "user000@example.com" not in target.by_name(USER)
    assert await store.list_staged("mem") == []
