"""Bad input against the real databases (issue #3): every hostile name or value is either
stored exactly as sent and read back the same, or refused with invalid_data naming the
attribute, with nothing written; never a crash, an injection or a half-written object."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator

import pytest

from agent.connectors.sql import SqlConnector
from shared.connector import GROUP, USER, Attributes, Delta, DeltaKind, Equals, Page
from shared.exceptions import (
    AuthenticationError,
    ConflictError,
    InvalidDataError,
    NotFoundError,
)
from tests.agent.connectors.test_sql import FIXTURES, Database, connector_for
from tests.agent.connectors.test_sql_contract import TABLES

HOSTILE = {
    "ldap specials": ', + " \\ < > ; =',
    "leading hash": "#admin",
    "leading space": " padded",
    "trailing space": "padded ",
    "quotes": 'O\'Brien "the" `third`',
    "sql comment": "x'); DROP TABLE users; -- ",
    "block comment": "/* nothing */ x */",
    "right-to-left": "\u202eevil\u200f txt.exe",
    "emoji": "😀 👩‍👩‍👧 🏳️‍🌈",
    "nfd": unicodedata.normalize("NFD", "Zoë Šťastná"),
    "long": "ü" * 10_000,
}
#: What PostgreSQL and SQLite cut at and pyodbc cannot encode: refused, never stored cut.
UNSTORABLE = {"nul": "a\x00b", "lone surrogate": "a\ud800b"}


@pytest.fixture(params=sorted(FIXTURES))
def database(request: pytest.FixtureRequest) -> Database:
    found = request.getfixturevalue(FIXTURES[request.param])
    return Database(request.param, found.odbc_connection_string)


@pytest.fixture
async def grouped(database: Database) -> AsyncIterator[SqlConnector]:
    for statement in TABLES:
        database.execute(statement)
    connector = connector_for(database, groups_table="groups")
    yield connector
    await connector.close()


def fits(value: str, limit: int) -> str:
    """The value, shortened where a key or unique column's declared length is smaller."""
    return value[:limit]


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_names_and_values_are_stored_exactly(
    grouped: SqlConnector, database: Database, name: str
) -> None:
    value = HOSTILE[name]
    key, login = fits(value, 100), fits(value, 200)
    anchor = await grouped.create(USER, {"id": key, "user_name": login, "display_name": value})
    assert anchor == key
    found = await grouped.get(USER, anchor)
    assert found.attributes["user_name"] == login
    assert found.attributes["display_name"] == value
    page = await grouped.search(USER, Equals("display_name", value), Page())
    assert [o.anchor for o in page.objects] == [anchor]
    group = await grouped.create(GROUP, {"id": key, "name": login, "members": [anchor]})
    assert (await grouped.get(GROUP, group)).attributes == {
        "id": key,
        "name": login,
        "description": None,
        "members": [anchor],
    }
    await grouped.update(GROUP, group, [Delta("members", DeltaKind.REMOVE, (anchor,))])
    assert (await grouped.get(GROUP, group)).attributes["members"] == []
    await grouped.delete(GROUP, group)
    await grouped.delete(USER, anchor)
    assert [database.count(t) for t in ("users", "groups", "group_members")] == [0, 0, 0]


@pytest.mark.parametrize("name", sorted(UNSTORABLE))
async def test_unstorable_text_is_refused_naming_the_attribute(
    grouped: SqlConnector, database: Database, name: str
) -> None:
    value = UNSTORABLE[name]
    await grouped.create(USER, {"id": "u1", "user_name": "ann"})
    refused: list[tuple[str, Attributes, str]] = [
        (USER, {"id": "u2", "user_name": value}, "user_name"),
        (GROUP, {"id": "g1", "name": value}, "name"),
        (GROUP, {"id": "g1", "name": "G", "members": ["u1", value]}, "members"),
    ]
    for object_class, attributes, attribute in refused:
        with pytest.raises(InvalidDataError) as caught:
            await grouped.create(object_class, attributes)
        assert caught.value.attribute == attribute
    await grouped.create(GROUP, {"id": "g1", "name": "G", "members": ["u1"]})
    with pytest.raises(InvalidDataError) as caught:
        await grouped.update(GROUP, "g1", [Delta("members", DeltaKind.ADD, (value,))])
    assert caught.value.attribute == "members"
    with pytest.raises(NotFoundError):
        await grouped.get(USER, value)
    assert [database.count(t) for t in ("users", "groups", "group_members")] == [1, 1, 1]


