"""The directory in both stores: entries, members, the change log and assignments. Every
test runs against SQLite and PostgreSQL (queries: ``test_directory_sql.py``; migrations:
``test_schema.py``)."""

from __future__ import annotations

import asyncio

import pytest

from relay.directory.query import Query
from relay.exceptions import Conflict, InvalidEntry, NotFound, PreconditionFailed
from relay.store.base import EntryKind, EntryWrite, MemberChange, Store
from tests.relay.store.conftest import NOW, Backend, Clock, OpenStore, group, user

USER, GROUP = EntryKind.USER, EntryKind.GROUP


async def names(store: Store, kind: EntryKind = USER) -> list[str]:
    entries, _ = await store.query_entries(kind, Query())
    key = "userName" if kind is USER else "displayName"
    return sorted(entry.resource[key] for entry in entries)


# Entries -----------------------------------------------------------------------------------


async def test_an_entry_is_created_read_updated_and_deleted(store: Store, clock: Clock) -> None:
    created = await store.create_entry(USER, user("alice", active=True))
    assert created.version == 1
    assert created.created_at == created.modified_at == NOW
    assert await store.get_entry(USER, created.id) == created

    clock.now += 5
    updated = await store.update_entry(
        USER, created.id, resource=user("alice", active=False), if_version=1
    )
    assert updated.version == 2
    assert updated.resource["active"] is False
    assert updated.modified_at == NOW + 5
    assert updated.created_at == NOW
    assert await store.get_entry(USER, created.id) == updated

    await store.delete_entry(USER, created.id, if_version=2)
    with pytest.raises(NotFound):
        await store.get_entry(USER, created.id)


async def test_a_user_is_not_a_group(store: Store) -> None:
    alice = await store.create_entry(USER, user("alice"))
    with pytest.raises(NotFound):
        await store.get_entry(GROUP, alice.id)
    with pytest.raises(NotFound):
        await store.delete_entry(GROUP, alice.id)


async def test_an_update_that_changes_nothing_keeps_the_version_and_logs_nothing(
    store: Store,
) -> None:
    alice = await store.create_entry(USER, user("alice", title="Engineer"))
    before = await store.latest_change()
    same = await store.update_entry(USER, alice.id, resource=user("alice", title="Engineer"))
    assert same.version == 1
    assert await store.latest_change() == before


async def test_a_stale_version_is_refused_and_changes_nothing(store: Store) -> None:
    alice = await store.create_entry(USER, user("alice"))
    await store.update_entry(USER, alice.id, resource=user("alice", title="x"))
    with pytest.raises(PreconditionFailed):
        await store.update_entry(USER, alice.id, resource=user("alice", title="y"), if_version=1)
    with pytest.raises(PreconditionFailed):
        await store.delete_entry(USER, alice.id, if_version=1)
    entry = await store.get_entry(USER, alice.id)
    assert entry.resource["title"] == "x"
    assert entry.version == 2


async def test_user_names_are_unique_ignoring_case(store: Store) -> None:
    alice = await store.create_entry(USER, user("Alice"))
    with pytest.raises(Conflict):
        await store.create_entry(USER, user("ALICE"))
    bob = await store.create_entry(USER, user("bob"))
    with pytest.raises(Conflict):
        await store.update_entry(USER, bob.id, resource=user("alice"))
    # Renaming oneself to another spelling is fine.
    renamed = await store.update_entry(USER, alice.id, resource=user("aLiCe"))
    assert renamed.resource["userName"] == "aLiCe"
    # Groups may share a display name (RFC 7643 gives displayName no uniqueness).
    await store.create_entry(GROUP, group("staff"))
    await store.create_entry(GROUP, group("staff"))


async def test_entries_the_store_cannot_keep_are_refused(store: Store) -> None:
    for bad in ({"displayName": "no user name"}, user(""), user("x", id="1"), user("x", meta={})):
        with pytest.raises(InvalidEntry):
            await store.create_entry(USER, bad)
    with pytest.raises(InvalidEntry):
        await store.create_entry(GROUP, {"displayName": "g", "members": []})
    assert await store.query_entries(USER, Query()) == ([], 0)
    assert await store.latest_change() == 0


async def test_a_nul_character_is_refused_by_every_store_alike(store: Store) -> None:
    # PostgreSQL cannot keep a NUL; SQLite could, and must not, or a move would lose it.
    with pytest.raises(InvalidEntry, match="NUL"):
        await store.create_entry(USER, user("a\x00b"))
    with pytest.raises(InvalidEntry, match="NUL"):
        await store.write_entries([EntryWrite(USER, resource=user("c", title="x\x00"))])
    kept = await store.create_entry(USER, user("ok", title="\\u0000 is six characters"))
    with pytest.raises(InvalidEntry, match="NUL"):
        await store.update_entry(USER, kept.id, resource=user("ok", title="\x00"))
    [found], total = await store.query_entries(USER, Query())
    assert total == 1 and found.resource["title"] == "\\u0000 is six characters"
    assert await store.latest_change() == 1


