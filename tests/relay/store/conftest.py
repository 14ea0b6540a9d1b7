"""Both stores behind one fixture: tests that take ``backend`` (or ``store``) run against
SQLite (a file) and PostgreSQL (a throwaway database on the session's server)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from relay.store.base import Store
from relay.store.postgresql import PostgresStore
from relay.store.sqlite import SqliteStore
from tests.servers.databases import unique_database_name
from tests.servers.postgres import PostgresServer


class Backend:
    """One store's backing database: open stores on it, and read it behind their back."""

    name = ""

    def store(self, **options: Any) -> Store:
        raise NotImplementedError

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def execute(self, sql: str) -> None:
        raise NotImplementedError


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path

    def store(self, **options: Any) -> Store:
        return SqliteStore(self.path, **options)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(self.path)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def execute(self, sql: str) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.executescript(sql)
        finally:
            db.close()


class PostgresBackend(Backend):
    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url

    def store(self, **options: Any) -> Store:
        return PostgresStore(self.url, **options)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(sql.encode())
            return cur.fetchall() if cur.description else []

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.encode())


@pytest.fixture
def postgres_backend(postgres_server: PostgresServer) -> Iterator[PostgresBackend]:
    postgres_server.start()
    name = unique_database_name()
    postgres_server.create_database(name)
    yield PostgresBackend(postgres_server.url(name))
    if postgres_server.running:
        postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return SqliteBackend(tmp_path / "data" / "relay.sqlite3")
    postgres: PostgresBackend = request.getfixturevalue("postgres_backend")
    return postgres


OpenStore = Callable[..., Any]


@pytest.fixture
async def open_store(backend: Backend) -> AsyncIterator[OpenStore]:
    """Open a store on the backend (closed at the end of the test)."""
    opened: list[Store] = []

    async def open_one(**options: Any) -> Store:
        store = backend.store(**options)
        await store.open()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


#: The time the tests' clock starts at.
NOW = 1_700_000_000.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(open_store: OpenStore, clock: Clock) -> Store:
    """A store on the backend, on the test's clock."""
    opened: Store = await open_store(clock=clock)
    return opened


def user(name: str, /, **attributes: Any) -> dict[str, Any]:
    """A user resource as the store keeps it."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        **attributes,
    }


def group(name: str) -> dict[str, Any]:
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}
