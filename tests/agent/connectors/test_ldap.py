"""The LDAP connector against the throwaway slapd: settings, DNs, deprovisioning, renames,
group kinds, TLS, errors and paging. The contract suite is in test_ldap_contract.py and bad
input in test_ldap_bad_input.py."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import socket
import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest

from agent.connectors.ldap import LdapConnector
from agent.connectors.ldap_errors import classify
from agent.connectors.ldap_names import DnTemplate, dn_key, escape_value, parse_dn, split_first
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
from shared.exceptions import (
    AuthenticationError,
    ConflictError,
    ErrorClass,
    InvalidDataError,
    NotFoundError,
    OperationTimeoutError,
    SettingsError,
    UnavailableError,
)
from tests.servers.ports import free_port
from tests.servers.slapd import SlapdServer

pytestmark = [
    pytest.mark.server,
    # ldap3 checks certificate names with ssl.match_hostname, deprecated since Python 3.7.
    pytest.mark.filterwarnings("ignore:ssl.match_hostname:DeprecationWarning"),
]


def settings_for(server: SlapdServer, **overrides: Any) -> dict[str, Any]:
    """Connector settings for the throwaway slapd, with ``overrides`` on top (``None``
    removes a key)."""
    base = server.base_dn
    settings: dict[str, Any] = {
        "type": "ldap",
        "url": server.url,
        "bind_dn": server.admin_dn,
        "password": server.admin_password,
        "user_dn_template": f"uid={{uid}},ou=people,{base}",
        "group_dn_template": f"cn={{cn}},ou=groups,{base}",
        "connect_timeout": 5,
        "receive_timeout": 10,
    }
    settings.update(overrides)
    return {k: v for k, v in settings.items() if v is not None}


def connector_for(server: SlapdServer, **overrides: Any) -> LdapConnector:
    return LdapConnector.from_settings(
        "directory", settings_for(server, **overrides), source="agent.toml"
    )


@contextlib.contextmanager
def admin(server: SlapdServer) -> Iterator[ldap3.Connection]:
    """A plain ldap3 connection, to look at the directory behind the connector's back."""
    conn = ldap3.Connection(
        ldap3.Server(server.url, get_info=ldap3.NONE),
        server.admin_dn,
        server.admin_password,
        auto_bind=True,
        raise_exceptions=True,
    )
    try:
        yield conn
    finally:
        conn.unbind()


def raw_values(server: SlapdServer, dn: str, attribute: str) -> list[bytes]:
    with admin(server) as conn:
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=[attribute])
        found: list[bytes] = conn.response[0]["raw_attributes"].get(attribute, [])
        return found


def tag() -> str:
    return secrets.token_hex(4)


def user(name: str, **extra: Any) -> dict[str, Any]:
    return {"uid": name, "cn": f"User {name}", "sn": "Tester", **extra}


@pytest.fixture
async def connector(slapd_server: SlapdServer) -> AsyncIterator[LdapConnector]:
    made = connector_for(slapd_server)
    yield made
    await made.close()


@pytest.fixture
def container(slapd_server: SlapdServer) -> Iterator[str]:
    """An empty organizational unit of its own, removed with whatever is left in it."""
    dn = f"ou=test-{tag()},{slapd_server.base_dn}"
    with admin(slapd_server) as conn:
        conn.add(dn, ["organizationalUnit"])
    yield dn
    with admin(slapd_server) as conn:
        conn.search(dn, "(objectClass=*)", ldap3.SUBTREE, attributes=["1.1"])
        for entry in sorted(conn.response, key=lambda e: -len(e["dn"])):
            conn.delete(entry["dn"])


# Settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        ({"url": None}, "url", "is required"),
        ({"url": "https://ldap.example.org"}, "url", "ldap:// or ldaps://"),
        ({"url": "ldap://ldap.example.org:389/dc=x"}, "url", "without a path"),
        ({"url": "ldaps://127.0.0.1:636", "start_tls": True}, "start_tls", "ldaps://"),
        ({"bind_dn": "not a dn"}, "bind_dn", "not a valid DN"),
        ({"password": None}, "password", "is required"),
        ({"user_dn_template": "uid=someone,ou=people"}, "user_dn_template", "first RDN"),
        ({"user_dn_template": "uid={uid}"}, "user_dn_template", "container"),
        ({"group_dn_template": "cn={cn},ou={ou}"}, "group_dn_template", "placeholder"),
        ({"user_object_classes": "inetOrgPerson"}, "user_object_classes", "list"),
        ({"group_object_classes": ["groupOfThings"]}, "member_attribute", "is required"),
        ({"deprovision": "archive"}, "deprovision", "must be one of"),
        ({"deprovision": "move"}, "disabled_container", 'deprovision = "move"'),
        (
            {"deprovision": "attribute", "disabled_attribute": "description"},
            "disabled_value",
            'deprovision = "attribute"',
        ),
        ({"ca_file": "/nonexistent/ca.pem"}, "ca_file", "not a readable file"),
        ({"pool_size": 0}, "pool_size", "at least 1"),
        ({"receive_timeout": "soon"}, "receive_timeout", "a number"),
        ({"pasword": "typo"}, "pasword", "not a known setting"),
    ],
)
def test_settings_errors_name_file_key_and_problem(
    slapd_server: SlapdServer, change: dict[str, Any], key: str, problem: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        connector_for(slapd_server, **change)
    assert caught.value.path == "agent.toml"
    assert caught.value.key == f"connectors.directory.{key}"
    assert problem in caught.value.problem


def test_the_documented_example_loads(slapd_server: SlapdServer) -> None:
    text = (Path(__file__).parents[3] / "docs" / "connectors.md").read_text()
    section = text[text.index("## LDAP connector") :]
    example = section[section.index("```toml") + len("```toml") : section.index("```\n\n")]
    table = tomllib.loads(example)["connectors"]["directory"]
    table["ca_file"] = str(slapd_server.ca_file)  # the example names the company's CA file
    connector = LdapConnector.from_settings("directory", table, source="agent.toml")
    assert connector.settings.start_tls
    assert connector.settings.deprovision.value == "move"


def test_settings_defaults(slapd_server: SlapdServer) -> None:
    settings = connector_for(slapd_server, connect_timeout=None, receive_timeout=None).settings
    assert settings.pool_size == 4
    assert (settings.connect_timeout, settings.receive_timeout) == (10.0, 30.0)
    assert settings.user_object_classes == ("inetOrgPerson",)
    assert settings.member_attribute == "member"
    assert settings.empty_group_member == ""
    assert settings.verify_certificate is True
    assert settings.deprovision.value == "delete"
    unique = connector_for(slapd_server, group_object_classes=["groupOfUniqueNames"])
    posix = connector_for(slapd_server, group_object_classes=["posixGroup"])
    assert unique.settings.member_attribute == "uniqueMember"
    assert posix.settings.member_attribute == "memberUid"


# DNs -------------------------------------------------------------------------------------

AWKWARD = [
    "a,b",
    "a+b",
    'say "hi"',
    "back\\slash",
    "<angle>",
    "semi;colon",
    "equals=sign",
    "#hash",
    " leading space",
    "trailing space ",
    "  ",
    "nul\x00byte",
    "Zoë 😀 \u200f\u05de\u05e8\u05d9\u05dd",
]


@pytest.mark.parametrize("value", AWKWARD)
def test_dn_escaping_round_trip(value: str) -> None:
    template = DnTemplate.parse("uid={uid},ou=people,dc=example,dc=org")
    dn = template.dn(value)
    assert template.rdn_value(dn) == value
    rdn, parent = split_first(dn)
    assert parent == "ou=people,dc=example,dc=org"
    assert parse_dn(rdn) == parse_dn(f"uid={escape_value(value)}")
    assert dn_key(dn) == dn_key(template.dn(value.upper()))  # compared case-insensitively


# Create, update, rename ------------------------------------------------------------------


async def test_create_with_password_binds_and_never_reads_it_back(
    slapd_server: SlapdServer, connector: LdapConnector
) -> None:
    name = f"pw-{tag()}"
    anchor = await connector.create(USER, user(name, userPassword="correct horse battery"))
    found = await connector.get(USER, anchor)
    assert "userPassword" not in found.attributes
    conn = ldap3.Connection(
        ldap3.Server(slapd_server.url), anchor, "correct horse battery", raise_exceptions=True
    )
    assert conn.bind()
    conn.unbind()


async def test_rename_returns_the_new_anchor(connector: LdapConnector) -> None:
    name = f"before-{tag()}"
    anchor = await connector.create(USER, user(name))
    deltas = [
        Delta("uid", DeltaKind.REPLACE, (f"after, {name}",)),
        Delta("displayName", DeltaKind.REPLACE, ("Renamed",)),
    ]
    renamed = await connector.update(USER, anchor, deltas)
    assert renamed == connector.settings.user_template.dn(f"after, {name}")
    found = await connector.get(USER, renamed)
    assert found.attributes["uid"] == [f"after, {name}"]
    assert found.attributes["displayName"] == "Renamed"
    with pytest.raises(NotFoundError):
        await connector.get(USER, anchor)
    # Replacing the name with itself is no rename.
    same = [Delta("uid", DeltaKind.REPLACE, (f"after, {name}",))]
    assert await connector.update(USER, renamed, same) == renamed


async def test_rename_onto_an_existing_name_is_a_conflict(connector: LdapConnector) -> None:
    first, second = f"first-{tag()}", f"second-{tag()}"
    anchor = await connector.create(USER, user(first))
    await connector.create(USER, user(second))
    with pytest.raises(ConflictError):
        await connector.update(USER, anchor, [Delta("uid", DeltaKind.REPLACE, (second,))])
    assert (await connector.get(USER, anchor)).attributes["uid"] == [first]


@pytest.mark.parametrize(
    "delta",
    [
        Delta("uid", DeltaKind.ADD, ("another",)),
        Delta("uid", DeltaKind.CLEAR),
        Delta("uid", DeltaKind.REPLACE, ("one", "two")),
    ],
)
async def test_the_naming_attribute_changes_only_by_replacing(
    connector: LdapConnector, delta: Delta
) -> None:
    anchor = await connector.create(USER, user(f"named-{tag()}"))
    with pytest.raises(InvalidDataError) as caught:
        await connector.update(USER, anchor, [delta])
    assert caught.value.attribute == "uid"


async def test_update_is_all_or_nothing(connector: LdapConnector) -> None:
    anchor = await connector.create(USER, user(f"atomic-{tag()}", displayName="Before"))
    deltas = [
        Delta("displayName", DeltaKind.REPLACE, ("After",)),
        Delta("favouriteColour", DeltaKind.REPLACE, ("blue",)),
    ]
    with pytest.raises(InvalidDataError) as caught:
        await connector.update(USER, anchor, deltas)
    assert caught.value.attribute == "favouriteColour"
    assert (await connector.get(USER, anchor)).attributes["displayName"] == "Before"


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
    connector: LdapConnector, extra: dict[str, Any], attribute: str
) -> None:
    name = f"refused-{tag()}"
    with pytest.raises(InvalidDataError) as caught:
        await connector.create(USER, user(name, **extra))
    assert caught.value.attribute == attribute
    assert not (await connector.search(USER, Equals("uid", name), Page())).objects


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


