"""The SQL connector: users as rows of one table, reached through ODBC with pyodbc.

pyodbc blocks, so every statement runs in a small pool of worker threads, each owning its
own connection. Values only ever travel as ``?`` parameters; identifiers come from the
settings or the database's catalogue and are quoted by the dialect
(:mod:`agent.connectors.sql_dialects`), which also turns driver errors into Hatchway's
error classes.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Self, TypeVar, assert_never

import pyodbc

from agent.connectors.sql_dialects import (
    DIALECTS,
    LIKE_ESCAPE,
    Dialect,
    check_identifier,
    classify,
    secret_values,
    with_defaults,
)
from agent.connectors.sql_pool import ConnectionPool, close_quietly
from shared.connector import (
    USER,
    Action,
    And,
    AttributeInfo,
    Attributes,
    AttributeType,
    Connector,
    ConnectorObject,
    Delta,
    DeltaKind,
    Equals,
    Filter,
    Not,
    ObjectClassInfo,
    Operation,
    OperationError,
    OperationResult,
    Or,
    Page,
    Present,
    Scalar,
    Schema,
    SearchResult,
    StartsWith,
    run_operation,
)
from shared.exceptions import (
    AuthenticationError,
    ConnectorError,
    InvalidDataError,
    NotFoundError,
)
from shared.secret import Secret
from shared.settings import Table

T = TypeVar("T")

#: Rows per multi-row INSERT: the batch size measured fastest on PostgreSQL (DESIGN.md).
BATCH_ROWS = 500

_INT64 = range(-(2**63), 2**63)

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


# Settings -------------------------------------------------------------------------------


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


# Values ---------------------------------------------------------------------------------


def _param(column: _Column, value: Any) -> Any:
    """Check one attribute value and convert it to what pyodbc binds for the column."""
    if isinstance(value, list):
        raise InvalidDataError(
            f"attribute {column.attribute!r} holds one value, not a list",
            attribute=column.attribute,
        )
    if isinstance(value, str):
        return _text_param(column, value)
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        raise InvalidDataError(
            f"attribute {column.attribute!r}: {value} does not fit in 64 bits",
            attribute=column.attribute,
        )
    return value


def _check_text(column: _Column, value: str) -> None:
    # ODBC drivers cut strings at a NUL byte and pyodbc cannot encode lone surrogates: refuse
    # both rather than store something other than what was sent.
    if "\x00" in value:
        raise InvalidDataError(
            f"attribute {column.attribute!r} contains a NUL character", attribute=column.attribute
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidDataError(
            f"attribute {column.attribute!r} is not valid Unicode", attribute=column.attribute
        ) from exc


def _text_param(column: _Column, value: str) -> Any:
    _check_text(column, value)
    if column.type is AttributeType.BINARY:
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise InvalidDataError(
                f"attribute {column.attribute!r} must be base64", attribute=column.attribute
            ) from exc
    if column.type is AttributeType.INTEGER:
        # SQLite would store the text as is in an integer column.
        try:
            return int(value)
        except ValueError as exc:
            raise InvalidDataError(
                f"attribute {column.attribute!r} must be an integer", attribute=column.attribute
            ) from exc
    return value


def _wire(value: Any) -> Scalar:
    """A value read from the database as JSON can carry it."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)


def _anchor(value: Any) -> str:
    return str(_wire(value))


def _encode_cookie(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(_wire(key)).encode()).decode("ascii")


def _decode_cookie(cookie: str) -> Any:
    try:
        value = json.loads(base64.urlsafe_b64decode(cookie.encode("ascii")))
    except (ValueError, binascii.Error) as exc:
        raise InvalidDataError("the page cookie is not one this connector issued") from exc
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise InvalidDataError("the page cookie is not one this connector issued")
    return value


# The users table ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class _Column:
    """One mapped column; compared by identity, which keeps rows keyed by column cheap in
    batches of thousands (a table builds each of its columns once)."""

    attribute: str
    name: str
    sql: str
    type: AttributeType
    required: bool


