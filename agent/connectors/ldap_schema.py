"""The directory's own schema (its subschema entry, RFC 4512) as the contract's schema.

Read once per connector and kept: it also tells the connector how to write and read each
attribute's values (numbers, booleans, binary data as base64 text) and which attributes hold
one value and which a list.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import ldap3
from ldap3.protocol.rfc4512 import AttributeTypeInfo
from ldap3.protocol.rfc4512 import ObjectClassInfo as LdapClass

from shared.connector import AttributeInfo, AttributeType, ObjectClassInfo, Scalar
from shared.exceptions import InvalidDataError

_SYNTAX_PREFIX = "1.3.6.1.4.1.1466.115.121.1."
#: LDAP syntaxes (RFC 4517) by their last OID arc; anything else is a string.
_SYNTAXES = {
    "7": AttributeType.BOOLEAN,
    "27": AttributeType.INTEGER,
    "24": AttributeType.DATETIME,
    "53": AttributeType.DATETIME,
    "12": AttributeType.REFERENCE,
    "34": AttributeType.REFERENCE,
    "4": AttributeType.BINARY,
    "5": AttributeType.BINARY,
    "8": AttributeType.BINARY,
    "9": AttributeType.BINARY,
    "10": AttributeType.BINARY,
    "28": AttributeType.BINARY,
    "40": AttributeType.BINARY,
    "49": AttributeType.BINARY,
}
#: Written as text (a new password), never read back.
WRITE_ONLY = "userPassword"
#: The attributes a connector manages itself and so leaves out of the schema.
_MANAGED = frozenset({"objectclass"})


@dataclass(frozen=True, slots=True)
class AttributeDef:
    name: str
    type: AttributeType
    single_value: bool
    user_modifiable: bool


@dataclass(frozen=True, slots=True)
class DirectorySchema:
    """Attribute types by every lower-case name and alias, and object classes likewise."""

    attributes: dict[str, AttributeDef]
    classes: dict[str, LdapClass]

    def attribute(self, name: str) -> AttributeDef | None:
        return self.attributes.get(name.split(";", 1)[0].lower())

    def describe(
        self,
        contract_name: str,
        object_classes: Iterable[str],
        naming_attribute: str,
        optional: Iterable[str] = (),
    ) -> ObjectClassInfo:
        """One contract object class; the naming attribute is required and unique, and the
        ``optional`` attributes are not required even where the directory's class says so."""
        must, may = self._attribute_names(object_classes)
        relaxed = {n.lower() for n in optional}
        naming = naming_attribute.lower()
        out: list[AttributeInfo] = []
        for name in [*must, *may]:
            found = self.attribute(name)
            if found is None or found.name.lower() in _MANAGED:
                continue
            required = (name in must and name.lower() not in relaxed) or name.lower() == naming
            out.append(
                AttributeInfo(
                    name=found.name,
                    type=AttributeType.STRING if found.name == WRITE_ONLY else found.type,
                    multi_valued=not found.single_value,
                    required=required,
                    unique=found.name.lower() == naming,
                    updatable=found.user_modifiable,
                )
            )
        naming_def = self.attribute(naming_attribute)
        if naming_def is None:
            raise InvalidDataError(
                f"the directory's schema has no attribute type {naming_attribute!r}",
                attribute=naming_attribute,
            )
        return ObjectClassInfo(contract_name, naming_def.name, tuple(out))

    def _attribute_names(self, object_classes: Iterable[str]) -> tuple[list[str], list[str]]:
        must: dict[str, str] = {}
        may: dict[str, str] = {}
        for cls in self._with_superiors(object_classes):
            for name in cls.must_contain:
                must.setdefault(self._name(name).lower(), name)
            for name in cls.may_contain:
                may.setdefault(self._name(name).lower(), name)
        for key in must:
            may.pop(key, None)
        return [self._name(n) for n in must.values()], [self._name(n) for n in may.values()]

    def _name(self, name: str) -> str:
        found = self.attribute(name)
        return found.name if found is not None else name

    def _with_superiors(self, names: Iterable[str]) -> Iterator[LdapClass]:
        seen: set[str] = set()
        pending = list(names)
        while pending:
            name = pending.pop(0)
            if name.lower() in seen:
                continue
            seen.add(name.lower())
            cls = self.classes.get(name.lower())
            if cls is None:
                raise InvalidDataError(
                    f"the directory's schema has no object class {name!r}", attribute=name
                )
            yield cls
            pending.extend(cls.superior or [])


