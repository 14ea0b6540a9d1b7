"""A table of objects (users or groups): its columns as the catalogue describes them, and the
statements on it.

Values only ever travel as ``?`` parameters; identifiers come from the settings or the
database's catalogue and are quoted by the dialect.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import pyodbc

from agent.connectors.sql_columns import Column, anchor_of, param, wire
from agent.connectors.sql_dialects import Dialect
from shared.connector import (
    AttributeInfo,
    Attributes,
    AttributeType,
    ConnectorObject,
    ObjectClassInfo,
    SearchResult,
)
from shared.exceptions import ConnectorError, InvalidDataError, NotFoundError

_TYPES: dict[int, AttributeType] = {
    pyodbc.SQL_TINYINT: AttributeType.INTEGER,
    pyodbc.SQL_SMALLINT: AttributeType.INTEGER,
    pyodbc.SQL_INTEGER: AttributeType.INTEGER,
    pyodbc.SQL_BIGINT: AttributeType.INTEGER,
    pyodbc.SQL_DECIMAL: AttributeType.DECIMAL,
    pyodbc.SQL_NUMERIC: AttributeType.DECIMAL,
    pyodbc.SQL_FLOAT: AttributeType.DECIMAL,
    pyodbc.SQL_REAL: AttributeType.DECIMAL,
    pyodbc.SQL_DOUBLE: AttributeType.DECIMAL,
    pyodbc.SQL_BIT: AttributeType.BOOLEAN,
    pyodbc.SQL_TYPE_DATE: AttributeType.DATETIME,
    pyodbc.SQL_TYPE_TIME: AttributeType.DATETIME,
    pyodbc.SQL_TYPE_TIMESTAMP: AttributeType.DATETIME,
    9: AttributeType.DATETIME,  # ODBC 2 date, time and timestamp codes
    10: AttributeType.DATETIME,
    11: AttributeType.DATETIME,
    -155: AttributeType.DATETIME,  # SQL Server datetimeoffset
    pyodbc.SQL_BINARY: AttributeType.BINARY,
    pyodbc.SQL_VARBINARY: AttributeType.BINARY,
    pyodbc.SQL_LONGVARBINARY: AttributeType.BINARY,
}


@dataclass(frozen=True, slots=True)
class Set:
    """An update sets the column to this (converted) value."""

    value: Any


@dataclass(frozen=True, slots=True)
class ClearIfIn:
    """An update clears the column if it currently holds one of these values."""

    values: tuple[Any, ...]


Change = Set | ClearIfIn


@dataclass(frozen=True, slots=True)
class ObjectTable:
    """The table of one object class as the catalogue describes it, seen through the
    attribute mapping.

    Its methods taking a cursor run in a worker thread, inside the pool's transaction.
    """

    #: The object class its rows are, such as "user".
    name: str
    dialect: Dialect
    sql: str
    columns: tuple[Column, ...]
    key: Column
    naming: Column
    by_attribute: Mapping[str, Column]
    #: Each column's :attr:`Column.text_limit`, looked up once per value by :meth:`row`.
    text_limits: Mapping[Column, int]

    def column(self, attribute: str) -> Column:
        column = self.by_attribute.get(attribute)
        if column is None:
            raise InvalidDataError(f"unknown attribute {attribute!r}", attribute=attribute)
        return column

    def object_class(self, *extra: AttributeInfo) -> ObjectClassInfo:
        unique = (self.key, self.naming)
        return ObjectClassInfo(
            self.name,
            naming_attribute=self.naming.attribute,
            attributes=tuple(
                AttributeInfo(c.attribute, c.type, required=c.required, unique=c in unique)
                for c in self.columns
            )
            + extra,
        )

    def row(self, attributes: Attributes) -> dict[Column, Any]:
        """Checked and converted values by column; a null key is left for the database."""
        row: dict[Column, Any] = {}
        limits = self.text_limits
        for name, value in attributes.items():
            column = self.column(name)
            # Plain text is most of what batches carry: it goes as it is, checked cheaply.
            if (
                type(value) is str
                and value.isascii()
                and len(value) <= limits[column]
                and "\x00" not in value
            ):
                row[column] = value
            elif value is not None or column is not self.key:
                row[column] = param(column, value)
        return row

    def key_param(self, anchor: str) -> Any:
        """The key value an anchor stands for; an anchor no row could have is not found."""
        try:
            return param(self.key, anchor)
        except InvalidDataError as exc:
            raise self.not_found(anchor) from exc

    def not_found(self, anchor: str) -> NotFoundError:
        return NotFoundError(f"no {self.name} has the anchor {anchor!r}")

    # Statements, run in a worker thread -------------------------------------------------

    def insert_one(self, row: dict[Column, Any], cursor: pyodbc.Cursor) -> str:
        names = [c.sql for c in row]
        if self.key in row:
            cursor.execute(self.dialect.insert(self.sql, names, self.key.sql), *row.values())
            return anchor_of(row[self.key])
        insert, query = self.dialect.insert_returning_key(self.sql, names, self.key.sql)
        cursor.execute(insert, *row.values())
        if query:
            cursor.execute(query)
        found = cursor.fetchone()
        if found is None:
            raise ConnectorError("the database did not return the new row's key")
        return anchor_of(found[0])

    def insert_many(
        self,
        columns: list[str],
        rows: Sequence[tuple[Any, ...]],
        sending: Callable[[], object],
        cursor: pyodbc.Cursor,
    ) -> None:
        """One multi-row INSERT; ``rows`` hold checked values in the order of ``columns``
        (quoted names). ``sending`` is called just before the statement goes: the caller
        may work meanwhile, as the driver lets go of the interpreter lock while the
        database works."""
        sql = self.dialect.insert(self.sql, columns, self.key.sql, rows=len(rows))
        sending()
        cursor.execute(sql, *chain.from_iterable(rows))

    def insert_generating_keys(
        self,
        columns: list[str],
        rows: Sequence[tuple[Any, ...]],
        naming: int,
        cursor: pyodbc.Cursor,
    ) -> list[str]:
        """One multi-row INSERT of rows the database gives their keys; each row's anchor, in
        the order of ``rows``.

        The returned rows are matched to the rows sent by their naming value (at position
        ``naming`` in each row, distinct within ``rows``), never by position: PostgreSQL
        does not promise RETURNING rows in VALUES order. A returned row that matches none
        (the database stored the value differently, as CHAR padding does) fails the whole
        statement, rolled back with it, so the caller can create the rows one by one.
        """
        sql = self.dialect.insert_returning(
            self.sql, columns, [self.key.sql, self.naming.sql], rows=len(rows)
        )
        returned = cursor.execute(sql, *chain.from_iterable(rows)).fetchall()
        positions = {row[naming]: i for i, row in enumerate(rows)}
        anchors = [""] * len(rows)
        for key, name in returned:
            position = positions.pop(name, None)
            if position is None:
                raise ConnectorError(
                    f"the database returned a new row of {self.naming.name} {name!r}, which"
                    " matches no row of the INSERT"
                )
            anchors[position] = anchor_of(key)
        if positions:
            raise ConnectorError(
                f"the database returned {len(returned)} new rows for an INSERT of {len(rows)}"
            )
        return anchors

    def update(
        self, key: Any, anchor: str, changes: Mapping[Column, Change], cursor: pyodbc.Cursor
    ) -> None:
        assignments: list[str] = []
        params: list[Any] = []
        for column, change in changes.items():
            assignments.append(_assignment(column, change, params))
        if assignments:
            sql = f"UPDATE {self.sql} SET {', '.join(assignments)} WHERE {self.key.sql} = ?"
            # MariaDB counts changed rows, not matched ones, so zero needs a second look.
            if cursor.execute(sql, *params, key).rowcount != 0:
                return
        self.require(key, anchor, cursor)

    def delete(self, key: Any, anchor: str, cursor: pyodbc.Cursor) -> None:
        if cursor.execute(f"DELETE FROM {self.sql} WHERE {self.key.sql} = ?", key).rowcount == 0:
            raise self.not_found(anchor)

    def get(self, key: Any, anchor: str, cursor: pyodbc.Cursor) -> ConnectorObject:
        cursor.execute(
            f"SELECT {self._select_list()} FROM {self.sql} WHERE {self.key.sql} = ?", key
        )
        found = cursor.fetchone()
        if found is None:
            raise self.not_found(anchor)
        return self._object(found)

    def page(self, where: str, params: list[Any], size: int, cursor: pyodbc.Cursor) -> SearchResult:
        sql = self.dialect.select_page(self._select_list(), self.sql, where, self.key.sql)
        rows = cursor.execute(sql, *params, size + 1).fetchall()
        objects = [self._object(row) for row in rows[:size]]
        if len(rows) <= size:
            return SearchResult(objects)
        return SearchResult(objects, encode_cookie(rows[size - 1][self._key_index()]))

    def require(self, key: Any, anchor: str, cursor: pyodbc.Cursor) -> None:
        """Raise not found unless the row exists; reads the key only."""
        cursor.execute(f"SELECT 1 FROM {self.sql} WHERE {self.key.sql} = ?", key)
        if cursor.fetchone() is None:
            raise self.not_found(anchor)

    def _select_list(self) -> str:
        return ", ".join(c.sql for c in self.columns)

    def _key_index(self) -> int:
        return self.columns.index(self.key)

    def _object(self, row: pyodbc.Row) -> ConnectorObject:
        attributes: Attributes = {
            c.attribute: wire(v) for c, v in zip(self.columns, row, strict=True)
        }
        return ConnectorObject(anchor_of(row[self._key_index()]), attributes)


def _assignment(column: Column, change: Change, params: list[Any]) -> str:
    if isinstance(change, Set):
        params.append(change.value)
        return f"{column.sql} = ?"
    params.extend(change.values)
    marks = ", ".join("?" * len(change.values))
    return f"{column.sql} = CASE WHEN {column.sql} IN ({marks}) THEN NULL ELSE {column.sql} END"


# Page cookies ---------------------------------------------------------------------------


def encode_cookie(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(wire(key)).encode()).decode("ascii")


def decode_cookie(cookie: str) -> Any:
    try:
        value = json.loads(base64.urlsafe_b64decode(cookie.encode("ascii")))
    except (ValueError, binascii.Error) as exc:
        raise InvalidDataError("the page cookie is not one this connector issued") from exc
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise InvalidDataError("the page cookie is not one this connector issued")
    return value


# The catalogue --------------------------------------------------------------------------


def describe_table(
    dialect: Dialect,
    *,
    object_class: str,
    table: str,
    schema_name: str | None,
    key_column: str,
    naming_column: str,
    columns: Mapping[str, str],
    cursor: pyodbc.Cursor,
) -> ObjectTable:
    """Read the table's columns from the catalogue and apply the attribute mapping."""
    found = catalogue_columns(dialect, table, schema_name, cursor)
    limits = length_limits(dialect, table, schema_name, cursor)
    mapping = dict(columns) or {name: name for name in found}
    for name in (key_column, naming_column):
        if name not in mapping.values():
            mapping = {name: name, **mapping}
    described = tuple(
        catalogue_column(dialect, found, limits, table, attribute, name)
        for attribute, name in mapping.items()
    )
    by_name = {c.name: c for c in described}
    return ObjectTable(
        name=object_class,
        dialect=dialect,
        sql=dialect.table(table, schema_name),
        columns=described,
        key=by_name[key_column],
        naming=by_name[naming_column],
        by_attribute={c.attribute: c for c in described},
        text_limits={c: c.text_limit for c in described},
    )