@dataclass(frozen=True, slots=True)
class _Set:
    """An update sets the column to this (converted) value."""

    value: Any


@dataclass(frozen=True, slots=True)
class _ClearIfIn:
    """An update clears the column if it currently holds one of these values."""

    values: tuple[Any, ...]


_Change = _Set | _ClearIfIn
#: A create in a batch with its checked row.
_BulkRow = tuple[Operation, dict[_Column, Any]]


@dataclass(frozen=True, slots=True)
class _UsersTable:
    """The users table as the catalogue describes it, seen through the attribute mapping.

    Its methods taking a cursor run in a worker thread, inside the pool's transaction.
    """

    dialect: Dialect
    sql: str
    columns: tuple[_Column, ...]
    key: _Column
    naming: _Column
    by_attribute: Mapping[str, _Column]

    def column(self, attribute: str) -> _Column:
        column = self.by_attribute.get(attribute)
        if column is None:
            raise InvalidDataError(f"unknown attribute {attribute!r}", attribute=attribute)
        return column

    def object_class(self) -> ObjectClassInfo:
        unique = (self.key, self.naming)
        return ObjectClassInfo(
            USER,
            naming_attribute=self.naming.attribute,
            attributes=tuple(
                AttributeInfo(c.attribute, c.type, required=c.required, unique=c in unique)
                for c in self.columns
            ),
        )

    def row(self, attributes: Attributes) -> dict[_Column, Any]:
        """Checked and converted values by column; a null key is left for the database."""
        row: dict[_Column, Any] = {}
        for name, value in attributes.items():
            column = self.column(name)
            if value is not None or column is not self.key:
                row[column] = _param(column, value)
        return row

    def key_param(self, anchor: str) -> Any:
        """The key value an anchor stands for; an anchor no row could have is not found."""
        try:
            return _param(self.key, anchor)
        except InvalidDataError as exc:
            raise self.not_found(anchor) from exc

    def not_found(self, anchor: str) -> NotFoundError:
        return NotFoundError(f"no user has the anchor {anchor!r}")

    # Statements, run in a worker thread -------------------------------------------------

    def insert_one(self, row: dict[_Column, Any], cursor: pyodbc.Cursor) -> str:
        names = [c.sql for c in row]
        if self.key in row:
            cursor.execute(self.dialect.insert(self.sql, names, self.key.sql), *row.values())
            return _anchor(row[self.key])
        insert, query = self.dialect.insert_returning_key(self.sql, names, self.key.sql)
        cursor.execute(insert, *row.values())
        if query:
            cursor.execute(query)
        found = cursor.fetchone()
        if found is None:
            raise ConnectorError("the database did not return the new row's key")
        return _anchor(found[0])

    def insert_many(
        self, columns: list[_Column], rows: list[dict[_Column, Any]], cursor: pyodbc.Cursor
    ) -> None:
        sql = self.dialect.insert(self.sql, [c.sql for c in columns], self.key.sql, rows=len(rows))
        cursor.execute(sql, *[row[c] for row in rows for c in columns])

    def update(
        self, key: Any, anchor: str, changes: Mapping[_Column, _Change], cursor: pyodbc.Cursor
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
        self._require(key, anchor, cursor)

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
        return SearchResult(objects, _encode_cookie(rows[size - 1][self._key_index()]))

    def _require(self, key: Any, anchor: str, cursor: pyodbc.Cursor) -> None:
        cursor.execute(f"SELECT 1 FROM {self.sql} WHERE {self.key.sql} = ?", key)
        if cursor.fetchone() is None:
            raise self.not_found(anchor)

    def _select_list(self) -> str:
        return ", ".join(c.sql for c in self.columns)

    def _key_index(self) -> int:
        return self.columns.index(self.key)

    def _object(self, row: pyodbc.Row) -> ConnectorObject:
        attributes: Attributes = {
            c.attribute: _wire(v) for c, v in zip(self.columns, row, strict=True)
        }
        return ConnectorObject(_anchor(row[self._key_index()]), attributes)


def _assignment(column: _Column, change: _Change, params: list[Any]) -> str:
    if isinstance(change, _Set):
        params.append(change.value)
        return f"{column.sql} = ?"
    params.extend(change.values)
    marks = ", ".join("?" * len(change.values))
    return f"{column.sql} = CASE WHEN {column.sql} IN ({marks}) THEN NULL ELSE {column.sql} END"


def _describe_table(settings: SqlSettings, cursor: pyodbc.Cursor) -> _UsersTable:
    """Read the table's columns from the catalogue and apply the attribute mapping."""
    dialect = settings.dialect
    schema = settings.schema_name or _current_schema(dialect, cursor)
    where = {"catalog": schema} if dialect.schema_is_catalog else {"schema": schema}
    found = {
        row.column_name: row
        for row in cursor.columns(table=settings.users_table, **where)
        # Catalogue functions take patterns, in which _ matches any character.
        if row.table_name == settings.users_table
        and (dialect.schema_is_catalog or schema is None or row.table_schem == schema)
    }
    if not found:
        raise ConnectorError(f"table {settings.users_table!r} does not exist or has no columns")
    mapping = dict(settings.columns) or {name: name for name in found}
    for name in (settings.key_column, settings.naming_column):
        if name not in mapping.values():
            mapping = {name: name, **mapping}
    columns = tuple(_column(dialect, found, attribute, name) for attribute, name in mapping.items())
    by_name = {c.name: c for c in columns}
    return _UsersTable(
        dialect=dialect,
        sql=dialect.table(settings.users_table, settings.schema_name),
        columns=columns,
        key=by_name[settings.key_column],
        naming=by_name[settings.naming_column],
        by_attribute={c.attribute: c for c in columns},
    )


def _current_schema(dialect: Dialect, cursor: pyodbc.Cursor) -> str | None:
    if dialect.current_schema_sql is None:
        return None
    found = cursor.execute(dialect.current_schema_sql).fetchone()
    return None if found is None or found[0] is None else str(found[0])


def _column(
    dialect: Dialect, found: Mapping[str, pyodbc.Row], attribute: str, name: str
) -> _Column:
    row = found.get(name)
    if row is None:
        raise ConnectorError(f"the users table has no column {name!r} (attribute {attribute!r})")
    return _Column(
        attribute=attribute,
        name=name,
        sql=dialect.quote(name),
        type=_TYPES.get(row.data_type, AttributeType.STRING),
        required=row.nullable == pyodbc.SQL_NO_NULLS and not _has_default(row.column_def),
    )


def _has_default(default: str | None) -> bool:
    # The SQLite driver reports a column without a default as the text NULL.
    return default is not None and default.strip().upper() != "NULL"


# Updates and filters --------------------------------------------------------------------


def _plan(table: _UsersTable, deltas: Sequence[Delta]) -> dict[_Column, _Change]:
    """Fold the deltas into one change per column, so an update is a single statement."""
    changes: dict[_Column, _Change] = {}
    for delta in deltas:
        column = table.column(delta.attribute)
        change = _fold(column, changes.get(column), delta)
        if change is not None:
            changes[column] = change
    key_change = changes.get(table.key)
    if key_change is not None and (not isinstance(key_change, _Set) or key_change.value is None):
        raise InvalidDataError(
            f"attribute {table.key.attribute!r} is the key and cannot be cleared",
            attribute=table.key.attribute,
        )
    return changes


def _fold(column: _Column, current: _Change | None, delta: Delta) -> _Change | None:
    if delta.kind is DeltaKind.CLEAR:
        return _Set(None)
    if delta.kind is DeltaKind.REPLACE:
        return _Set(_single(column, delta.values))
    if delta.kind is DeltaKind.ADD:
        return _Set(_single(column, delta.values)) if delta.values else current
    removed = tuple(_param(column, v) for v in delta.values if v is not None)
    if not removed:
        return current
    if isinstance(current, _Set):
        return _Set(None) if current.value in removed else current
    return _ClearIfIn((current.values if current else ()) + removed)


def _single(column: _Column, values: tuple[Scalar, ...]) -> Any:
    if len(values) > 1:
        raise InvalidDataError(
            f"attribute {column.attribute!r} holds one value, not {len(values)}",
            attribute=column.attribute,
        )
    return _param(column, values[0]) if values else None


def _where(table: _UsersTable, flt: Filter | None, params: list[Any]) -> str:
    """SQL for a filter, appending its values to ``params``."""
    if flt is None:
        return "1 = 1"
    if isinstance(flt, Equals):
        column = table.column(flt.attribute)
        if flt.value is None:
            return f"{column.sql} IS NULL"
        params.append(_param(column, flt.value))
        return f"{column.sql} = ?"
    if isinstance(flt, StartsWith):
        column = table.column(flt.attribute)
        _check_text(column, flt.value)
        params.append(table.dialect.like_prefix(flt.value))
        return f"{column.sql} LIKE ? ESCAPE '{LIKE_ESCAPE}'"
    if isinstance(flt, Present):
        return f"{table.column(flt.attribute).sql} IS NOT NULL"
    if isinstance(flt, And | Or):
        joiner, empty = (" AND ", "1 = 1") if isinstance(flt, And) else (" OR ", "1 = 0")
        parts = [_where(table, inner, params) for inner in flt.filters]
        return "(" + joiner.join(parts) + ")" if parts else empty
    if isinstance(flt, Not):
        # NOT over a comparison with NULL is NULL, which would drop rows lacking the attribute.
        return f"(CASE WHEN {_where(table, flt.filter, params)} THEN 1 ELSE 0 END) = 0"
    assert_never(flt)


class SqlConnector(Connector):
    """Users in one table of PostgreSQL, MariaDB, SQL Server or SQLite, through ODBC."""

    type_name = "sql"

    def __init__(self, name: str, settings: SqlSettings) -> None:
        self.name = name
        self.settings = settings
        text = with_defaults(
            settings.connection_string.reveal(),
            settings.dialect.connection_defaults(settings.timeout),
        )
        self._connection_string = Secret(text)
        self._secrets = secret_values(text)
        self._table: _UsersTable | None = None
        self._pool = ConnectionPool(
            name=name, size=settings.pool_size, connect=self._connect, classify=self._classify
        )

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any], *, source: str) -> Self:
        return cls(
            name, SqlSettings.load(Table(settings, source=source, prefix=f"connectors.{name}"))
        )

    async def test(self) -> None:
        await self._pool.run(lambda cursor: cursor.execute("SELECT 1").fetchall())
        await self._users_table(refresh=True)

    async def schema(self) -> Schema:
        table = await self._users_table(refresh=True)
        return Schema((table.object_class(),))

    async def create(self, object_class: str, attributes: Attributes) -> str:
        table = await self._users(object_class)
        return await self._pool.run(partial(table.insert_one, table.row(attributes)))

    async def update(self, object_class: str, anchor: str, deltas: Sequence[Delta]) -> str:
        table = await self._users(object_class)
        key = table.key_param(anchor)
        changes = _plan(table, deltas)
        await self._pool.run(partial(table.update, key, anchor, changes))
        new_key = changes.get(table.key)
        return _anchor(new_key.value) if isinstance(new_key, _Set) else anchor

    async def delete(self, object_class: str, anchor: str) -> None:
        table = await self._users(object_class)
        await self._pool.run(partial(table.delete, table.key_param(anchor), anchor))

    async def get(self, object_class: str, anchor: str) -> ConnectorObject:
        table = await self._users(object_class)
        return await self._pool.run(partial(table.get, table.key_param(anchor), anchor))

    async def search(self, object_class: str, flt: Filter | None, page: Page) -> SearchResult:
        table = await self._users(object_class)
        if page.size < 1:
            raise InvalidDataError(f"a page holds at least one object, not {page.size}")
        params: list[Any] = []
        where = _where(table, flt, params)
        if page.cookie is not None:
            where = f"({where}) AND {table.key.sql} > ?"
            params.append(_param(table.key, _decode_cookie(page.cookie)))
        return await self._pool.run(partial(table.page, where, params, page.size))

    async def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        """Creates in a row that share their attribute names go in multi-row INSERTs."""
        try:
            table = await self._users_table()
        except ConnectorError as exc:
            error = OperationError.from_exception(exc)
            return [OperationResult(op.key, error=error) for op in operations]
        results: list[OperationResult] = []
        for item in _bulk_groups(table, operations):
            if isinstance(item, Operation):
                results.append(await run_operation(self, item))
            else:
                results.extend(await self._create_many(table, item))
        return results

    async def close(self) -> None:
        await self._pool.close()

    async def _create_many(
        self, table: _UsersTable, group: list[_BulkRow]
    ) -> list[OperationResult]:
        columns = list(group[0][1])
        size = max(1, min(BATCH_ROWS, table.dialect.max_parameters // len(columns)))
        results: list[OperationResult] = []
        for start in range(0, len(group), size):
            chunk = group[start : start + size]
            try:
                await self._pool.run(partial(table.insert_many, columns, [r for _, r in chunk]))
            except ConnectorError as exc:
                results.extend(await self._after_failed_chunk(chunk, exc))
            else:
                results.extend(
                    OperationResult(op.key, anchor=_anchor(r[table.key])) for op, r in chunk
                )
        return results

    async def _after_failed_chunk(
        self, chunk: list[_BulkRow], exc: ConnectorError
    ) -> list[OperationResult]:
        """Row by row, so one conflicting row fails alone; unless the database is unusable."""
        if exc.error_class.retryable or isinstance(exc, AuthenticationError):
            error = OperationError.from_exception(exc)
            return [OperationResult(op.key, error=error) for op, _ in chunk]
        return [await run_operation(self, op) for op, _ in chunk]

    async def _users(self, object_class: str) -> _UsersTable:
        if object_class != USER:
            raise InvalidDataError(f"object class {object_class!r} is not served; only {USER!r}")
        return await self._users_table()

    async def _users_table(self, *, refresh: bool = False) -> _UsersTable:
        if self._table is None or refresh:
            self._table = await self._pool.run(partial(_describe_table, self.settings))
        return self._table

    def _connect(self) -> pyodbc.Connection:
        timeout = self.settings.timeout
        connection = pyodbc.connect(
            self._connection_string.reveal(), autocommit=False, timeout=max(1, round(timeout))
        )
        try:
            self.settings.dialect.prepare(connection, timeout)
        except pyodbc.Error:
            close_quietly(connection)
            raise
        return connection

    def _classify(self, exc: pyodbc.Error) -> ConnectorError:
        table = self._table
        attributes = {} if table is None else {c.name: c.attribute for c in table.columns}
        return classify(exc, secrets=self._secrets, attributes=attributes)


def _bulk_groups(
    table: _UsersTable, operations: Sequence[Operation]
) -> Iterator[Operation | list[_BulkRow]]:
    """Runs of creates that can share multi-row INSERTs; every other operation alone."""
    run: list[_BulkRow] = []
    for op in operations:
        row = _bulk_row(table, op)
        if run and (row is None or row.keys() != run[0][1].keys()):
            yield from _flush(run)
            run = []
        if row is None:
            yield op
        else:
            run.append((op, row))
    yield from _flush(run)


def _flush(run: list[_BulkRow]) -> Iterator[Operation | list[_BulkRow]]:
    if len(run) == 1:
        yield run[0][0]
    elif run:
        yield run


def _bulk_row(table: _UsersTable, op: Operation) -> dict[_Column, Any] | None:
    """The row of a create whose anchor is known before it runs, if it is valid."""
    if op.action is not Action.CREATE or op.object_class != USER or op.attributes is None:
        return None
    try:
        row = table.row(op.attributes)
    except ConnectorError:
        return None
    return row if table.key in row else None
