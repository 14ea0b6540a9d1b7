"""Directory entries loaded for the engine from a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.engine import job as jobs
from relay.engine.sources import load_sources
from relay.store.base import EntryKind
from relay.store.sqlite import SqliteStore

USER, GROUP = EntryKind.USER, EntryKind.GROUP
SPEC = """
name = "hr"
target = "sql"
scope = "assigned"

[connection]
connector = "hr"
{extra}
"""
MEMBER_OF_FILTER = """
[[users.filters]]
name = "Staff"
clauses = [{ attribute = "memberOf", operator = "EQUALS", value = "Staff" }]
"""


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "relay.sqlite3")
    await store.open()
    yield store
    await store.close()


async def user(store: SqliteStore, name: str) -> str:
    entry = await store.create_entry(
        USER, {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name}
    )
    return entry.id


async def group(store: SqliteStore, name: str, members: list[str]) -> str:
    entry = await store.create_entry(
        GROUP,
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name},
        members=members,
    )
    return entry.id


async def test_groups_carry_their_members_and_entries_their_assignment(
    store: SqliteStore,
) -> None:
    ada = await user(store, "ada@example.com")
    bob = await user(store, "bob@example.com")
    inner = await group(store, "Inner", [bob])
    staff = await group(store, "Staff", [ada, inner])
    await store.assign("hr", GROUP, staff, role="Reader")
    job = jobs.parse(SPEC.format(extra=""), source="test")

    groups = await load_sources(
        store, job, GROUP, list((await store.get_entries(GROUP, [staff, inner])).values())
    )
    users = await load_sources(
        store, job, USER, list((await store.get_entries(USER, [ada, bob])).values())
    )

    loaded = groups[staff]
    assert loaded.assigned
    assert loaded.source.resource["id"] == staff
    assert sorted(loaded.source.resource["members"], key=lambda m: m["type"]) == [
        {"value": inner, "type": "Group"},
        {"value": ada, "type": "User"},
    ]
    assert [a.role for a in loaded.source.app_roles] == ["Reader"]
    assert groups[inner].assigned  # nested in an assigned group
    assert users[ada].assigned and users[bob].assigned
    assert users[ada].source.groups == ()  # nothing in the scope reads memberOf
    assert "members" not in (await store.get_entry(GROUP, staff)).resource


async def test_groups_are_named_when_the_scope_reads_member_of(store: SqliteStore) -> None:
    ada = await user(store, "ada@example.com")
    bob = await user(store, "bob@example.com")
    await group(store, "Staff", [ada])
    job = jobs.parse(SPEC.format(extra=MEMBER_OF_FILTER), source="test")
    scope = job.definition.scope_for(USER)

    users = await load_sources(
        store, job, USER, list((await store.get_entries(USER, [ada, bob])).values())
    )

    assert list(users[ada].source.groups) == ["Staff"]
    assert list(users[bob].source.groups) == []
    assert not users[ada].assigned
    assert scope.passes_filters(users[ada].source)
    assert not scope.passes_filters(users[bob].source)


ROLE_MAPPING = """
[[users.mappings]]
target = "title"
expression = 'SingleAppRoleAssignment([appRoleAssignments])'
"""


@pytest.mark.parametrize(
    ("scope", "extra", "needed"),
    [
        ("assigned", "", True),
        ("all", "", False),
        ("all", ROLE_MAPPING, True),
    ],
)
async def test_assignments_are_read_only_when_scope_or_roles_need_them(
    store: SqliteStore, scope: str, extra: str, needed: bool
) -> None:
    text = SPEC.format(extra=extra).replace('scope = "assigned"', f'scope = "{scope}"')
    job = jobs.parse(text, source="test")
    ada = await user(store, "ada@example.com")
    await store.assign("hr", USER, ada, role="Admin")

    [loaded] = (await load_sources(store, job, USER, [await store.get_entry(USER, ada)])).values()

    assert loaded.assigned is needed
    assert [r.role for r in loaded.source.app_roles] == (["Admin"] if needed else [])