async def test_a_failing_write_leaves_neither_row_nor_change(
    store: Store, backend: Backend
) -> None:
    await store.create_entry(USER, user("alice"))
    before = backend.rows("SELECT count(*) FROM directory_changes")
    with pytest.raises(NotFound):
        await store.create_entry(GROUP, group("g"), members=["no-such-id"])
    with pytest.raises(Conflict):
        await store.write_entries(
            [EntryWrite(USER, resource=user("carol")), EntryWrite(USER, resource=user("ALICE"))]
        )
    assert backend.rows("SELECT count(*) FROM directory_changes") == before
    assert await names(store) == ["alice"]
    assert await names(store, GROUP) == []


# Members -----------------------------------------------------------------------------------


async def test_members_are_added_removed_and_replaced(store: Store) -> None:
    a, b, c = [await store.create_entry(USER, user(n)) for n in ("a", "b", "c")]
    g = await store.create_entry(GROUP, group("g"), members=[a.id])
    assert [m.id for m in await store.group_members(g.id)] == [a.id]
    assert (await store.group_members(g.id))[0].display == "a"

    g = await store.update_entry(GROUP, g.id, members=MemberChange(add=(b.id, c.id)))
    assert g.version == 2
    assert {m.id for m in await store.group_members(g.id)} == {a.id, b.id, c.id}
    g = await store.update_entry(GROUP, g.id, members=MemberChange(remove=(a.id,)))
    assert {m.id for m in await store.group_members(g.id)} == {b.id, c.id}
    g = await store.update_entry(GROUP, g.id, members=MemberChange(replace=(a.id,)))
    assert [m.id for m in await store.group_members(g.id)] == [a.id]
    assert await store.member_groups(a.id) == [g.id]
    assert await store.member_groups(b.id) == []
    unchanged = await store.update_entry(GROUP, g.id, members=MemberChange(add=(a.id,)))
    assert unchanged.version == g.version

    with pytest.raises(NotFound):
        await store.update_entry(GROUP, g.id, members=MemberChange(add=("missing",)))
    with pytest.raises(InvalidEntry):
        await store.update_entry(GROUP, g.id, members=MemberChange(add=(g.id,)))
    assert [m.id for m in await store.group_members(g.id)] == [a.id]


async def test_deleting_a_member_leaves_its_groups_with_a_change(store: Store) -> None:
    a = await store.create_entry(USER, user("a"))
    g = await store.create_entry(GROUP, group("g"), members=[a.id])
    seq = await store.latest_change()
    await store.delete_entry(USER, a.id)
    assert await store.group_members(g.id) == []
    changes = await store.changes_after(seq)
    assert [(c.entry_id, c.action) for c in changes] == [(g.id, "members"), (a.id, "deleted")]
    assert changes[0].detail["removed"] == [a.id]
    assert (await store.get_entry(GROUP, g.id)).version == 2


async def test_nested_groups_expand_to_their_users_even_in_a_cycle(store: Store) -> None:
    a, b, c = [await store.create_entry(USER, user(n)) for n in ("a", "b", "c")]
    inner = await store.create_entry(GROUP, group("inner"), members=[b.id])
    outer = await store.create_entry(GROUP, group("outer"), members=[a.id, inner.id])
    # A cycle: inner holds outer, which holds inner.
    await store.update_entry(GROUP, inner.id, members=MemberChange(add=(outer.id, c.id)))

    direct = await store.group_members(outer.id)
    assert {(m.id, m.kind) for m in direct} == {(a.id, USER), (inner.id, GROUP)}
    assert {m.display for m in direct} == {"a", "inner"}
    expanded = await store.group_members(outer.id, expand=True)
    assert sorted(m.id for m in expanded) == sorted([a.id, b.id, c.id])
    assert all(m.kind is USER for m in expanded)
    assert sorted(m.id for m in await store.group_members(inner.id, expand=True)) == sorted(
        [a.id, b.id, c.id]
    )


# Change log --------------------------------------------------------------------------------


async def test_every_write_lands_in_the_change_log_in_order(store: Store) -> None:
    a = await store.create_entry(USER, user("a"))
    g = await store.create_entry(GROUP, group("g"))
    await store.update_entry(USER, a.id, resource=user("a", title="t"))
    await store.update_entry(GROUP, g.id, members=MemberChange(add=(a.id,)))
    await store.assign("hr-app", GROUP, g.id, role="member")
    await store.unassign("hr-app", GROUP, g.id)
    await store.delete_entry(GROUP, g.id)

    changes = await store.changes_after(0)
    assert [(c.entry_id, c.action) for c in changes] == [
        (a.id, "created"),
        (g.id, "created"),
        (a.id, "updated"),
        (g.id, "members"),
        (g.id, "assigned"),
        (g.id, "unassigned"),
        (g.id, "deleted"),
    ]
    seqs = [c.seq for c in changes]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert changes[3].detail == {"added": [a.id], "removed": [], "version": 2}
    assert changes[4].detail == {"job": "hr-app", "role": "member"}
    assert await store.latest_change() == seqs[-1]
    # In pages.
    assert [c.seq for c in await store.changes_after(seqs[1], limit=2)] == seqs[2:4]
    assert await store.changes_after(seqs[-1]) == []


