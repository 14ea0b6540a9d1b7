"""Reconcile against a real SQL connector, whose search leaves group members out (only
``get`` reads them): members removed behind the job's back come back, and a target with
no drift gets no writes."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from agent.settings import ConnectorSettings
from relay.engine.builtin import BuiltinAgent
from relay.engine.initial import run_initial
from relay.engine.reconcile import run_reconcile
from relay.engine.target import BuiltinTarget, Target
from relay.store.sqlite import SqliteStore
from shared.connector import Action, Operation, OperationResult
from tests.relay.engine.cycle_helpers import add_group, add_users, job_run
from tests.servers.sqlite import SqliteOdbcDatabase

TABLES = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, user_name TEXT UNIQUE NOT NULL,"
    " display_name TEXT, active BOOLEAN)",
    "CREATE TABLE groups (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL)",
    "CREATE TABLE group_members (group_id INTEGER NOT NULL, user_id INTEGER NOT NULL,"
    " PRIMARY KEY (group_id, user_id))",
)


class Counting(Target):
    """The real target, remembering the writes it was sent."""

    def __init__(self, inner: Target) -> None:
        self.inner = inner
        self.name = inner.name
        self.writes: list[Operation] = []

    async def run(
        self, operations: Sequence[Operation], *, timeout: float | None = 120.0
    ) -> list[OperationResult]:
        self.writes += [
            op for op in operations if op.action in (Action.CREATE, Action.UPDATE, Action.DELETE)
        ]
        return await self.inner.run(operations, timeout=timeout)


@pytest.fixture
async def target(
    tmp_path: Path, sqlite_odbc_database: SqliteOdbcDatabase
) -> AsyncIterator[Counting]:
    with contextlib.closing(sqlite3.connect(sqlite_odbc_database.path)) as db:
        for statement in TABLES:
            db.execute(statement)
        db.commit()
    table = {
        "type": "sql",
        "dialect": "sqlite",
        "connection_string": sqlite_odbc_database.odbc_connection_string,
        "groups_table": "groups",
    }
    agent = BuiltinAgent([ConnectorSettings("memory", "sql", table)], tmp_path, source="test")
    await agent.open()
    try:
        yield Counting(BuiltinTarget(agent, "memory"))
    finally:
        await agent.close()


async def test_members_removed_in_the_target_are_restored_and_no_drift_means_no_writes(
    tmp_path: Path, target: Counting, sqlite_odbc_database: SqliteOdbcDatabase
) -> None:
    store = SqliteStore(tmp_path / "store.sqlite3")
    await store.open()
    try:
        users = await add_users(store, 4)
        await add_group(store, "Team", users[:3])
        run = await job_run(store, target)
        await run_initial(run)

        def members() -> int:
            with contextlib.closing(sqlite3.connect(sqlite_odbc_database.path)) as db:
                [(count,)] = db.execute("SELECT COUNT(*) FROM group_members").fetchall()
                return int(count)

        assert members() == 3
        target.writes.clear()

        quiet = await run_reconcile(run)

        assert target.writes == []
        assert quiet.counts.get("updated", 0) == 0

        with contextlib.closing(sqlite3.connect(sqlite_odbc_database.path)) as db:
            db.execute(
                "DELETE FROM group_members WHERE rowid IN (SELECT MIN(rowid) FROM group_members)"
            )
            db.commit()
        assert members() == 2

        repaired = await run_reconcile(run)

        assert members() == 3
        assert repaired.counts.get("updated") == 1
    finally:
        await store.close()
