"""The LDAP connector against the throwaway slapd: creating, updating, renaming and
deprovisioning. The contract suite is in test_ldap_contract.py, bad input in
test_ldap_bad_input.py, and the other test_ldap_*.py modules hold the rest."""

from __future__ import annotations

import base64
from typing import Any

import ldap3
import pytest

from agent.connectors.ldap import LdapConnector
from shared.connector import (
    GROUP,
    USER,
    Action,
    AttributeType,
    Delta,
    DeltaKind,
    Equals,
    Operation,
    Page,
    StartsWith,
)
from shared.exceptions import ConflictError, ErrorClass, InvalidDataError, NotFoundError
from tests.agent.connectors.ldap_helpers import admin, connector_for, raw_values, tag, user
from tests.servers.slapd import SlapdServer

pytestmark = [
    pytest.mark.server,
    # ldap3 checks certificate names with ssl.match_hostname, deprecated since Python 3.7.
    pytest.mark.filterwarnings("ignore:ssl.match_hostname:DeprecationWarning"),
]


# Create, update, rename ------------------------------------------------------------------


async def test_create_with_password_binds_and_never_reads_it_back(
    slapd_server: SlapdServer, ldap_connector: LdapConnector
) -> None:
    name = f"pw-{tag()}"
    anchor = await ldap_connector.create(USER, user(name, userPassword="correct horse battery"))
    found = await ldap_connector.get(USER, anchor)
    assert "userPassword" not in found.attributes
    conn = ldap3.Connection(
        ldap3.Server(slapd_server.url), anchor, "correct horse battery", raise_exceptions=True
    )
    assert conn.bind()
    conn.unbind()


async def test_rename_returns_the_new_anchor(ldap_connector: LdapConnector) -> None:
    name = f"before-{tag()}"
    anchor = await ldap_connector.create(USER, user(name))
    deltas = [
        Delta("uid", DeltaKind.REPLACE, (f"after, {name}",)),
        Delta("displayName", DeltaKind.REPLACE, ("Renamed",)),
    ]
    renamed = await ldap_connector.update(USER, anchor, deltas)
    assert renamed == ldap_connector.settings.user_template.dn(f"after, {name}")
    found = await ldap_connector.get(USER, renamed)
    assert found.attributes["uid"] == [f"after, {name}"]
    assert found.attributes["displayName"] == "Renamed"
    with pytest.raises(NotFoundError):
        await ldap_connector.get(USER, anchor)
    # Replacing the name with itself is no rename.
    same = [Delta("uid", DeltaKind.REPLACE, (f"after, {name}",))]
    assert await ldap_connector.update(USER, renamed, same) == renamed


async def test_rename_onto_an_existing_name_is_a_conflict(ldap_connector: LdapConnector) -> None:
    first, second = f"first-{tag()}", f"second-{tag()}"
    anchor = await ldap_connector.create(USER, user(first))
    await ldap_connector.create(USER, user(second))
    with pytest.raises(ConflictError):
        await ldap_connector.update(USER, anchor, [Delta("uid", DeltaKind.REPLACE, (second,))])
    assert (await ldap_connector.get(USER, anchor)).attributes["uid"] == [first]


@pytest.mark.parametrize(
    "delta",
    [
        Delta("uid", DeltaKind.ADD, ("another",)),
        Delta("uid", DeltaKind.CLEAR),
        Delta("uid", DeltaKind.REPLACE, ("one", "two")),
    ],
)
async def test_the_naming_attribute_changes_only_by_replacing(
    ldap_connector: LdapConnector, delta: Delta
) -> None:
    anchor = await ldap_connector.create(USER, user(f"named-{tag()}"))
    with pytest.raises(InvalidDataError) as caught:
        await ldap_connector.update(USER, anchor, [delta])
    assert caught.value.attribute == "uid"


async def test_update_is_all_or_nothing(ldap_connector: LdapConnector) -> None:
    anchor = await ldap_connector.create(USER, user(f"atomic-{tag()}", displayName="Before"))
    deltas = [
        Delta("displayName", DeltaKind.REPLACE, ("After",)),
        Delta("favouriteColour", DeltaKind.REPLACE, ("blue",)),
    ]
    with pytest.raises(InvalidDataError) as caught:
        await ldap_connector.update(USER, anchor, deltas)
    assert caught.value.attribute == "favouriteColour"
    assert (await ldap_connector.get(USER, anchor)).attributes["displayName"] == "Before"


@pytest.mark.parametrize(
    ("extra", "attribute"),
    [
        ({"favouriteColour": "blue"}, "favouriteColour"),
        ({"displayName": ["one", "two"]}, "displayName"),
        ({"jpegPhoto": "not base64!"}, "jpegPhoto"),
        ({"objectClass": "person"}, "objectClass"),
        ({"bad name": "x"}, "bad name"),
    ],
)
async def test_refused_values_name_the_attribute(
    ldap_connector: LdapConnector, extra: dict[str, Any], attribute: str
) -> None:
    name = f"refused-{tag()}"
    with pytest.raises(InvalidDataError) as caught:
        await ldap_connector.create(USER, user(name, **extra))
    assert caught.value.attribute == attribute
    assert not (await ldap_connector.search(USER, Equals("uid", name), Page())).objects