async def test_too_long_for_a_column_is_refused_naming_the_attribute(
    grouped: SqlConnector, database: Database
) -> None:
    long = "x" * 10_000
    if database.dialect == "sqlite":
        # SQLite stores any length whatever the declared one, so it is stored exactly.
        anchor = await grouped.create(USER, {"id": "u1", "user_name": long})
        assert (await grouped.get(USER, anchor)).attributes["user_name"] == long
        return
    with pytest.raises(InvalidDataError) as caught:
        await grouped.create(USER, {"id": "u1", "user_name": long})
    assert caught.value.attribute == "user_name"
    assert "200" in caught.value.message
    with pytest.raises(NotFoundError):
        await grouped.get(USER, long)
    assert database.count("users") == 0


async def test_hostile_attribute_names_are_refused(
    grouped: SqlConnector, database: Database
) -> None:
    for attribute in ('display_name"; DROP TABLE users; --', "user_name`", "a\x00b", ""):
        with pytest.raises(InvalidDataError) as caught:
            await grouped.create(USER, {"id": "u1", "user_name": "ann", attribute: "x"})
        assert caught.value.attribute == attribute
    assert database.count("users") == 0


async def test_nfc_and_nfd_forms_are_never_merged_silently(
    grouped: SqlConnector, database: Database
) -> None:
    nfc = unicodedata.normalize("NFC", "José")
    nfd = unicodedata.normalize("NFD", "José")
    assert nfc != nfd
    first = await grouped.create(USER, {"id": "nfc", "user_name": nfc})
    if database.dialect == "mariadb":
        # Its utf8mb4_unicode_ci collation calls the two forms equal: the second is a
        # conflict, not a second user and not a change to the first.
        with pytest.raises(ConflictError) as caught:
            await grouped.create(USER, {"id": "nfd", "user_name": nfd})
        assert caught.value.attribute == "user_name"
        assert "\x00" not in caught.value.message
        assert database.count("users") == 1
    else:
        second = await grouped.create(USER, {"id": "nfd", "user_name": nfd})
        assert (await grouped.get(USER, second)).attributes["user_name"] == nfd
        page = await grouped.search(USER, Equals("user_name", nfd), Page())
        assert [o.anchor for o in page.objects] == [second]
    assert (await grouped.get(USER, first)).attributes["user_name"] == nfc


@pytest.mark.parametrize(
    ("dialect", "keywords", "words"),
    [
        ("postgresql", "UID=hatchway_intruder;PWD=s3cret-pass", 'role "hatchway_intruder"'),
        ("mariadb", "PWD=s3cret-pass", "Access denied for user 'root'"),
    ],
)
async def test_wrong_credentials_say_what_to_check(
    request: pytest.FixtureRequest, dialect: str, keywords: str, words: str
) -> None:
    found = request.getfixturevalue(FIXTURES[dialect])
    text = f"{found.odbc_connection_string.rstrip(';')};{keywords}"
    connector = connector_for(Database(dialect, text))
    try:
        with pytest.raises(AuthenticationError) as caught:
            await connector.test()
    finally:
        await connector.close()
    message = caught.value.message
    assert message.startswith("the database refused access: ")
    assert words in message
    assert "Check the user, password and database in connection_string" in message
    assert "s3cret-pass" not in message
    assert "[" not in message  # no ODBC driver prefixes
