"""The settings of the LDAP connector: its ``[connectors.NAME]`` table, loaded and checked."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Self

from agent.connectors.ldap_names import DnTemplate, is_attribute_name, parse_dn
from agent.connectors.settings_checks import ca_file, choice
from shared.secret import Secret
from shared.settings import Table

#: The attribute holding members, by group object class (lower case).
MEMBER_ATTRIBUTES = {
    "groupofnames": "member",
    "groupofuniquenames": "uniqueMember",
    "posixgroup": "memberUid",
}
#: Member attributes whose values are DNs; these classes also require at least one member.
DN_MEMBER_ATTRIBUTES = frozenset({"member", "uniquemember"})


class Deprovision(StrEnum):
    """What the contract's ``delete`` of a user does."""

    DELETE = "delete"
    MOVE = "move"
    ATTRIBUTE = "attribute"


class Scope(StrEnum):
    SUBTREE = "subtree"
    ONE = "one"


@dataclass(frozen=True, slots=True)
class LdapSettings:
    """The ``[connectors.NAME]`` table of a connector with ``type = "ldap"``."""

    #: ``ldap://host:port`` or ``ldaps://host:port``.
    url: str
    #: The DN the connector binds as, and its password.
    bind_dn: str
    password: Secret
    #: Where users live and how their DN is built: ``uid={uid},ou=people,dc=example,dc=org``.
    user_template: DnTemplate
    #: Where groups live; ``None`` means the connector serves users only.
    group_template: DnTemplate | None = None
    user_object_classes: tuple[str, ...] = ("inetOrgPerson",)
    group_object_classes: tuple[str, ...] = ("groupOfNames",)
    #: The group attribute holding members; by default the one of the group object class.
    member_attribute: str = "member"
    #: The member written into a DN-membered group that would otherwise be empty.
    empty_group_member: str = ""
    #: Upgrade a plain ``ldap://`` connection with StartTLS before binding.
    start_tls: bool = False
    #: PEM file of the CAs to trust; ``None`` trusts the system's CAs.
    ca_file: Path | None = None
    #: Check the server's certificate and name. Turning this off invites impostors.
    verify_certificate: bool = True
    #: Seconds to wait for a TCP (and TLS) connection.
    connect_timeout: float = 10.0
    #: Seconds to wait for each answer from the server, rounded up to whole seconds.
    receive_timeout: float = 30.0
    #: Connections, each owned by one worker thread.
    pool_size: int = 4
    search_scope: Scope = Scope.SUBTREE
    deprovision: Deprovision = Deprovision.DELETE
    #: Where ``deprovision = "move"`` puts users.
    disabled_container: str | None = None
    #: The attribute and value ``deprovision = "attribute"`` sets.
    disabled_attribute: str | None = None
    disabled_value: str | None = None
    #: Seconds an unfinished paged search keeps its connection before it is closed.
    page_timeout: float = 300.0

    @property
    def ldaps(self) -> bool:
        return self.url.startswith("ldaps://")

    @property
    def dn_members(self) -> bool:
        """Whether member values are DNs (and so the placeholder member is needed)."""
        return self.member_attribute.lower() in DN_MEMBER_ATTRIBUTES

    @classmethod
    def load(cls, table: Table) -> Self:
        table.optional_string("type")
        password = table.secret("password")
        assert password is not None  # required=True raised otherwise
        group_classes = _classes(table, "group_object_classes", ("groupOfNames",))
        settings = cls(
            url=_url(table),
            bind_dn=_dn(table, "bind_dn", required=True),
            password=password,
            user_template=_template(table, "user_dn_template"),
            group_template=_optional_template(table, "group_dn_template"),
            user_object_classes=_classes(table, "user_object_classes", ("inetOrgPerson",)),
            group_object_classes=group_classes,
            member_attribute=_member_attribute(table, group_classes),
            empty_group_member=_empty_group_member(table),
            start_tls=table.boolean("start_tls", False),
            ca_file=ca_file(table),
            verify_certificate=table.boolean("verify_certificate", True),
            connect_timeout=table.number("connect_timeout", 10.0, minimum=0.1),
            receive_timeout=table.number("receive_timeout", 30.0, minimum=1.0),
            pool_size=table.integer("pool_size", 4, minimum=1, maximum=32),
            search_scope=choice(table, "search_scope", Scope, Scope.SUBTREE),
            deprovision=choice(table, "deprovision", Deprovision, Deprovision.DELETE),
            disabled_container=_optional_dn(table, "disabled_container"),
            disabled_attribute=_optional_attribute(table, "disabled_attribute"),
            disabled_value=table.optional_string("disabled_value"),
            page_timeout=table.number("page_timeout", 300.0, minimum=1.0),
        )
        table.reject_unknown()
        settings._check(table)
        return settings

    def _check(self, table: Table) -> None:
        if self.start_tls and self.ldaps:
            raise table.error("start_tls", "cannot be used with an ldaps:// url, which is TLS")
        if self.deprovision is Deprovision.MOVE and self.disabled_container is None:
            raise table.error("disabled_container", 'is required when deprovision = "move"')
        if self.deprovision is Deprovision.ATTRIBUTE:
            if self.disabled_attribute is None:
                raise table.error(
                    "disabled_attribute", 'is required when deprovision = "attribute"'
                )
            if self.disabled_value is None:
                raise table.error("disabled_value", 'is required when deprovision = "attribute"')


