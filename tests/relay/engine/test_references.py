"""References between objects reach the target whatever order the objects are provisioned
in: a manager provisioned after its reports (in a later batch of the initial cycle, or
later in the change log) and a user provisioned after the group it belongs to end up
referenced by their anchors. Real SQLite store, in-memory target."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from relay.engine.cycles import JobRun
from relay.engine.initial import run_initial
from relay.store.base import EntryKind, Store
from relay.store.engine_records import CycleKind, CycleState
from shared.connector import GROUP, USER
from tests.relay.engine.cycle_helpers import add_group, add_users, eventually, following, job_run
from tests.relay.engine.memory_target import MemoryTarget

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
JOB = """
target = "sql"
scope = "{scope}"

[connection]
agent = "nowhere"
connector = "memory"

[[users.mappings]]
target = "manager"
source = "manager"
reference = true
{extra}"""
ENGINEERS_ONLY = """
[[users.filters]]
name = "Engineering"
clauses = [{ attribute = "department", operator = "EQUALS", value = "Eng" }]
"""


async def managed_job(
    store: Store, target: MemoryTarget, *, scope: str = "all", extra: str = ""
) -> JobRun:
    await store.create_job("mem", JOB.format(scope=scope, extra=extra))
    return await job_run(store, target)


async def set_manager(store: Store, user: str, manager: str) -> None:
    entry = await store.get_entry(EntryKind.USER, user)
    extension = {**entry.resource.get(ENTERPRISE, {}), "manager": {"value": manager}}
    await store.update_entry(
        EntryKind.USER, user, resource={**entry.resource, ENTERPRISE: extension}
    )


async def set_department(store: Store, user: str, department: str) -> None:
    entry = await store.get_entry(EntryKind.USER, user)
    extension = {**entry.resource.get(ENTERPRISE, {}), "department": department}
    await store.update_entry(
        EntryKind.USER, user, resource={**entry.resource, ENTERPRISE: extension}
    )


async def anchors(store: Store, kind: EntryKind, ids: list[str]) -> dict[str, str]:
    return {e: s.anchor for e, s in (await store.get_shadows("mem", kind, ids)).items()}


async def managers_seen(
    store: Store, target: MemoryTarget, reports: dict[str, str]
) -> dict[str, tuple[Any, str | None]]:
    """For each report: the manager anchor in the target, and the one expected."""
    users = await anchors(store, EntryKind.USER, [*reports, *reports.values()])
    return {
        report: (target.objects[USER].get(users.get(report, ""), {}).get("manager"), users.get(m))
        for report, m in reports.items()
    }


async def reports_before_managers(store: Store, count: int) -> dict[str, str]:
    """``count`` users; the two with the highest ids manage the others (alternately), so
    with pages of five every report is processed before its manager."""
    users = sorted(await add_users(store, count))
    managers, reports = users[-2:], users[:-2]
    wanted = {r: managers[i % 2] for i, r in enumerate(reports)}
    for report, manager in wanted.items():
        await set_manager(store, report, manager)
    return wanted


async def test_initial_resolves_managers_provisioned_in_a_later_batch(store: Store) -> None:
    wanted = await reports_before_managers(store, 12)
    target = MemoryTarget()
    run = await managed_job(store, target)

    cycle = await run_initial(run)

    seen = await managers_seen(store, target, wanted)
    assert all(found == expected and found for found, expected in seen.values()), seen
    assert len(target.objects[USER]) == 12
    assert cycle.state is CycleState.DONE
    assert cycle.counts["created"] == 12
    assert cycle.counts["updated"] == 10  # each report once more, for its manager
    assert cycle.done == cycle.total


async def test_a_resumed_initial_cycle_resolves_managers_of_reports_done_before(
    store: Store,
) -> None:
    wanted = await reports_before_managers(store, 12)
    target = MemoryTarget()
    target.hold_after = 5  # the first page of reports goes through, then the relay stops
    first = asyncio.create_task(run_initial(await managed_job(store, target)))
    await asyncio.wait_for(target.holding.wait(), 10)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    [stopped] = await store.list_cycles("mem", state=CycleState.RUNNING)
    assert stopped.kind is CycleKind.INITIAL and stopped.checkpoint.get("after")

    target.hold_after = None
    cycle = await run_initial(await job_run(store, target))

    assert cycle.id == stopped.id
    seen = await managers_seen(store, target, wanted)
    assert all(found == expected and found for found, expected in seen.values()), seen
    assert len(target.objects[USER]) == 12


async def test_a_manager_provisioned_later_is_set_on_its_reports(store: Store) -> None:
    [report, manager] = await add_users(store, 2)
    await set_department(store, report, "Eng")
    await set_department(store, manager, "Sales")
    await set_manager(store, report, manager)
    target = MemoryTarget()
    run = await managed_job(store, target, extra=ENGINEERS_ONLY)
    await run_initial(run)
    [only] = target.objects[USER].values()
    assert only["user_name"] == "user000@example.com" and "manager" not in only

    async with following(run, idle=0.05):
        await set_department(store, manager, "Eng")  # into scope: created

        async def managed() -> bool:
            [(found, expected)] = (await managers_seen(store, target, {report: manager})).values()
            return bool(found) and found == expected

        await eventually(managed)


async def test_a_member_provisioned_after_its_group_joins_it(store: Store) -> None:
    [inside, late] = await add_users(store, 2)
    await set_department(store, inside, "Eng")
    await set_department(store, late, "Sales")
    group = await add_group(store, "Ops", [inside, late])
    target = MemoryTarget()
    run = await managed_job(store, target, extra=ENGINEERS_ONLY)
    await run_initial(run)
    [ops] = target.objects[GROUP].values()
    assert ops["members"] == list((await anchors(store, EntryKind.USER, [inside])).values())

    async with following(run, idle=0.05):
        await set_department(store, late, "Eng")  # into scope: created after its group

        async def joined() -> bool:
            users = await anchors(store, EntryKind.USER, [inside, late])
            members = target.by_name(GROUP)["Ops"].get("members") or []
            return len(users) == 2 and sorted(members) == sorted(users.values())

        await eventually(joined)
    assert len(target.objects[GROUP]) == 1
    assert (await anchors(store, EntryKind.GROUP, [group]))[group] in target.objects[GROUP]
