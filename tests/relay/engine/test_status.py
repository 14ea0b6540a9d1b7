"""A job's status and where one user or group stands in it, read from a real SQLite store
that holds what an engine would have written."""

from __future__ import annotations

from typing import Any

import pytest

from relay.engine.status import WAITING_FOR_APPROVAL, job_status, where
from relay.exceptions import NotFound
from relay.store.base import Entry, EntryKind, MemberChange, Store
from relay.store.engine_records import (
    CycleKind,
    CycleState,
    CycleWrite,
    JobState,
    LogAction,
    LogEntry,
    LogStatus,
    RetryRecord,
    Shadow,
    ShadowState,
    StagedDecision,
    StagedOperation,
)

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SPEC = """
name = "crm"
target = "scim"
scope = "assigned"

[connection]
connector = "crm"

[[users.filters]]
name = "Sales"
clauses = [{ attribute = "department", operator = "EQUALS", value = "Sales" }]
"""


@pytest.fixture
async def store(store: Store) -> Store:
    """The shared store with the job ``crm``."""
    await store.create_job("crm", SPEC)
    return store


async def user(store: Store, name: str, department: str = "Sales") -> Entry:
    resource: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": name,
        ENTERPRISE: {"department": department},
    }
    return await store.create_entry(EntryKind.USER, resource)


def shadow(entry: Entry, anchor: str, state: ShadowState = ShadowState.LINKED) -> Shadow:
    return Shadow(
        job="crm",
        kind=entry.kind,
        entry_id=entry.id,
        anchor=anchor,
        values={"userName": entry.resource.get("userName")},
        source_version=entry.version,
        state=state,
        updated_at=1_700_000_000.0,
    )


def log(entry: Entry, cycle: str, action: LogAction, at: float) -> LogEntry:
    return LogEntry(
        job="crm",
        cycle=cycle,
        kind=entry.kind,
        entry_id=entry.id,
        action=action,
        status=LogStatus.SUCCESS,
        at=at,
        source_name=str(entry.resource.get("userName", "")),
    )


async def caught_up(store: Store) -> None:
    await store.update_job("crm", cursor=await store.latest_change(), initial_done=True)


# Status ------------------------------------------------------------------------------------


async def test_a_new_job_has_no_cycle_and_is_behind_the_directory(store: Store) -> None:
    await user(store, "ada")
    status = await job_status(store, "crm")
    assert status.state is JobState.CREATED
    assert status.summary == "created"
    assert status.current is None and status.last is None
    assert not status.initial_done
    assert status.behind == await store.latest_change() > 0
    assert (status.shadows, status.retries, status.staged) == (0, 0, 0)


async def test_a_running_cycle_shows_progress_rate_and_time_left(store: Store) -> None:
    cycle = await store.start_cycle("crm", CycleKind.INITIAL, total=100)
    await store.record_batch(CycleWrite(job="crm", cycle=cycle.id, done=25))

    status = await job_status(store, "crm", clock=lambda: cycle.started_at + 10)

    assert status.current is not None
    assert status.current.kind is CycleKind.INITIAL
    assert (status.current.done, status.current.total) == (25, 100)
    assert status.current.rate == pytest.approx(2.5)
    assert status.current.eta == pytest.approx(30.0)


async def test_the_last_finished_cycle_staged_retries_and_links_are_counted(
    store: Store,
) -> None:
    ada, bob = await user(store, "ada"), await user(store, "bob")
    await store.update_job("crm", state=JobState.RUNNING)
    done = await store.start_cycle("crm", CycleKind.INITIAL)
    retry = RetryRecord("crm", EntryKind.USER, bob.id, 2, "unavailable", "down", 1.0, 99.0, 1)
    staged = StagedOperation(
        0, "crm", done.id, EntryKind.USER, ada.id, "a-1", "disable", "left scope", "ada", 5.0
    )
    await store.record_batch(
        CycleWrite(
            job="crm",
            cycle=done.id,
            done=2,
            counts={"created": 1, "failed": 1},
            shadows=(shadow(ada, "a-1"),),
            retries=(retry,),
            staged=(staged,),
        )
    )
    await store.update_cycle(done.id, state=CycleState.DONE)
    await store.start_cycle("crm", CycleKind.INCREMENTAL)

    status = await job_status(store, "crm")

    assert status.last is not None and status.last.id == done.id
    assert status.last.counts == {"created": 1, "failed": 1}
    assert status.current is not None and status.current.kind is CycleKind.INCREMENTAL
    assert (status.shadows, status.retries, status.staged) == (1, 1, 1)
    assert status.summary == f"running, {WAITING_FOR_APPROVAL}"
    assert status.as_json()["summary"] == f"running, {WAITING_FOR_APPROVAL}"

    await store.decide_staged("crm", StagedDecision.APPROVED)
    assert (await job_status(store, "crm")).summary == "running"


