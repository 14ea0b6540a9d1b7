"""The settings of the SQL connector: its ``[connectors.NAME]`` table, loaded and checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from agent.connectors.sql_dialects import DIALECTS, Dialect, check_identifier
from agent.connectors.sql_procedures import procedure_statements
from agent.connectors.sql_statements import ClassSettings, ClassStatements, parse_statements
from shared.connector import GROUP, USER
from shared.secret import Secret
from shared.settings import Table

#: How the connector reaches the objects: mapped tables, stored procedures or custom SQL.
MODES = ("table", "procedures", "custom")
#: The sub-table holding each mode's per-class settings, and those classes' table names.
_MODE_TABLES = {"procedures": "procedures", "custom": "statements"}
_CLASS_TABLES = {USER: "users", GROUP: "groups"}
#: Settings of the table mode, refused in the other modes rather than silently ignored.
_TABLE_KEYS = (
    "users_table",
    "key_column",
    "naming_column",
    "columns",
    "groups_table",
    "group_key_column",
    "group_naming_column",
    "group_columns",
    "members_table",
    "members_group_column",
    "members_member_column",
    "member_attribute",
)


@dataclass(frozen=True, slots=True)
class SqlSettings:
    """The ``[connectors.NAME]`` table of a connector with ``type = "sql"``.

    Names of tables and columns are used exactly as written (quoted), so their case must
    match the database's catalogue.
    """

    #: ODBC connection string, including the credentials.
    connection_string: Secret
    #: Which SQL the database speaks: postgresql, mariadb, sqlite or mssql.
    dialect: Dialect
    users_table: str = "users"
    #: The column whose value is a user's anchor.
    key_column: str = "id"
    #: The unique column that names a user (the schema's naming attribute).
    naming_column: str = "user_name"
    #: Attribute name to column name; empty means every column under its own name.
    columns: Mapping[str, str] = field(default_factory=dict)
    schema_name: str | None = None
    #: Worker threads, and so connections.
    pool_size: int = 4
    #: Seconds to wait for a login, a statement or a lock.
    timeout: float = 30.0
    #: "table" (mapped tables), "procedures" (stored procedures) or "custom" (SQL statements).
    mode: str = "table"
    #: The groups table; without it the connector serves users only.
    groups_table: str | None = None
    group_key_column: str = "id"
    group_naming_column: str = "name"
    #: Attribute name to column name for the groups table, as ``columns`` for users.
    group_columns: Mapping[str, str] = field(default_factory=dict)
    #: The membership table: one row per (group key, member key), unique over both.
    members_table: str = "group_members"
    members_group_column: str = "group_id"
    members_member_column: str = "user_id"
    #: The group attribute that holds member anchors (in every mode).
    member_attribute: str = "members"
    #: Procedures and custom modes: the statements of each object class served.
    statements: Mapping[str, ClassStatements] = field(default_factory=dict)

    @classmethod
    def load(cls, table: Table) -> Self:
        table.optional_string("type")
        connection_string = table.secret("connection_string")
        assert connection_string is not None  # required=True raised otherwise
        if not connection_string.reveal().strip():
            raise table.error("connection_string", "must not be empty")
        dialect = _dialect(table)
        mode = table.string("mode", "table")
        if mode not in MODES:
            raise table.error("mode", f"must be one of {', '.join(MODES)}")
        schema_name = _optional_identifier(table, "schema_name")
        settings = cls(
            connection_string=connection_string,
            dialect=dialect,
            users_table=_identifier(table, "users_table", "users"),
            key_column=_identifier(table, "key_column", "id"),
            naming_column=_identifier(table, "naming_column", "user_name"),
            columns=_columns(table, "columns"),
            schema_name=schema_name,
            pool_size=table.integer("pool_size", 4, minimum=1, maximum=64),
            timeout=table.number("timeout", 30.0, minimum=1.0),
            mode=mode,
            groups_table=_optional_identifier(table, "groups_table"),
            group_key_column=_identifier(table, "group_key_column", "id"),
            group_naming_column=_identifier(table, "group_naming_column", "name"),
            group_columns=_columns(table, "group_columns"),
            members_table=_identifier(table, "members_table", "group_members"),
            members_group_column=_identifier(table, "members_group_column", "group_id"),
            members_member_column=_identifier(table, "members_member_column", "user_id"),
            member_attribute=table.string("member_attribute", "members"),
            statements=_statements(table, mode, dialect, schema_name),
        )
        table.reject_unknown()
        if mode != "table":
            ignored = next((key for key in _TABLE_KEYS if key in table.data), None)
            if ignored is not None:
                raise table.error(ignored, f'applies to mode = "table" only, not {mode!r}')
        _check_columns(
            table, "columns", settings.columns, settings.key_column, settings.naming_column
        )
        _check_columns(
            table,
            "group_columns",
            settings.group_columns,
            settings.group_key_column,
            settings.group_naming_column,
        )
        if settings.member_attribute in settings.group_columns:
            raise table.error(
                f"group_columns.{settings.member_attribute}",
                "is the member_attribute, which the membership table holds",
            )
        return settings


def _check_columns(
    table: Table, key: str, columns: Mapping[str, str], key_column: str, naming_column: str
) -> None:
    """Refuse a mapping that would hide the key or naming column behind another column."""
    for column in (key_column, naming_column):
        mapped = columns.get(column)
        if mapped is not None and mapped != column and column not in columns.values():
            raise table.error(
                f"{key}.{column}",
                f"names another column, but {column!r} is also the key or naming column;"
                " map that column under some attribute name",
            )


def _statements(
    table: Table, mode: str, dialect: Dialect, schema_name: str | None
) -> dict[str, ClassStatements]:
    """The per-class statements of the procedures and custom modes, checked."""
    name = _MODE_TABLES.get(mode)
    if name is None:
        return {}
    if mode == "procedures" and not dialect.has_procedures:
        raise table.error("mode", f'{dialect.name} has no stored procedures; use "custom"')
    outer = table.table(name)
    found: dict[str, ClassStatements] = {}
    for object_class, key in _CLASS_TABLES.items():
        if key not in outer.data:
            if object_class == USER:
                raise outer.error(key, f"is required when mode = {mode!r}")
            continue
        inner = outer.table(key)
        settings = ClassSettings.load(inner, group=object_class == GROUP)
        if mode == "custom":
            parsed = parse_statements(settings, inner)
        else:
            parsed = procedure_statements(dialect, schema_name, settings, inner)
        found[object_class] = settings.build(object_class, parsed)
    outer.reject_unknown()
    return found


def _dialect(table: Table) -> Dialect:
    name = table.string("dialect", required=True)
    if name not in DIALECTS:
        raise table.error("dialect", f"must be one of {', '.join(sorted(DIALECTS))}")
    return DIALECTS[name]


def _identifier(table: Table, key: str, default: str) -> str:
    value = table.string(key, default)
    _check_name(table, key, value)
    return value


def _optional_identifier(table: Table, key: str) -> str | None:
    value = table.optional_string(key)
    if value is not None:
        _check_name(table, key, value)
    return value


def _columns(table: Table, key: str) -> dict[str, str]:
    columns = table.string_map(key)
    for attribute, column in columns.items():
        _check_name(table, f"{key}.{attribute}", column)
        if not attribute:
            raise table.error(key, "an attribute name must not be empty")
    seen: dict[str, str] = {}
    for attribute, column in columns.items():
        if column in seen:
            raise table.error(
                f"{key}.{attribute}", f"column {column!r} is mapped to {seen[column]!r} too"
            )
        seen[column] = attribute
    return columns


def _check_name(table: Table, key: str, value: str) -> None:
    try:
        check_identifier(value)
    except ValueError as exc:
        raise table.error(key, "must be a non-empty name without NUL characters") from exc