async def test_binary_values_travel_as_base64(connector: LdapConnector) -> None:
    photo = bytes(range(256))
    encoded = base64.b64encode(photo).decode()
    anchor = await connector.create(USER, user(f"photo-{tag()}", jpegPhoto=encoded))
    found = await connector.get(USER, anchor)
    assert found.attributes["jpegPhoto"] == [encoded]


async def test_apply_runs_creates_side_by_side_in_order(connector: LdapConnector) -> None:
    run = tag()
    operations = [
        Operation(f"c{i}", Action.CREATE, USER, attributes=user(f"batch-{run}-{i}"))
        for i in range(12)
    ]
    operations.insert(5, Operation("dup", Action.CREATE, USER, attributes=user(f"batch-{run}-1")))
    results = await connector.apply(operations)
    assert [r.key for r in results] == [op.key for op in operations]
    errors = {r.key: r.error.error_class for r in results if r.error is not None}
    assert errors == {"dup": ErrorClass.CONFLICT}
    found = await connector.search(USER, StartsWith("uid", f"batch-{run}-"), Page(50))
    assert len(found.objects) == 12


# Deprovisioning ---------------------------------------------------------------------------


async def test_deprovision_delete(slapd_server: SlapdServer, connector: LdapConnector) -> None:
    anchor = await connector.create(USER, user(f"leaver-{tag()}"))
    await connector.delete(USER, anchor)
    with admin(slapd_server) as conn, pytest.raises(ldap3.core.exceptions.LDAPNoSuchObjectResult):
        conn.search(anchor, "(objectClass=*)", ldap3.BASE)
    with pytest.raises(NotFoundError):
        await connector.delete(USER, anchor)


async def test_deprovision_move(slapd_server: SlapdServer, container: str) -> None:
    connector = connector_for(slapd_server, deprovision="move", disabled_container=container)
    try:
        name = f"mover-{tag()}"
        anchor = await connector.create(USER, user(name))
        await connector.delete(USER, anchor)
        with pytest.raises(NotFoundError):
            await connector.get(USER, anchor)
        moved = f"uid={name},{container}"
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