async def test_a_quarantined_job_says_why_and_when_it_is_tried_again(store: Store) -> None:
    await store.update_job(
        "crm",
        state=JobState.QUARANTINED,
        quarantine_reason="the target refused the credentials",
        next_attempt_at=1_800_000_000.0,
    )
    status = await job_status(store, "crm")
    assert status.state is JobState.QUARANTINED
    assert status.quarantine_reason == "the target refused the credentials"
    assert status.next_attempt_at == 1_800_000_000.0
    assert status.as_json()["state"] == "quarantined"


async def test_an_unknown_job_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await job_status(store, "nope")
    with pytest.raises(NotFound):
        await where(store, "nope", EntryKind.USER, "ada")


# Where -------------------------------------------------------------------------------------


async def test_a_linked_user_found_by_name_is_in_scope_and_up_to_date(store: Store) -> None:
    ada = await user(store, "ada")
    await store.assign("crm", EntryKind.USER, ada.id)
    cycle = await store.start_cycle("crm", CycleKind.INITIAL)
    await store.record_batch(
        CycleWrite(
            job="crm",
            shadows=(shadow(ada, "anchor-ada"),),
            logs=(
                log(ada, cycle.id, LogAction.CREATE, 10.0),
                log(ada, cycle.id, LogAction.UPDATE, 20.0),
            ),
        )
    )
    await caught_up(store)

    found = await where(store, "crm", EntryKind.USER, "ADA")

    assert found.entry_id == ada.id and found.name == "ada"
    assert found.in_directory and found.in_scope is True and found.scope_reason is None
    assert found.pending == 0
    assert found.state == "linked"
    assert found.shadow is not None and found.shadow.anchor == "anchor-ada"
    assert found.staged is None and found.retry is None
    assert [e.action for e in found.logs] == [LogAction.UPDATE, LogAction.CREATE]
    assert found.as_json()["shadow"]["anchor"] == "anchor-ada"


async def test_out_of_scope_says_why(store: Store) -> None:
    ada = await user(store, "ada")
    eng = await user(store, "eve", department="Engineering")
    await store.assign("crm", EntryKind.USER, eng.id)

    unassigned = await where(store, "crm", EntryKind.USER, ada.id)
    filtered = await where(store, "crm", EntryKind.USER, "eve")

    assert unassigned.in_scope is False
    assert unassigned.scope_reason == "not assigned to the job"
    assert filtered.in_scope is False
    assert filtered.scope_reason == "scoping filter 'Sales': department EQUALS 'Sales' is false"


async def test_changes_after_the_cursor_are_pending(store: Store) -> None:
    ada = await user(store, "ada")
    group = await store.create_entry(EntryKind.GROUP, {"displayName": "Staff"})
    await caught_up(store)
    assert (await where(store, "crm", EntryKind.USER, "ada")).pending == 0

    await store.update_entry(EntryKind.USER, ada.id, resource={**ada.resource, "title": "Engineer"})
    await store.update_entry(EntryKind.GROUP, group.id, members=MemberChange(add=(ada.id,)))
    await user(store, "someone-else")
    await store.assign("another-job", EntryKind.USER, ada.id)  # not this job's work

    assert (await where(store, "crm", EntryKind.USER, "ada")).pending == 2


async def test_an_unknown_user_is_reported_not_raised(store: Store) -> None:
    found = await where(store, "crm", EntryKind.USER, "nobody")
    assert not found.in_directory
    assert found.entry_id is None and found.shadow is None and found.in_scope is None
    assert found.state == "not linked"


async def test_a_user_deleted_from_the_directory_but_still_linked(store: Store) -> None:
    ada = await user(store, "ada")
    await store.record_batch(
        CycleWrite(job="crm", shadows=(shadow(ada, "anchor-ada", ShadowState.DISABLED),))
    )
    await store.delete_entry(EntryKind.USER, ada.id)

    found = await where(store, "crm", EntryKind.USER, ada.id)

    assert not found.in_directory
    assert found.entry_id == ada.id
    assert found.state == "disabled"
    assert found.in_scope is None


async def test_a_staged_and_failing_user_shows_both(store: Store) -> None:
    ada = await user(store, "ada")
    cycle = await store.start_cycle("crm", CycleKind.RECONCILE)
    retry = RetryRecord("crm", EntryKind.USER, ada.id, 3, "invalid_data", "bad", 1.0, None, 1)
    staged = StagedOperation(
        0, "crm", cycle.id, EntryKind.USER, ada.id, "a", "delete", "deleted", "ada", 2.0
    )
    await store.record_batch(CycleWrite(job="crm", retries=(retry,), staged=(staged,)))

    found = await where(store, "crm", EntryKind.USER, "ada")

    assert found.staged is not None and found.staged.action == "delete"
    assert found.retry is not None
    assert (found.retry.attempts, found.retry.next_attempt_at) == (3, None)


async def test_two_groups_of_one_name_ask_for_the_id(store: Store) -> None:
    await store.create_entry(EntryKind.GROUP, {"displayName": "Staff"})
    await store.create_entry(EntryKind.GROUP, {"displayName": "Staff"})
    with pytest.raises(NotFound, match="give the id"):
        await where(store, "crm", EntryKind.GROUP, "Staff")
