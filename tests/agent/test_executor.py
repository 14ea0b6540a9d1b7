"""The executor against the real SQL connector on SQLite through its ODBC driver:
journaling, replay, in-doubt operations, de-duplication and connector failures."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from agent.connectors.sql import SqlConnector
from agent.exceptions import JournalError
from agent.executor import Executor
from agent.journal import Journal
from shared.connector import Action, Operation, OperationResult
from shared.exceptions import ErrorClass

if TYPE_CHECKING:
    from tests.servers.sqlite import SqliteOdbcDatabase

CONNECTOR = "hr"


class CountingSqlConnector(SqlConnector):
    """The real connector, recording which operation keys reach it."""

    applied: list[str]

    async def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        self.applied.extend(op.key for op in operations)
        return await super().apply(operations)


class GatedSqlConnector(CountingSqlConnector):
    """Holds every batch at the door until the test opens the gate."""

    entered: asyncio.Event
    gate: asyncio.Event

    async def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        self.entered.set()
        await self.gate.wait()
        return await super().apply(operations)


class ObservedJournal(Journal):
    """The real journal; a test can see when the second lookup has answered, and hold
    that answer back until it says so."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls = 0
        self.hold_second = False
        self.second_answered = asyncio.Event()
        self.release_second = asyncio.Event()

    async def lookup(self, keys: Sequence[str]) -> dict[str, OperationResult | None]:
        found = await super().lookup(keys)
        self.calls += 1
        if self.calls == 2:
            self.second_answered.set()
            if self.hold_second:
                await self.release_second.wait()
        return found


class BrokenSqlConnector(CountingSqlConnector):
    """A connector with a bug: it raises something that is not a ConnectorError."""

    async def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        self.applied.extend(op.key for op in operations)
        raise RuntimeError("connector bug")


def settings(db: SqliteOdbcDatabase) -> dict[str, Any]:
    return {
        "type": "sql",
        "dialect": "sqlite",
        "connection_string": db.odbc_connection_string,
        "users_table": "users",
        "key_column": "id",
        "naming_column": "user_name",
    }


def rows(db: SqliteOdbcDatabase) -> list[tuple[str, str, str | None]]:
    conn = sqlite3.connect(db.path)
    try:
        return conn.execute("SELECT id, user_name, display_name FROM users ORDER BY id").fetchall()
    finally:
        conn.close()


def insert_row(db: SqliteOdbcDatabase, key: str, name: str, display: str) -> None:
    conn = sqlite3.connect(db.path)
    try:
        conn.execute("INSERT INTO users VALUES (?, ?, ?)", (key, name, display))
        conn.commit()
    finally:
        conn.close()


def create(key: str, user_id: str, name: str, display: str | None = None) -> Operation:
    return Operation(
        key=key,
        action=Action.CREATE,
        attributes={"id": user_id, "user_name": name, "display_name": display or name.title()},
    )


def delete(key: str, anchor: str) -> Operation:
    return Operation(key=key, action=Action.DELETE, anchor=anchor)


@pytest.fixture
def db(sqlite_odbc_database: SqliteOdbcDatabase) -> SqliteOdbcDatabase:
    conn = sqlite3.connect(sqlite_odbc_database.path)
    conn.execute(
        "CREATE TABLE users ("
        " id TEXT PRIMARY KEY, user_name TEXT UNIQUE NOT NULL, display_name TEXT)"
    )
    conn.commit()
    conn.close()
    return sqlite_odbc_database


@pytest.fixture
async def connector(db: SqliteOdbcDatabase) -> AsyncIterator[CountingSqlConnector]:
    c = CountingSqlConnector.from_settings(CONNECTOR, settings(db), source="test.toml")
    c.applied = []
    yield c
    await c.close()


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "agent" / "journal.sqlite3"


@pytest.fixture
def journal(journal_path: Path) -> Iterator[Journal]:
    j = Journal(journal_path)
    j.open()
    yield j
    j.close()


@pytest.fixture
def executor(connector: CountingSqlConnector, journal: Journal) -> Executor:
    return Executor({CONNECTOR: connector}, journal, concurrency=2)


