"""What differs between the databases the SQL connector speaks to through ODBC.

SQL text differs in small ways (identifier quotes, how a generated key comes back, paging),
ODBC drivers need a few connection keywords to behave, and each database reports failures
with its own SQLSTATEs and wording. All of that lives here so that the connector builds one
kind of statement and raises one kind of error whatever the database.

Identifiers reaching these functions come from the administrator's settings or from the
database's own catalogue, never from an operation; values never reach SQL text at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

import pyodbc

from shared.exceptions import (
    AuthenticationError,
    ConflictError,
    ConnectorError,
    InvalidDataError,
    OperationTimeoutError,
    UnavailableError,
)

#: The escape character for LIKE patterns: not a backslash, which MariaDB reads as a string
#: escape inside the ``ESCAPE '...'`` literal itself.
LIKE_ESCAPE = "!"


class Dialect:
    """SQL and driver details for one database; the base class speaks standard SQL."""

    name: ClassVar[str]
    #: Most ``?`` parameters one statement may carry; multi-row INSERTs stay below it.
    max_parameters: ClassVar[int] = 32_766
    #: Characters LIKE treats specially besides ``%``, ``_`` and the escape character.
    like_specials: ClassVar[str] = ""
    #: The catalogue calls the administrator's ``schema_name`` a catalogue (MariaDB).
    schema_is_catalog: ClassVar[bool] = False
    #: Asks the server which schema an unqualified table name resolves to.
    current_schema_sql: ClassVar[str | None] = None
    #: The database has stored procedures (the procedures mode needs them).
    has_procedures: ClassVar[bool] = True
    #: information_schema's names of the character types whose length the database
    #: enforces; None where it enforces none (SQLite) or has no information_schema.
    length_types: ClassVar[tuple[str, ...] | None] = ("character varying", "character")

    def quote(self, identifier: str) -> str:
        """Quote one identifier, doubling embedded quote characters."""
        check_identifier(identifier)
        return '"' + identifier.replace('"', '""') + '"'

    def table(self, table: str, schema: str | None) -> str:
        return self.quote(table) if schema is None else f"{self.quote(schema)}.{self.quote(table)}"

    def like_prefix(self, prefix: str) -> str:
        """A LIKE pattern matching values that start with ``prefix`` taken literally."""
        specials = LIKE_ESCAPE + "%_" + self.like_specials
        escaped = "".join(LIKE_ESCAPE + ch if ch in specials else ch for ch in prefix)
        return escaped + "%"

    def connection_defaults(self, timeout: float) -> dict[str, str]:
        """Driver keywords added when the administrator's connection string lacks them."""
        return {}

    def prepare(self, connection: pyodbc.Connection, timeout: float) -> None:
        """Make a new connection give up on statements after ``timeout`` seconds."""

    def insert(self, table: str, columns: list[str], key: str, *, rows: int = 1) -> str:
        """An INSERT of ``rows`` rows of ``?`` placeholders; ``key`` is the anchor column."""
        return f"INSERT INTO {table} {self._values(columns, rows)}"

    def insert_returning_key(self, table: str, columns: list[str], key: str) -> tuple[str, str]:
        """An INSERT of one row and a query on the same connection for its generated key.

        The second statement is empty where the INSERT itself returns the key.
        """
        return f"INSERT INTO {table} {self._values(columns, 1)} RETURNING {key}", ""

    def returns_inserted_rows(self, cursor: pyodbc.Cursor) -> bool:
        """Whether :meth:`insert_returning` hands back a row for every row it inserts, through
        this database's ODBC driver: where it does not, each create without a key runs
        alone, its generated key read back by :meth:`insert_returning_key`."""
        return False

    def insert_returning(
        self, table: str, columns: list[str], returned: list[str], rows: int
    ) -> str:
        """A multi-row INSERT that returns the ``returned`` columns of each row it inserts, in
        no promised order (where :meth:`returns_inserted_rows`)."""
        return f"INSERT INTO {table} {self._values(columns, rows)} RETURNING {', '.join(returned)}"

    def select_page(self, columns: str, table: str, where: str, key: str) -> str:
        """A keyset page: the row limit is the last ``?`` parameter."""
        return f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {key} LIMIT ?"

    def insert_ignoring_duplicates(self, table: str, columns: list[str], rows: int) -> str:
        """A multi-row INSERT that skips rows the table's unique key already holds."""
        return f"INSERT INTO {table} {self._values(columns, rows)} ON CONFLICT DO NOTHING"

    def call(self, procedure: str, parameters: int) -> str:
        """A call of a stored procedure with ``parameters`` ``?`` markers (ODBC's escape)."""
        return "{CALL " + procedure + "(" + ", ".join("?" * parameters) + ")}"

    def _values(self, columns: list[str], rows: int) -> str:
        if not columns:
            return "DEFAULT VALUES"
        row = "(" + ", ".join("?" * len(columns)) + ")"
        return f"({', '.join(columns)}) VALUES " + ", ".join([row] * rows)