async def test_syntax_error_names_the_attribute(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server, user_object_classes=["inetOrgPerson", "posixAccount"])
    try:
        name = f"posix-{tag()}"
        posix = {"uidNumber": "not a number", "gidNumber": 100, "homeDirectory": "/home/x"}
        with pytest.raises(InvalidDataError) as caught:
            await connector.create(USER, user(name, **posix))
        assert caught.value.attribute == "uidNumber"
        anchor = await connector.create(USER, user(name, **{**posix, "uidNumber": 1234}))
        found = await connector.get(USER, anchor)
        assert found.attributes["uidNumber"] == 1234  # INTEGER syntax reads back as a number
        schema = await connector.schema()
        users = schema.object_class(USER)
        assert users is not None
        types = {a.name: a for a in users.attributes}
        assert types["uidNumber"].type is AttributeType.INTEGER
        assert not types["uidNumber"].multi_valued
        assert types["uidNumber"].required
        assert types["jpegPhoto"].type is AttributeType.BINARY
        assert types["uid"].required
        assert types["uid"].unique
    finally:
        await connector.close()


async def test_binary_values_travel_as_base64(ldap_connector: LdapConnector) -> None:
    photo = bytes(range(256))
    encoded = base64.b64encode(photo).decode()
    anchor = await ldap_connector.create(USER, user(f"photo-{tag()}", jpegPhoto=encoded))
    found = await ldap_connector.get(USER, anchor)
    assert found.attributes["jpegPhoto"] == [encoded]


async def test_apply_runs_creates_side_by_side_in_order(ldap_connector: LdapConnector) -> None:
    run = tag()
    operations = [
        Operation(f"c{i}", Action.CREATE, USER, attributes=user(f"batch-{run}-{i}"))
        for i in range(12)
    ]
    operations.insert(5, Operation("dup", Action.CREATE, USER, attributes=user(f"batch-{run}-1")))
    results = await ldap_connector.apply(operations)
    assert [r.key for r in results] == [op.key for op in operations]
    errors = {r.key: r.error.error_class for r in results if r.error is not None}
    assert errors == {"dup": ErrorClass.CONFLICT}
    found = await ldap_connector.search(USER, StartsWith("uid", f"batch-{run}-"), Page(50))
    assert len(found.objects) == 12


# Deprovisioning ---------------------------------------------------------------------------


async def test_deprovision_delete(slapd_server: SlapdServer, ldap_connector: LdapConnector) -> None:
    anchor = await ldap_connector.create(USER, user(f"leaver-{tag()}"))
    await ldap_connector.delete(USER, anchor)
    with admin(slapd_server) as conn, pytest.raises(ldap3.core.exceptions.LDAPNoSuchObjectResult):
        conn.search(anchor, "(objectClass=*)", ldap3.BASE)
    with pytest.raises(NotFoundError):
        await ldap_connector.delete(USER, anchor)


async def test_deprovision_move(slapd_server: SlapdServer, ldap_container: str) -> None:
    connector = connector_for(slapd_server, deprovision="move", disabled_container=ldap_container)
    try:
        name = f"mover-{tag()}"
        anchor = await connector.create(USER, user(name))
        await connector.delete(USER, anchor)
        with pytest.raises(NotFoundError):
            await connector.get(USER, anchor)
        moved = f"uid={name},{ldap_container}"
        assert raw_values(slapd_server, moved, "uid") == [name.encode()]
        with pytest.raises(NotFoundError):
            await connector.delete(USER, anchor)
    finally:
        await connector.close()


async def test_deprovision_attribute(slapd_server: SlapdServer) -> None:
    connector = connector_for(
        slapd_server,
        deprovision="attribute",
        disabled_attribute="employeeType",
        disabled_value="disabled",
    )
    try:
        anchor = await connector.create(USER, user(f"sleeper-{tag()}", employeeType="staff"))
        await connector.delete(USER, anchor)
        found = await connector.get(USER, anchor)
        assert found.attributes["employeeType"] == ["disabled"]
        await connector.delete(USER, anchor)  # again: still disabled, no error
        gone = f"uid=nobody-{tag()},ou=people,{slapd_server.base_dn}"
        with pytest.raises(NotFoundError):
            await connector.delete(USER, gone)
        # Groups are always deleted.
        group = await connector.create(GROUP, {"cn": f"sleepers-{tag()}"})
        await connector.delete(GROUP, group)
        with pytest.raises(NotFoundError):
            await connector.get(GROUP, group)
    finally:
        await connector.close()