async def test_concurrent_writers_through_two_stores_keep_the_log_whole_and_ordered(
    open_store: OpenStore, store: Store
) -> None:
    other = await open_store()
    seq = await store.latest_change()
    created = await asyncio.gather(
        *((store if i % 2 else other).create_entry(USER, user(f"user{i}")) for i in range(20))
    )
    changes = await store.changes_after(seq)
    assert sorted(c.entry_id for c in changes) == sorted(e.id for e in created)
    seqs = [c.seq for c in changes]
    assert seqs == sorted(seqs)
    # Paging through the log in small pages sees every change once.
    paged, after = [], seq
    while page := await other.changes_after(after, limit=3):
        paged += page
        after = page[-1].seq
    assert paged == changes


async def test_a_batch_of_writes_commits_together(store: Store) -> None:
    results = await store.write_entries(
        [EntryWrite(USER, resource=user(f"u{i}")) for i in range(3)]
    )
    assert all(r is not None and r.version == 1 for r in results)
    first = results[0]
    assert first is not None
    again = await store.write_entries(
        [
            EntryWrite(USER, first.id, resource=user("u0", title="x"), if_version=1),
            EntryWrite(USER, results[1].id if results[1] else None, delete=True),
        ]
    )
    assert again[1] is None
    assert await names(store) == ["u0", "u2"]
    assert len(await store.changes_after(0)) == 5


async def test_waiting_wakes_on_a_write_and_times_out(store: Store) -> None:
    seq = await store.latest_change()
    assert await store.wait_for_changes(seq, timeout=0.05) == seq

    waiter = asyncio.create_task(store.wait_for_changes(seq, timeout=60))
    await asyncio.sleep(0)  # let the waiter start waiting
    assert not waiter.done()
    await store.create_entry(USER, user("a"))
    # Woken by the write, long before the poll interval or the timeout.
    assert await asyncio.wait_for(waiter, timeout=0.5) == seq + 1


async def test_waiting_sees_writes_by_another_store_object(
    backend: Backend, open_store: OpenStore, store: Store
) -> None:
    # Another process writing: PostgreSQL hears of it through NOTIFY (the poll interval here
    # is far longer than the test's patience); SQLite looks at the log every poll interval.
    poll = 0.05 if backend.name == "sqlite" else 60.0
    other = await open_store(change_poll_interval=poll)
    seq = await other.latest_change()
    waiter = asyncio.create_task(other.wait_for_changes(seq, timeout=60))
    await asyncio.sleep(0)
    await store.create_entry(USER, user("a"))
    assert await asyncio.wait_for(waiter, timeout=5) == seq + 1


# Assignments -------------------------------------------------------------------------------


async def test_a_group_assignment_assigns_its_members(store: Store) -> None:
    a, b, c = [await store.create_entry(USER, user(n)) for n in ("a", "b", "c")]
    inner = await store.create_entry(GROUP, group("inner"), members=[b.id])
    outer = await store.create_entry(GROUP, group("outer"), members=[inner.id])
    await store.assign("crm", USER, a.id)
    await store.assign("crm", GROUP, outer.id, role="sales")
    await store.assign("wiki", USER, c.id)

    assert sorted(await store.assigned_users("crm")) == sorted([a.id, b.id])
    assignments = await store.assignments("crm")
    assert {(x.kind, x.entry_id, x.role) for x in assignments} == {
        (USER, a.id, None),
        (GROUP, outer.id, "sales"),
    }

    seq = await store.latest_change()
    await store.update_entry(GROUP, inner.id, members=MemberChange(add=(c.id,)))
    assert sorted(await store.assigned_users("crm")) == sorted([a.id, b.id, c.id])
    (change,) = await store.changes_after(seq)
    assert (change.entry_id, change.action, change.detail["added"]) == (
        inner.id,
        "members",
        [c.id],
    )

    await store.assign("crm", GROUP, outer.id, role="sales")  # the same again: no change
    assert await store.latest_change() == seq + 1
    await store.unassign("crm", GROUP, outer.id)
    assert await store.assigned_users("crm") == [a.id]
    with pytest.raises(NotFound):
        await store.unassign("crm", GROUP, outer.id)
    with pytest.raises(NotFound):
        await store.assign("crm", USER, "missing")
