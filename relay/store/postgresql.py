"""The PostgreSQL store, for relays that outgrow one machine (several nodes share it).

psycopg 3 in async mode on one connection; an :class:`asyncio.Lock` keeps one transaction
on it at a time. A second connection LISTENs for the directory's NOTIFY, so
:meth:`~relay.store.base.Store.wait_for_changes` wakes on writes by any node. Directory
writes take a transaction-scoped advisory lock first, so change-log sequence numbers commit
in the order they were drawn and a reader never skips one that commits late; the engine's
writes (jobs, shadows, logs) are no directory changes and take neither lock nor NOTIFY.

Migrations live in ``migrations/postgresql`` (numbered as SQLite's); the version is kept in
the table ``hatchway_schema`` and a schema newer than this code is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import psycopg
import psycopg.errors
import structlog

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
from relay.store.directory_dialects import PostgresDialect
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

log = structlog.get_logger("relay.store")

#: Seconds to wait for the server when connecting.
CONNECT_TIMEOUT = 10.0
#: Seconds a statement may run (or wait for a lock) before the server cancels it.
STATEMENT_TIMEOUT = 30.0
#: Seconds between looks at the change log while waiting; NOTIFY normally wakes waiters
#: at once, so this only bounds the delay should a notification be lost.
CHANGE_POLL_INTERVAL = 10.0
CHANNEL = "hatchway_directory"
# Keys of the advisory locks (any constant bigint; these spell "HWDIR" and "HWMIG").
DIRECTORY_LOCK = 0x4857444952
MIGRATION_LOCK = 0x48574D4947


def redact(url: str) -> str:
    """The URL without its password, for error messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured PostgreSQL URL"
    return f"postgresql://{info.get('host', '')}:{info.get('port', '')}/{info.get('dbname', '')}"