BATCH = [
    create("op-1", "u1", "alice"),
    create("op-2", "u2", "bob"),
    create("op-3", "u3", "carol"),
]


async def test_a_batch_of_creates_runs_and_is_journaled(
    executor: Executor, journal: Journal, db: SqliteOdbcDatabase
) -> None:
    results = await executor.run(CONNECTOR, BATCH)

    assert [r.key for r in results] == ["op-1", "op-2", "op-3"]
    assert all(r.ok for r in results), results
    assert [r.anchor for r in results] == ["u1", "u2", "u3"]
    assert not any(r.replayed for r in results)
    assert rows(db) == [("u1", "alice", "Alice"), ("u2", "bob", "Bob"), ("u3", "carol", "Carol")]
    journaled = await journal.lookup(["op-1", "op-2", "op-3"])
    assert journaled == {r.key: r for r in results}
    assert executor.busy == 0


async def test_the_same_keys_again_are_answered_from_the_journal(
    executor: Executor,
    connector: CountingSqlConnector,
    journal_path: Path,
    db: SqliteOdbcDatabase,
) -> None:
    first = await executor.run(CONNECTOR, BATCH)
    applied = list(connector.applied)

    again = await executor.run(CONNECTOR, BATCH)

    assert [r.anchor for r in again] == [r.anchor for r in first]
    assert all(r.ok and r.replayed for r in again), again
    assert connector.applied == applied  # nothing reached the connector a second time
    assert len(rows(db)) == 3

    # After a restart too: a new executor over the reopened journal file.
    reopened = Journal(journal_path)
    reopened.open()
    try:
        restarted = Executor({CONNECTOR: connector}, reopened)
        after_restart = await restarted.run(CONNECTOR, BATCH)
    finally:
        reopened.close()
    assert all(r.ok and r.replayed for r in after_restart), after_restart
    assert connector.applied == applied
    assert len(rows(db)) == 3


async def test_an_in_doubt_create_whose_row_exists_is_matched_not_a_conflict(
    executor: Executor, journal: Journal, db: SqliteOdbcDatabase
) -> None:
    # The agent died after the INSERT committed but before the result was journaled.
    insert_row(db, "u9", "zoe", "Zoe")
    await journal.start(["op-9"])

    (result,) = await executor.run(CONNECTOR, [create("op-9", "u9", "zoe")])

    assert result.ok, result.error
    assert result.anchor == "u9"
    assert not result.replayed
    assert rows(db) == [("u9", "zoe", "Zoe")]
    assert await journal.lookup(["op-9"]) == {"op-9": result}


async def test_an_in_doubt_create_is_matched_by_its_naming_attribute(
    executor: Executor, journal: Journal, db: SqliteOdbcDatabase
) -> None:
    # The row that the interrupted create made has another key than this attempt sends
    # (as with a key the database generates): the naming attribute finds it.
    insert_row(db, "u9", "zoe", "Zoe")
    await journal.start(["op-9"])

    (result,) = await executor.run(CONNECTOR, [create("op-9", "u9-again", "zoe")])

    assert result.ok, result.error
    assert result.anchor == "u9"
    assert rows(db) == [("u9", "zoe", "Zoe")]


async def test_in_doubt_and_fresh_creates_in_one_batch(
    executor: Executor, journal: Journal, db: SqliteOdbcDatabase
) -> None:
    insert_row(db, "u9", "zoe", "Zoe")
    await journal.start(["op-9"])

    results = await executor.run(
        CONNECTOR, [create("op-9", "u9", "zoe"), create("op-10", "u10", "yves")]
    )

    assert all(r.ok for r in results), results
    assert [r.anchor for r in results] == ["u9", "u10"]
    assert rows(db) == [("u10", "yves", "Yves"), ("u9", "zoe", "Zoe")]
    journaled = await journal.lookup(["op-9", "op-10"])
    assert all(r is not None and r.ok for r in journaled.values()), journaled


