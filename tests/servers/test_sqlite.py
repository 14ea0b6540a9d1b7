import pyodbc

from .sqlite import SqliteOdbcDatabase


def test_write_and_read_back_through_odbc(sqlite_odbc_database: SqliteOdbcDatabase) -> None:
    assert sqlite_odbc_database.odbc_connection_string == (
        f"Driver=SQLite3;Database={sqlite_odbc_database.path}"
    )
    with pyodbc.connect(sqlite_odbc_database.odbc_connection_string, autocommit=True) as conn:
        conn.execute("CREATE TABLE people (id integer PRIMARY KEY, name text)")
        conn.execute("INSERT INTO people (name) VALUES (?)", "Zoë Ångström")
        rows = conn.execute("SELECT name FROM people").fetchall()
    assert [tuple(row) for row in rows] == [("Zoë Ångström",)]
    assert sqlite_odbc_database.path.exists()
