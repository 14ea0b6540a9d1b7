"""A SQLite database reached through Debian's SQLite3 ODBC driver (libsqliteodbc).

Never turn on pyodbc's fast_executemany with this driver: it segfaults the interpreter.
"""

from dataclasses import dataclass
from pathlib import Path

ODBC_DRIVER = "SQLite3"


@dataclass(frozen=True)
class SqliteOdbcDatabase:
    path: Path
    odbc_connection_string: str

    @classmethod
    def at(cls, path: Path) -> "SqliteOdbcDatabase":
        return cls(path=path, odbc_connection_string=f"Driver={ODBC_DRIVER};Database={path}")
