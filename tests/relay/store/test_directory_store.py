"""The directory in both stores: entries, members, queries, the change log, assignments and
the schema's migrations. Every test runs against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import relay.store
from relay.directory.query import (
    And,
    AttributePath,
    Compare,
    CompareOp,
    Filter,
    Not,
    Or,
    Present,
    Query,
    ValuePath,
)
from relay.exceptions import (
    Conflict,
    InvalidEntry,
    InvalidQuery,
    NotFound,
    PreconditionFailed,
    StoreError,
)
from relay.store.base import EntryKind, EntryWrite, MemberChange, Store
from tests.relay.store.conftest import Backend, OpenStore

USER, GROUP = EntryKind.USER, EntryKind.GROUP
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
NOW = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def user(name: str, /, **attributes: Any) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        **attributes,
    }


def group(name: str) -> dict[str, Any]:
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}


def newest_migration(dialect: str) -> int:
    folder = Path(relay.store.__file__).parent / "migrations" / dialect
    return max(int(p.name.split("_", 1)[0]) for p in folder.glob("*.sql"))


def schema_version(backend: Backend) -> int:
    if backend.name == "sqlite":
        return int(backend.rows("PRAGMA user_version")[0][0])
    return int(backend.rows("SELECT MAX(version) FROM hatchway_schema")[0][0])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(open_store: OpenStore, clock: Clock) -> Store:
    opened: Store = await open_store(clock=clock)
    return opened


def where(kind: EntryKind, node: Filter | None = None, **query: Any) -> Query:
    return Query(filter=node, **query)


def path(attribute: str, sub: str | None = None, schema: str | None = None) -> AttributePath:
    return AttributePath(attribute, sub, schema)


async def names(store: Store, node: Filter | None, kind: EntryKind = USER) -> list[str]:
    entries, total = await store.query_entries(kind, Query(filter=node))
    assert total == len(entries)
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
    assert await names(store, None) == ["alice"]
    assert await names(store, None, GROUP) == []


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


# Queries -----------------------------------------------------------------------------------


@pytest.fixture
async def people(store: Store, clock: Clock) -> Store:
    await store.create_entry(
        USER,
        user(
            "Alice",
            externalId="E-1",
            displayName="Alice Liddell",
            active=True,
            name={"givenName": "Alice", "familyName": "Liddell"},
            emails=[
                {"value": "alice@work.example", "type": "work", "primary": True},
                {"value": "alice@home.example", "type": "home"},
            ],
            **{ENTERPRISE: {"employeeNumber": "701", "department": "Research"}},
        ),
    )
    clock.now += 10
    await store.create_entry(
        USER,
        user(
            "bob",
            externalId="e-2",
            active=False,
            name={"givenName": "Bob"},
            emails=[{"value": "bob@home.example", "type": "home"}],
            **{ENTERPRISE: {"employeeNumber": "702", "department": "Sales"}},
        ),
    )
    clock.now += 10
    await store.create_entry(USER, user("carol_100%", title="50% off", active=True))
    return store


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (Compare(path("userName"), CompareOp.EQ, "ALICE"), ["Alice"]),
        (Compare(path("userName"), CompareOp.NE, "alice"), ["bob", "carol_100%"]),
        (Compare(path("userName"), CompareOp.CO, "O"), ["bob", "carol_100%"]),
        (Compare(path("userName"), CompareOp.SW, "AL"), ["Alice"]),
        (Compare(path("userName"), CompareOp.EW, "ob"), ["bob"]),
        (Compare(path("userName"), CompareOp.GT, "bob"), ["carol_100%"]),
        (Compare(path("userName"), CompareOp.GE, "BOB"), ["bob", "carol_100%"]),
        (Compare(path("userName"), CompareOp.LT, "bob"), ["Alice"]),
        (Compare(path("userName"), CompareOp.LE, "bob"), ["Alice", "bob"]),
        # LIKE wildcards in values match themselves only.
        (Compare(path("userName"), CompareOp.CO, "%"), ["carol_100%"]),
        (Compare(path("userName"), CompareOp.CO, "_"), ["carol_100%"]),
        (Compare(path("title"), CompareOp.SW, "50%"), ["carol_100%"]),
        (Compare(path("userName"), CompareOp.EQ, "' OR 1=1 --"), []),
        # externalId and id are case-exact.
        (Compare(path("externalId"), CompareOp.EQ, "E-1"), ["Alice"]),
        (Compare(path("externalId"), CompareOp.EQ, "e-1"), []),
        (Compare(path("externalId"), CompareOp.SW, "e"), ["bob"]),
        (Compare(path("displayName"), CompareOp.CO, "liddell"), ["Alice"]),
        (Compare(path("name", "givenName"), CompareOp.EQ, "BOB"), ["bob"]),
        (Compare(path("active"), CompareOp.EQ, True), ["Alice", "carol_100%"]),
        (Compare(path("active"), CompareOp.NE, True), ["bob"]),
        (Present(path("title")), ["carol_100%"]),
        (Present(path("name", "familyName")), ["Alice"]),
        (Present(path("emails")), ["Alice", "bob"]),
        (Not(Present(path("emails"))), ["carol_100%"]),
        # Multi-valued: any value matches; value paths need one value to meet all.
        (Compare(path("emails"), CompareOp.CO, "@home"), ["Alice", "bob"]),
        (Compare(path("emails", "value"), CompareOp.EW, "WORK.EXAMPLE"), ["Alice"]),
        (Compare(path("emails", "type"), CompareOp.EQ, "work"), ["Alice"]),
        (
            ValuePath(
                path("emails"),
                And(
                    Compare(path("type"), CompareOp.EQ, "work"),
                    Compare(path("value"), CompareOp.CO, "home"),
                ),
            ),
            [],
        ),
        (
            ValuePath(
                path("emails"),
                And(
                    Compare(path("emails", "type"), CompareOp.EQ, "home"),
                    Compare(path("emails", "value"), CompareOp.SW, "alice"),
                ),
            ),
            ["Alice"],
        ),
        (ValuePath(path("emails"), Present(path("primary"))), ["Alice"]),
        (ValuePath(path("name"), Compare(path("givenName"), CompareOp.EQ, "alice")), ["Alice"]),
        # The enterprise extension.
        (Compare(path("employeeNumber", None, ENTERPRISE), CompareOp.EQ, "702"), ["bob"]),
        (Compare(path("department", None, ENTERPRISE), CompareOp.SW, "res"), ["Alice"]),
        (Present(path("department", None, ENTERPRISE)), ["Alice", "bob"]),
        # Logic.
        (
            Or(
                Compare(path("userName"), CompareOp.EQ, "bob"),
                And(Present(path("title")), Not(Compare(path("active"), CompareOp.EQ, False))),
            ),
            ["bob", "carol_100%"],
        ),
        (Not(Compare(path("title"), CompareOp.EQ, "50% off")), ["Alice", "bob"]),
        # Dates compare as ISO-8601 instants.
        (
            Compare(
                path("meta", "created"),
                CompareOp.GT,
                datetime.fromtimestamp(NOW + 5, UTC).isoformat(),
            ),
            ["bob", "carol_100%"],
        ),
        (
            Compare(
                path("meta", "lastModified"),
                CompareOp.LE,
                datetime.fromtimestamp(NOW, UTC).isoformat().replace("+00:00", "Z"),
            ),
            ["Alice"],
        ),
    ],
    ids=repr,
)
async def test_filters_select_the_right_users(
    people: Store, node: Filter, expected: list[str]
) -> None:
    assert await names(people, node) == expected


async def test_filters_on_ids_and_members(people: Store) -> None:
    entries, _ = await people.query_entries(USER, Query())
    alice, bob = entries[0], entries[1]
    g = await people.create_entry(GROUP, group("Readers"), members=[alice.id])
    await people.create_entry(GROUP, group("Empty"))
    assert await names(people, Compare(path("id"), CompareOp.EQ, bob.id)) == ["bob"]
    assert await names(people, Compare(path("id"), CompareOp.EQ, bob.id.upper())) == []
    by_member = Compare(path("members", "value"), CompareOp.EQ, alice.id)
    assert await names(people, by_member, GROUP) == ["Readers"]
    value_path = ValuePath(path("members"), Compare(path("value"), CompareOp.EQ, bob.id))
    assert await names(people, value_path, GROUP) == []
    assert await names(people, Present(path("members")), GROUP) == ["Readers"]
    assert await names(people, Compare(path("displayName"), CompareOp.EQ, "readers"), GROUP) == [
        "Readers"
    ]
    in_group = Compare(path("groups", "value"), CompareOp.EQ, g.id)
    assert await names(people, in_group) == ["Alice"]


async def test_queries_the_store_cannot_run_are_refused(people: Store) -> None:
    bad = [
        Compare(path("active"), CompareOp.GT, True),
        Compare(path("meta", "created"), CompareOp.EQ, "yesterday"),
        Compare(path("userName"), CompareOp.CO, None),
        Compare(path('x"]; DROP TABLE directory_entries; --'), CompareOp.EQ, "x"),
    ]
    for node in bad:
        with pytest.raises(InvalidQuery):
            await people.query_entries(USER, Query(filter=node))
    assert len(await names(people, None)) == 3


async def test_sorting_and_paging(people: Store) -> None:
    async def page(**query: Any) -> tuple[list[str], int]:
        entries, total = await people.query_entries(USER, Query(**query))
        return [e.resource["userName"] for e in entries], total

    assert await page() == (["Alice", "bob", "carol_100%"], 3)
    assert await page(sort_by=path("userName"), descending=True) == (
        ["carol_100%", "bob", "Alice"],
        3,
    )
    # Entries without the attribute come last, in either direction.
    assert (await page(sort_by=path("title")))[0][0] == "carol_100%"
    assert (await page(sort_by=path("title"), descending=True))[0][0] == "carol_100%"
    assert (await page(sort_by=path("name", "givenName"), descending=True))[0] == [
        "bob",
        "Alice",
        "carol_100%",
    ]
    assert (await page(sort_by=path("emails")))[0] == ["Alice", "bob", "carol_100%"]
    assert (await page(sort_by=path("employeeNumber", None, ENTERPRISE), descending=True))[0][
        :2
    ] == ["bob", "Alice"]
    assert await page(start_index=2, count=1) == (["bob"], 3)
    assert await page(start_index=3) == (["carol_100%"], 3)
    assert await page(start_index=10, count=5) == ([], 3)
    assert await page(count=0) == ([], 3)
    active = Compare(path("active"), CompareOp.EQ, True)
    assert await page(filter=active, sort_by=path("meta", "created"), descending=True) == (
        ["carol_100%", "Alice"],
        2,
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
    assert await names(store, None) == ["u0", "u2"]
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


# Migrations --------------------------------------------------------------------------------


async def test_migrations_bring_an_empty_database_to_the_newest_version(
    backend: Backend, open_store: OpenStore
) -> None:
    store = await open_store()
    assert schema_version(backend) == newest_migration(backend.name)
    await store.create_entry(USER, user("a"))


async def test_a_database_of_the_previous_version_upgrades_and_keeps_its_agents(
    backend: Backend, open_store: OpenStore
) -> None:
    folder = Path(relay.store.__file__).parent / "migrations" / backend.name
    first = (folder / "0001_agents.sql").read_text()
    if backend.name == "sqlite":
        Path(backend.path).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[attr-defined]
        backend.execute(f"BEGIN; {first} PRAGMA user_version = 1; COMMIT;")
    else:
        backend.execute(
            f"{first} CREATE TABLE hatchway_schema (version INTEGER NOT NULL);"
            " INSERT INTO hatchway_schema VALUES (1);"
        )
    backend.execute(
        "INSERT INTO agents (name, public_key, registered_at) VALUES ('branch', 'pk', 1.0)"
    )

    store = await open_store()
    assert schema_version(backend) == newest_migration(backend.name)
    agent = await store.get_agent("branch")
    assert agent is not None and agent.public_key == "pk"
    await store.create_entry(USER, user("a"))


async def test_a_newer_schema_is_refused(backend: Backend, open_store: OpenStore) -> None:
    await (await open_store()).close()
    newest = newest_migration(backend.name)
    if backend.name == "sqlite":
        backend.execute(f"PRAGMA user_version = {newest + 1}")
    else:
        backend.execute(f"UPDATE hatchway_schema SET version = {newest + 1}")
    with pytest.raises(StoreError, match=f"{newest + 1} is newer"):
        await open_store()
    assert schema_version(backend) == newest + 1
