"""Pytest fixtures for the throwaway servers; tests/conftest.py re-exports them.

Servers are session-scoped because starting one costs up to a second; isolation between
tests comes from a fresh database per test instead. A test that calls stop() on a session
server must call start() again before it ends, or later tests find it down.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from .databases import Database, unique_database_name
from .mariadb import MariaDbServer, running_mariadb
from .postgres import PostgresServer, running_postgres
from .scim import ScimServer, running_scim
from .slapd import SlapdServer, running_slapd
from .sqlite import SqliteOdbcDatabase


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[Database]:
    postgres_server.start()  # in case an earlier test stopped it and failed before start()
    name = unique_database_name()
    postgres_server.create_database(name)
    yield Database(name, postgres_server.odbc_connection_string(name))
    if postgres_server.running:
        postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def slapd_server() -> Iterator[SlapdServer]:
    with running_slapd() as server:
        yield server


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDbServer]:
    with running_mariadb() as server:
        yield server


@pytest.fixture
def mariadb_database(mariadb_server: MariaDbServer) -> Iterator[Database]:
    mariadb_server.start()
    name = unique_database_name()
    mariadb_server.create_database(name)
    yield Database(name, mariadb_server.odbc_connection_string(name))
    if mariadb_server.running:
        mariadb_server.drop_database(name)


@pytest.fixture
def sqlite_odbc_database(tmp_path: Path) -> SqliteOdbcDatabase:
    return SqliteOdbcDatabase.at(tmp_path / "test.sqlite3")


@pytest.fixture(scope="session")
def scim_server() -> Iterator[ScimServer]:
    with running_scim() as server:
        yield server
