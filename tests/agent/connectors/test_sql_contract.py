"""The connector contract suite for the SQL connector in table mode, on PostgreSQL, MariaDB
and SQLite: a users table, a groups table and a membership table with foreign keys to both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import pytest

from agent.connectors.contract import ConnectorContract, ContractTarget, OptionalTest
from agent.connectors.sql import SqlConnector
from shared.connector import Attributes
from tests.agent.connectors.test_sql import FIXTURES, Database, connector_for
from tests.servers.ports import free_port

#: Users, groups and membership; VARCHAR where MariaDB needs a length for a key.
TABLES = (
    "CREATE TABLE users (id VARCHAR(100) PRIMARY KEY, user_name VARCHAR(200) UNIQUE NOT NULL,"
    " display_name TEXT, email TEXT CHECK (email IS NULL OR email LIKE '%@%'))",
    "CREATE TABLE groups (id VARCHAR(100) PRIMARY KEY, name VARCHAR(200) UNIQUE NOT NULL,"
    " description TEXT)",
    "CREATE TABLE group_members (group_id VARCHAR(100) NOT NULL REFERENCES groups (id),"
    " user_id VARCHAR(100) NOT NULL REFERENCES users (id), PRIMARY KEY (group_id, user_id))",
)
GROUP_SETTINGS = {"groups_table": "groups"}


def new_user(tag: str) -> Attributes:
    return {"id": f"u-{tag}", "user_name": f"user-{tag}", "display_name": f"User {tag}"}


def new_group(tag: str) -> Attributes:
    return {"id": f"g-{tag}", "name": f"group-{tag}", "description": f"Group {tag}"}


def with_keywords(connection_string: str, **keywords: str) -> str:
    """The connection string with keywords appended; both drivers let the last one win."""
    extra = ";".join(f"{k}={v}" for k, v in keywords.items())
    return f"{connection_string.rstrip(';')};{extra}"


class SqlContract(ConnectorContract):
    dialect: ClassVar[str]
    #: Connection-string keywords that the server refuses to log in with.
    refused_login: ClassVar[dict[str, str] | None]
    # Users are rows of single-valued columns; membership is the multi-valued case.
    test_update_add_remove_multi_valued: OptionalTest = None

    def tables(self) -> Sequence[str]:
        """The statements that make the tables (and procedures) the connector is set up for."""
        return TABLES

    def settings(self) -> dict[str, Any]:
        return GROUP_SETTINGS

    @pytest.fixture
    async def contract_target(
        self, request: pytest.FixtureRequest
    ) -> AsyncIterator[ContractTarget]:
        found = request.getfixturevalue(FIXTURES[self.dialect])
        database = Database(self.dialect, found.odbc_connection_string)
        for statement in self.tables():
            database.execute(statement)
        connector = connector_for(database, **self.settings())
        made: list[SqlConnector] = []

        def other(connection_string: str) -> SqlConnector:
            other_database = Database(self.dialect, connection_string)
            made.append(connector_for(other_database, **self.settings(), timeout=5))
            return made[-1]

        refused = self.refused_login
        yield ContractTarget(
            connector=connector,
            user_class="user",
            group_class="group",
            member_attribute="members",
            new_user=new_user,
            new_group=new_group,
            filter_attribute="user_name",
            single_valued=("email", "first@example.com", "second@example.com"),
            multi_valued=None,
            invalid_user={"id": "bad", "user_name": "bad-user", "email": "no at sign"},
            wrong_credentials=None
            if refused is None
            else lambda: other(with_keywords(database.connection_string, **refused)),
            unreachable=lambda: other(self.unreachable(database)),
        )
        await connector.close()
        for extra in made:
            await extra.close()

    def unreachable(self, database: Database) -> str:
        return with_keywords(database.connection_string, Server="127.0.0.1", Port=str(free_port()))


class TestPostgresContract(SqlContract):
    dialect = "postgresql"
    # The throwaway cluster trusts loopback logins, so it is the role that is refused.
    refused_login: ClassVar[dict[str, str] | None] = {
        "UID": "hatchway_no_such_role",
        "PWD": "s3cret-pass",
    }


class TestMariaDbContract(SqlContract):
    dialect = "mariadb"
    refused_login: ClassVar[dict[str, str] | None] = {"PWD": "wrong-password"}


class TestSqliteContract(SqlContract):
    dialect = "sqlite"
    # A SQLite file has no credentials to get wrong.
    refused_login: ClassVar[dict[str, str] | None] = None
    test_wrong_credentials: OptionalTest = None

    def unreachable(self, database: Database) -> str:
        return "Driver=SQLite3;Database=/nonexistent-folder/hatchway.sqlite3"


def test_every_database_is_covered() -> None:
    covered = {c.dialect for c in (TestPostgresContract, TestMariaDbContract, TestSqliteContract)}
    assert covered == set(FIXTURES)
