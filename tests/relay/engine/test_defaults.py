"""Default mappings per target type: what a directory user and group become in each."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest

from agent.connectors.sql import SqlConnector
from relay.engine.defaults import ENTERPRISE, default_job
from relay.engine.exceptions import MappingError
from relay.engine.mapping import Links, Mapper
from relay.engine.source import Source
from shared.connector import (
    GROUP,
    USER,
    AttributeInfo,
    AttributeType,
    Equals,
    ObjectClassInfo,
    Page,
)
from tests.servers.sqlite import SqliteOdbcDatabase

ADA = Source(
    {
        "id": "u-ada",
        "userName": "ada@contoso.com",
        "displayName": "Ada Lovelace",
        "title": "Analyst",
        "active": True,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@contoso.com", "type": "work", "primary": True}],
        "phoneNumbers": [{"value": "+44 20 7946 0000", "type": "work"}],
        ENTERPRISE: {
            "employeeNumber": "1815",
            "department": "Research",
            "manager": {"value": "u-charles"},
        },
    }
)
RESEARCH = Source(
    {"id": "g-research", "displayName": "Research", "members": [{"value": "u-ada"}]},
    kind="group",
)
LINKS = Links(resolve={"u-charles": "anchor-charles", "u-ada": "anchor-ada"}.get)


def mappers(target: str) -> dict[str, Mapper]:
    return default_job(target).mappers()


def test_scim_defaults_follow_entra_ids_default_scim_mapping() -> None:
    users = mappers("scim")[USER]
    assert users.attributes(ADA, create=True, links=LINKS) == {
        "userName": "ada@contoso.com",
        "active": True,
        "displayName": "Ada Lovelace",
        'emails[type eq "work"].value': "ada@contoso.com",
        "name.givenName": "Ada",
        "name.familyName": "Lovelace",
        "externalId": "ada",
        "title": "Analyst",
        'phoneNumbers[type eq "work"].value': "+44 20 7946 0000",
        f"{ENTERPRISE}:employeeNumber": "1815",
        f"{ENTERPRISE}:department": "Research",
        f"{ENTERPRISE}:manager": "anchor-charles",
    }
    assert users.matching_filters(ADA) == [Equals("userName", "ada@contoso.com")]
    groups = mappers("scim")[GROUP]
    assert groups.attributes(RESEARCH, create=True, links=LINKS) == {
        "displayName": "Research",
        "externalId": "g-research",
        "members": ["anchor-ada"],
    }


def test_ldap_defaults_fill_the_mandatory_inetorgperson_attributes() -> None:
    users = mappers("ldap")[USER]
    got = users.attributes(ADA, create=True, links=LINKS)
    assert got["uid"] == "ada"
    assert (got["cn"], got["sn"], got["givenName"]) == ("Ada Lovelace", "Lovelace", "Ada")
    assert got["manager"] == "anchor-charles"
    assert users.matching_attributes == ("uid", "mail")
    # Without a display name or surname, cn and sn still get a value.
    bare = users.attributes(Source({"userName": "bob@contoso.com"}), create=True)
    assert (bare["cn"], bare["sn"]) == ("bob@contoso.com", "bob")
    groups = mappers("ldap")[GROUP]
    assert groups.attributes(RESEARCH, create=True, links=LINKS) == {
        "cn": "Research",
        "member": ["anchor-ada"],
    }


def test_sql_defaults_use_the_sql_connector_default_columns() -> None:
    users = mappers("sql")[USER]
    got = users.attributes(ADA, create=True)
    assert (got["user_name"], got["email"], got["display_name"], got["active"]) == (
        "ada@contoso.com",
        "ada@contoso.com",
        "Ada Lovelace",
        True,
    )
    assert users.matching_attributes == ("user_name",)
    groups = mappers("sql")[GROUP]
    assert groups.matching_attributes == ("name",)


def test_an_unknown_target_type_names_the_known_ones() -> None:
    with pytest.raises(MappingError, match="'csv'; the types are scim, ldap, sql"):
        default_job("csv")


def test_defaults_are_cut_to_what_the_target_schema_has() -> None:
    # The users table of the demo and the SQL connector tests; no groups table.
    table = ObjectClassInfo(
        USER,
        "user_name",
        (
            AttributeInfo("id", unique=True),
            AttributeInfo("user_name", required=True, unique=True),
            AttributeInfo("display_name"),
            AttributeInfo("email"),
            AttributeInfo("active", AttributeType.BOOLEAN),
        ),
    )
    job = default_job("sql", {USER: table})
    assert [o.kind for o in job.objects] == [USER]
    assert [m.target for m in job.objects[0].mappings] == [
        "user_name",
        "email",
        "display_name",
        "active",
    ]
    Mapper(job.objects[0], table)


async def test_sql_defaults_fit_a_real_table_and_create_a_row(
    sqlite_odbc_database: SqliteOdbcDatabase,
) -> None:
    with contextlib.closing(sqlite3.connect(sqlite_odbc_database.path)) as db:
        db.execute(
            "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, user_name TEXT UNIQUE"
            " NOT NULL, display_name TEXT, email TEXT, active BOOLEAN)"
        )
        db.commit()
    connector = SqlConnector.from_settings(
        "hr",
        {
            "type": "sql",
            "dialect": "sqlite",
            "connection_string": sqlite_odbc_database.odbc_connection_string,
        },
        source="agent.toml",
    )
    try:
        schema = await connector.schema()
        classes = {c.name: c for c in schema.object_classes}
        users = default_job("sql").mappers(classes)[USER]
        assert {m.target for m in users.mapping.mappings} == {
            "user_name",
            "email",
            "display_name",
            "active",
        }
        attributes = users.attributes(ADA, create=True)
        anchor = await connector.create(USER, attributes)
        found = await connector.search(USER, users.matching_filters(ADA)[0], Page(size=10))
        assert [o.anchor for o in found.objects] == [anchor]
        assert found.objects[0].attributes["display_name"] == "Ada Lovelace"
    finally:
        await connector.close()
