"""The SQL connector: users and groups in a database reached through ODBC with pyodbc.

pyodbc blocks, so every statement runs in a small pool of worker threads, each owning its
own connection (:mod:`agent.connectors.sql_pool`). Values only ever travel as ``?``
parameters; identifiers come from the settings or the database's catalogue and are quoted by
the dialect (:mod:`agent.connectors.sql_dialects`), which also turns driver errors into
Hatchway's error classes.

The ``mode`` setting picks how objects are reached (:mod:`agent.connectors.sql_mode`):
mapped tables (``sql_tables``, with ``sql_table`` for one table, ``sql_members`` for the
membership table, ``sql_updates`` and ``sql_filters``), stored procedures
(``sql_procedures``) or custom SQL statements (``sql_custom``, ``sql_statements``).
``sql_settings`` holds the settings and ``sql_columns`` a column and its values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Self

import pyodbc

from agent.connectors.sql_custom import StatementMode
from agent.connectors.sql_dialects import classify, secret_values, with_defaults
from agent.connectors.sql_mode import SqlMode
from agent.connectors.sql_pool import ConnectionPool, close_quietly
from agent.connectors.sql_settings import SqlSettings
from agent.connectors.sql_tables import TableMode
from shared.connector import (
    Attributes,
    Connector,
    ConnectorObject,
    Delta,
    Filter,
    Operation,
    OperationResult,
    Page,
    Schema,
    SearchResult,
    run_operation,
)
from shared.exceptions import ConnectorError
from shared.secret import Secret
from shared.settings import Table


class SqlConnector(Connector):
    """Users and groups in PostgreSQL, MariaDB, SQL Server or SQLite, through ODBC."""

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
        self._pool = ConnectionPool(
            name=name, size=settings.pool_size, connect=self._connect, classify=self._classify
        )
        self._mode: SqlMode = (
            TableMode(settings, self._pool)
            if settings.mode == "table"
            else StatementMode(settings.statements, self._pool)
        )

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any], *, source: str) -> Self:
        return cls(
            name, SqlSettings.load(Table(settings, source=source, prefix=f"connectors.{name}"))
        )

    async def test(self) -> None:
        await self._pool.run(lambda cursor: cursor.execute("SELECT 1").fetchall())
        await self._mode.check()

    async def schema(self) -> Schema:
        return await self._mode.schema()

    async def create(self, object_class: str, attributes: Attributes) -> str:
        return await self._mode.create(object_class, attributes)

    async def update(self, object_class: str, anchor: str, deltas: Sequence[Delta]) -> str:
        return await self._mode.update(object_class, anchor, deltas)

    async def delete(self, object_class: str, anchor: str) -> None:
        await self._mode.delete(object_class, anchor)

    async def get(self, object_class: str, anchor: str) -> ConnectorObject:
        return await self._mode.get(object_class, anchor)

    async def search(self, object_class: str, flt: Filter | None, page: Page) -> SearchResult:
        return await self._mode.search(object_class, flt, page)

    async def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        """Table mode turns runs of user creates into multi-row INSERTs."""
        return await self._mode.apply(operations, partial(run_operation, self))

    async def close(self) -> None:
        await self._pool.close()

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
        return classify(exc, secrets=self._secrets, attributes=self._mode.column_attributes())