class PostgreSQL(Dialect):
    name = "postgresql"
    max_parameters = 65_535
    current_schema_sql = "SELECT current_schema()"

    def connection_defaults(self, timeout: float) -> dict[str, str]:
        # psqlODBC hands booleans back as the strings '1' and '0' unless told otherwise.
        return {"BoolsAsChar": "0"}

    def returns_inserted_rows(self, cursor: pyodbc.Cursor) -> bool:
        # psqlODBC returns every row of INSERT ... RETURNING (PostgreSQL 8.2 and later).
        return True

    def call(self, procedure: str, parameters: int) -> str:
        # PostgreSQL procedures return no rows; functions do, and are called in a SELECT.
        return f"SELECT * FROM {procedure}({', '.join('?' * parameters)})"

    def prepare(self, connection: pyodbc.Connection, timeout: float) -> None:
        # psqlODBC refuses the ODBC connection timeout attribute, so the server enforces it.
        cursor = connection.cursor()
        cursor.execute("SELECT set_config('statement_timeout', ?, false)", str(_ms(timeout)))
        connection.commit()


class SQLite(Dialect):
    name = "sqlite"
    has_procedures = False
    length_types = None

    def connection_defaults(self, timeout: float) -> dict[str, str]:
        # The driver's Timeout is how long a statement waits for another writer's lock.
        # SQLite ignores declared foreign keys unless asked, which would let a membership
        # name a user that does not exist.
        return {"Timeout": str(_ms(timeout)), "FKSupport": "1"}

    def insert_returning_key(self, table: str, columns: list[str], key: str) -> tuple[str, str]:
        # The driver drops RETURNING rows; the rowid finds the row even when the key column
        # is not the rowid itself.
        return (
            f"INSERT INTO {table} {self._values(columns, 1)}",
            f"SELECT {key} FROM {table} WHERE rowid = last_insert_rowid()",
        )


class MariaDB(Dialect):
    name = "mariadb"
    max_parameters = 65_535
    schema_is_catalog = True
    current_schema_sql = "SELECT DATABASE()"
    length_types = ("varchar", "char")

    def quote(self, identifier: str) -> str:
        check_identifier(identifier)
        return "`" + identifier.replace("`", "``") + "`"

    def prepare(self, connection: pyodbc.Connection, timeout: float) -> None:
        # Connector/ODBC 3.1 garbles UTF-16 parameters longer than 127 characters (sent in
        # pieces): some fail, others are stored corrupted. UTF-8 parameters arrive intact.
        connection.setencoding(encoding="utf-8")
        cursor = connection.cursor()
        cursor.execute("SET SESSION max_statement_time = ?", timeout)
        connection.commit()

    def insert_returning_key(self, table: str, columns: list[str], key: str) -> tuple[str, str]:
        return f"INSERT INTO {table} {self._values(columns, 1)}", "SELECT LAST_INSERT_ID()"

    def returns_inserted_rows(self, cursor: pyodbc.Cursor) -> bool:
        # INSERT ... RETURNING came with MariaDB 10.5; MySQL, spoken to with this dialect
        # too, has none.
        found = cursor.execute("SELECT VERSION()").fetchone()
        return found is not None and _mariadb_version(str(found[0])) >= (10, 5)

    def insert_ignoring_duplicates(self, table: str, columns: list[str], rows: int) -> str:
        # Not INSERT IGNORE, which would also turn a missing foreign key into a warning.
        first = columns[0]
        values = self._values(columns, rows)
        return f"INSERT INTO {table} {values} ON DUPLICATE KEY UPDATE {first} = {first}"

    def call(self, procedure: str, parameters: int) -> str:
        return f"CALL {procedure}({', '.join('?' * parameters)})"

    def _values(self, columns: list[str], rows: int) -> str:
        return super()._values(columns, rows) if columns else "() VALUES ()"


