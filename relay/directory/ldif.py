"""Reading LDIF files (RFC 2849) for ``hatchway directory import``.

Only content records, as an export of users and groups holds them: ``dn``, attributes with
plain or base64 (``::``) values, folded lines, comments. Change records and ``:<`` URL
values are refused, as is anything else the import cannot represent faithfully.
``inetOrgPerson`` entries become users and ``groupOfNames`` / ``groupOfUniqueNames`` entries
groups (members by DN); the mapping works on LDAP attribute names over
:data:`LDIF_MAPPING`. Other entries (OUs, the base) are skipped.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from relay.directory.import_rows import (
    GROUP_TYPE,
    GROUPS_COLUMN,
    Collector,
    ParsedFile,
    Record,
    Target,
    column_targets,
    user_resource,
)
from relay.directory.schemas import ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA
from relay.exceptions import ImportRefused
from relay.store.base import EntryKind


@dataclass(slots=True)
class LdifRecord:
    line: int
    dn: str
    #: Attribute values by lower-cased attribute name (options such as ``;lang-en`` dropped).
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def first(self, name: str) -> str | None:
        values = self.attributes.get(name.lower())
        return values[0] if values else None

    @property
    def object_classes(self) -> set[str]:
        return {value.lower() for value in self.attributes.get("objectclass", [])}


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with folded continuations joined, each with the number of its first line;
    blank lines come through as ``""`` (they end records); comments are dropped."""
    current: str | None = None
    start = 0
    in_comment = False
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.startswith(" ") and (current is not None or in_comment):
            if current is not None:
                current += raw[1:]
            continue
        if current is not None:
            yield start, current
            current = None
        in_comment = raw.startswith("#")
        if in_comment:
            continue
        if not raw.strip():
            yield number, ""
            continue
        current, start = raw, number
    if current is not None:
        yield start, current


def read_ldif(text: str, source: str) -> Iterator[LdifRecord]:
    """The content records of ``text``; raises :class:`~relay.exceptions.ImportRefused` at
    the first line that is not LDIF (``source`` names the file in the message)."""
    record: LdifRecord | None = None
    for number, line in _logical_lines(text):
        if not line:
            if record is not None:
                yield record
                record = None
            continue
        name, sep, rest = line.partition(":")
        if not sep or not name:
            raise ImportRefused(
                source, [(number, f"expected 'attribute: value', got {line[:40]!r}")]
            )
        if rest.startswith(":"):
            try:
                value = base64.b64decode(rest[1:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise ImportRefused(
                    source, [(number, f"{name}: not base64-encoded UTF-8")]
                ) from exc
        elif rest.startswith("<"):
            raise ImportRefused(
                source, [(number, f"{name}: values from URLs (':<') are not supported")]
            )
        else:
            value = rest.strip()
        key = name.split(";", 1)[0].strip().lower()
        if record is None:
            if key == "version":
                continue
            if key != "dn":
                raise ImportRefused(source, [(number, f"a record starts with 'dn:', not {name!r}")])
            record = LdifRecord(number, value)
            continue
        if key == "changetype":
            raise ImportRefused(
                source, [(number, "change records are not supported; export content")]
            )
        record.attributes.setdefault(key, []).append(value)
    if record is not None:
        yield record


#: How LDIF attributes become SCIM paths, before the user's own mapping.
LDIF_MAPPING: dict[str, str] = {
    "uid": "userName",
    "cn": "displayName",
    "givenname": "name.givenName",
    "sn": "name.familyName",
    "mail": 'emails[type eq "work"].value',
    "telephonenumber": 'phoneNumbers[type eq "work"].value',
    "mobile": 'phoneNumbers[type eq "mobile"].value',
    "title": "title",
    "preferredlanguage": "preferredLanguage",
    "entryuuid": "externalId",
    "employeenumber": f"{ENTERPRISE_USER_SCHEMA}:employeeNumber",
    "departmentnumber": f"{ENTERPRISE_USER_SCHEMA}:department",
    "o": f"{ENTERPRISE_USER_SCHEMA}:organization",
}
_USER_CLASSES = {"inetorgperson"}
_GROUP_CLASSES = {"groupofnames": "member", "groupofuniquenames": "uniquemember"}


def read_ldif_file(text: str, source: str, mapping: Mapping[str, str]) -> ParsedFile:
    collect = Collector(source)
    parsed = ParsedFile()
    merged = {**LDIF_MAPPING, **{k.lower(): v for k, v in mapping.items()}}
    targets = column_targets(merged, merged, collect, 0)
    if collect.problems:
        return collect.finish(parsed)
    for entry in read_ldif(text, source):
        classes = entry.object_classes
        member_attribute = next((a for c, a in _GROUP_CLASSES.items() if c in classes), None)
        if member_attribute is not None:
            _ldif_group(collect, parsed, entry, member_attribute)
        elif classes & _USER_CLASSES:
            pairs = [
                (target, value)
                for name, target in targets.items()
                if target is not None
                for value in _ldif_values(entry, name, target)
            ]
            user = user_resource(collect, entry.line, pairs)
            if user is not None:
                resource, groups = user
                record = Record(entry.line, EntryKind.USER, resource, _dn(entry.dn), None, groups)
                collect.record(parsed, record)
        else:
            parsed.skipped.append(entry.line)
    return collect.finish(parsed)


def _ldif_values(entry: LdifRecord, name: str, target: Target) -> list[str]:
    """Multi-valued targets take every value; single-valued ones the first."""
    values = entry.attributes.get(name, [])
    return values if target.multi_valued or target.attribute == GROUPS_COLUMN else values[:1]


def _ldif_group(
    collect: Collector, parsed: ParsedFile, entry: LdifRecord, member_attribute: str
) -> None:
    name = entry.first("cn")
    body: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "displayName": name}
    if entry.first("entryuuid"):
        body["externalId"] = entry.first("entryuuid")
    resource = collect.normalised(entry.line, GROUP_TYPE, body)
    if resource is None:
        return
    members = tuple(_dn(dn) for dn in entry.attributes.get(member_attribute, []))
    collect.record(parsed, Record(entry.line, EntryKind.GROUP, resource, _dn(entry.dn), members))


def _dn(dn: str) -> str:
    """A DN compared loosely: lower case, no spaces around separators."""
    return ",".join("=".join(p.strip() for p in rdn.split("=", 1)) for rdn in dn.lower().split(","))
