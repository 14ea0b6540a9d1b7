"""Directory queries in both stores: filters, sorting and paging translated to SQL, and
attribute names that try to be SQL or JSON path syntax."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

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
from relay.exceptions import InvalidQuery
from relay.store.base import EntryKind, Store
from tests.relay.store.conftest import NOW, Clock, group, user

USER, GROUP = EntryKind.USER, EntryKind.GROUP
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ACME = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"


def path(attribute: str, sub: str | None = None, schema: str | None = None) -> AttributePath:
    return AttributePath(attribute, sub, schema)


async def names(store: Store, node: Filter | None, kind: EntryKind = USER) -> list[str]:
    entries, total = await store.query_entries(kind, Query(filter=node))
    assert total == len(entries)
    key = "userName" if kind is USER else "displayName"
    return sorted(entry.resource[key] for entry in entries)


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
            **{
                ENTERPRISE: {"employeeNumber": "701", "department": "Research"},
                ACME: {"costCenters": ["CC-1", "CC-2"], "badge": "B-7", "level": 3},
            },
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
            **{
                ENTERPRISE: {"employeeNumber": "702", "department": "Sales"},
                ACME: {"costCenters": ["cc-3"], "badge": "", "level": 5},
            },
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
        # A custom extension's attributes, single- and multi-valued.
        (Compare(path("costCenters", None, ACME), CompareOp.EQ, "cc-2"), ["Alice"]),
        (Compare(path("costCenters", None, ACME), CompareOp.SW, "CC"), ["Alice", "bob"]),
        (Compare(path("costCenters", None, ACME), CompareOp.NE, "cc-1"), ["bob", "carol_100%"]),
        (Present(path("costCenters", None, ACME)), ["Alice", "bob"]),
        (Compare(path("badge", None, ACME), CompareOp.EQ, "b-7"), ["Alice"]),
        (Present(path("badge", None, ACME)), ["Alice"]),
        (Compare(path("level", None, ACME), CompareOp.GT, 4), ["bob"]),
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
    bad: list[Filter] = [
        Compare(path("active"), CompareOp.GT, True),
        Compare(path("meta", "created"), CompareOp.EQ, "yesterday"),
        Compare(path("userName"), CompareOp.CO, None),
        Compare(path('x"]; DROP TABLE directory_entries; --'), CompareOp.EQ, "x"),
        Compare(path("x' OR '1'='1"), CompareOp.EQ, "x"),
        Compare(path("userName", None, 'urn:x") OR 1=1 --'), CompareOp.EQ, "x"),
        Present(path("name", "given Name")),
        Compare(path("emails[0]"), CompareOp.EQ, "alice@work.example"),
        Compare(path("schemas", "value"), CompareOp.EQ, "x"),
    ]
    for node in bad:
        with pytest.raises(InvalidQuery):
            await people.query_entries(USER, Query(filter=node))
    assert len(await names(people, None)) == 3


@pytest.mark.parametrize("name", ["$", "$.userName", "userName.$", "..", "a:b"])
async def test_json_path_syntax_in_an_attribute_name_is_only_a_name(
    people: Store, name: str
) -> None:
    # Attribute names reach JSON paths (as parameters); path syntax in one names a key that
    # no entry has, instead of reaching into the resource.
    assert await names(people, Compare(path(name), CompareOp.EQ, "Alice")) == []
    assert await names(people, Present(path("department", None, name))) == []


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
    assert (await page(sort_by=path("costCenters", None, ACME), descending=True))[0] == [
        "bob",
        "Alice",
        "carol_100%",
    ]
    assert (await page(sort_by=path("badge", None, ACME)))[0] == ["bob", "Alice", "carol_100%"]
    assert await page(start_index=2, count=1) == (["bob"], 3)
    assert await page(start_index=3) == (["carol_100%"], 3)
    assert await page(start_index=10, count=5) == ([], 3)
    assert await page(count=0) == ([], 3)
    active = Compare(path("active"), CompareOp.EQ, True)
    assert await page(filter=active, sort_by=path("meta", "created"), descending=True) == (
        ["carol_100%", "Alice"],
        2,
    )
