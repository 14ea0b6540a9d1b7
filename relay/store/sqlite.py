"""The SQLite store: the default, one file in the relay's data folder.

sqlite3 blocks, so every call runs in the store's own thread
(:class:`~relay.store.worker_thread.WorkerThread`) on one connection guarded by a lock; WAL
mode lets the CLI (``hatchway relay token create``, ``hatchway directory import``)
write while a relay runs. Directory and engine writes take the database's write lock at their
start (``BEGIN IMMEDIATE``), so change-log sequence numbers commit in order.
"""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from relay.exceptions import Conflict, NotFound, RegistrationError, StoreError
from relay.store.base import (
    API_TOKEN_PREFIX,
    REGISTRATION_TOKEN_PREFIX,
    SCIM_TOKEN_PREFIX,
    AgentRecord,
    ApiRole,
    ApiToken,
    ScimToken,
    TokenRecord,
    hash_token,
)
from relay.store.directory_dialects import SqliteDialect
from relay.store.directory_steps import Steps
from relay.store.directory_store import DirectoryMethods
from relay.store.engine_store import EngineMethods
from relay.store.schema import (
    AGENT_COLUMNS,
    API_TOKEN_COLUMNS,
    agent_from_row,
    api_token_from_row,
    check_not_newer,
    migrations,
)
from relay.store.worker_thread import WorkerThread

T = TypeVar("T")

#: Seconds between looks at the change log by :meth:`SqliteStore.wait_for_changes`, for
#: writes by other processes (the CLI's import); writes through the same store wake it at once.
CHANGE_POLL_INTERVAL = 1.0


def _fold(value: str | int | float | None) -> str | int | float | None:
    return value.lower() if isinstance(value, str) else value