def read_schema(conn: ldap3.Connection) -> DirectorySchema:
    """Read the subschema entry the root DSE points at (blocking: runs in a worker)."""
    conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["subschemaSubentry"])
    entry = conn.response[0]["raw_attributes"] if conn.response else {}
    where = (entry.get("subschemaSubentry") or [b"cn=Subschema"])[0].decode()
    conn.search(
        where,
        "(objectClass=subschema)",
        ldap3.BASE,
        attributes=["objectClasses", "attributeTypes"],
    )
    raw = conn.response[0]["raw_attributes"] if conn.response else {}
    types = AttributeTypeInfo.from_definition([v.decode() for v in raw.get("attributeTypes", [])])
    classes = LdapClass.from_definition([v.decode() for v in raw.get("objectClasses", [])])
    return DirectorySchema(_attribute_defs(types), _by_lower_name(classes))


def _by_lower_name(found: dict[str, LdapClass]) -> dict[str, LdapClass]:
    out: dict[str, LdapClass] = {}
    for info in found.values():
        for name in info.name or []:
            out[name.lower()] = info
    return out


def _attribute_defs(found: dict[str, AttributeTypeInfo]) -> dict[str, AttributeDef]:
    by_name: dict[str, AttributeTypeInfo] = {}
    for info in found.values():
        for name in info.name or []:
            by_name[name.lower()] = info
    out: dict[str, AttributeDef] = {}
    for key, info in by_name.items():
        out[key] = AttributeDef(
            name=info.name[0],
            type=_type(info, by_name),
            single_value=bool(info.single_value),
            user_modifiable=not info.no_user_modification,
        )
    return out


def _type(info: AttributeTypeInfo, by_name: dict[str, AttributeTypeInfo]) -> AttributeType:
    """The syntax, inherited from the superior type when the type has none of its own."""
    seen: set[int] = set()
    current: AttributeTypeInfo | None = info
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.syntax:
            oid = re.sub(r"\{\d+\}$", "", current.syntax)
            if oid.startswith(_SYNTAX_PREFIX):
                return _SYNTAXES.get(oid.removeprefix(_SYNTAX_PREFIX), AttributeType.STRING)
            return AttributeType.STRING
        superior = current.superior[0].lower() if current.superior else None
        current = by_name.get(superior) if superior else None
    return AttributeType.STRING


# Values ----------------------------------------------------------------------------------


def encode_value(attribute: str, value: Scalar, kind: AttributeType) -> str | bytes:
    """A contract value as the directory stores it."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return str(value)
    text = "" if value is None else value
    check_text(attribute, text)
    if kind is AttributeType.BINARY and attribute.lower() != WRITE_ONLY.lower():
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidDataError(
                f"{attribute} holds binary data, sent as base64 text; this is not base64",
                attribute=attribute,
            ) from exc
    return text


def check_text(attribute: str, text: str) -> None:
    """Refuse text that has no UTF-8 form (a lone surrogate, which JSON can carry)."""
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise InvalidDataError(
            f"{attribute} holds text that is not valid Unicode (a lone surrogate)",
            attribute=attribute,
        ) from exc


def decode_value(raw: bytes, kind: AttributeType) -> Scalar:
    """A stored value as the contract carries it."""
    if kind is AttributeType.BINARY:
        return base64.b64encode(raw).decode("ascii")
    if kind is AttributeType.BOOLEAN:
        return raw == b"TRUE"
    if kind is AttributeType.INTEGER:
        try:
            return int(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii")