def catalogue_columns(
    dialect: Dialect, table: str, schema_name: str | None, cursor: pyodbc.Cursor
) -> dict[str, pyodbc.Row]:
    """The catalogue's rows for the table's columns, by column name."""
    schema = schema_name or _current_schema(dialect, cursor)
    where = {"catalog": schema} if dialect.schema_is_catalog else {"schema": schema}
    found = {
        row.column_name: row
        for row in cursor.columns(table=table, **where)
        # Catalogue functions take patterns, in which _ matches any character.
        if row.table_name == table
        and (dialect.schema_is_catalog or schema is None or row.table_schem == schema)
    }
    if not found:
        raise ConnectorError(f"table {table!r} does not exist or has no columns")
    return found


def length_limits(
    dialect: Dialect, table: str, schema_name: str | None, cursor: pyodbc.Cursor
) -> dict[str, int]:
    """The most characters each CHAR and VARCHAR column holds, where the database enforces
    it: a value checked before it is sent is refused naming its attribute, where
    PostgreSQL's own refusal names no column. The ODBC catalogue cannot tell: psqlODBC
    reports 255 for a VARCHAR without a length."""
    if dialect.length_types is None:
        return {}
    schema = schema_name or _current_schema(dialect, cursor)
    marks = ", ".join("?" * len(dialect.length_types))
    rows = cursor.execute(
        "SELECT column_name, character_maximum_length FROM information_schema.columns"
        f" WHERE table_schema = ? AND table_name = ? AND data_type IN ({marks})"
        " AND character_maximum_length IS NOT NULL",
        schema,
        table,
        *dialect.length_types,
    ).fetchall()
    return {str(name): int(limit) for name, limit in rows}


def _current_schema(dialect: Dialect, cursor: pyodbc.Cursor) -> str | None:
    if dialect.current_schema_sql is None:
        return None
    found = cursor.execute(dialect.current_schema_sql).fetchone()
    return None if found is None or found[0] is None else str(found[0])


def catalogue_column(
    dialect: Dialect,
    found: Mapping[str, pyodbc.Row],
    limits: Mapping[str, int],
    table: str,
    attribute: str,
    name: str,
) -> Column:
    row = found.get(name)
    if row is None:
        raise ConnectorError(f"table {table!r} has no column {name!r} (attribute {attribute!r})")
    return Column(
        attribute=attribute,
        name=name,
        sql=dialect.quote(name),
        type=_TYPES.get(row.data_type, AttributeType.STRING),
        required=row.nullable == pyodbc.SQL_NO_NULLS and not _has_default(row.column_def),
        max_length=limits.get(name),
    )


def _has_default(default: str | None) -> bool:
    # The SQLite driver reports a column without a default as the text NULL.
    return default is not None and default.strip().upper() != "NULL"
