"""The stored-procedure mode: the contract suite on PostgreSQL (functions) and MariaDB
(procedures), each over the contract's tables, and how calls are made from names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from agent.connectors.sql_dialects import DIALECTS
from agent.connectors.sql_procedures import parameter_names, procedure_statements
from agent.connectors.sql_statements import ClassSettings
from shared.settings import Table
from tests.agent.connectors.test_sql_contract import TABLES, SqlContract

USER_COLUMNS = ["id", "user_name", "display_name", "email"]
GROUP_COLUMNS = ["id", "name", "description"]
NAMES = {
    "users": {
        "attributes": USER_COLUMNS,
        "naming_attribute": "user_name",
        "create": "hw_create_user",
        "read": "hw_read_user",
        "update": "hw_update_user",
        "delete": "hw_delete_user",
        "read_page": "hw_read_users",
    },
    "groups": {
        "attributes": GROUP_COLUMNS,
        "naming_attribute": "name",
        "create": "hw_create_group",
        "read": "hw_read_group",
        "update": "hw_update_group",
        "delete": "hw_delete_group",
        "read_page": "hw_read_groups",
        "add_member": "hw_add_member",
        "remove_member": "hw_remove_member",
        "read_members": "hw_read_members",
    },
}
PROCEDURES = {"mode": "procedures", "procedures": NAMES}


def _postgres_functions() -> tuple[str, ...]:
    users = ", ".join(f"p_{c} text" for c in USER_COLUMNS)
    groups = ", ".join(f"p_{c} text" for c in GROUP_COLUMNS)
    return (
        f"CREATE FUNCTION hw_create_user({users}) RETURNS text LANGUAGE sql AS $$"
        " INSERT INTO users VALUES (p_id, p_user_name, p_display_name, p_email) RETURNING id $$",
        "CREATE FUNCTION hw_read_user(p_anchor text) RETURNS SETOF users LANGUAGE sql AS $$"
        " SELECT * FROM users WHERE id = p_anchor $$",
        f"CREATE FUNCTION hw_update_user(p_anchor text, {users}) RETURNS void LANGUAGE sql AS $$"
        " UPDATE users SET id = p_id, user_name = p_user_name, display_name = p_display_name,"
        " email = p_email WHERE id = p_anchor $$",
        "CREATE FUNCTION hw_delete_user(p_anchor text) RETURNS void LANGUAGE sql AS $$"
        " DELETE FROM group_members WHERE user_id = p_anchor;"
        " DELETE FROM users WHERE id = p_anchor $$",
        # pyodbc sends Python ints as bigint, so a limit parameter must accept one.
        "CREATE FUNCTION hw_read_users(p_after text, p_limit bigint) RETURNS SETOF users"
        " LANGUAGE sql AS $$ SELECT * FROM users WHERE p_after IS NULL OR id > p_after"
        " ORDER BY id LIMIT p_limit $$",
        f"CREATE FUNCTION hw_create_group({groups}) RETURNS text LANGUAGE sql AS $$"
        " INSERT INTO groups VALUES (p_id, p_name, p_description) RETURNING id $$",
        "CREATE FUNCTION hw_read_group(p_anchor text) RETURNS SETOF groups LANGUAGE sql AS $$"
        " SELECT * FROM groups WHERE id = p_anchor $$",
        f"CREATE FUNCTION hw_update_group(p_anchor text, {groups}) RETURNS void LANGUAGE sql"
        " AS $$ UPDATE groups SET name = p_name, description = p_description"
        " WHERE id = p_anchor $$",
        "CREATE FUNCTION hw_delete_group(p_anchor text) RETURNS void LANGUAGE sql AS $$"
        " DELETE FROM group_members WHERE group_id = p_anchor;"
        " DELETE FROM groups WHERE id = p_anchor $$",
        "CREATE FUNCTION hw_read_groups(p_after text, p_limit bigint) RETURNS SETOF groups"
        " LANGUAGE sql AS $$ SELECT * FROM groups WHERE p_after IS NULL OR id > p_after"
        " ORDER BY id LIMIT p_limit $$",
        "CREATE FUNCTION hw_add_member(p_group text, p_member text) RETURNS void LANGUAGE sql"
        " AS $$ INSERT INTO group_members VALUES (p_group, p_member) ON CONFLICT DO NOTHING $$",
        "CREATE FUNCTION hw_remove_member(p_group text, p_member text) RETURNS void"
        " LANGUAGE sql AS $$ DELETE FROM group_members"
        " WHERE group_id = p_group AND user_id = p_member $$",
        "CREATE FUNCTION hw_read_members(p_group text) RETURNS SETOF text LANGUAGE sql AS $$"
        " SELECT user_id FROM group_members WHERE group_id = p_group $$",
    )


def _mariadb_procedures() -> tuple[str, ...]:
    users = ", ".join(f"p_{c} VARCHAR(10000)" for c in USER_COLUMNS)
    groups = ", ".join(f"p_{c} VARCHAR(10000)" for c in GROUP_COLUMNS)
    return (
        f"CREATE PROCEDURE hw_create_user({users}) INSERT INTO users"
        " VALUES (p_id, p_user_name, p_display_name, p_email)",
        "CREATE PROCEDURE hw_read_user(p_anchor VARCHAR(100))"
        " SELECT * FROM users WHERE id = p_anchor",
        f"CREATE PROCEDURE hw_update_user(p_anchor VARCHAR(100), {users}) UPDATE users"
        " SET id = p_id, user_name = p_user_name, display_name = p_display_name,"
        " email = p_email WHERE id = p_anchor",
        "CREATE PROCEDURE hw_delete_user(p_anchor VARCHAR(100)) BEGIN"
        " DELETE FROM group_members WHERE user_id = p_anchor;"
        " DELETE FROM users WHERE id = p_anchor; END",
        "CREATE PROCEDURE hw_read_users(p_after VARCHAR(100), p_limit INT)"
        " SELECT * FROM users WHERE p_after IS NULL OR id > p_after ORDER BY id LIMIT p_limit",
        f"CREATE PROCEDURE hw_create_group({groups}) BEGIN"
        " INSERT INTO `groups` VALUES (p_id, p_name, p_description); SELECT p_id; END",
        "CREATE PROCEDURE hw_read_group(p_anchor VARCHAR(100))"
        " SELECT * FROM `groups` WHERE id = p_anchor",
        f"CREATE PROCEDURE hw_update_group(p_anchor VARCHAR(100), {groups}) UPDATE `groups`"
        " SET name = p_name, description = p_description WHERE id = p_anchor",
        "CREATE PROCEDURE hw_delete_group(p_anchor VARCHAR(100)) BEGIN"
        " DELETE FROM group_members WHERE group_id = p_anchor;"
        " DELETE FROM `groups` WHERE id = p_anchor; END",
        "CREATE PROCEDURE hw_read_groups(p_after VARCHAR(100), p_limit INT)"
        " SELECT * FROM `groups` WHERE p_after IS NULL OR id > p_after ORDER BY id"
        " LIMIT p_limit",
        "CREATE PROCEDURE hw_add_member(p_group VARCHAR(100), p_member VARCHAR(100))"
        " INSERT INTO group_members VALUES (p_group, p_member)"
        " ON DUPLICATE KEY UPDATE group_id = group_id",
        "CREATE PROCEDURE hw_remove_member(p_group VARCHAR(100), p_member VARCHAR(100))"
        " DELETE FROM group_members WHERE group_id = p_group AND user_id = p_member",
        "CREATE PROCEDURE hw_read_members(p_group VARCHAR(100))"
        " SELECT user_id FROM group_members WHERE group_id = p_group",
    )


class ProceduresContract(SqlContract):
    # Creates run one call at a time in this mode; a smaller group keeps the test quick.
    large_group_size = 1_000
    procedures: ClassVar[tuple[str, ...]]

    def tables(self) -> Sequence[str]:
        return (*TABLES, *self.procedures)

    def settings(self) -> dict[str, Any]:
        return PROCEDURES


class TestPostgresProceduresContract(ProceduresContract):
    dialect = "postgresql"
    refused_login: ClassVar[dict[str, str] | None] = {"UID": "hatchway_no_such_role"}
    procedures = _postgres_functions()


class TestMariaDbProceduresContract(ProceduresContract):
    dialect = "mariadb"
    refused_login: ClassVar[dict[str, str] | None] = {"PWD": "wrong-password"}
    procedures = _mariadb_procedures()


def test_parameter_order() -> None:
    attributes = ("id", "user_name")
    assert parameter_names("create", attributes) == attributes
    assert parameter_names("update", attributes) == ("anchor", "id", "user_name")
    assert parameter_names("read_page", attributes) == ("after", "limit")
    assert parameter_names("add_member", attributes) == ("group", "member")


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("postgresql", 'SELECT * FROM "hr"."hw_update_user"(?, ?, ?, ?, ?)'),
        ("mariadb", "CALL `hr`.`hw_update_user`(?, ?, ?, ?, ?)"),
        ("mssql", "{CALL [hr].[hw_update_user](?, ?, ?, ?, ?)}"),
    ],
)
def test_calls_are_quoted_per_dialect(dialect: str, expected: str) -> None:
    table = Table(NAMES["users"], source="agent.toml", prefix="connectors.hr.procedures.users")
    settings = ClassSettings.load(table, group=False)
    calls = procedure_statements(DIALECTS[dialect], "hr", settings, table)
    assert calls["update"].sql == expected
    assert calls["update"].names == ("anchor", *USER_COLUMNS)