async def test_an_in_doubt_delete_of_a_missing_row_is_done(
    executor: Executor, journal: Journal
) -> None:
    # The agent died after the DELETE committed: the row is gone, and that is success.
    await journal.start(["del-1"])

    (in_doubt,) = await executor.run(CONNECTOR, [delete("del-1", "u404")])
    (fresh,) = await executor.run(CONNECTOR, [delete("del-2", "u404")])

    assert in_doubt.ok, in_doubt.error
    assert in_doubt.anchor == "u404"
    assert (await journal.lookup(["del-1"]))["del-1"] == in_doubt
    # A delete that was never attempted before still reports the missing row.
    assert fresh.error is not None
    assert fresh.error.error_class is ErrorClass.NOT_FOUND


async def test_a_fresh_create_that_conflicts_is_a_conflict(
    executor: Executor, journal: Journal, db: SqliteOdbcDatabase
) -> None:
    insert_row(db, "u9", "zoe", "Zoe")

    (result,) = await executor.run(CONNECTOR, [create("op-new", "u10", "zoe", "Another Zoe")])

    assert result.error is not None
    assert result.error.error_class is ErrorClass.CONFLICT
    assert result.anchor is None
    assert rows(db) == [("u9", "zoe", "Zoe")]
    stored = (await journal.lookup(["op-new"]))["op-new"]
    assert stored == result  # a conflict is a final answer, journaled as done


async def test_a_conflict_inside_a_batch_fails_alone(
    executor: Executor, db: SqliteOdbcDatabase
) -> None:
    insert_row(db, "u9", "zoe", "Zoe")

    results = await executor.run(
        CONNECTOR,
        [create("a", "u1", "alice"), create("b", "u2", "zoe"), create("c", "u3", "carol")],
    )

    assert [r.ok for r in results] == [True, False, True]
    error = results[1].error
    assert error is not None
    assert error.error_class is ErrorClass.CONFLICT
    assert [r[1] for r in rows(db)] == ["alice", "carol", "zoe"]


async def test_concurrent_runs_of_one_key_execute_it_once(
    executor: Executor, connector: CountingSqlConnector, db: SqliteOdbcDatabase
) -> None:
    op = create("op-1", "u1", "alice")

    first, second = await asyncio.gather(
        executor.run(CONNECTOR, [op]), executor.run(CONNECTOR, [op])
    )

    assert first[0].ok, first
    assert second[0].ok, second
    assert first[0].anchor == second[0].anchor == "u1"
    assert connector.applied.count("op-1") == 1
    assert rows(db) == [("u1", "alice", "Alice")]
    assert executor.busy == 0


@pytest.fixture
def observed_journal(journal_path: Path) -> Iterator[ObservedJournal]:
    j = ObservedJournal(journal_path)
    j.open()
    yield j
    j.close()


@pytest.fixture
async def gated(db: SqliteOdbcDatabase) -> AsyncIterator[GatedSqlConnector]:
    c = GatedSqlConnector.from_settings(CONNECTOR, settings(db), source="test.toml")
    c.applied, c.entered, c.gate = [], asyncio.Event(), asyncio.Event()
    yield c
    await c.close()


async def test_a_redelivery_while_the_key_is_running_waits_for_that_run(
    db: SqliteOdbcDatabase, observed_journal: ObservedJournal, gated: GatedSqlConnector
) -> None:
    executor = Executor({CONNECTOR: gated}, observed_journal)
    op = create("op-1", "u1", "alice")

    first = asyncio.create_task(executor.run(CONNECTOR, [op]))
    await gated.entered.wait()  # op-1 is journaled as started and is executing
    second = asyncio.create_task(executor.run(CONNECTOR, [op]))
    await observed_journal.second_answered.wait()  # the redelivery has looked op-1 up
    assert executor.busy == 1
    gated.gate.set()
    (one,), (two,) = await asyncio.gather(first, second)

    assert one.ok, one
    assert two == one
    assert gated.applied == ["op-1"]
    assert rows(db) == [("u1", "alice", "Alice")]