# Group kinds ------------------------------------------------------------------------------


async def test_posix_group_member_uids(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server, group_object_classes=["posixGroup"])
    try:
        schema = await connector.schema()
        groups = schema.object_class(GROUP)
        assert groups is not None
        member_uid = next(a for a in groups.attributes if a.name == "memberUid")
        assert member_uid.multi_valued
        assert member_uid.type is AttributeType.STRING
        group = await connector.create(GROUP, {"cn": f"posix-{tag()}", "gidNumber": 5000})
        found = await connector.get(GROUP, group)
        assert found.attributes["gidNumber"] == 5000
        assert "memberUid" not in found.attributes  # empty is allowed: no placeholder

        async def change(kind: DeltaKind, *uids: str) -> None:
            await connector.update(GROUP, group, [Delta("memberUid", kind, uids)])

        await change(DeltaKind.ADD, "alice", "bob")
        await change(DeltaKind.ADD, "alice")  # already a member: no error
        await change(DeltaKind.REMOVE, "carol")  # not a member: no error
        await change(DeltaKind.ADD, "carol", "bob")  # one new, one already there
        found = await connector.get(GROUP, group)
        member_uids = found.attributes["memberUid"]
        assert isinstance(member_uids, list)
        assert sorted(map(str, member_uids)) == ["alice", "bob", "carol"]
        await change(DeltaKind.REMOVE, "alice", "bob", "carol")
        assert "memberUid" not in (await connector.get(GROUP, group)).attributes
    finally:
        await connector.close()


async def test_group_of_unique_names(slapd_server: SlapdServer, connector: LdapConnector) -> None:
    unique = connector_for(slapd_server, group_object_classes=["groupOfUniqueNames"])
    try:
        member = await connector.create(USER, user(f"unique-{tag()}"))
        group = await unique.create(GROUP, {"cn": f"unique-{tag()}"})
        assert "uniqueMember" not in (await unique.get(GROUP, group)).attributes
        assert raw_values(slapd_server, group, "uniqueMember") == [b""]  # the placeholder
        await unique.update(GROUP, group, [Delta("uniqueMember", DeltaKind.ADD, (member,))])
        assert raw_values(slapd_server, group, "uniqueMember") == [member.encode()]
        await unique.update(GROUP, group, [Delta("uniqueMember", DeltaKind.ADD, (member,))])
        found = await unique.get(GROUP, group)
        assert found.attributes["uniqueMember"] == [member]
        await unique.update(GROUP, group, [Delta("uniqueMember", DeltaKind.REMOVE, (member,))])
        assert "uniqueMember" not in (await unique.get(GROUP, group)).attributes
        assert raw_values(slapd_server, group, "uniqueMember") == [b""]
    finally:
        await unique.close()


async def test_group_of_names_placeholder_member(
    slapd_server: SlapdServer, connector: LdapConnector
) -> None:
    placeholder = f"cn=nobody,{slapd_server.base_dn}"
    groups = connector_for(slapd_server, empty_group_member=placeholder)
    try:
        first = await connector.create(USER, user(f"only-{tag()}"))
        second = await connector.create(USER, user(f"next-{tag()}"))
        group = await groups.create(GROUP, {"cn": f"placeholder-{tag()}", "member": [first]})
        await groups.update(GROUP, group, [Delta("member", DeltaKind.REMOVE, (first,))])
        assert raw_values(slapd_server, group, "member") == [placeholder.encode()]
        assert "member" not in (await groups.get(GROUP, group)).attributes
        await groups.update(GROUP, group, [Delta("member", DeltaKind.CLEAR)])
        assert raw_values(slapd_server, group, "member") == [placeholder.encode()]
        await groups.update(GROUP, group, [Delta("member", DeltaKind.ADD, (second,))])
        assert raw_values(slapd_server, group, "member") == [second.encode()]
    finally:
        await groups.close()


