"""The agent's on-disk journal of operations, keyed by idempotency key.

Delivery is at-least-once, so the agent must make it exactly-once in effect: before an
operation runs its key is recorded as *started*; after, its result. A redelivered key
with a result is answered from here without touching the target. A key that is
*started* but has no result was interrupted (the agent died mid-batch): the operation is
*in doubt* and the executor re-runs it in a way that tolerates it having happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from agent.exceptions import JournalError
from shared.connector import OperationResult

T = TypeVar("T")

STARTED = "started"
DONE = "done"


class Journal:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"{self.path}: cannot open the journal: {exc}") from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a process crash, which is the failure that matters
            # here; a power cut may lose the last results, and those operations are then
            # treated as in doubt rather than silently repeated.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS entries ("
                " key TEXT PRIMARY KEY, state TEXT NOT NULL, result TEXT, updated REAL NOT NULL)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS entries_updated ON entries (updated)")
        except sqlite3.Error as exc:
            db.close()
            raise JournalError(f"{self.path}: cannot open the journal: {exc}") from exc
        self._db = db

    def close(self) -> None:
        # Under the lock: sqlite3 crashes the process if a connection is closed while a
        # worker thread is using it.
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                db.close()

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            if self._db is None:
                raise JournalError(f"{self.path}: the journal is closed")
            try:
                return fn(self._db)
            except sqlite3.Error as exc:
                raise JournalError(f"{self.path}: {exc}") from exc

    async def lookup(self, keys: Sequence[str]) -> dict[str, OperationResult | None]:
        """Known keys: their stored result, or ``None`` for an operation in doubt."""

        def query(db: sqlite3.Connection) -> dict[str, OperationResult | None]:
            found: dict[str, OperationResult | None] = {}
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT key, state, result FROM entries WHERE key IN ({marks})",
                    chunk,
                )
                for key, state, result in rows:
                    found[key] = (
                        OperationResult.from_wire(json.loads(result)) if state == DONE else None
                    )
            return found

        return await asyncio.to_thread(self._call, query)

    async def start(self, keys: Iterable[str]) -> None:
        now = self.clock()
        # One statement over a JSON array: SQLite runs it without taking the GIL back
        # for every row, as executemany does.
        keys_json = json.dumps(list(keys), ensure_ascii=False)

        def insert(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(
                    "INSERT OR IGNORE INTO entries (key, state, updated)"
                    " SELECT value, ?, ? FROM json_each(?)",
                    (STARTED, now, keys_json),
                )

        await asyncio.to_thread(self._call, insert)

    async def finish(self, results: Iterable[OperationResult]) -> None:
        now = self.clock()
        # One json.dumps for the batch and one statement (see start).
        rows_json = json.dumps([[r.key, r.as_wire()] for r in results], ensure_ascii=False)

        def update(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(
                    "INSERT INTO entries (key, state, result, updated)"
                    " SELECT json_extract(value, '$[0]'), ?, json_extract(value, '$[1]'), ?"
                    " FROM json_each(?) WHERE true"
                    " ON CONFLICT (key) DO UPDATE SET state = excluded.state,"
                    " result = excluded.result, updated = excluded.updated",
                    (DONE, now, rows_json),
                )

        await asyncio.to_thread(self._call, update)

    async def prune(self, older_than: float) -> int:
        """Forget entries last touched more than ``older_than`` seconds ago."""
        cutoff = self.clock() - older_than

        def delete(db: sqlite3.Connection) -> int:
            return db.execute("DELETE FROM entries WHERE updated < ?", (cutoff,)).rowcount

        return await asyncio.to_thread(self._call, delete)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN ... COMMIT, rolled back on any error so the next transaction can start."""
    db.execute("BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
