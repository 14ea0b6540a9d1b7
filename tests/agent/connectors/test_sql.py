"""The SQL connector against real databases: SQLite through its ODBC driver, PostgreSQL
through psqlODBC and MariaDB through its Connector/ODBC, each test on a fresh database with a
table it creates itself."""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pyodbc
import pytest

from agent.connectors.sql import SqlConnector
from agent.connectors.sql_dialects import (
    DIALECTS,
    classify,
    parse_connection_string,
    secret_values,
    with_defaults,
)
from shared.connector import (
    USER,
    Action,
    And,
    AttributeType,
    Delta,
    DeltaKind,
    Equals,
    Not,
    Operation,
    OperationResult,
    Or,
    Page,
    Present,
    StartsWith,
)
from shared.exceptions import (
    AuthenticationError,
    ConflictError,
    ConnectorError,
    ErrorClass,
    InvalidDataError,
    NotFoundError,
    OperationTimeoutError,
    SettingsError,
    UnavailableError,
)

USERS = (
    "CREATE TABLE users (id VARCHAR(100) PRIMARY KEY, user_name TEXT UNIQUE NOT NULL,"
    " display_name TEXT, email TEXT CHECK (email IS NULL OR email LIKE '%@%'), active BOOLEAN)"
)
GENERATED_KEY = {
    "sqlite": "CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, user_name TEXT"
    " UNIQUE NOT NULL, display_name TEXT)",
    "postgresql": "CREATE TABLE accounts (id SERIAL PRIMARY KEY, user_name TEXT UNIQUE NOT NULL,"
    " display_name TEXT)",
    "mariadb": "CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTO_INCREMENT, user_name TEXT"
    " UNIQUE NOT NULL, display_name TEXT)",
}
#: A table and columns whose names need quoting, each quote character doubled.
ODD_NAMES = {
    "sqlite": 'CREATE TABLE "odd ""table"" `x`" (id TEXT PRIMARY KEY, "user name" TEXT NOT NULL,'
    ' "e""mail" TEXT)',
    "postgresql": 'CREATE TABLE "odd ""table"" `x`" (id TEXT PRIMARY KEY,'
    ' "user name" TEXT NOT NULL, "e""mail" TEXT)',
    "mariadb": 'CREATE TABLE `odd "table" ``x``` (id VARCHAR(10) PRIMARY KEY,'
    ' `user name` TEXT NOT NULL, `e"mail` TEXT)',
}
#: Servers that run as processes of their own: the database fixture and the server fixture.
SERVERS = {
    "postgresql": ("postgres_database", "postgres_server"),
    "mariadb": ("mariadb_database", "mariadb_server"),
}
FIXTURES = {
    "sqlite": "sqlite_odbc_database",
    "postgresql": "postgres_database",
    "mariadb": "mariadb_database",
}