async def test_a_placeholder_seen_in_a_read_goes_with_the_next_member(
    slapd_server: SlapdServer, connector: LdapConnector
) -> None:
    """A connector that did not write the placeholder (another agent, or before a restart)
    leaves it beside new members until a read shows it, then removes it with the next."""
    first = await connector.create(USER, user(f"early-{tag()}"))
    second = await connector.create(USER, user(f"late-{tag()}"))
    group = await connector.create(GROUP, {"cn": f"inherited-{tag()}"})
    fresh = connector_for(slapd_server)
    try:
        await fresh.update(GROUP, group, [Delta("member", DeltaKind.ADD, (first,))])
        assert sorted(raw_values(slapd_server, group, "member")) == [b"", first.encode()]
        assert (await fresh.get(GROUP, group)).attributes["member"] == [first]
        await fresh.update(GROUP, group, [Delta("member", DeltaKind.ADD, (second,))])
        assert sorted(raw_values(slapd_server, group, "member")) == sorted(
            [first.encode(), second.encode()]
        )
    finally:
        await fresh.close()


# TLS --------------------------------------------------------------------------------------


async def test_ldaps_with_the_test_ca(slapd_server: SlapdServer) -> None:
    connector = connector_for(
        slapd_server, url=slapd_server.ldaps_url, ca_file=str(slapd_server.ca_file)
    )
    try:
        await connector.test()
        anchor = await connector.create(USER, user(f"ldaps-{tag()}"))
        assert (await connector.get(USER, anchor)).anchor == anchor
    finally:
        await connector.close()


async def test_start_tls_with_the_test_ca(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server, start_tls=True, ca_file=str(slapd_server.ca_file))
    try:
        await connector.test()
        anchor = await connector.create(USER, user(f"starttls-{tag()}"))
        assert (await connector.get(USER, anchor)).anchor == anchor
    finally:
        await connector.close()


@pytest.mark.parametrize("start_tls", [False, True])
async def test_an_untrusted_certificate_is_refused(
    slapd_server: SlapdServer, start_tls: bool
) -> None:
    url = slapd_server.url if start_tls else slapd_server.ldaps_url
    connector = connector_for(slapd_server, url=url, start_tls=start_tls)  # system CAs only
    try:
        with pytest.raises(AuthenticationError) as caught:
            await connector.test()
        assert "certificate" in caught.value.message
        assert "ca_file" in caught.value.message
    finally:
        await connector.close()


async def test_verification_can_be_turned_off(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server, url=slapd_server.ldaps_url, verify_certificate=False)
    try:
        await connector.test()
    finally:
        await connector.close()


# Errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "description", "message", "error_class", "attribute"),
    [
        (68, "entryAlreadyExists", "", ErrorClass.CONFLICT, None),
        (32, "noSuchObject", "", ErrorClass.NOT_FOUND, None),
        (49, "invalidCredentials", "", ErrorClass.AUTHENTICATION, None),
        (50, "insufficientAccessRights", "no write access", ErrorClass.AUTHENTICATION, None),
        (
            65,
            "objectClassViolation",
            "object class 'inetOrgPerson' requires attribute 'sn'",
            ErrorClass.INVALID_DATA,
            "sn",
        ),
        (
            21,
            "invalidAttributeSyntax",
            "mail: value #0 invalid per syntax",
            ErrorClass.INVALID_DATA,
            "mail",
        ),
        (
            19,
            "constraintViolation",
            "displayName: multiple values provided",
            ErrorClass.INVALID_DATA,
            "displayName",
        ),
        (
            17,
            "undefinedAttributeType",
            "foo: attribute type undefined",
            ErrorClass.INVALID_DATA,
            "foo",
        ),
        (
            64,
            "namingViolation",
            "value of naming attribute 'uid' is not present in entry",
            ErrorClass.INVALID_DATA,
            "uid",
        ),
        (51, "busy", "try later", ErrorClass.UNAVAILABLE, None),
        (52, "unavailable", "shutting down", ErrorClass.UNAVAILABLE, None),
        (3, "timeLimitExceeded", "", ErrorClass.TIMEOUT, None),
    ],
)
def test_result_codes_are_classified(
    code: int, description: str, message: str, error_class: ErrorClass, attribute: str | None
) -> None:
    """The directory's answers that the real server cannot easily be made to give."""
    exc = ldap3.core.exceptions.LDAPOperationResult(
        result=code, description=description, message=message, response_type="modifyResponse"
    )
    error = classify(exc, dn="uid=x,ou=people,dc=example,dc=org", names=["displayName", "SN"])
    assert error.error_class is error_class
    assert error.attribute == ("SN" if attribute == "sn" else attribute)  # spelled as sent
    assert error.message


async def test_wrong_password_is_an_authentication_error(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server, password="not-the-password")
    try:
        with pytest.raises(AuthenticationError) as caught:
            await connector.test()
        assert "bind_dn and password" in caught.value.message
    finally:
        await connector.close()