class SQLServer(Dialect):
    name = "mssql"
    #: SQL Server refuses more than 2,100 parameters in one request.
    max_parameters = 2_099
    like_specials = "["
    current_schema_sql = "SELECT SCHEMA_NAME()"
    # nvarchar lengths count UTF-16 code units, so a value with characters beyond the
    # basic plane may still be refused by the server itself, without the attribute named.
    length_types = ("varchar", "char", "nvarchar", "nchar")

    def quote(self, identifier: str) -> str:
        check_identifier(identifier)
        return "[" + identifier.replace("]", "]]") + "]"

    def prepare(self, connection: pyodbc.Connection, timeout: float) -> None:
        # Applies to every cursor of the connection as the ODBC query timeout (HYT00).
        connection.timeout = max(1, round(timeout))

    def insert_returning_key(self, table: str, columns: list[str], key: str) -> tuple[str, str]:
        values = self._values(columns, 1)
        if columns:
            names, values = values.split(" VALUES ", 1)
            return f"INSERT INTO {table} {names} OUTPUT INSERTED.{key} VALUES {values}", ""
        return f"INSERT INTO {table} OUTPUT INSERTED.{key} {values}", ""

    def select_page(self, columns: str, table: str, where: str, key: str) -> str:
        return (
            f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {key} "
            "OFFSET 0 ROWS FETCH NEXT ? ROWS ONLY"
        )

    def insert_ignoring_duplicates(self, table: str, columns: list[str], rows: int) -> str:
        names = ", ".join(columns)
        marks = ", ".join(["(" + ", ".join("?" * len(columns)) + ")"] * rows)
        same = " AND ".join(f"t.{c} = v.{c}" for c in columns)
        return (
            f"INSERT INTO {table} ({names}) SELECT {names} FROM (VALUES {marks}) AS v ({names})"
            f" WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {same})"
        )


DIALECTS: dict[str, Dialect] = {d.name: d for d in (PostgreSQL(), SQLite(), MariaDB(), SQLServer())}


def check_identifier(identifier: str) -> None:
    """Refuse identifiers no quoting can carry safely."""
    if not identifier or "\x00" in identifier:
        raise ValueError("an SQL identifier must be non-empty and free of NUL characters")


def _mariadb_version(text: str) -> tuple[int, int]:
    """The major and minor version of a MariaDB ``VERSION()`` ("10.11.19-MariaDB-0+deb12u1");
    (0, 0) for MySQL and anything else."""
    match = re.match(r"(\d+)\.(\d+)\.\d+-MariaDB", text)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


# Connection strings ---------------------------------------------------------------------

_SECRET_KEYWORD = re.compile(r"pwd|password|secret|token|key", re.IGNORECASE)
_MIN_MASKED = 4


def parse_connection_string(text: str) -> list[tuple[str, str]]:
    """Split an ODBC connection string into keyword/value pairs.

    A value in braces may hold ``;`` and ``=``; ``}}`` inside braces is one ``}``.
    """
    pairs: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        end_key = text.find("=", pos)
        if end_key < 0:
            break
        keyword = text[pos:end_key].strip().lstrip(";").strip()
        pos = end_key + 1
        if text[pos : pos + 1] == "{":
            value, pos = _braced(text, pos + 1)
            pos = text.find(";", pos)
            pos = len(text) if pos < 0 else pos + 1
        else:
            end = text.find(";", pos)
            end = len(text) if end < 0 else end
            value, pos = text[pos:end], end + 1
        pairs.append((keyword, value))
    return pairs


def _braced(text: str, pos: int) -> tuple[str, int]:
    value: list[str] = []
    while pos < len(text):
        if text[pos] == "}":
            if text[pos + 1 : pos + 2] != "}":
                return "".join(value), pos + 1
            pos += 1
        value.append(text[pos])
        pos += 1
    return "".join(value), pos


def with_defaults(text: str, defaults: Mapping[str, str]) -> str:
    """Append the ``defaults`` keywords the string does not set already.

    Drivers disagree on which of two repeated keywords wins, so a keyword the administrator
    set is never repeated.
    """
    present = {keyword.lower() for keyword, _ in parse_connection_string(text)}
    extra = [f"{k}={v}" for k, v in defaults.items() if k.lower() not in present]
    if not extra:
        return text
    return ";".join([text.rstrip().rstrip(";"), *extra])


def secret_values(text: str) -> list[str]:
    """The parts of a connection string that must not appear in an error message."""
    # Shorter values would mask ordinary words of a message and hide what went wrong.
    values = [v for k, v in parse_connection_string(text) if _SECRET_KEYWORD.search(k)]
    values = [v for v in values if len(v) >= _MIN_MASKED]
    return sorted({text, *values}, key=len, reverse=True)


# Errors -----------------------------------------------------------------------------------

# Driver managers and drivers wrap the server's words: "[unixODBC][Driver Manager]...",
# "[SQLite]...", "[ma-3.1.15][10.11.19-MariaDB]...", "... (19) (SQLExecDirectW)".
_ODBC_PREFIX = re.compile(r"^(?:\s*\[[^\]]*\])+")
_ODBC_SUFFIX = re.compile(r";\s*Error while executing the query|(?:\s*\((?:-?\d+|SQL\w+)\))+\s*$")

