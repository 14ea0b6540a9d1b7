"""The custom SQL mode: the contract suite on SQLite with statements written by hand, and
what the mode adds (named parameters, renamed columns, settings errors)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from agent.connectors.contract import OptionalTest
from agent.connectors.sql import SqlConnector
from shared.connector import GROUP, USER, Delta, DeltaKind, Equals, Page, StartsWith
from shared.exceptions import ConnectorError, InvalidDataError, NotFoundError, SettingsError
from tests.agent.connectors.test_sql import Database, connector_for, load
from tests.agent.connectors.test_sql_contract import SqlContract
from tests.servers.sqlite import SqliteOdbcDatabase

#: Tables whose columns are named unlike the attributes; memberships cascade on delete.
TABLES = (
    "CREATE TABLE people (person_id TEXT PRIMARY KEY, login TEXT UNIQUE NOT NULL,"
    " full_name TEXT, mail TEXT CHECK (mail IS NULL OR mail LIKE '%@%'))",
    "CREATE TABLE teams (team_id TEXT PRIMARY KEY, title TEXT UNIQUE NOT NULL, about TEXT)",
    "CREATE TABLE team_people (team TEXT NOT NULL REFERENCES teams ON DELETE CASCADE,"
    " person TEXT NOT NULL REFERENCES people ON DELETE CASCADE, PRIMARY KEY (team, person))",
)
PEOPLE = (
    "SELECT person_id AS id, login AS user_name, full_name AS display_name, mail AS email"
    " FROM people"
)
TEAMS = "SELECT team_id AS id, title AS name, about AS description FROM teams"
STATEMENTS: dict[str, Any] = {
    "users": {
        "attributes": ["id", "user_name", "display_name", "email"],
        "naming_attribute": "user_name",
        "create": "INSERT INTO people (person_id, login, full_name, mail)"
        " VALUES (:id, :user_name, :display_name, :email)",
        "read": f"{PEOPLE} WHERE person_id = :anchor",
        "update": "UPDATE people SET person_id = :id, login = :user_name,"
        " full_name = :display_name, mail = :email WHERE person_id = :anchor",
        "delete": "DELETE FROM people WHERE person_id = :anchor",
        "read_page": f"{PEOPLE} WHERE :after IS NULL OR person_id > :after"
        " ORDER BY person_id LIMIT :limit",
    },
    "groups": {
        "attributes": ["id", "name", "description"],
        "naming_attribute": "name",
        "create": "INSERT INTO teams (team_id, title, about) VALUES (:id, :name, :description)",
        "read": f"{TEAMS} WHERE team_id = :anchor",
        "update": "UPDATE teams SET title = :name, about = :description WHERE team_id = :anchor",
        "delete": "DELETE FROM teams WHERE team_id = :anchor",
        "read_page": f"{TEAMS} WHERE :after IS NULL OR team_id > :after"
        " ORDER BY team_id LIMIT :limit",
        "add_member": "INSERT INTO team_people (team, person) VALUES (:group, :member)"
        " ON CONFLICT DO NOTHING",
        "remove_member": "DELETE FROM team_people WHERE team = :group AND person = :member",
        "read_members": "SELECT person FROM team_people WHERE team = :group",
    },
}
CUSTOM = {"mode": "custom", "statements": STATEMENTS}


class TestSqliteCustomContract(SqlContract):
    dialect = "sqlite"
    refused_login: ClassVar[dict[str, str] | None] = None
    test_wrong_credentials: OptionalTest = None
    # Creates run one at a time in this mode; a smaller group keeps the test quick.
    large_group_size = 1_000

    def tables(self) -> Sequence[str]:
        return TABLES

    def settings(self) -> dict[str, Any]:
        return CUSTOM

    def unreachable(self, database: Database) -> str:
        return "Driver=SQLite3;Database=/nonexistent-folder/hatchway.sqlite3"


@pytest.fixture
async def custom(sqlite_odbc_database: SqliteOdbcDatabase) -> Any:
    database = Database("sqlite", sqlite_odbc_database.odbc_connection_string)
    for statement in TABLES:
        database.execute(statement)
    connector = connector_for(database, **CUSTOM)
    yield connector, database
    await connector.close()


def custom_settings(**users: Any) -> dict[str, Any]:
    return {**CUSTOM, "statements": {"users": {**STATEMENTS["users"], **users}}}


async def test_values_are_bound_never_pasted(custom: tuple[SqlConnector, Database]) -> None:
    connector, database = custom
    hostile = "x'); DROP TABLE people; -- :id /* :anchor */"
    anchor = await connector.create(USER, {"id": hostile, "user_name": ":user_name"})
    assert anchor == hostile
    found = await connector.get(USER, hostile)
    assert found.attributes == {
        "id": hostile,
        "user_name": ":user_name",
        "display_name": None,
        "email": None,
    }
    await connector.update(USER, hostile, [Delta("display_name", DeltaKind.REPLACE, ("'--",))])
    assert (await connector.get(USER, hostile)).attributes["display_name"] == "'--"
    assert database.count("people") == 1


async def test_update_renames_and_keeps_other_values(custom: tuple[SqlConnector, Database]) -> None:
    connector, _ = custom
    await connector.create(USER, {"id": "a", "user_name": "ann", "email": "a@x"})
    renamed = await connector.update(USER, "a", [Delta("id", DeltaKind.REPLACE, ("b",))])
    assert renamed == "b"
    assert (await connector.get(USER, "b")).attributes["email"] == "a@x"
    with pytest.raises(NotFoundError):
        await connector.get(USER, "a")
    with pytest.raises(InvalidDataError) as caught:
        await connector.update(USER, "b", [Delta("shoe_size", DeltaKind.REPLACE, ("9",))])
    assert caught.value.attribute == "shoe_size"


async def test_search_filters_rows_and_pages_by_anchor(
    custom: tuple[SqlConnector, Database],
) -> None:
    connector, _ = custom
    for i in range(12):
        await connector.create(USER, {"id": f"u{i:02}", "user_name": f"{'ab'[i % 2]}{i:02}"})
    seen: list[str] = []
    cookie = None
    while True:
        page = await connector.search(USER, StartsWith("user_name", "b"), Page(2, cookie))
        assert len(page.objects) <= 2
        seen.extend(o.anchor for o in page.objects)
        cookie = page.cookie
        if cookie is None:
            break
    assert seen == [f"u{i:02}" for i in range(1, 12, 2)]
    with pytest.raises(InvalidDataError) as caught:
        await connector.search(USER, Equals("shoe_size", 1), Page())
    assert caught.value.attribute == "shoe_size"


async def test_group_members_replace_and_clear(custom: tuple[SqlConnector, Database]) -> None:
    connector, database = custom
    for key in ("u1", "u2", "u3"):
        await connector.create(USER, {"id": key, "user_name": key})
    await connector.create(GROUP, {"id": "g", "name": "G", "members": ["u1", "u2"]})
    await connector.update(GROUP, "g", [Delta("members", DeltaKind.REPLACE, ("u3",))])
    assert (await connector.get(GROUP, "g")).attributes["members"] == ["u3"]
    await connector.update(GROUP, "g", [Delta("members", DeltaKind.CLEAR)])
    assert (await connector.get(GROUP, "g")).attributes["members"] == []
    assert database.count("team_people") == 0


async def test_a_read_page_ignoring_after_is_reported(
    sqlite_odbc_database: SqliteOdbcDatabase,
) -> None:
    database = Database("sqlite", sqlite_odbc_database.odbc_connection_string)
    database.execute(TABLES[0])
    settings = custom_settings(read_page=f"{PEOPLE} ORDER BY person_id LIMIT :limit")
    connector = connector_for(database, **settings)
    try:
        for key in ("a", "b", "c"):
            await connector.create(USER, {"id": key, "user_name": key})
        first = await connector.search(USER, None, Page(2))
        with pytest.raises(ConnectorError, match=":after"):
            await connector.search(USER, None, Page(2, first.cookie))
    finally:
        await connector.close()


async def test_groups_are_optional(sqlite_odbc_database: SqliteOdbcDatabase) -> None:
    database = Database("sqlite", sqlite_odbc_database.odbc_connection_string)
    database.execute(TABLES[0])
    connector = connector_for(database, **custom_settings())
    try:
        await connector.test()
        assert [c.name for c in (await connector.schema()).object_classes] == [USER]
        with pytest.raises(InvalidDataError, match="groups"):
            await connector.create(GROUP, {"id": "g", "name": "G"})
    finally:
        await connector.close()


@pytest.mark.parametrize(
    ("statements", "key", "problem"),
    [
        ({}, "connectors.hr.statements.users", "is required when mode = 'custom'"),
        (
            {"users": {**STATEMENTS["users"], "read": "SELECT * FROM people WHERE x = :nope"}},
            "connectors.hr.statements.users.read",
            "names the parameter :nope",
        ),
        (
            {"users": {k: v for k, v in STATEMENTS["users"].items() if k != "delete"}},
            "connectors.hr.statements.users.delete",
            "is required",
        ),
        (
            {"users": {**STATEMENTS["users"], "naming_attribute": "login"}},
            "connectors.hr.statements.users.naming_attribute",
            "not one of the attributes",
        ),
        (
            {"users": {**STATEMENTS["users"], "attributes": []}},
            "connectors.hr.statements.users.attributes",
            "at least one",
        ),
        (
            {"users": STATEMENTS["users"], "roles": {}},
            "connectors.hr.statements.roles",
            "not a known setting",
        ),
        (
            {"users": {**STATEMENTS["users"], "add_member": "SELECT 1"}},
            "connectors.hr.statements.users.add_member",
            "not a known setting",
        ),
    ],
)
def test_statement_settings_errors_name_the_key(
    statements: dict[str, Any], key: str, problem: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load(mode="custom", statements=statements)
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_table_settings_are_refused_in_other_modes() -> None:
    with pytest.raises(SettingsError) as caught:
        load(mode="custom", statements=STATEMENTS, groups_table="groups")
    assert caught.value.key == "connectors.hr.groups_table"
    assert 'mode = "table" only' in caught.value.problem


def test_sqlite_has_no_procedures() -> None:
    with pytest.raises(SettingsError) as caught:
        load(mode="procedures", procedures={"users": STATEMENTS["users"]})
    assert caught.value.key == "connectors.hr.mode"
    assert "no stored procedures" in caught.value.problem