class PostgresStore(DirectoryMethods, EngineMethods):
    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], float] = time.time,
        connect_timeout: float = CONNECT_TIMEOUT,
        statement_timeout: float = STATEMENT_TIMEOUT,
        change_poll_interval: float = CHANGE_POLL_INTERVAL,
    ) -> None:
        self.url = url
        self.clock = clock
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self._where = redact(url)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._listener: psycopg.AsyncConnection[Any] | None = None
        self._listen_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        dialect = PostgresDialect()
        self._init_directory(dialect, change_poll_interval)
        self._init_engine(dialect)

    def _error(self, what: str, exc: Exception) -> StoreError:
        return StoreError(f"{self._where}: {what}: {exc}")

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        # A connect_timeout in the URL wins over the keyword.
        options: dict[str, Any] = {"connect_timeout": max(1, round(self.connect_timeout))}
        if "connect_timeout" in self.url:
            options = {}
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, **options)
        except psycopg.Error as exc:
            raise self._error("cannot connect", exc) from exc
        try:
            await conn.execute(
                "SELECT set_config('statement_timeout', %s, false)",
                (f"{round(self.statement_timeout * 1000)}ms",),
            )
        except psycopg.Error as exc:
            await conn.close()
            raise self._error("cannot set the statement timeout", exc) from exc
        return conn

    async def open(self) -> None:
        conn = await self._connect()
        try:
            await self._migrate(conn)
            listener = await self._connect()
        except BaseException:
            await conn.close()
            raise
        try:
            await listener.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            await conn.close()
            await listener.close()
            raise self._error("cannot listen for changes", exc) from exc
        self._conn, self._listener = conn, listener
        self._listen_task = asyncio.create_task(self._listen(listener), name="store-listen")

    async def _migrate(self, conn: psycopg.AsyncConnection[Any]) -> None:
        scripts = migrations("postgresql")
        try:
            async with conn.transaction():
                # Two nodes starting together must not both run a migration.
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS hatchway_schema (version INTEGER NOT NULL)"
                )
                cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM hatchway_schema")
                row = await cur.fetchone()
                current = int(row[0]) if row else 0
                check_not_newer(self._where, current, scripts[-1][0])
                for version, script in scripts:
                    if version <= current:
                        continue
                    await conn.execute(script.encode())
                    await conn.execute("DELETE FROM hatchway_schema")
                    await conn.execute(
                        "INSERT INTO hatchway_schema (version) VALUES (%s)", (version,)
                    )
        except psycopg.Error as exc:
            raise self._error("cannot migrate the store", exc) from exc

    async def _listen(self, listener: psycopg.AsyncConnection[Any]) -> None:
        try:
            async for _ in listener.notifies():
                self._signal.notify()
        except psycopg.Error as exc:
            # The poll fallback of wait_for_changes keeps waiters going without NOTIFY.
            log.warning("store: no longer listening for changes", store=self._where, error=str(exc))

    async def close(self) -> None:
        task, self._listen_task = self._listen_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._lock:
            for conn in (self._listener, self._conn):
                if conn is not None:
                    await conn.close()
            self._conn = self._listener = None

    def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None:
            raise StoreError(f"{self._where}: the store is closed")
        return self._conn

    async def _steps(self, steps: Steps, *, write: bool) -> Any:
        return await self._transaction(steps, write=write, directory=write)

    async def _engine_steps(self, steps: Steps, *, write: bool) -> Any:
        return await self._transaction(steps, write=write, directory=False)

    async def _transaction(self, steps: Steps, *, write: bool, directory: bool) -> Any:
        """Run ``steps`` in one transaction. A directory change (``directory``) takes the
        directory's advisory lock first and NOTIFYs the change channel at the end; a read
        runs on one snapshot."""
        async with self._lock:
            conn = self._connection()
            try:
                async with conn.transaction(), conn.cursor() as cur:
                    if directory:
                        await cur.execute("SELECT pg_advisory_xact_lock(%s)", (DIRECTORY_LOCK,))
                    elif not write:
                        # One snapshot for all the read's statements (a page and its total
                        # count agree), as SQLite's read transactions give.
                        await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    try:
                        statement = next(steps)
                        while True:
                            if statement.many:
                                await cur.executemany(statement.text, statement.params)
                                rows: list[Any] = []
                            else:
                                await cur.execute(statement.text, statement.params)
                                rows = await cur.fetchall() if cur.description else []
                            statement = steps.send(rows)
                    except StopIteration as done:
                        result = done.value
                    if directory:
                        await cur.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
            except psycopg.errors.UniqueViolation as exc:
                if exc.diag.constraint_name != "directory_user_names":
                    raise self._error("the query failed", exc) from exc
                raise Conflict(f"{self._where}: a user with this userName exists already") from exc
            except psycopg.Error as exc:
                raise self._error("the query failed", exc) from exc
            finally:
                steps.close()
        return result

    async def _fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with self._lock:
            try:
                cur = await self._connection().execute(sql, params)
                return await cur.fetchall() if cur.description else []
            except psycopg.Error as exc:
                raise self._error("the query failed", exc) from exc

    # Tokens ------------------------------------------------------------------------------

    async def create_token(self, agent_name: str, ttl: float) -> tuple[TokenRecord, str]:
        token = REGISTRATION_TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        record = TokenRecord(
            id=secrets.token_hex(6), agent_name=agent_name, created_at=now, expires_at=now + ttl
        )
        await self._fetch(
            "INSERT INTO registration_tokens"
            " (id, token_hash, agent_name, created_at, expires_at) VALUES (%s, %s, %s, %s, %s)",
            (record.id, hash_token(token), agent_name, now, record.expires_at),
        )
        return record, token

    async def list_tokens(self) -> list[TokenRecord]:
        rows = await self._fetch(
            "SELECT id, agent_name, created_at, expires_at, used_at"
            " FROM registration_tokens ORDER BY created_at"
        )
        return [TokenRecord(*row) for row in rows]

    async def redeem_token(self, token: str, public_key: str, software: str) -> AgentRecord:
        now = self.clock()
        async with self._lock:
            conn = self._connection()
            try:
                async with conn.transaction():
                    # FOR UPDATE: of two concurrent redemptions, the second waits and then
                    # sees used_at set.
                    cur = await conn.execute(
                        "SELECT id, agent_name, expires_at, used_at FROM registration_tokens"
                        " WHERE token_hash = %s FOR UPDATE",
                        (hash_token(token),),
                    )
                    row = await cur.fetchone()
                    if row is None:
                        raise RegistrationError(
                            "invalid_token", "the registration token is not known"
                        )
                    token_id, name, expires_at, used_at = row
                    if used_at is not None:
                        raise RegistrationError(
                            "token_used", "the registration token was already used"
                        )
                    if expires_at < now:
                        raise RegistrationError(
                            "token_expired", "the registration token has expired"
                        )
                    await conn.execute(
                        "UPDATE registration_tokens SET used_at = %s WHERE id = %s",
                        (now, token_id),
                    )
                    await conn.execute(
                        "INSERT INTO agents (name, public_key, registered_at, software)"
                        " VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET"
                        " public_key = excluded.public_key,"
                        " registered_at = excluded.registered_at,"
                        " software = excluded.software, revoked_at = NULL, session = NULL",
                        (name, public_key, now, software[:100]),
                    )
            except psycopg.Error as exc:
                raise self._error("cannot redeem the token", exc) from exc
        return AgentRecord(name=name, public_key=public_key, registered_at=now, software=software)

    # Agents ------------------------------------------------------------------------------

    async def get_agent(self, name: str) -> AgentRecord | None:
        rows = await self._fetch(f"SELECT {AGENT_COLUMNS} FROM agents WHERE name = %s", (name,))
        return agent_from_row(rows[0]) if rows else None

    async def list_agents(self) -> list[AgentRecord]:
        rows = await self._fetch(f"SELECT {AGENT_COLUMNS} FROM agents ORDER BY name")
        return [agent_from_row(row) for row in rows]

    async def revoke_agent(self, name: str) -> AgentRecord:
        rows = await self._fetch(
            "UPDATE agents SET revoked_at = COALESCE(revoked_at, %s) WHERE name = %s"
            f" RETURNING {AGENT_COLUMNS}",
            (self.clock(), name),
        )
        if not rows:
            raise NotFound(f"no agent named {name!r}")
        return agent_from_row(rows[0])

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
        await self._fetch(
            "UPDATE agents SET session = %s, software = %s, protocol_version = %s,"
            " connectors = %s, connected_at = %s, last_seen_at = %s WHERE name = %s",
            (session, software, protocol_version, json.dumps(connectors), now, now, name),
        )

    async def agent_disconnected(self, name: str, session: str) -> None:
        now = self.clock()
        await self._fetch(
            "UPDATE agents SET session = NULL, disconnected_at = %s, last_seen_at = %s"
            " WHERE name = %s AND session = %s",
            (now, now, name, session),
        )

    async def forget_sessions(self) -> None:
        await self._fetch("UPDATE agents SET session = NULL WHERE session IS NOT NULL")

    # SCIM clients (the SCIM server's part of the store) ----------------------------------

    async def create_scim_client(self, client: str) -> tuple[ScimToken, str]:
        token = SCIM_TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = ScimToken(id=secrets.token_hex(6), client=client, created_at=self.clock())
        await self._fetch(
            "INSERT INTO scim_tokens (id, client, token_hash, created_at) VALUES (%s, %s, %s, %s)",
            (record.id, client, hash_token(token), record.created_at),
        )
        return record, token

    async def verify_scim_token(self, token: str) -> str | None:
        rows = await self._fetch(
            "SELECT client FROM scim_tokens WHERE token_hash = %s AND revoked_at IS NULL",
            (hash_token(token),),
        )
        return str(rows[0][0]) if rows else None

    async def list_scim_clients(self) -> list[ScimToken]:
        rows = await self._fetch(
            "SELECT id, client, created_at, revoked_at FROM scim_tokens ORDER BY created_at"
        )
        return [ScimToken(*row) for row in rows]

    async def revoke_scim_client(self, client: str) -> int:
        rows = await self._fetch(
            "UPDATE scim_tokens SET revoked_at = %s WHERE client = %s AND revoked_at IS NULL"
            " RETURNING id",
            (self.clock(), client),
        )
        if not rows:
            raise NotFound(f"no SCIM client {client!r} with a token in force")
        return len(rows)

    # Admin API tokens ----------------------------------------------------------------------

    async def create_api_token(self, name: str, role: ApiRole) -> tuple[ApiToken, str]:
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = ApiToken(id=secrets.token_hex(6), name=name, role=role, created_at=self.clock())
        # The partial unique index on names in force turns a taken name into no row.
        rows = await self._fetch(
            "INSERT INTO api_tokens (id, name, role, token_hash, created_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
            (record.id, name, role.value, hash_token(token), record.created_at),
        )
        if not rows:
            raise Conflict(f"an API token named {name!r} is in force already")
        return record, token

    async def list_api_tokens(self) -> list[ApiToken]:
        rows = await self._fetch(
            f"SELECT {API_TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id"
        )
        return [api_token_from_row(row) for row in rows]

    async def revoke_api_token(self, name: str) -> int:
        rows = await self._fetch(
            "UPDATE api_tokens SET revoked_at = %s WHERE name = %s AND revoked_at IS NULL"
            " RETURNING id",
            (self.clock(), name),
        )
        if not rows:
            raise NotFound(f"no API token named {name!r} in force")
        return len(rows)

    async def verify_api_token(self, token: str) -> ApiToken | None:
        rows = await self._fetch(
            f"SELECT {API_TOKEN_COLUMNS} FROM api_tokens"
            " WHERE token_hash = %s AND revoked_at IS NULL",
            (hash_token(token),),
        )
        return api_token_from_row(rows[0]) if rows else None
