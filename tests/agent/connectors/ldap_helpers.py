"""What the LDAP connector's test modules share: settings and connectors for the
throwaway slapd, and a plain ldap3 connection to look behind the connector's back."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import Any

import ldap3

from agent.connectors.ldap import LdapConnector
from tests.servers.slapd import SlapdServer


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
