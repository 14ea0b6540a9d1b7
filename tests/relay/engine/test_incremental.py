"""Incremental work: directory changes reach the target as they happen, deprovisions pass
the deletion guard's window."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from relay.engine.cycles import JobRun
from relay.engine.incremental import Incremental
from relay.engine.initial import run_initial
from relay.store.base import EntryKind, MemberChange, Store
from relay.store.engine_records import StagedDecision
from relay.store.sqlite import SqliteStore
from shared.connector import GROUP, USER
from tests.relay.engine.cycle_helpers import add_group, add_users, job_run
from tests.relay.engine.memory_target import MemoryTarget


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = SqliteStore(tmp_path / "store.sqlite3")
    await store.open()
    yield store
    await store.close()


@contextlib.asynccontextmanager
async def following(run: JobRun) -> AsyncIterator[Incremental]:
    """The job's incremental loop, as the engine's job task runs it."""
    job = await run.store.get_job(run.name)
    incremental = Incremental(run, job.cursor)

    async def loop() -> None:
        while True:
            await incremental.step()
            if incremental.caught_up:
                await incremental.wait(5.0)

    task = asyncio.create_task(loop())
    try:
        yield incremental
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> float:
    """Poll ``condition`` until it holds; returns the seconds it took."""
    start = time.monotonic()
    while not await condition():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


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

        assert await until(renamed) < 1.0
        latest = await store.latest_change()

        async def saved() -> bool:
            return (await store.get_job("mem")).cursor == latest

        await until(saved)


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

        await until(joined)
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

        await until(staged)
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

        await until(deleted)
    assert "user000@example.com" not in target.by_name(USER)
    assert await store.list_staged("mem") == []
