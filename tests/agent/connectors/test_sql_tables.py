"""Table mode's groups and membership beyond the contract suite: settings, a connector
without groups, generated integer keys, mapped columns, and what happens to memberships
when either end is deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent.connectors.sql import SqlConnector
from shared.connector import (
    GROUP,
    USER,
    Action,
    AttributeType,
    Delta,
    DeltaKind,
    Equals,
    Operation,
    Page,
)
from shared.exceptions import InvalidDataError, NotFoundError, SettingsError
from tests.agent.connectors.test_sql import FIXTURES, USERS, Database, connector_for, load
from tests.agent.connectors.test_sql_contract import TABLES

#: Generated integer keys on both ends, and columns named unlike the attributes.
INTEGER_KEYS = {
    "sqlite": (
        "CREATE TABLE people (pid INTEGER PRIMARY KEY AUTOINCREMENT, login TEXT UNIQUE NOT NULL)",
        "CREATE TABLE teams (tid INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT UNIQUE NOT NULL,"
        " mail TEXT)",
        "CREATE TABLE team_people (team INTEGER NOT NULL REFERENCES teams (tid), person INTEGER"
        " NOT NULL REFERENCES people (pid), PRIMARY KEY (team, person))",
    ),
    "postgresql": (
        "CREATE TABLE people (pid SERIAL PRIMARY KEY, login TEXT UNIQUE NOT NULL)",
        "CREATE TABLE teams (tid SERIAL PRIMARY KEY, title TEXT UNIQUE NOT NULL, mail TEXT)",
        "CREATE TABLE team_people (team INTEGER NOT NULL REFERENCES teams (tid), person INTEGER"
        " NOT NULL REFERENCES people (pid), PRIMARY KEY (team, person))",
    ),
    "mariadb": (
        "CREATE TABLE people (pid INTEGER PRIMARY KEY AUTO_INCREMENT, login VARCHAR(100) UNIQUE"
        " NOT NULL)",
        "CREATE TABLE teams (tid INTEGER PRIMARY KEY AUTO_INCREMENT, title VARCHAR(100) UNIQUE"
        " NOT NULL, mail TEXT)",
        "CREATE TABLE team_people (team INTEGER NOT NULL REFERENCES teams (tid), person INTEGER"
        " NOT NULL REFERENCES people (pid), PRIMARY KEY (team, person))",
    ),
}
INTEGER_SETTINGS = {
    "users_table": "people",
    "key_column": "pid",
    "naming_column": "login",
    "groups_table": "teams",
    "group_key_column": "tid",
    "group_naming_column": "title",
    "group_columns": {"title": "title", "email": "mail"},
    "members_table": "team_people",
    "members_group_column": "team",
    "members_member_column": "person",
    "member_attribute": "people",
}


@pytest.fixture(params=sorted(FIXTURES))
def database(request: pytest.FixtureRequest) -> Database:
    found = request.getfixturevalue(FIXTURES[request.param])
    return Database(request.param, found.odbc_connection_string)


@pytest.fixture
async def grouped(database: Database) -> AsyncIterator[SqlConnector]:
    for statement in TABLES:
        database.execute(statement)
    connector = connector_for(database, groups_table="groups")
    yield connector
    await connector.close()


async def make_users(connector: SqlConnector, *keys: str) -> None:
    for key in keys:
        await connector.create(USER, {"id": key, "user_name": f"name-{key}"})


# Settings ----------------------------------------------------------------------------------


def test_group_settings_defaults() -> None:
    settings = load().settings
    assert settings.mode == "table"
    assert settings.groups_table is None
    assert (settings.group_key_column, settings.group_naming_column) == ("id", "name")
    assert (
        settings.members_table,
        settings.members_group_column,
        settings.members_member_column,
        settings.member_attribute,
    ) == ("group_members", "group_id", "user_id", "members")


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        ({"mode": "tables"}, "connectors.hr.mode", "must be one of table, procedures, custom"),
        ({"groups_table": ""}, "connectors.hr.groups_table", "non-empty"),
        ({"members_member_column": 3}, "connectors.hr.members_member_column", "a string"),
        (
            {"group_columns": {"members": "m"}},
            "connectors.hr.group_columns.members",
            "member_attribute",
        ),
        (
            {"group_columns": {"name": "other"}},
            "connectors.hr.group_columns.name",
            "key or naming column",
        ),
    ],
)
def test_group_settings_errors_name_the_key(table: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(**table)
    assert (caught.value.path, caught.value.key) == ("agent.toml", key)
    assert problem in caught.value.problem


# Without groups ------------------------------------------------------------------------------


async def test_without_groups_the_schema_has_users_only(database: Database) -> None:
    database.execute(USERS)
    connector = connector_for(database)
    try:
        schema = await connector.schema()
        assert [c.name for c in schema.object_classes] == [USER]
        for call in (
            connector.create(GROUP, {"id": "g1", "name": "G"}),
            connector.get(GROUP, "g1"),
            connector.update(GROUP, "g1", [Delta("members", DeltaKind.ADD, ("u1",))]),
            connector.search(GROUP, None, Page()),
        ):
            with pytest.raises(InvalidDataError, match="groups_table"):
                await call
    finally:
        await connector.close()


async def test_a_missing_membership_table_fails_the_test_with_its_name(database: Database) -> None:
    database.execute(USERS)
    database.execute(TABLES[1])
    connector = connector_for(database, groups_table="groups")
    try:
        with pytest.raises(Exception, match="group_members"):
            await connector.test()
    finally:
        await connector.close()


# Groups and members ----------------------------------------------------------------------------


async def test_schema_of_groups(grouped: SqlConnector) -> None:
    schema = await grouped.schema()
    groups = schema.object_class(GROUP)
    assert groups is not None
    assert groups.naming_attribute == "name"
    by_name = {a.name: a for a in groups.attributes}
    assert list(by_name) == ["id", "name", "description", "members"]
    assert by_name["members"].multi_valued
    assert by_name["members"].type is AttributeType.REFERENCE


async def test_create_with_members_get_and_search(grouped: SqlConnector) -> None:
    await make_users(grouped, "u2", "u1", "u3")
    anchor = await grouped.create(GROUP, {"id": "g1", "name": "G", "members": ["u2", "u1"]})
    found = await grouped.get(GROUP, anchor)
    assert found.attributes == {
        "id": "g1",
        "name": "G",
        "description": None,
        "members": ["u1", "u2"],
    }
    # Search pages carry no member lists: a page of large groups would be millions of rows.
    page = await grouped.search(GROUP, Equals("name", "G"), Page())
    assert [o.attributes for o in page.objects] == [{"id": "g1", "name": "G", "description": None}]


async def test_replace_and_clear_members(grouped: SqlConnector) -> None:
    await make_users(grouped, "u1", "u2", "u3")
    await grouped.create(GROUP, {"id": "g1", "name": "G", "members": ["u1", "u2"]})
    await grouped.update(GROUP, "g1", [Delta("members", DeltaKind.REPLACE, ("u3", "u2"))])
    assert (await grouped.get(GROUP, "g1")).attributes["members"] == ["u2", "u3"]
    deltas = [
        Delta("members", DeltaKind.CLEAR),
        Delta("description", DeltaKind.REPLACE, ("emptied",)),
    ]
    await grouped.update(GROUP, "g1", deltas)
    found = (await grouped.get(GROUP, "g1")).attributes
    assert (found["members"], found["description"]) == ([], "emptied")


async def test_a_missing_member_is_refused_and_nothing_is_written(
    grouped: SqlConnector, database: Database
) -> None:
    await make_users(grouped, "u1")
    with pytest.raises(InvalidDataError):
        await grouped.create(GROUP, {"id": "g1", "name": "G", "members": ["u1", "nobody"]})
    assert database.count("groups") == 0
    assert database.count("group_members") == 0
    await grouped.create(GROUP, {"id": "g1", "name": "G", "members": ["u1"]})
    with pytest.raises(InvalidDataError):
        await grouped.update(GROUP, "g1", [Delta("members", DeltaKind.ADD, ("nobody",))])
    assert (await grouped.get(GROUP, "g1")).attributes["members"] == ["u1"]


async def test_deleting_either_end_removes_the_membership(
    grouped: SqlConnector, database: Database
) -> None:
    await make_users(grouped, "u1", "u2")
    await grouped.create(GROUP, {"id": "g1", "name": "G1", "members": ["u1", "u2"]})
    await grouped.create(GROUP, {"id": "g2", "name": "G2", "members": ["u1"]})
    await grouped.delete(USER, "u1")
    assert (await grouped.get(GROUP, "g1")).attributes["members"] == ["u2"]
    assert (await grouped.get(GROUP, "g2")).attributes["members"] == []
    await grouped.delete(GROUP, "g1")
    assert database.count("group_members") == 0
    with pytest.raises(NotFoundError):
        await grouped.delete(GROUP, "g1")
    assert (await grouped.get(USER, "u2")).attributes["user_name"] == "name-u2"


async def test_integer_keys_and_mapped_columns(database: Database) -> None:
    for statement in INTEGER_KEYS[database.dialect]:
        database.execute(statement)
    connector = connector_for(database, **INTEGER_SETTINGS)
    try:
        first = await connector.create(USER, {"login": "ann"})
        second = await connector.create(USER, {"login": "bob"})
        team = await connector.create(
            GROUP, {"title": "Ops", "email": "ops@x", "people": [first, second]}
        )
        assert team == "1"
        found = await connector.get(GROUP, team)
        assert found.attributes == {
            "tid": 1,
            "title": "Ops",
            "email": "ops@x",
            "people": ["1", "2"],
        }
        await connector.update(GROUP, team, [Delta("people", DeltaKind.REMOVE, (first,))])
        assert (await connector.get(GROUP, team)).attributes["people"] == ["2"]
        with pytest.raises(InvalidDataError) as caught:
            await connector.update(GROUP, team, [Delta("people", DeltaKind.ADD, ("not-a-key",))])
        assert caught.value.attribute == "people"
        with pytest.raises(NotFoundError):
            await connector.update(GROUP, "77", [Delta("people", DeltaKind.ADD, (first,))])
    finally:
        await connector.close()


async def test_groups_of_users_created_in_a_batch_with_generated_keys(database: Database) -> None:
    for statement in INTEGER_KEYS[database.dialect]:
        database.execute(statement)
    connector = connector_for(database, **INTEGER_SETTINGS)
    try:
        users = [
            Operation(f"u{i}", Action.CREATE, USER, attributes={"login": f"p{i}"})
            for i in range(40)
        ]
        anchors: list[Any] = [str(r.anchor) for r in await connector.apply(users) if r.ok]
        assert len(set(anchors)) == 40
        teams = [
            Operation(
                f"g{t}",
                Action.CREATE,
                GROUP,
                attributes={"title": f"T{t}", "people": anchors[t::4]},
            )
            for t in range(4)
        ]
        made = await connector.apply(teams)
        assert all(r.ok for r in made)
        for t, result in enumerate(made):
            found = await connector.get(GROUP, str(result.anchor))
            assert found.attributes["people"] == sorted(anchors[t::4], key=int)
        logins = {str(k): v for k, v in database.execute("SELECT pid, login FROM people")}
        assert logins == {anchors[i]: f"p{i}" for i in range(40)}
    finally:
        await connector.close()