class SqliteStore(DirectoryMethods, EngineMethods):
    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        change_poll_interval: float = CHANGE_POLL_INTERVAL,
    ) -> None:
        self.path = path
        self.clock = clock
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._thread: WorkerThread | None = None
        dialect = SqliteDialect()
        self._init_directory(dialect, change_poll_interval)
        self._init_engine(dialect)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._thread is None:
            raise StoreError(f"{self.path}: the store is closed")
        return await self._thread.run(functools.partial(self._locked, fn))

    def _locked(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        # The lock also guards closing: sqlite3 crashes the process if a connection is
        # closed while another thread is using it.
        with self._lock:
            if self._db is None:
                raise StoreError(f"{self.path}: the store is closed")
            try:
                return fn(self._db)
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from exc

    async def open(self) -> None:
        await asyncio.to_thread(self._open)
        if self._thread is None:
            self._thread = WorkerThread(f"sqlite-store {self.path.name}")

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=10
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")
            # LIKE then honours case; filters that ignore case fold both sides with hw_fold.
            db.execute("PRAGMA case_sensitive_like=ON")
            db.create_function("hw_fold", 1, _fold, deterministic=True)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: cannot open the store: {exc}") from exc
        try:
            with self._lock:
                self._migrate(db)
        except sqlite3.Error as exc:
            db.close()
            raise StoreError(f"{self.path}: cannot migrate the store: {exc}") from exc
        except BaseException:
            db.close()
            raise
        self._db = db

    def _migrate(self, db: sqlite3.Connection) -> None:
        current = db.execute("PRAGMA user_version").fetchone()[0]
        scripts = migrations("sqlite")
        check_not_newer(str(self.path), current, scripts[-1][0])
        for version, script in scripts:
            if version <= current:
                continue
            # executescript commits on its own, so the version bump rides inside the script.
            db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            await asyncio.to_thread(self._close)
            return
        # Calls already queued run first; calls made from now on find the store closed.
        try:
            await thread.run(self._close)
        finally:
            thread.stop()

    async def _steps(self, steps: Steps, *, write: bool) -> Any:
        return await self._run(lambda db: self._drive(db, steps, write))

    async def _engine_steps(self, steps: Steps, *, write: bool) -> Any:
        # Not a directory change, but a write still takes the write lock at its start
        # (BEGIN IMMEDIATE), so it cannot fail half-way on a lock another process holds.
        return await self._steps(steps, write=write)

    def _drive(self, db: sqlite3.Connection, steps: Steps, write: bool) -> Any:
        db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            statement = next(steps)
            while True:
                if statement.many:
                    db.executemany(statement.text, statement.params)
                    rows: list[Any] = []
                else:
                    rows = db.execute(statement.text, statement.params).fetchall()
                statement = steps.send(rows)
        except StopIteration as done:
            db.execute("COMMIT")
            return done.value
        except sqlite3.IntegrityError as exc:
            db.execute("ROLLBACK")
            if "directory_entries.name_key" in str(exc):
                raise Conflict(f"{self.path}: a user with this userName exists already") from exc
            raise
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            steps.close()

    def _close(self) -> None:
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                db.close()

    # Tokens ------------------------------------------------------------------------------

    async def create_token(self, agent_name: str, ttl: float) -> tuple[TokenRecord, str]:
        token = REGISTRATION_TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        record = TokenRecord(
            id=secrets.token_hex(6), agent_name=agent_name, created_at=now, expires_at=now + ttl
        )

        def insert(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO registration_tokens"
                " (id, token_hash, agent_name, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                (record.id, hash_token(token), agent_name, now, record.expires_at),
            )

        await self._run(insert)
        return record, token

    async def list_tokens(self) -> list[TokenRecord]:
        def query(db: sqlite3.Connection) -> list[TokenRecord]:
            rows = db.execute(
                "SELECT id, agent_name, created_at, expires_at, used_at"
                " FROM registration_tokens ORDER BY created_at"
            ).fetchall()
            return [TokenRecord(*row) for row in rows]

        return await self._run(query)

    async def redeem_token(self, token: str, public_key: str, software: str) -> AgentRecord:
        now = self.clock()

        def redeem(db: sqlite3.Connection) -> AgentRecord:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT id, agent_name, expires_at, used_at FROM registration_tokens"
                    " WHERE token_hash = ?",
                    (hash_token(token),),
                ).fetchone()
                if row is None:
                    raise RegistrationError("invalid_token", "the registration token is not known")
                token_id, name, expires_at, used_at = row
                if used_at is not None:
                    raise RegistrationError("token_used", "the registration token was already used")
                if expires_at < now:
                    raise RegistrationError("token_expired", "the registration token has expired")
                db.execute(
                    "UPDATE registration_tokens SET used_at = ? WHERE id = ?", (now, token_id)
                )
                db.execute(
                    "INSERT INTO agents (name, public_key, registered_at, software)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                    " public_key = excluded.public_key, registered_at = excluded.registered_at,"
                    " software = excluded.software, revoked_at = NULL, session = NULL",
                    (name, public_key, now, software[:100]),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return AgentRecord(
                name=name, public_key=public_key, registered_at=now, software=software
            )

        return await self._run(redeem)

    # Agents ------------------------------------------------------------------------------

    async def get_agent(self, name: str) -> AgentRecord | None:
        def query(db: sqlite3.Connection) -> AgentRecord | None:
            row = db.execute(
                f"SELECT {AGENT_COLUMNS} FROM agents WHERE name = ?", (name,)
            ).fetchone()
            return None if row is None else agent_from_row(row)

        return await self._run(query)

    async def list_agents(self) -> list[AgentRecord]:
        def query(db: sqlite3.Connection) -> list[AgentRecord]:
            rows = db.execute(f"SELECT {AGENT_COLUMNS} FROM agents ORDER BY name").fetchall()
            return [agent_from_row(row) for row in rows]

        return await self._run(query)

    async def revoke_agent(self, name: str) -> AgentRecord:
        now = self.clock()

        def revoke(db: sqlite3.Connection) -> None:
            cur = db.execute(
                "UPDATE agents SET revoked_at = COALESCE(revoked_at, ?) WHERE name = ?", (now, name)
            )
            if cur.rowcount == 0:
                raise NotFound(f"no agent named {name!r}")

        await self._run(revoke)
        record = await self.get_agent(name)
        assert record is not None
        return record

    async def agent_connected(
        self,
        name: str,
        *,
        session: str,
        software: str,
        protocol_version: int,
        connectors: list[dict[str, str]],
    ) -> None:
        now = self.clock()

        def update(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE agents SET session = ?, software = ?, protocol_version = ?,"
                " connectors = ?, connected_at = ?, last_seen_at = ? WHERE name = ?",
                (session, software, protocol_version, json.dumps(connectors), now, now, name),
            )

        await self._run(update)

    async def agent_disconnected(self, name: str, session: str) -> None:
        now = self.clock()

        def update(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE agents SET session = NULL, disconnected_at = ?, last_seen_at = ?"
                " WHERE name = ? AND session = ?",
                (now, now, name, session),
            )

        await self._run(update)

    async def forget_sessions(self) -> None:
        def update(db: sqlite3.Connection) -> None:
            db.execute("UPDATE agents SET session = NULL WHERE session IS NOT NULL")

        await self._run(update)

    # SCIM clients (the SCIM server's part of the store) ----------------------------------

    async def create_scim_client(self, client: str) -> tuple[ScimToken, str]:
        token = SCIM_TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = ScimToken(id=secrets.token_hex(6), client=client, created_at=self.clock())

        def insert(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO scim_tokens (id, client, token_hash, created_at) VALUES (?, ?, ?, ?)",
                (record.id, client, hash_token(token), record.created_at),
            )

        await self._run(insert)
        return record, token

    async def verify_scim_token(self, token: str) -> str | None:
        def query(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "SELECT client FROM scim_tokens WHERE token_hash = ? AND revoked_at IS NULL",
                (hash_token(token),),
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._run(query)

    async def list_scim_clients(self) -> list[ScimToken]:
        def query(db: sqlite3.Connection) -> list[ScimToken]:
            rows = db.execute(
                "SELECT id, client, created_at, revoked_at FROM scim_tokens ORDER BY created_at"
            ).fetchall()
            return [ScimToken(*row) for row in rows]

        return await self._run(query)

    async def revoke_scim_client(self, client: str) -> int:
        now = self.clock()

        def revoke(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "UPDATE scim_tokens SET revoked_at = ? WHERE client = ? AND revoked_at IS NULL",
                (now, client),
            )
            if cur.rowcount == 0:
                raise NotFound(f"no SCIM client {client!r} with a token in force")
            return cur.rowcount

        return await self._run(revoke)

    # Admin API tokens ----------------------------------------------------------------------

    async def create_api_token(self, name: str, role: ApiRole) -> tuple[ApiToken, str]:
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = ApiToken(id=secrets.token_hex(6), name=name, role=role, created_at=self.clock())

        def insert(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    "INSERT INTO api_tokens (id, name, role, token_hash, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (record.id, name, role.value, hash_token(token), record.created_at),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"an API token named {name!r} is in force already") from exc

        await self._run(insert)
        return record, token

    async def list_api_tokens(self) -> list[ApiToken]:
        def query(db: sqlite3.Connection) -> list[ApiToken]:
            rows = db.execute(
                f"SELECT {API_TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id"
            ).fetchall()
            return [api_token_from_row(row) for row in rows]

        return await self._run(query)

    async def revoke_api_token(self, name: str) -> int:
        now = self.clock()

        def revoke(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (now, name),
            )
            if cur.rowcount == 0:
                raise NotFound(f"no API token named {name!r} in force")
            return cur.rowcount

        return await self._run(revoke)

    async def verify_api_token(self, token: str) -> ApiToken | None:
        def query(db: sqlite3.Connection) -> ApiToken | None:
            row = db.execute(
                f"SELECT {API_TOKEN_COLUMNS} FROM api_tokens"
                " WHERE token_hash = ? AND revoked_at IS NULL",
                (hash_token(token),),
            ).fetchone()
            return None if row is None else api_token_from_row(row)

        return await self._run(query)