async def test_a_batch_with_wrong_credentials_fails_as_a_whole(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server, password="not-the-password")
    try:
        operations = [
            Operation(f"c{i}", Action.CREATE, USER, attributes=user(f"refused-{tag()}"))
            for i in range(20)
        ]
        results = await connector.apply(operations)
        assert [r.key for r in results] == [op.key for op in operations]
        assert {r.error.error_class if r.error else None for r in results} == {
            ErrorClass.AUTHENTICATION
        }
    finally:
        await connector.close()


async def test_closed_port_is_unavailable(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server, url=f"ldap://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(UnavailableError):
            await connector.test()
    finally:
        await connector.close()


async def test_a_silent_server_times_out(slapd_server: SlapdServer) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        connector = connector_for(slapd_server, url=f"ldap://127.0.0.1:{port}", receive_timeout=1)
        try:
            with pytest.raises(OperationTimeoutError):
                await asyncio.wait_for(connector.test(), 20)
        finally:
            await connector.close()


async def test_insufficient_rights_is_an_authentication_error(
    slapd_server: SlapdServer, connector: LdapConnector
) -> None:
    """A bind that works but may not write (the test server lets everyone read)."""
    name = f"reader-{tag()}"
    reader = await connector.create(USER, user(name, userPassword="reader-password"))
    limited = connector_for(slapd_server, bind_dn=reader, password="reader-password")
    try:
        await limited.test()
        with pytest.raises(AuthenticationError) as caught:
            await limited.create(USER, user(f"not-allowed-{tag()}"))
        assert "write access" in caught.value.message
    finally:
        await limited.close()


async def test_connections_recover_after_a_server_restart(
    slapd_server: SlapdServer, connector: LdapConnector
) -> None:
    anchor = await connector.create(USER, user(f"survivor-{tag()}"))
    try:
        slapd_server.stop()
        with pytest.raises(UnavailableError):
            await connector.get(USER, anchor)
    finally:
        slapd_server.start()
    assert (await connector.get(USER, anchor)).anchor == anchor


async def test_test_finds_a_missing_container(slapd_server: SlapdServer) -> None:
    template = f"uid={{uid}},ou=nowhere,{slapd_server.base_dn}"
    connector = connector_for(slapd_server, user_dn_template=template)
    try:
        with pytest.raises(NotFoundError) as caught:
            await connector.test()
        assert "ou=nowhere" in caught.value.message
    finally:
        await connector.close()


async def test_test_finds_an_unknown_object_class(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server, user_object_classes=["inetOrgPerson", "hatchwayUser"])
    try:
        with pytest.raises(InvalidDataError) as caught:
            await connector.test()
        assert caught.value.attribute == "hatchwayUser"
    finally:
        await connector.close()


async def test_unknown_object_class_is_invalid(connector: LdapConnector) -> None:
    with pytest.raises(InvalidDataError):
        await connector.create("printer", {"cn": "x"})


# Paging -----------------------------------------------------------------------------------


async def test_interleaved_paged_searches_do_not_disturb_each_other(
    connector: LdapConnector,
) -> None:
    run = tag()
    made = {
        prefix: {await connector.create(USER, user(f"{prefix}-{run}-{i:02}")) for i in range(9)}
        for prefix in ("left", "right")
    }
    seen: dict[str, set[str]] = {"left": set(), "right": set()}
    cookies: dict[str, str | None] = {"left": None, "right": None}
    pending = {"left", "right"}
    while pending:
        for prefix in sorted(pending):
            page = await connector.search(
                USER, StartsWith("uid", f"{prefix}-{run}-"), Page(2, cookies[prefix])
            )
            seen[prefix].update(o.anchor for o in page.objects)
            cookies[prefix] = page.cookie
            if page.cookie is None:
                pending.discard(prefix)
    assert seen == made


async def test_a_cookie_from_elsewhere_is_invalid(connector: LdapConnector) -> None:
    for user_index in range(3):
        await connector.create(USER, user(f"cookie-{user_index}-{tag()}"))
    with pytest.raises(InvalidDataError):
        await connector.search(USER, None, Page(2, "made-up.AAAA"))
    first = await connector.search(USER, StartsWith("uid", "cookie-"), Page(1))
    assert first.cookie is not None
    with pytest.raises(InvalidDataError):
        await connector.search(USER, StartsWith("uid", "other-"), Page(1, first.cookie))