def _url(table: Table) -> str:
    text = table.string("url", required=True).strip().rstrip("/")
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("ldap", "ldaps"):
        raise table.error("url", f"must start with ldap:// or ldaps://, not {text!r}")
    if not parts.hostname:
        raise table.error("url", f"has no host name: {text!r}")
    if parts.path or parts.query or parts.fragment:
        raise table.error("url", "must be ldap[s]://host[:port] without a path or query")
    try:
        _ = parts.port  # reading it validates it
    except ValueError as exc:
        raise table.error("url", f"has an invalid port: {exc}") from exc
    return text


def _dn(table: Table, key: str, *, required: bool) -> str:
    text = table.string(key, "", required=required).strip()
    try:
        parse_dn(text)
    except ValueError as exc:
        raise table.error(key, f"is not a valid DN: {exc}") from exc
    return text


def _optional_dn(table: Table, key: str) -> str | None:
    if table.optional_string(key) is None:
        return None
    return _dn(table, key, required=True)


def _template(table: Table, key: str) -> DnTemplate:
    text = table.string(key, required=True)
    try:
        return DnTemplate.parse(text)
    except ValueError as exc:
        raise table.error(key, f"{exc} (got {text!r})") from exc


def _optional_template(table: Table, key: str) -> DnTemplate | None:
    return None if table.optional_string(key) is None else _template(table, key)


def _classes(table: Table, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    classes = table.string_list(key, default)
    if not classes:
        raise table.error(key, "must name at least one object class")
    for name in classes:
        if not is_attribute_name(name):
            raise table.error(key, f"{name!r} is not an object class name")
    return classes


def _member_attribute(table: Table, group_classes: tuple[str, ...]) -> str:
    explicit = table.optional_string("member_attribute")
    if explicit is not None:
        if not is_attribute_name(explicit):
            raise table.error("member_attribute", f"{explicit!r} is not an attribute name")
        return explicit
    for name in group_classes:
        found = MEMBER_ATTRIBUTES.get(name.lower())
        if found is not None:
            return found
    raise table.error(
        "member_attribute",
        "is required: group_object_classes has none of groupOfNames, groupOfUniqueNames,"
        " posixGroup",
    )


def _empty_group_member(table: Table) -> str:
    text = table.string("empty_group_member", "")
    try:
        parse_dn(text)
    except ValueError as exc:
        raise table.error("empty_group_member", f"is not a valid DN: {exc}") from exc
    return text


def _optional_attribute(table: Table, key: str) -> str | None:
    name = table.optional_string(key)
    if name is not None and not is_attribute_name(name):
        raise table.error(key, f"{name!r} is not an attribute name")
    return name
