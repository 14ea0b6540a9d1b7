"""Reconcile against a real SQL connector, whose search leaves group members out (only
``get`` reads them): members removed behind the job's back come back, and a target with
no drift gets no writes."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.engine.initial import run_initial
from relay.engine.reconcile import run_reconcile
from relay.engine.target import BuiltinTarget
from relay.store.base import Store
from tests.relay.engine.cycle_helpers import add_group, add_users, job_run
from tests.relay.engine.sql_target import Recording, sql_agent
from tests.servers.sqlite import SqliteOdbcDatabase

TABLES = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, user_name TEXT UNIQUE NOT NULL,"
    " display_name TEXT, active BOOLEAN)",
    "CREATE TABLE groups (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL)",
    "CREATE TABLE group_members (group_id INTEGER NOT NULL, user_id INTEGER NOT NULL,"
    " PRIMARY KEY (group_id, user_id))",
)


@pytest.fixture
async def target(
    tmp_path: Path, sqlite_odbc_database: SqliteOdbcDatabase
) -> AsyncIterator[Recording]:
    async with sql_agent(tmp_path, sqlite_odbc_database, TABLES, connector="memory") as agent:
        yield Recording(BuiltinTarget(agent, "memory"))


async def test_members_removed_in_the_target_are_restored_and_no_drift_means_no_writes(
    store: Store, target: Recording, sqlite_odbc_database: SqliteOdbcDatabase
) -> None:
    users = await add_users(store, 4)
    await add_group(store, "Team", users[:3])
    run = await job_run(store, target)
    await run_initial(run)

    def members() -> int:
        with contextlib.closing(sqlite3.connect(sqlite_odbc_database.path)) as db:
            [(count,)] = db.execute("SELECT COUNT(*) FROM group_members").fetchall()
            return int(count)

    assert members() == 3
    target.sent.clear()

    quiet = await run_reconcile(run)

    assert target.writes() == []
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