@dataclass
class Database:
    dialect: str
    connection_string: str

    def execute(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement on a connection of its own, committed."""
        connection = pyodbc.connect(self.connection_string, autocommit=True)
        try:
            cursor = connection.execute(sql, *params)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
        finally:
            connection.close()

    def count(self, table: str = "users") -> int:
        return self.execute(f"SELECT COUNT(*) FROM {table}")[0][0]


@pytest.fixture(params=sorted(FIXTURES))
def database(request: pytest.FixtureRequest) -> Database:
    found = request.getfixturevalue(FIXTURES[request.param])
    return Database(request.param, found.odbc_connection_string)


def connector_for(database: Database, **settings: Any) -> SqlConnector:
    table = {
        "type": "sql",
        "dialect": database.dialect,
        "connection_string": database.connection_string,
        **settings,
    }
    return SqlConnector.from_settings("hr", table, source="agent.toml")


@pytest.fixture
async def users(database: Database) -> AsyncIterator[SqlConnector]:
    database.execute(USERS)
    connector = connector_for(database)
    yield connector
    await connector.close()


def alice(**extra: Any) -> dict[str, Any]:
    return {
        "id": "u1",
        "user_name": "alice",
        "display_name": "Alice",
        "email": "alice@example.com",
        "active": True,
        **extra,
    }


# Settings --------------------------------------------------------------------------------


def load(**table: Any) -> SqlConnector:
    """A connector from settings; a key given as None counts as absent, as in TOML."""
    base = {
        "type": "sql",
        "dialect": "sqlite",
        "connection_string": "Driver={SQLite3};Pwd=hunter22",
    }
    return SqlConnector.from_settings("hr", {**base, **table}, source="agent.toml")


def test_settings_defaults() -> None:
    settings = load().settings
    assert (settings.users_table, settings.key_column, settings.naming_column) == (
        "users",
        "id",
        "user_name",
    )
    assert (settings.pool_size, settings.timeout, settings.schema_name) == (4, 30.0, None)
    assert dict(settings.columns) == {}
    assert "hunter22" not in repr(settings)


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        ({"colour": "blue"}, "connectors.hr.colour", "not a known setting"),
        ({"dialect": None}, "connectors.hr.dialect", "is required"),
        ({"dialect": "oracle"}, "connectors.hr.dialect", "must be one of"),
        ({"connection_string": None}, "connectors.hr.connection_string", "is required"),
        ({"connection_string": " "}, "connectors.hr.connection_string", "must not be empty"),
        ({"key_column": "i\x00d"}, "connectors.hr.key_column", "NUL"),
        ({"users_table": ""}, "connectors.hr.users_table", "non-empty"),
        ({"columns": {"a": "x", "b": "x"}}, "connectors.hr.columns.b", "mapped to 'a' too"),
        ({"columns": {"id": "other"}}, "connectors.hr.columns.id", "key or naming column"),
        ({"pool_size": 0}, "connectors.hr.pool_size", "at least 1"),
        ({"timeout": 0.5}, "connectors.hr.timeout", "at least 1"),
    ],
)
def test_settings_errors_name_the_file_and_key(
    table: dict[str, Any], key: str, problem: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load(**table)
    assert caught.value.path == "agent.toml"
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert "hunter22" not in str(caught.value)


def test_registered_under_the_connectors_entry_point() -> None:
    found = importlib.metadata.entry_points(group="hatchway.connectors", name="sql")
    assert [ep.load() for ep in found] == [SqlConnector]
    assert SqlConnector.type_name == "sql"


# Dialects and connection strings (no database needed) -------------------------------------


@pytest.mark.parametrize(
    ("dialect", "quoted"),
    [
        ("postgresql", '"we""ird`]"'),
        ("sqlite", '"we""ird`]"'),
        ("mariadb", '`we"ird``]`'),
        ("mssql", '[we"ird`]]]'),
    ],
)
def test_identifiers_are_quoted_with_quotes_doubled(dialect: str, quoted: str) -> None:
    assert DIALECTS[dialect].quote('we"ird`]') == quoted
    with pytest.raises(ValueError, match="NUL"):
        DIALECTS[dialect].quote("a\x00b")


def test_like_prefix_escapes_wildcards() -> None:
    assert DIALECTS["postgresql"].like_prefix("50%_off!") == "50!%!_off!!%"
    assert DIALECTS["mssql"].like_prefix("[x]") == "![x]%"


def test_connection_string_defaults_never_override_the_administrator() -> None:
    assert with_defaults("Driver={x};boolsaschar=1", {"BoolsAsChar": "0"}) == (
        "Driver={x};boolsaschar=1"
    )
    assert with_defaults("Driver={x};", {"BoolsAsChar": "0"}) == "Driver={x};BoolsAsChar=0"


def test_connection_string_parsing_and_secrets() -> None:
    text = "Driver={My; Driver};Server=db;PWD={p;a}}ss=word};Token=abcdef;Uid=me"
    assert parse_connection_string(text) == [
        ("Driver", "My; Driver"),
        ("Server", "db"),
        ("PWD", "p;a}ss=word"),
        ("Token", "abcdef"),
        ("Uid", "me"),
    ]
    assert {"p;a}ss=word", "abcdef", text} <= set(secret_values(text))
    assert "me" not in secret_values(text)


MSSQL = "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]"


@pytest.mark.parametrize(
    ("state", "text", "expected", "attribute"),
    [
        (
            "08001",
            'connection to server at "db", port 5432 failed: FATAL:  password authentication'
            ' failed for user "app"\n (101) (SQLDriverConnect)',
            AuthenticationError,
            None,
        ),
        (
            "08001",
            'connection to server at "db", port 5432 failed: Connection refused\n\tIs the'
            " server running on that host? (101) (SQLDriverConnect)",
            UnavailableError,
            None,
        ),
        ("28000", f"{MSSQL}Login failed for user 'app'. (18456)", AuthenticationError, None),
        (
            "42000",
            "[ma-3.1.15][10.11.19-MariaDB]INSERT command denied to user 'app'@'host' for table"
            " `hr`.`users` (1142) (SQLExecDirectW)",
            AuthenticationError,
            None,
        ),
        (
            "23000",
            f"{MSSQL}Violation of PRIMARY KEY constraint 'PK_users'. Cannot insert duplicate key"
            " in object 'dbo.users'. The duplicate key value is (u1). (2627) (SQLExecDirectW)",
            ConflictError,
            None,
        ),
        (
            "23000",
            f"{MSSQL}Cannot insert the value NULL into column 'user_name', table 'hr.dbo.users';"
            " column does not allow nulls. INSERT fails. (515) (SQLExecDirectW)",
            InvalidDataError,
            "login",
        ),
        (
            "HYT00",
            "[Microsoft][ODBC Driver 18]Query timeout expired (0)",
            OperationTimeoutError,
            None,
        ),
        ("08S01", "[Microsoft][ODBC Driver 18]Communication link failure", UnavailableError, None),
        ("40P01", "ERROR: deadlock detected", UnavailableError, None),
        # The row's values are quoted in the message; they must not change the class.
        (
            "23502",
            'ERROR: null value in column "user_name" of relation "users" violates not-null'
            " constraint DETAIL: Failing row contains (u1, null, password authentication"
            " failed, connection refused).",
            InvalidDataError,
            "login",
        ),
        (
            "23505",
            'ERROR: duplicate key value violates unique constraint "users_user_name_key"'
            ' DETAIL: Key (user_name)=(role "x" does not exist) already exists.',
            ConflictError,
            "login",
        ),
        ("42P01", 'ERROR: relation "users" does not exist', ConnectorError, None),
        (
            "01000",
            "[unixODBC][Driver Manager]Can't open lib 'NoSuch' : file not found (0)"
            " (SQLDriverConnect)",
            ConnectorError,
            None,
        ),
    ],
)
def test_driver_errors_are_classified(
    state: str, text: str, expected: type[ConnectorError], attribute: str | None
) -> None:
    error = classify(
        pyodbc.Error(state, f"[{state}] {text}"),
        secrets=["s3cret-pass"],
        attributes={"user_name": "login"},
    )
    assert type(error) is expected
    assert error.attribute == attribute
    assert not error.message.split(": ", 1)[-1].startswith("[")
    assert "(SQL" not in error.message


def test_secrets_are_masked_in_driver_messages() -> None:
    error = classify(
        pyodbc.Error("HY000", "[HY000] could not use password s3cret-pass"),
        secrets=["s3cret-pass"],
        attributes={},
    )
    assert "s3cret-pass" not in error.message
    assert "********" in error.message


# Create, get, update, delete ---------------------------------------------------------------


async def test_create_and_get(users: SqlConnector) -> None:
    assert await users.create(USER, alice()) == "u1"
    found = await users.get(USER, "u1")
    assert found.anchor == "u1"
    assert found.attributes == alice()


async def test_create_returns_a_generated_key(database: Database) -> None:
    database.execute(GENERATED_KEY[database.dialect])
    connector = connector_for(database, users_table="accounts")
    try:
        first = await connector.create(USER, {"user_name": "a"})
        second = await connector.create(USER, {"user_name": "b", "display_name": "B"})
        assert (first, second) == ("1", "2")
        assert (await connector.get(USER, "2")).attributes == {
            "id": 2,
            "user_name": "b",
            "display_name": "B",
        }
        with pytest.raises(NotFoundError):
            await connector.get(USER, "not-a-number")
    finally:
        await connector.close()


async def test_other_object_classes_are_refused(users: SqlConnector) -> None:
    with pytest.raises(InvalidDataError, match="group"):
        await users.create("group", {"id": "g1"})
    with pytest.raises(InvalidDataError):
        await users.get("group", "g1")


async def test_update_replace_and_clear(users: SqlConnector) -> None:
    await users.create(USER, alice())
    deltas = [
        Delta("display_name", DeltaKind.REPLACE, ("Alice B",)),
        Delta("email", DeltaKind.CLEAR),
        Delta("active", DeltaKind.REPLACE, (False,)),
    ]
    assert await users.update(USER, "u1", deltas) == "u1"
    assert (await users.get(USER, "u1")).attributes == alice(
        display_name="Alice B", email=None, active=False
    )
    await users.update(USER, "u1", [Delta("display_name", DeltaKind.REPLACE, ())])
    assert (await users.get(USER, "u1")).attributes["display_name"] is None


async def test_update_add_sets_a_single_valued_attribute(users: SqlConnector) -> None:
    await users.create(USER, alice(display_name=None))
    await users.update(USER, "u1", [Delta("display_name", DeltaKind.ADD, ("Al",))])
    assert (await users.get(USER, "u1")).attributes["display_name"] == "Al"
    with pytest.raises(InvalidDataError) as caught:
        await users.update(USER, "u1", [Delta("display_name", DeltaKind.ADD, ("a", "b"))])
    assert caught.value.attribute == "display_name"


async def test_update_remove_clears_only_the_current_value(users: SqlConnector) -> None:
    await users.create(USER, alice())
    await users.update(USER, "u1", [Delta("display_name", DeltaKind.REMOVE, ("Someone",))])
    assert (await users.get(USER, "u1")).attributes["display_name"] == "Alice"
    await users.update(USER, "u1", [Delta("display_name", DeltaKind.REMOVE, ("Alice",))])
    assert (await users.get(USER, "u1")).attributes["display_name"] is None
    deltas = [
        Delta("email", DeltaKind.REPLACE, ("new@example.com",)),
        Delta("email", DeltaKind.REMOVE, ("new@example.com",)),
        Delta("active", DeltaKind.REMOVE, (True,)),
    ]
    await users.update(USER, "u1", deltas)
    found = (await users.get(USER, "u1")).attributes
    assert (found["email"], found["active"]) == (None, None)


async def test_update_of_the_key_changes_the_anchor(users: SqlConnector) -> None:
    await users.create(USER, alice())
    assert await users.update(USER, "u1", [Delta("id", DeltaKind.REPLACE, ("u9",))]) == "u9"
    assert (await users.get(USER, "u9")).attributes["user_name"] == "alice"
    with pytest.raises(NotFoundError):
        await users.get(USER, "u1")
    with pytest.raises(InvalidDataError) as caught:
        await users.update(USER, "u9", [Delta("id", DeltaKind.CLEAR)])
    assert caught.value.attribute == "id"


async def test_update_errors(users: SqlConnector) -> None:
    await users.create(USER, alice())
    await users.create(USER, alice(id="u2", user_name="bob"))
    with pytest.raises(InvalidDataError) as caught:
        await users.update(USER, "u1", [Delta("shoe_size", DeltaKind.REPLACE, (42,))])
    assert caught.value.attribute == "shoe_size"
    with pytest.raises(InvalidDataError) as caught:
        await users.update(USER, "u1", [Delta("user_name", DeltaKind.CLEAR)])
    assert caught.value.attribute == "user_name"
    with pytest.raises(ConflictError):
        await users.update(USER, "u1", [Delta("user_name", DeltaKind.REPLACE, ("bob",))])
    with pytest.raises(NotFoundError):
        await users.update(USER, "nobody", [Delta("display_name", DeltaKind.CLEAR)])
    with pytest.raises(NotFoundError):
        await users.update(USER, "nobody", [])
    assert await users.update(USER, "u1", []) == "u1"
    assert (await users.get(USER, "u1")).attributes == alice()


async def test_update_to_the_same_values_finds_the_row(users: SqlConnector) -> None:
    await users.create(USER, alice())
    deltas = [Delta("display_name", DeltaKind.REPLACE, ("Alice",))]
    assert await users.update(USER, "u1", deltas) == "u1"


async def test_delete(users: SqlConnector) -> None:
    await users.create(USER, alice())
    await users.delete(USER, "u1")
    with pytest.raises(NotFoundError):
        await users.get(USER, "u1")
    with pytest.raises(NotFoundError):
        await users.delete(USER, "u1")


async def test_conflicts(users: SqlConnector, database: Database) -> None:
    await users.create(USER, alice())
    with pytest.raises(ConflictError):
        await users.create(USER, alice(user_name="other"))
    with pytest.raises(ConflictError) as caught:
        await users.create(USER, alice(id="u2"))
    assert caught.value.attribute == "user_name"
    assert database.count() == 1


async def test_invalid_data(users: SqlConnector, database: Database) -> None:
    with pytest.raises(InvalidDataError) as caught:
        await users.create(USER, alice(shoe_size=42))
    assert caught.value.attribute == "shoe_size"
    with pytest.raises(InvalidDataError) as caught:
        await users.create(USER, alice(user_name=None))
    assert caught.value.attribute == "user_name"
    with pytest.raises(InvalidDataError):
        await users.create(USER, alice(email="not an address"))
    with pytest.raises(InvalidDataError) as caught:
        await users.create(USER, alice(display_name=["a", "b"]))
    assert caught.value.attribute == "display_name"
    assert database.count() == 0


async def test_values_quoted_in_server_messages_do_not_change_the_class(
    users: SqlConnector,
) -> None:
    tricky = 'role "x" does not exist; password authentication failed; connection refused'
    await users.create(USER, alice(user_name=tricky))
    with pytest.raises(ConflictError):
        await users.create(USER, alice(id="u2", user_name=tricky))
    with pytest.raises(InvalidDataError):
        await users.create(USER, {"id": "u3", "user_name": None, "display_name": tricky})


HOSTILE = [
    "O'Brien",
    'say "hi"',
    "'; DROP TABLE users; --",
    "back\\slash\\ and \\' quote",
    "emoji 😀 👩‍👩‍👧 family",
    "\u200fright-to-left mark\u200f",
    "x" * 10_000,
    "é😀\u200f" * 2_000,
    "100% _wild_ [x] !bang",
    "line\nbreak\ttab\r",
    "",
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_values_are_stored_exactly(
    users: SqlConnector, database: Database, value: str
) -> None:
    # PostgreSQL's unique index cannot hold 10,000 characters, so the name is shortened.
    name = value[:200]
    anchor = await users.create(USER, {"id": value[:100], "user_name": name, "display_name": value})
    assert anchor == value[:100]
    found = await users.get(USER, anchor)
    assert (found.attributes["user_name"], found.attributes["display_name"]) == (name, value)
    result = await users.search(USER, Equals("display_name", value), Page())
    assert [o.anchor for o in result.objects] == [anchor]
    result = await users.search(USER, StartsWith("user_name", value[:20]), Page())
    assert [o.anchor for o in result.objects] == [anchor]
    await users.update(USER, anchor, [Delta("email", DeltaKind.REPLACE, (value + "@x",))])
    assert (await users.get(USER, anchor)).attributes["email"] == value + "@x"
    await users.delete(USER, anchor)
    assert database.count() == 0


@pytest.mark.parametrize("value", ["nul\x00byte", "\x00", "lone \ud800 surrogate"])
async def test_unstorable_text_is_refused_whole(
    users: SqlConnector, database: Database, value: str
) -> None:
    with pytest.raises(InvalidDataError) as caught:
        await users.create(USER, alice(display_name=value))
    assert caught.value.attribute == "display_name"
    assert database.count() == 0
    await users.create(USER, alice())
    with pytest.raises(InvalidDataError):
        await users.update(USER, "u1", [Delta("display_name", DeltaKind.REPLACE, (value,))])
    with pytest.raises(InvalidDataError):
        await users.search(USER, Equals("display_name", value), Page())
    with pytest.raises(NotFoundError):
        await users.get(USER, "u1" + value)
    assert (await users.get(USER, "u1")).attributes == alice()


async def test_quoted_table_and_column_names(database: Database) -> None:
    database.execute(ODD_NAMES[database.dialect])
    connector = connector_for(
        database,
        users_table='odd "table" `x`',
        naming_column="user name",
        columns={"login": "user name", "email": 'e"mail'},
    )
    try:
        await connector.create(USER, {"id": "a", "login": "ann", "email": "a@x"})
        found = await connector.get(USER, "a")
        assert found.attributes == {"id": "a", "login": "ann", "email": "a@x"}
        await connector.update(USER, "a", [Delta("email", DeltaKind.REPLACE, ('"@x',))])
        result = await connector.search(USER, StartsWith("email", '"'), Page())
        assert [o.anchor for o in result.objects] == ["a"]
        assert (await connector.schema()).object_classes[0].naming_attribute == "login"
        with pytest.raises(InvalidDataError):
            await connector.create(USER, {"id": "b", "login": "b", "display_name": "B"})
    finally:
        await connector.close()


# Search --------------------------------------------------------------------------------------


async def _create_many(users: SqlConnector, count: int) -> None:
    for i in range(count):
        await users.create(
            USER,
            {
                "id": f"u{i:02}",
                "user_name": f"user{i:02}",
                "display_name": None if i % 3 == 0 else f"User {i}",
                "active": i % 2 == 0,
            },
        )


async def _all_pages(users: SqlConnector, flt: Any, size: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cookie = None
    while True:
        result = await users.search(USER, flt, Page(size=size, cookie=cookie))
        pages.append([o.anchor for o in result.objects])
        cookie = result.cookie
        if cookie is None:
            return pages


async def test_search_pages_through_everything_in_key_order(users: SqlConnector) -> None:
    await _create_many(users, 23)
    pages = await _all_pages(users, None, 5)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [a for page in pages for a in page] == [f"u{i:02}" for i in range(23)]
    assert [len(p) for p in await _all_pages(users, None, 23)] == [23]


async def test_search_pages_with_a_filter(users: SqlConnector) -> None:
    await _create_many(users, 23)
    pages = await _all_pages(users, Equals("active", True), 4)
    assert [len(p) for p in pages] == [4, 4, 4]
    assert [a for page in pages for a in page] == [f"u{i:02}" for i in range(0, 23, 2)]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (Equals("user_name", "user04"), [4]),
        (Equals("display_name", None), [0, 3, 6, 9]),
        (Present("display_name"), [1, 2, 4, 5, 7, 8]),
        (StartsWith("display_name", "User 1"), [1]),
        (And((Equals("active", True), Present("display_name"))), [2, 4, 8]),
        (Or((Equals("id", "u01"), Equals("user_name", "user09"))), [1, 9]),
        (Not(Equals("display_name", "User 1")), [0, 2, 3, 4, 5, 6, 7, 8, 9]),
        (Not(Or((Present("display_name"), Equals("active", False)))), [0, 6]),
        (And(()), list(range(10))),
        (Or(()), []),
    ],
)
async def test_search_filters(users: SqlConnector, flt: Any, expected: list[int]) -> None:
    await _create_many(users, 10)
    result = await users.search(USER, flt, Page(size=100))
    assert [o.anchor for o in result.objects] == [f"u{i:02}" for i in expected]
    assert result.cookie is None


async def test_starts_with_takes_wildcards_literally(users: SqlConnector) -> None:
    for i, name in enumerate(["a%b", "a_b", "axb", "a!b"]):
        await users.create(USER, {"id": f"w{i}", "user_name": name})
    for prefix, anchor in [("a%", "w0"), ("a_", "w1"), ("a!", "w3")]:
        result = await users.search(USER, StartsWith("user_name", prefix), Page())
        assert [o.anchor for o in result.objects] == [anchor]


async def test_search_refuses_unknown_attributes_and_cookies(users: SqlConnector) -> None:
    with pytest.raises(InvalidDataError) as caught:
        await users.search(USER, Present("shoe_size"), Page())
    assert caught.value.attribute == "shoe_size"
    with pytest.raises(InvalidDataError, match="cookie"):
        await users.search(USER, None, Page(cookie="not a cookie"))
    with pytest.raises(InvalidDataError, match="page"):
        await users.search(USER, None, Page(size=0))


# Schema and test -----------------------------------------------------------------------------


async def test_schema(users: SqlConnector, database: Database) -> None:
    schema = await users.schema()
    [users_class] = schema.object_classes
    assert (users_class.name, users_class.naming_attribute) == (USER, "user_name")
    assert [a.name for a in users_class.attributes] == [
        "id",
        "user_name",
        "display_name",
        "email",
        "active",
    ]
    by_name = {a.name: a for a in users_class.attributes}
    # MariaDB's BOOLEAN is TINYINT(1), and its catalogue says so.
    boolean = AttributeType.INTEGER if database.dialect == "mariadb" else AttributeType.BOOLEAN
    assert by_name["active"].type is boolean
    assert by_name["display_name"].type is AttributeType.STRING
    assert by_name["user_name"].required
    assert not by_name["display_name"].required
    assert {a.name for a in users_class.attributes if a.unique} == {"id", "user_name"}
    assert not any(a.multi_valued for a in users_class.attributes)


async def test_schema_of_a_mapped_table(database: Database) -> None:
    database.execute(USERS)
    connector = connector_for(database, columns={"login": "user_name", "name": "display_name"})
    try:
        [users_class] = (await connector.schema()).object_classes
        assert [a.name for a in users_class.attributes] == ["id", "login", "name"]
        assert users_class.naming_attribute == "login"
        await connector.create(USER, {"id": "u1", "login": "ann", "name": "Ann"})
        assert (await connector.get(USER, "u1")).attributes == {
            "id": "u1",
            "login": "ann",
            "name": "Ann",
        }
        with pytest.raises(InvalidDataError) as caught:
            await connector.create(USER, {"id": "u2", "login": "bob", "email": "b@x"})
        assert caught.value.attribute == "email"
        with pytest.raises(InvalidDataError) as caught:
            await connector.create(USER, {"id": "u2", "login": None})
        assert caught.value.attribute == "login"
    finally:
        await connector.close()


async def test_test_checks_the_connection_and_the_table(database: Database) -> None:
    connector = connector_for(database)
    try:
        with pytest.raises(Exception, match="users"):
            await connector.test()
        database.execute(USERS)
        await connector.test()
    finally:
        await connector.close()


# Batches -------------------------------------------------------------------------------------


def create_op(i: int, key: str | None = None, **extra: Any) -> Operation:
    attributes = {"id": f"u{i:05}", "user_name": f"user{i}", "active": i % 2 == 0, **extra}
    return Operation(key=key or f"op{i}", action=Action.CREATE, attributes=attributes)


async def test_apply_creates_many_rows(users: SqlConnector, database: Database) -> None:
    ops = [create_op(i) for i in range(1200)]
    results = await users.apply(ops)
    assert [r.key for r in results] == [op.key for op in ops]
    assert all(r.ok for r in results)
    assert [r.anchor for r in results] == [f"u{i:05}" for i in range(1200)]
    assert database.count() == 1200
    assert (await users.get(USER, "u00777")).attributes["user_name"] == "user777"


async def test_apply_isolates_the_one_conflicting_create(
    users: SqlConnector, database: Database
) -> None:
    await users.create(USER, {"id": "u00003", "user_name": "taken"})
    ops = [
        *(create_op(i) for i in range(6)),
        create_op(7),
        create_op(7, key="op7-again", user_name="again"),
        Operation(
            "upd",
            Action.UPDATE,
            anchor="u00000",
            deltas=(Delta("email", DeltaKind.REPLACE, ("a@b",)),),
        ),
        Operation("del", Action.DELETE, anchor="missing"),
        create_op(8, display_name="Eight"),
        create_op(9, shoe_size=1),
        create_op(10, display_name="Ten"),
        create_op(11, display_name="Eleven"),
        Operation("get", Action.GET, anchor="u00011"),
    ]
    results = await users.apply(ops)
    assert [r.key for r in results] == [op.key for op in ops]
    errors = {r.key: r.error.error_class for r in results if r.error is not None}
    assert errors == {
        "op3": ErrorClass.CONFLICT,
        "op7-again": ErrorClass.CONFLICT,
        "del": ErrorClass.NOT_FOUND,
        "op9": ErrorClass.INVALID_DATA,
    }
    assert results[6].anchor == "u00007"
    assert results[-1].object is not None
    assert results[-1].object.attributes["display_name"] == "Eleven"
    assert (await users.get(USER, "u00000")).attributes["email"] == "a@b"
    assert (await users.get(USER, "u00003")).attributes["user_name"] == "taken"
    assert database.count() == 1 + 5 + 1 + 3


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("display_name", "nul\x00here"),
        ("display_name", "lone \ud800"),
        ("display_name", ["a list"]),
        ("display_name", 2**70),
        ("active", 2**70),
        ("shoe_size", 1),
    ],
)
async def test_a_bad_value_in_a_batch_fails_its_create_alone(
    users: SqlConnector, database: Database, attribute: str, value: Any
) -> None:
    ops = [create_op(i, display_name=f"User {i}") for i in range(6)]
    ops[3] = create_op(3, **{"display_name": "Three", attribute: value})
    results = await users.apply(ops)
    assert [r.key for r in results] == [op.key for op in ops]
    errors = {r.key: (r.error.error_class, r.error.attribute) for r in results if r.error}
    assert errors == {"op3": (ErrorClass.INVALID_DATA, attribute)}
    assert database.count() == 5


async def test_a_too_long_key_in_a_batch_fails_its_create_alone(
    users: SqlConnector, database: Database
) -> None:
    ops = [create_op(i) for i in range(6)]
    ops[3] = create_op(3, id="x" * 101)  # the column is VARCHAR(100)
    results = await users.apply(ops)
    errors = {r.key: (r.error.error_class, r.error.attribute) for r in results if r.error}
    if database.dialect == "sqlite":
        # SQLite stores any length whatever the declared one.
        assert (errors, database.count()) == ({}, 6)
    else:
        assert (errors, database.count()) == ({"op3": (ErrorClass.INVALID_DATA, "id")}, 5)


async def test_a_batch_stores_any_text_and_nulls_exactly(
    users: SqlConnector, database: Database
) -> None:
    names = ["Zo\u00eb \U0001f600 \u200f", None, "caf\u0065\u0301", "'; DROP TABLE users; --"]
    results = await users.apply([create_op(i, display_name=n) for i, n in enumerate(names)])
    assert all(r.ok for r in results)
    found = [(await users.get(USER, f"u{i:05}")).attributes["display_name"] for i in range(4)]
    assert found == names


#: Keys the database generates, and a check only the database makes ("refused").
GENERATED_BATCH = {
    "sqlite": "CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, user_name TEXT"
    " UNIQUE NOT NULL, display_name TEXT CHECK (display_name <> 'refused'))",
    "postgresql": "CREATE TABLE accounts (id SERIAL PRIMARY KEY, user_name TEXT UNIQUE NOT NULL,"
    " display_name TEXT CHECK (display_name <> 'refused'))",
    "mariadb": "CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTO_INCREMENT, user_name"
    " VARCHAR(300) UNIQUE NOT NULL, display_name TEXT CHECK (display_name <> 'refused'))",
}


def account_op(i: int, **extra: Any) -> Operation:
    attributes = {"user_name": f"user{i}", "display_name": f"User {i}", **extra}
    return Operation(key=f"op{i}", action=Action.CREATE, attributes=attributes)


@pytest.fixture
async def accounts(database: Database) -> AsyncIterator[SqlConnector]:
    database.execute(GENERATED_BATCH[database.dialect])
    connector = connector_for(database, users_table="accounts")
    yield connector
    await connector.close()


def stored_accounts(database: Database) -> dict[str, tuple[Any, Any]]:
    """Each row's anchor, with its user name and display name."""
    rows = database.execute("SELECT id, user_name, display_name FROM accounts")
    return {str(key): (name, display) for key, name, display in rows}


def created(ops: list[Operation], results: list[OperationResult]) -> dict[str, tuple[Any, Any]]:
    """The anchor each successful create was given, with the names it sent."""
    assert [r.key for r in results] == [op.key for op in ops]
    sent = [op.attributes or {} for op in ops]
    return {
        str(r.anchor): (a["user_name"], a["display_name"])
        for a, r in zip(sent, results, strict=True)
        if r.ok
    }


def test_the_dialects_know_whether_a_multi_row_insert_returns_its_rows(
    database: Database,
) -> None:
    connection = pyodbc.connect(database.connection_string)
    try:
        returned = DIALECTS[database.dialect].returns_inserted_rows(connection.cursor())
    finally:
        connection.close()
    # SQLite's driver drops RETURNING rows; the test MariaDB is 10.11.
    assert returned is (database.dialect != "sqlite")


async def test_apply_creates_rows_with_generated_keys(
    accounts: SqlConnector, database: Database
) -> None:
    ops = [account_op(i) for i in range(1200)]
    ops[5] = account_op(5, user_name="Zo\u00eb \U0001f600 \u200f")
    ops[6] = account_op(6, user_name="\u00e9" * 200)  # long non-ASCII text comes back intact
    results = await accounts.apply(ops)
    made = created(ops, results)
    assert len(made) == 1200  # every create succeeded, each with an anchor of its own
    assert stored_accounts(database) == made
    # Redelivered in doubt, the same creates conflict one by one and write nothing twice.
    again = await accounts.apply(ops)
    assert {r.error.error_class for r in again if r.error is not None} == {ErrorClass.CONFLICT}
    assert not any(r.ok for r in again)
    assert database.count("accounts") == 1200


@pytest.mark.parametrize(
    "faults",
    [
        ["bad value"],
        ["refused by the database"],
        ["same name in the batch"],
        ["name of an existing row"],
        [
            "bad value",
            "refused by the database",
            "same name in the batch",
            "name of an existing row",
        ],
    ],
)
async def test_a_bad_or_conflicting_create_in_a_generated_key_batch_fails_alone(
    accounts: SqlConnector, database: Database, faults: list[str]
) -> None:
    taken = await accounts.create(USER, {"user_name": "taken", "display_name": "Taken"})
    ops = [account_op(i) for i in range(10)]
    faulty = {
        "bad value": (2, {"display_name": "nul\x00here"}, ErrorClass.INVALID_DATA),
        "refused by the database": (4, {"display_name": "refused"}, ErrorClass.INVALID_DATA),
        "same name in the batch": (6, {"user_name": "user1"}, ErrorClass.CONFLICT),
        "name of an existing row": (8, {"user_name": "taken"}, ErrorClass.CONFLICT),
    }
    expected: dict[str, ErrorClass] = {}
    for fault in faults:
        position, change, error = faulty[fault]
        ops[position] = account_op(position, **change)
        expected[f"op{position}"] = error
    results = await accounts.apply(ops)
    assert {r.key: r.error.error_class for r in results if r.error is not None} == expected
    made = created(ops, results)
    assert len(made) == 10 - len(faults)
    assert stored_accounts(database) == {**made, taken: ("taken", "Taken")}


async def test_names_stored_unlike_they_were_sent_still_get_their_own_anchors(
    database: Database,
) -> None:
    # PostgreSQL hands CHAR values back padded, so the returned rows match no name sent:
    # the batch is rolled back and its creates run one by one.
    database.execute(
        GENERATED_KEY[database.dialect].replace("user_name TEXT", "user_name CHAR(20)")
    )
    connector = connector_for(database, users_table="accounts")
    try:
        ops = [account_op(i, display_name=f"User {i}") for i in range(30)]
        results = await connector.apply(ops)
    finally:
        await connector.close()
    rows = database.execute("SELECT id, user_name, display_name FROM accounts")
    stored = {str(key): (name.rstrip(), display) for key, name, display in rows}
    assert stored == created(ops, results)
    assert len(stored) == 30


async def test_concurrent_operations_share_the_pool(database: Database) -> None:
    database.execute(USERS)
    connector = connector_for(database, pool_size=3)
    try:
        anchors = await asyncio.gather(
            *(connector.create(USER, {"id": f"c{i}", "user_name": f"c{i}"}) for i in range(40))
        )
        assert sorted(anchors) == sorted(f"c{i}" for i in range(40))
        found = await asyncio.gather(*(connector.get(USER, f"c{i}") for i in range(40)))
        assert [o.anchor for o in found] == [f"c{i}" for i in range(40)]
    finally:
        await connector.close()
    assert database.count() == 40


# Failures of the database itself --------------------------------------------------------------


async def test_a_held_lock_times_out(database: Database) -> None:
    database.execute(USERS)
    connector = connector_for(database, timeout=1)
    await connector.create(USER, alice())
    holder = pyodbc.connect(database.connection_string, autocommit=False)
    try:
        holder.execute("UPDATE users SET display_name = 'held' WHERE id = 'u1'")
        with pytest.raises(OperationTimeoutError):
            await connector.update(USER, "u1", [Delta("display_name", DeltaKind.CLEAR)])
        holder.rollback()
        await connector.update(USER, "u1", [Delta("display_name", DeltaKind.CLEAR)])
        assert (await connector.get(USER, "u1")).attributes["display_name"] is None
    finally:
        holder.close()
        await connector.close()


@pytest.fixture(params=sorted(SERVERS))
def served(request: pytest.FixtureRequest) -> tuple[Database, Any]:
    """A fresh database on a server process the test may stop and start again."""
    database_fixture, server_fixture = SERVERS[request.param]
    found = request.getfixturevalue(database_fixture)
    server = request.getfixturevalue(server_fixture)
    return Database(request.param, found.odbc_connection_string), server


async def test_unknown_user_is_an_authentication_error(served: tuple[Database, Any]) -> None:
    database, _ = served
    # Both drivers let the last of two repeated keywords win.
    text = f"{database.connection_string.rstrip(';')};UID=hatchway_no_such_role;PWD=s3cret-pass"
    connector = connector_for(Database(database.dialect, text))
    try:
        with pytest.raises(AuthenticationError) as caught:
            await connector.test()
        assert "hatchway_no_such_role" in caught.value.message
        assert "s3cret-pass" not in str(caught.value)
        results = await connector.apply([create_op(1)])
        assert results[0].error is not None
        assert results[0].error.error_class is ErrorClass.AUTHENTICATION
    finally:
        await connector.close()


async def test_server_down_is_unavailable_and_recovers(served: tuple[Database, Any]) -> None:
    database, server = served
    database.execute(USERS)
    connector = connector_for(database, pool_size=3)
    try:
        await asyncio.gather(
            *(connector.create(USER, {"id": f"c{i}", "user_name": f"c{i}"}) for i in range(9))
        )
        server.stop()
        try:
            with pytest.raises(UnavailableError):
                await connector.get(USER, "c1")
            with pytest.raises(UnavailableError):
                await connector.create(USER, {"id": "c10", "user_name": "c10"})
            results = await connector.apply([create_op(1), create_op(2)])
            assert {r.error.error_class for r in results if r.error} == {ErrorClass.UNAVAILABLE}
        finally:
            server.start()
        # Every worker's connection was cut; each reconnects without failing an operation.
        found = await asyncio.gather(*(connector.get(USER, f"c{i}") for i in range(9)))
        assert [o.anchor for o in found] == [f"c{i}" for i in range(9)]
        assert await connector.create(USER, {"id": "c10", "user_name": "c10"}) == "c10"
    finally:
        await connector.close()


async def test_unreachable_server_is_unavailable_without_leaking_the_password() -> None:
    database = Database(
        "postgresql",
        "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=1;Database=x;Uid=u;Pwd=s3cret-pass",
    )
    connector = connector_for(database)
    try:
        with pytest.raises(UnavailableError) as caught:
            await connector.get(USER, "u1")
        assert "s3cret-pass" not in str(caught.value)
    finally:
        await connector.close()
