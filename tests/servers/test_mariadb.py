import pyodbc
import pytest

from .databases import Database
from .mariadb import MariaDbServer
from .ports import accepts_connections

pytestmark = pytest.mark.server


def test_write_and_read_back_through_odbc(mariadb_database: Database) -> None:
    with pyodbc.connect(mariadb_database.odbc_connection_string, autocommit=True) as conn:
        conn.execute("CREATE TABLE people (id int AUTO_INCREMENT PRIMARY KEY, name text)")
        conn.execute("INSERT INTO people (name) VALUES (?)", "Zoë Ångström")
        rows = conn.execute("SELECT name, DATABASE() FROM people").fetchall()
    assert [tuple(row) for row in rows] == [("Zoë Ångström", mariadb_database.name)]


def test_server_is_private(mariadb_server: MariaDbServer) -> None:
    assert mariadb_server.port != 3306
    assert mariadb_server.socket.exists()
    assert mariadb_server.sql("SELECT @@datadir").strip().startswith(str(mariadb_server.root))


def test_stop_then_start_keeps_data_and_port(mariadb_server: MariaDbServer) -> None:
    mariadb_server.create_database("restart_check")
    mariadb_server.sql(
        "CREATE TABLE restart_check.kept (v int); INSERT INTO restart_check.kept VALUES (7)"
    )
    port = mariadb_server.port
    try:
        mariadb_server.stop()
        assert not accepts_connections(mariadb_server.host, port)
    finally:
        mariadb_server.start()
    assert mariadb_server.port == port
    assert mariadb_server.sql("SELECT v FROM restart_check.kept").strip() == "7"
    mariadb_server.drop_database("restart_check")


def test_drop_database_ends_leaked_connections(mariadb_server: MariaDbServer) -> None:
    mariadb_server.create_database("leak_check")
    mariadb_server.sql("CREATE TABLE leak_check.t (v int)")
    leaked = pyodbc.connect(mariadb_server.odbc_connection_string("leak_check"))
    leaked.execute("SELECT * FROM t").fetchall()  # holds a metadata lock until commit
    mariadb_server.drop_database("leak_check")
    assert "leak_check" not in mariadb_server.sql("SHOW DATABASES").split()
    leaked.close()
