"""The settings of the SQL connector: its ``[connectors.NAME]`` table, loaded and checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from agent.connectors.sql_dialects import DIALECTS, Dialect, check_identifier
from shared.secret import Secret
from shared.settings import Table


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

    @classmethod
    def load(cls, table: Table) -> Self:
        table.optional_string("type")
        connection_string = table.secret("connection_string")
        assert connection_string is not None  # required=True raised otherwise
        if not connection_string.reveal().strip():
            raise table.error("connection_string", "must not be empty")
        settings = cls(
            connection_string=connection_string,
            dialect=_dialect(table),
            users_table=_identifier(table, "users_table", "users"),
            key_column=_identifier(table, "key_column", "id"),
            naming_column=_identifier(table, "naming_column", "user_name"),
            columns=_columns(table),
            schema_name=_optional_identifier(table, "schema_name"),
            pool_size=table.integer("pool_size", 4, minimum=1, maximum=64),
            timeout=table.number("timeout", 30.0, minimum=1.0),
        )
        table.reject_unknown()
        settings.check_columns(table)
        return settings

    def check_columns(self, table: Table) -> None:
        """Refuse a mapping that would hide the key or naming column behind another column."""
        for column in (self.key_column, self.naming_column):
            mapped = self.columns.get(column)
            if mapped is not None and mapped != column and column not in self.columns.values():
                raise table.error(
                    f"columns.{column}",
                    f"names another column, but {column!r} is also the key or naming column;"
                    " map that column under some attribute name",
                )


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


def _columns(table: Table) -> dict[str, str]:
    columns = table.string_map("columns")
    for attribute, column in columns.items():
        _check_name(table, f"columns.{attribute}", column)
        if not attribute:
            raise table.error("columns", "an attribute name must not be empty")
    seen: dict[str, str] = {}
    for attribute, column in columns.items():
        if column in seen:
            raise table.error(
                f"columns.{attribute}", f"column {column!r} is mapped to {seen[column]!r} too"
            )
        seen[column] = attribute
    return columns


def _check_name(table: Table, key: str, value: str) -> None:
    try:
        check_identifier(value)
    except ValueError as exc:
        raise table.error(key, "must be a non-empty name without NUL characters") from exc