_AUTHENTICATION = re.compile(
    r"password authentication failed|role \".*\" does not exist|no pg_hba\.conf entry"
    r"|login failed|access denied for user|authentication failed"
    r"|database \".*\" does not exist|unknown database|cannot open database"
    r"|permission denied|command denied|permission was denied",
    re.IGNORECASE,
)
_CONFLICT = re.compile(
    r"unique constraint|duplicate key|duplicate entry|violation of (?:primary|unique) key"
    r"|is not unique|primary key must be unique",
    re.IGNORECASE,
)
_TIMEOUT = re.compile(
    r"statement timeout|max_statement_time|query timeout|timeout expired|database is locked"
    r"|lock wait timeout",
    re.IGNORECASE,
)
_UNAVAILABLE = re.compile(
    r"could not connect|can't connect|connection refused|server closed the connection"
    r"|connection (?:has been )?lost|terminating connection|no connection to the server"
    r"|communication link failure|server has gone away|lost connection|is the server running"
    r"|the database system is (?:starting up|shutting down)|connect failed"
    r"|deadlock|could not serialize",
    re.IGNORECASE,
)
_INVALID = re.compile(
    r"constraint failed|violates|cannot be null|too long|out of range|invalid input"
    r"|value null|truncat|conversion failed|incorrect \w+ value|datatype mismatch",
    re.IGNORECASE,
)
_DRIVER_MANAGER = re.compile(r"can't open lib|data source name not found", re.IGNORECASE)
_BY_WORDS: tuple[tuple[re.Pattern[str], type[ConnectorError]], ...] = (
    (_AUTHENTICATION, AuthenticationError),
    (_CONFLICT, ConflictError),
    (_TIMEOUT, OperationTimeoutError),
    (_UNAVAILABLE, UnavailableError),
    (_INVALID, InvalidDataError),
)
_MESSAGES: dict[type[ConnectorError], str] = {
    AuthenticationError: "the database refused access: {}. Check the user, password and"
    " database in connection_string, and that the user may use the table",
    ConflictError: "the row already exists: {}",
    OperationTimeoutError: "the database did not answer in time: {}",
    UnavailableError: "the database cannot be reached: {}",
    InvalidDataError: "the database refused the values: {}",
}
_COLUMN = (
    re.compile(r"column \"([^\"]+)\"", re.IGNORECASE),
    re.compile(r"column '([^']+)'", re.IGNORECASE),
    re.compile(r"Key \(([^,)]+)\)="),
    re.compile(r"constraint failed: [^.\s]+\.([^,\s]+)"),
    re.compile(r"for key '(?:[^'.]+\.)?([^']+)'"),
)


def describe(exc: pyodbc.Error, secrets: list[str]) -> tuple[str, str]:
    """The SQLSTATE and a readable message, with ODBC prefixes and secrets removed."""
    args = [str(a) for a in exc.args]
    state = args[0] if len(args) > 1 else ""
    text = _ODBC_PREFIX.sub("", args[-1] if args else type(exc).__name__)
    # MariaDB's driver leaves a NUL inside some messages ("for key 'a'\x00").
    text = " ".join(_ODBC_SUFFIX.sub("", text.replace("\x00", "")).split())
    for secret in secrets:
        text = text.replace(secret, "********")
    return state, text


def classify(
    exc: pyodbc.Error, *, secrets: list[str], attributes: Mapping[str, str]
) -> ConnectorError:
    """Translate a driver error into the class the engine acts on.

    ``attributes`` maps column names to attribute names, so an error about a column names
    the attribute the engine knows.
    """
    state, text = describe(exc, secrets)
    error = _error_class(state, text)
    if error is ConnectorError:
        if state.startswith("IM") or _DRIVER_MANAGER.search(text):
            return ConnectorError(f"the ODBC driver could not be loaded: {text}")
        return ConnectorError(f"the database reported an error: {text}")
    attribute = _attribute(text, attributes) if error in (ConflictError, InvalidDataError) else None
    return error(_MESSAGES[error].format(text), attribute=attribute)


def _error_class(state: str, text: str) -> type[ConnectorError]:
    """The SQLSTATE decides where it is specific: messages quote the row's values, which
    must not steer the class. The words decide only where the state is vague."""
    if state == "23505":
        return ConflictError
    if state.startswith("23"):
        return ConflictError if _CONFLICT.search(text) else InvalidDataError
    if state.startswith("22"):
        return InvalidDataError
    if state.startswith("28") or state == "42501":
        return AuthenticationError
    if state.startswith("08"):
        # psqlODBC reports refused logins as failed connections.
        return AuthenticationError if _AUTHENTICATION.search(text) else UnavailableError
    if state in ("HYT00", "HYT01", "57014", "70100"):
        return OperationTimeoutError
    if state.startswith(("57P", "40")):
        return UnavailableError
    return next((error for words, error in _BY_WORDS if words.search(text)), ConnectorError)


def _attribute(text: str, attributes: Mapping[str, str]) -> str | None:
    for pattern in _COLUMN:
        match = pattern.search(text)
        if match and match.group(1) in attributes:
            return attributes[match.group(1)]
    return None
