"""The requests the LDAP connector's worker threads send, each on the connection the pool
gives it, with the directory's answers translated where the DN and attributes are known;
and the entries and values they carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPNoSuchObjectResult, LDAPOperationResult

from agent.connectors.ldap_adds import Add
from agent.connectors.ldap_changes import Membership, Plan, Value, modify
from agent.connectors.ldap_errors import DN_REFUSED, classify, shortened
from agent.connectors.ldap_filters import escape_filter_value
from agent.connectors.ldap_names import (
    DnTemplate,
    Rdn,
    escape_value,
    is_attribute_name,
    join,
    split_first,
)
from agent.connectors.ldap_schema import DirectorySchema, encode_value
from agent.connectors.ldap_settings import Deprovision, LdapSettings
from shared.connector import USER, Attributes, AttributeType, Scalar
from shared.exceptions import InvalidDataError, NotFoundError


@dataclass(frozen=True, slots=True)
class Kind:
    """One contract object class as this directory keeps it."""

    name: str
    template: DnTemplate
    object_classes: tuple[str, ...]
    membership: Membership | None = None

    @property
    def class_filter(self) -> str:
        parts = "".join(f"(objectClass={escape_filter_value(c)})" for c in self.object_classes)
        return f"(&{parts})"


def modify_entry(
    kind: Kind, dn: str, changes: Plan, names: list[str], conn: ldap3.Connection
) -> tuple[bool, str]:
    try:
        refilled = modify(conn, dn, changes.changes, changes.refill)
        if changes.new_name is None:
            return refilled, dn
        naming = kind.template.naming_attribute
        _, parent = _split(dn)
        try:
            conn.modify_dn(dn, f"{naming}={escape_value(changes.new_name)}", delete_old_dn=True)
        except LDAPOperationResult as exc:
            error = classify(exc, dn=dn, names=names)
            if error.attribute is None and exc.result in DN_REFUSED:
                error.attribute = naming
            raise error from exc
        return refilled, join(Rdn(naming, changes.new_name), parent)
    except LDAPOperationResult as exc:
        raise classify(exc, dn=dn, names=names) from exc


def deprovision(settings: LdapSettings, kind: Kind, dn: str, conn: ldap3.Connection) -> None:
    mode = settings.deprovision if kind.name == USER else Deprovision.DELETE
    try:
        if mode is Deprovision.MOVE:
            rdn, _ = _split(dn)
            conn.modify_dn(dn, rdn, delete_old_dn=True, new_superior=settings.disabled_container)
        elif mode is Deprovision.ATTRIBUTE:
            attribute = settings.disabled_attribute or ""
            value = settings.disabled_value or ""
            conn.modify(dn, {attribute: [(ldap3.MODIFY_REPLACE, [value])]})
        else:
            conn.delete(dn)
    except LDAPOperationResult as exc:
        names = [] if mode is not Deprovision.ATTRIBUTE else [settings.disabled_attribute or ""]
        raise classify(exc, dn=dn, names=names) from exc


def read_entry(kind: Kind, dn: str, conn: ldap3.Connection) -> dict[str, Any]:
    try:
        conn.search(dn, kind.class_filter, ldap3.BASE, attributes=["*"])
    except LDAPNoSuchObjectResult as exc:
        raise NotFoundError(f"no {kind.name} at {shortened(dn)}") from exc
    except LDAPOperationResult as exc:
        raise classify(exc, dn=dn) from exc
    entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
    if not entries:
        raise NotFoundError(
            f"the entry at {shortened(dn)} is not a {kind.name} ({kind.class_filter})"
        )
    entry: dict[str, Any] = entries[0]
    return entry


def name_in(kind: Kind, anchor: str) -> str:
    try:
        return kind.template.rdn_value(anchor)
    except ValueError as exc:
        raise InvalidDataError(f"the anchor {shortened(anchor)!r} is not a DN: {exc}") from exc


def _split(dn: str) -> tuple[str, str]:
    try:
        return split_first(dn)
    except ValueError as exc:
        raise InvalidDataError(f"the anchor {shortened(dn)!r} is not a DN: {exc}") from exc


def encode(found: DirectorySchema, attribute: str, value: Scalar) -> Value:
    definition = found.attribute(attribute)
    kind = AttributeType.STRING if definition is None else definition.type
    return encode_value(attribute, value, kind)


def new_entry(kind: Kind, attributes: Attributes, found: DirectorySchema) -> Add:
    naming = kind.template.naming_attribute
    entry: dict[str, list[Value]] = {}
    name_value: str | None = None
    for attribute, value in attributes.items():
        if not is_attribute_name(attribute):
            raise InvalidDataError(
                f"{attribute!r} is not an LDAP attribute name", attribute=attribute
            )
        if attribute.lower() == "objectclass":
            raise InvalidDataError(
                "objectClass is set by the connector's settings", attribute=attribute
            )
        values = [v for v in (value if isinstance(value, list) else [value]) if v is not None]
        if attribute.lower() == naming.lower():
            if len(values) != 1 or not isinstance(values[0], str) or not values[0]:
                raise InvalidDataError(
                    f"{attribute} names the object in its DN: it needs exactly one non-empty"
                    " text value",
                    attribute=attribute,
                )
            name_value = values[0]
        if values:
            entry[attribute] = [encode(found, attribute, v) for v in values]
    if name_value is None:
        raise InvalidDataError(
            f"{naming} is required: it names the object in its DN", attribute=naming
        )
    membership = kind.membership
    if membership is not None and membership.placeholder is not None:
        held = {a.lower() for a in entry}
        if membership.attribute.lower() not in held:
            entry[membership.attribute] = [membership.placeholder]
    return Add(naming, kind.template.dn(name_value), kind.object_classes, entry)
