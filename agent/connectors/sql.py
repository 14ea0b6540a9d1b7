"""The SQL connector: users as rows of one table, reached through ODBC with pyodbc.

pyodbc blocks, so every statement runs in a small pool of worker threads, each owning its
own connection (:mod:`agent.connectors.sql_pool`). Values only ever travel as ``?``
parameters; identifiers come from the settings or the database's catalogue and are quoted by
the dialect (:mod:`agent.connectors.sql_dialects`), which also turns driver errors into
Hatchway's error classes.

The rest lives in modules named for what they hold: ``sql_settings`` (the settings),
``sql_columns`` (a column and its values), ``sql_table`` (the users table and its
statements), ``sql_updates`` (deltas folded into changes) and ``sql_filters`` (filters
compiled to SQL).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from typing import Any, Self

import pyodbc

from agent.connectors.sql_columns import Column, anchor_of, param
from agent.connectors.sql_dialects import classify, secret_values, with_defaults
from agent.connectors.sql_filters import where_clause
from agent.connectors.sql_pool import ConnectionPool, close_quietly
from agent.connectors.sql_settings import SqlSettings
from agent.connectors.sql_table import Set, UsersTable, decode_cookie, describe_table
from agent.connectors.sql_updates import plan
from shared.connector import (
    USER,
    Action,
    Attributes,
    Connector,
    ConnectorObject,
    Delta,
    Filter,
    Operation,
    OperationError,
    OperationResult,
    Page,
    Schema,
    SearchResult,
    failed,
    run_operation,
)
from shared.exceptions import AuthenticationError, ConnectorError, InvalidDataError
from shared.secret import Secret
from shared.settings import Table

#: Rows per multi-row INSERT: the batch size measured fastest on PostgreSQL (DESIGN.md).
BATCH_ROWS = 500

#: A create in a batch with its checked row.
_BulkRow = tuple[Operation, dict[Column, Any]]


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
        self._table: UsersTable | None = None
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
        changes = plan(table, deltas)
        await self._pool.run(partial(table.update, key, anchor, changes))
        new_key = changes.get(table.key)
        return anchor_of(new_key.value) if isinstance(new_key, Set) else anchor

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
        where = where_clause(table, flt, params)
        if page.cookie is not None:
            where = f"({where}) AND {table.key.sql} > ?"
            params.append(param(table.key, decode_cookie(page.cookie)))
        return await self._pool.run(partial(table.page, where, params, page.size))

    async def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        """Creates in a row that share their attribute names go in multi-row INSERTs."""
        try:
            table = await self._users_table()
        except ConnectorError as exc:
            error = OperationError.from_exception(exc)
            return failed(operations, error)
        results: list[OperationResult] = []
        for item in _bulk_groups(table, operations):
            if isinstance(item, Operation):
                results.append(await run_operation(self, item))
            else:
                results.extend(await self._create_many(table, item))
        return results

    async def close(self) -> None:
        await self._pool.close()

    async def _create_many(self, table: UsersTable, group: list[_BulkRow]) -> list[OperationResult]:
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
                    OperationResult(op.key, anchor=anchor_of(r[table.key])) for op, r in chunk
                )
        return results

    async def _after_failed_chunk(
        self, chunk: list[_BulkRow], exc: ConnectorError
    ) -> list[OperationResult]:
        """Row by row, so one conflicting row fails alone; unless the database is unusable."""
        if exc.error_class.retryable or isinstance(exc, AuthenticationError):
            error = OperationError.from_exception(exc)
            return failed((op for op, _ in chunk), error)
        return [await run_operation(self, op) for op, _ in chunk]

    async def _users(self, object_class: str) -> UsersTable:
        if object_class != USER:
            raise InvalidDataError(f"object class {object_class!r} is not served; only {USER!r}")
        return await self._users_table()

    async def _users_table(self, *, refresh: bool = False) -> UsersTable:
        if self._table is None or refresh:
            self._table = await self._pool.run(partial(describe_table, self.settings))
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
    table: UsersTable, operations: Sequence[Operation]
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


def _bulk_row(table: UsersTable, op: Operation) -> dict[Column, Any] | None:
    """The row of a create whose anchor is known before it runs, if it is valid."""
    if op.action is not Action.CREATE or op.object_class != USER or op.attributes is None:
        return None
    try:
        row = table.row(op.attributes)
    except ConnectorError:
        return None
    return row if table.key in row else None
