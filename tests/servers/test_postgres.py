import pyodbc
import pytest

from .databases import Database
from .ports import accepts_connections
from .postgres import PostgresServer

pytestmark = pytest.mark.server


def test_write_and_read_back_through_odbc(postgres_database: Database) -> None:
    with pyodbc.connect(postgres_database.odbc_connection_string, autocommit=True) as conn:
        conn.execute("CREATE TABLE people (id serial PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO people (name) VALUES (?)", "Zoë Ångström")
        rows = conn.execute("SELECT name, current_database() FROM people").fetchall()
    assert [tuple(row) for row in rows] == [("Zoë Ångström", postgres_database.name)]


def test_connection_string_turns_off_driver_logging(postgres_server: PostgresServer) -> None:
    conn_str = postgres_server.odbc_connection_string("postgres", driver="PostgreSQL ANSI")
    assert "CommLog=0;Debug=0" in conn_str
    assert conn_str.startswith("Driver={PostgreSQL ANSI};")


def test_each_test_gets_its_own_database(
    postgres_server: PostgresServer, postgres_database: Database
) -> None:
    listed = postgres_server.psql("SELECT datname FROM pg_database").split()
    assert postgres_database.name in listed
    assert postgres_server.port != 5432


def test_stop_then_start_keeps_data_and_port(postgres_server: PostgresServer) -> None:
    postgres_server.create_database("restart_check")
    postgres_server.psql("CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)", "restart_check")
    port = postgres_server.port
    try:
        postgres_server.stop()
        assert not accepts_connections(postgres_server.host, port)
    finally:
        postgres_server.start()
    assert postgres_server.port == port
    assert postgres_server.psql("SELECT v FROM kept", "restart_check").strip() == "7"
    postgres_server.drop_database("restart_check")


def test_drop_database_ends_leaked_connections(postgres_server: PostgresServer) -> None:
    postgres_server.create_database("leak_check")
    leaked = pyodbc.connect(postgres_server.odbc_connection_string("leak_check"))
    leaked.execute("SELECT 1").fetchall()  # an open transaction
    postgres_server.drop_database("leak_check")
    assert "leak_check" not in postgres_server.psql("SELECT datname FROM pg_database").split()
    leaked.close()
