"""The LDAP connector's settings: errors naming the file and key, the documented example,
defaults; and DNs escaped and parsed (RFC 4514)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from agent.connectors.ldap import LdapConnector
from agent.connectors.ldap_names import DnTemplate, dn_key, escape_value, parse_dn, split_first
from shared.connector import USER
from shared.exceptions import SettingsError
from tests.agent.connectors.ldap_helpers import connector_for, raw_values, tag, user
from tests.servers.slapd import SlapdServer

pytestmark = [
    pytest.mark.server,
    # ldap3 checks certificate names with ssl.match_hostname, deprecated since Python 3.7.
    pytest.mark.filterwarnings("ignore:ssl.match_hostname:DeprecationWarning"),
]


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
        ({"ca_file": "/nonexistent/ca.pem"}, "ca_file", "cannot load CA certificates"),
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


async def test_the_documented_example_works(slapd_server: SlapdServer, ldap_container: str) -> None:
    """The example of docs/connectors.md's LDAP section, pointed at the test server: StartTLS
    with a CA file, then a user created and deprovisioned by moving it."""
    text = (Path(__file__).parents[3] / "docs" / "connectors.md").read_text()
    section = text[text.index("## LDAP connector") :]
    example = section[section.index("```toml") + len("```toml") : section.index("```\n\n")]
    table = tomllib.loads(example)["connectors"]["directory"]
    base = slapd_server.base_dn
    table.update(  # the example names the company's directory, account and CA
        url=slapd_server.url,
        bind_dn=slapd_server.admin_dn,
        password=slapd_server.admin_password,
        user_dn_template=f"uid={{uid}},ou=people,{base}",
        group_dn_template=f"cn={{cn}},ou=groups,{base}",
        disabled_container=ldap_container,
        ca_file=str(slapd_server.ca_file),
    )
    connector = LdapConnector.from_settings("directory", table, source="agent.toml")
    try:
        assert connector.settings.start_tls
        await connector.test()
        name = f"example-{tag()}"
        anchor = await connector.create(USER, user(name))
        await connector.delete(USER, anchor)
        assert raw_values(slapd_server, f"uid={name},{ldap_container}", "uid") == [name.encode()]
    finally:
        await connector.close()


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