async def test_a_redelivery_whose_lookup_answers_late_does_not_run_the_key_again(
    db: SqliteOdbcDatabase, observed_journal: ObservedJournal, gated: GatedSqlConnector
) -> None:
    # The redelivery's journal lookup sees op-1 as started (it is running), but its answer
    # is only taken up after the first run has finished (a busy thread pool, a slow disk).
    executor = Executor({CONNECTOR: gated}, observed_journal)
    op = create("op-1", "u1", "alice")
    observed_journal.hold_second = True

    first = asyncio.create_task(executor.run(CONNECTOR, [op]))
    await gated.entered.wait()
    second = asyncio.create_task(executor.run(CONNECTOR, [op]))
    await observed_journal.second_answered.wait()
    gated.gate.set()
    (one,) = await first
    observed_journal.release_second.set()
    (two,) = await second

    assert one.ok, one
    assert two.ok, two
    assert two.anchor == one.anchor
    assert gated.applied == ["op-1"], "op-1 reached the connector twice"


async def test_overlapping_concurrent_batches_execute_each_key_once(
    executor: Executor, connector: CountingSqlConnector, db: SqliteOdbcDatabase
) -> None:
    a, b, c = create("a", "u1", "alice"), create("b", "u2", "bob"), create("c", "u3", "carol")

    one, two = await asyncio.gather(
        executor.run(CONNECTOR, [a, b]), executor.run(CONNECTOR, [b, c])
    )

    assert [r.key for r in one] == ["a", "b"]
    assert [r.key for r in two] == ["b", "c"]
    assert all(r.ok for r in [*one, *two]), (one, two)
    assert sorted(connector.applied) == ["a", "b", "c"]
    assert len(rows(db)) == 3


async def test_an_unexpected_connector_exception_leaves_the_keys_in_doubt(
    db: SqliteOdbcDatabase, journal: Journal, connector: CountingSqlConnector
) -> None:
    broken = BrokenSqlConnector.from_settings(CONNECTOR, settings(db), source="test.toml")
    broken.applied = []
    try:
        results = await Executor({CONNECTOR: broken}, journal).run(CONNECTOR, BATCH)
    finally:
        await broken.close()

    assert [r.key for r in results] == ["op-1", "op-2", "op-3"]
    for result in results:
        assert result.error is not None
        assert result.error.error_class is ErrorClass.INTERNAL
        assert "connector bug" in result.error.message
    assert await journal.lookup(["op-1", "op-2", "op-3"]) == {
        "op-1": None,
        "op-2": None,
        "op-3": None,
    }
    assert rows(db) == []

    # A redelivery runs them again (in doubt), now against a working connector.
    retried = await Executor({CONNECTOR: connector}, journal).run(CONNECTOR, BATCH)
    assert all(r.ok and not r.replayed for r in retried), retried
    assert connector.applied == ["op-1", "op-2", "op-3"]
    assert len(rows(db)) == 3


class UnwritableJournal(Journal):
    """The real journal, except that results cannot be written (say, a full disk)."""

    async def finish(self, results: Any) -> None:
        raise JournalError(f"{self.path}: database or disk is full")


async def test_results_that_cannot_be_journaled_are_still_answered_and_stay_in_doubt(
    connector: CountingSqlConnector, journal_path: Path, db: SqliteOdbcDatabase
) -> None:
    broken = UnwritableJournal(journal_path)
    broken.open()
    try:
        results = await Executor({CONNECTOR: connector}, broken).run(CONNECTOR, BATCH)
        assert all(r.ok for r in results)
        assert await broken.lookup(["op-1", "op-2", "op-3"]) == {
            "op-1": None,
            "op-2": None,
            "op-3": None,
        }
    finally:
        broken.close()

    # With a working journal, a redelivery re-runs them tolerantly: matched, not conflicts.
    healthy = Journal(journal_path)
    healthy.open()
    try:
        again = await Executor({CONNECTOR: connector}, healthy).run(CONNECTOR, BATCH)
    finally:
        healthy.close()
    assert [r.anchor for r in again] == ["u1", "u2", "u3"]
    assert all(r.ok and not r.replayed for r in again), again
    assert len(rows(db)) == 3
