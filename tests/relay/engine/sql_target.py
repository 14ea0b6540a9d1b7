"""A real target for engine tests: the SQL connector on a SQLite database through ODBC, run
by the relay's built-in agent (executor and journal), and a wrapper that records what it is
sent and can make it fail in a given way."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from agent.settings import ConnectorSettings
from relay.engine.builtin import BuiltinAgent
from relay.engine.exceptions import TargetUnavailable
from relay.engine.target import Target
from shared.connector import Action, Operation, OperationError, OperationResult
from tests.servers.sqlite import SqliteOdbcDatabase

#: What only reads the target.
READS = (Action.SEARCH, Action.GET, Action.SCHEMA)


@contextlib.asynccontextmanager
async def sql_agent(
    folder: Path, database: SqliteOdbcDatabase, tables: Sequence[str], *, connector: str
) -> AsyncIterator[BuiltinAgent]:
    """A built-in agent whose connector ``connector`` writes ``database``, after creating
    ``tables`` in it (users, and groups with a membership table)."""
    with contextlib.closing(sqlite3.connect(database.path)) as db:
        for statement in tables:
            db.execute(statement)
        db.commit()
    table = {
        "type": "sql",
        "dialect": "sqlite",
        "connection_string": database.odbc_connection_string,
        "groups_table": "groups",
    }
    agent = BuiltinAgent([ConnectorSettings(connector, "sql", table)], folder, source="test")
    await agent.open()
    try:
        yield agent
    finally:
        await agent.close()


class Recording(Target):
    """The real target, recording what it is sent; ``answer`` may replace a result (a
    target that fails in a given way) and ``down`` makes every batch undeliverable."""

    def __init__(self, inner: Target) -> None:
        self.inner = inner
        self.name = inner.name
        self.sent: list[Operation] = []
        self.answer: Callable[[Operation], OperationError | None] | None = None
        self.down = False

    async def run(
        self, operations: Sequence[Operation], *, timeout: float | None = 120.0
    ) -> list[OperationResult]:
        if self.down:
            raise TargetUnavailable(f"{self.name}: the agent is offline")
        self.sent += operations
        answer = self.answer
        failing = {op.key: answer(op) for op in operations} if answer else {}
        passing = [op for op in operations if failing.get(op.key) is None]
        results = {r.key: r for r in await self.inner.run(passing, timeout=timeout)}
        return [
            results[op.key]
            if failing.get(op.key) is None
            else OperationResult(op.key, failing[op.key])
            for op in operations
        ]

    def writes(self) -> list[Operation]:
        """What was sent that changes the target."""
        return [op for op in self.sent if op.action not in READS]
