"""Reading users and groups from CSV, JSON and LDIF files for ``hatchway directory import``.

Pure: a file in, :class:`Record` objects out, each checked by the same rules the SCIM
endpoint applies (:func:`relay.directory.resources.normalise`). Every bad row is collected
with its line number and reported together in one :class:`~relay.exceptions.ImportRefused`,
so a file is fixed in one pass, and nothing is imported from a file with a bad row.

- CSV: a header row, one user per row. A column's header is its SCIM path unless the mapping
  says otherwise (``mail=emails[type eq "work"].value``, ``dept=urn:...:User:department``,
  ``notes=-`` to ignore a column). A ``groups`` column lists the display names of the
  user's groups, separated by ``;``.
- JSON: a list of SCIM resources, or a SCIM ListResponse. A group's ``members`` name the
  ``id`` of users and groups in the same file.
- LDIF: ``inetOrgPerson`` entries become users and ``groupOfNames`` /
  ``groupOfUniqueNames`` entries groups (members by DN); the mapping works on LDAP
  attribute names over :data:`LDIF_MAPPING`. Other entries (OUs, the base) are skipped.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from relay.directory.errors import ScimError
from relay.directory.ldif import LdifRecord, read_ldif
from relay.directory.resources import coerce, normalise
from relay.directory.schemas import (
    ENTERPRISE_USER_SCHEMA,
    GROUP_SCHEMA,
    USER_SCHEMA,
    Attribute,
    Mutability,
    ResourceType,
    resource_types,
)
from relay.exceptions import ImportRefused
from relay.store.base import EntryKind
from shared.settings import Table, read_toml

USER_TYPE, GROUP_TYPE = resource_types()
#: The separator of group names in a CSV ``groups`` column.
GROUP_SEPARATOR = ";"
IGNORE = "-"
GROUPS_COLUMN = "groups"

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
_TARGET = re.compile(
    r"^(?:(?P<urn>urn:[A-Za-z0-9:._-]+):)?(?P<attr>[A-Za-z][A-Za-z0-9_-]*)"
    r'(?:\[type eq "(?P<type>[^"]*)"\])?(?:\.(?P<sub>[A-Za-z][A-Za-z0-9_-]*))?$'
)


class Format(StrEnum):
    CSV = "csv"
    JSON = "json"
    LDIF = "ldif"

    @classmethod
    def of(cls, path: Path) -> Format:
        suffix = path.suffix.lower().lstrip(".")
        try:
            return cls(suffix)
        except ValueError as exc:
            raise ImportRefused(
                str(path), [(0, f"cannot tell the format from {path.name!r}; give --format")]
            ) from exc


@dataclass(frozen=True, slots=True)
class Record:
    line: int
    kind: EntryKind
    resource: dict[str, Any]
    #: The entry's id in the file (JSON ``id``, LDIF DN lower-cased), for member references.
    source_id: str | None = None
    #: Groups: the source ids of their members; None when the file names none.
    members: tuple[str, ...] | None = None
    #: Users (CSV): display names of their groups.
    groups: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        key = "userName" if self.kind is EntryKind.USER else "displayName"
        return str(self.resource[key])


@dataclass(frozen=True, slots=True)
class Target:
    """Where a column's value goes in a SCIM resource."""

    attribute: str
    sub: str | None = None
    type: str | None = None
    schema: str | None = None
    multi_valued: bool = False
    #: The definition of the value the column holds, which checks and converts it.
    leaf: Attribute | None = None


@dataclass(slots=True)
class ParsedFile:
    records: list[Record] = field(default_factory=list)
    #: Entries the import does not handle (LDIF OUs and the like), by line.
    skipped: list[int] = field(default_factory=list)


def parse_target(text: str, resource_type: ResourceType = USER_TYPE) -> Target | None:
    """A mapping's right-hand side; None for ``-`` (ignore). Raises :class:`ValueError`."""
    text = text.strip()
    if text == IGNORE:
        return None
    if text == GROUPS_COLUMN:
        return Target(GROUPS_COLUMN)
    match = _TARGET.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a SCIM path like name.givenName")
    found = resource_type.resolve(match["attr"], match["urn"])
    if found is None or found[0].name in ("id", "meta", "password", "members", "groups"):
        raise ValueError(f"{text!r} is not an attribute an import can set")
    attribute, schema = found
    sub = match["sub"]
    if sub is None and attribute.sub_attributes:
        if not attribute.multi_valued:
            raise ValueError(f"{attribute.name} is complex; name one of its sub-attributes")
        sub = "value"
    leaf = attribute
    if sub is not None:
        sub_attribute = attribute.sub(sub)
        if sub_attribute is None:
            raise ValueError(f"{attribute.name} has no sub-attribute {sub!r}")
        sub, leaf = sub_attribute.name, sub_attribute
    if leaf.mutability == Mutability.READ_ONLY:
        raise ValueError(f"{text!r} is read-only")
    if match["type"] is not None and not attribute.multi_valued:
        raise ValueError(f"{attribute.name} is single-valued; it takes no [type eq ...]")
    return Target(attribute.name, sub, match["type"], schema, attribute.multi_valued, leaf)


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """``column=path`` options into a mapping; raises :class:`ValueError`."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, target = pair.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise ValueError(f"{pair!r} is not COLUMN=PATH")
        mapping[column.strip()] = target.strip()
    return mapping


def _place(body: dict[str, Any], target: Target, value: Any) -> None:
    container = body if target.schema is None else body.setdefault(target.schema, {})
    if target.multi_valued:
        items: list[Any] = container.setdefault(target.attribute, [])
        if target.sub is None:
            items.append(value)
            return
        # Columns for one typed value (work value, work display) fill one element; a second
        # value of the same type (two LDAP mail values) starts another.
        element = next(
            (e for e in items if e.get("type") == target.type and target.sub not in e), None
        )
        if element is None or target.type is None:
            element = {} if target.type is None else {"type": target.type}
            items.append(element)
        element[target.sub] = value
    elif target.sub is not None:
        container.setdefault(target.attribute, {})[target.sub] = value
    else:
        container[target.attribute] = value


def _user(
    collect: _Collector, line: int, values: Iterable[tuple[Target, str]]
) -> tuple[dict[str, Any], tuple[str, ...]] | None:
    """A user's stored resource and groups from (target, text) pairs; None (and a problem
    recorded) if a value does not fit its attribute. Each value is converted by its
    attribute's definition, as the SCIM endpoint would, without a second pass over the
    whole resource: the targets were checked against the schema once, up front."""
    body: dict[str, Any] = {}
    groups: tuple[str, ...] = ()
    for target, text in values:
        if not text.strip():
            continue
        if target.leaf is None:
            groups += tuple(g.strip() for g in text.split(GROUP_SEPARATOR) if g.strip())
            continue
        try:
            where = target.attribute + (f".{target.sub}" if target.sub else "")
            value = coerce(target.leaf, text, where, single=True)
        except ScimError as exc:
            collect.add(line, exc.detail)
            return None
        _place(body, target, value)
    if not str(body.get("userName", "")).strip():
        collect.add(line, "'userName' is required")
        return None
    body["schemas"] = [USER_SCHEMA] + (
        [ENTERPRISE_USER_SCHEMA] if ENTERPRISE_USER_SCHEMA in body else []
    )
    return body, groups


class _Collector:
    """Bad rows, and the duplicates that make a row bad."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[tuple[int, str]] = []
        self._names: dict[tuple[EntryKind, str], int] = {}
        self._external: dict[tuple[EntryKind, str], int] = {}

    def add(self, line: int, message: str) -> None:
        self.problems.append((line, message))

    def record(self, parsed: ParsedFile, record: Record) -> None:
        key = (record.kind, record.name.lower())
        if key in self._names:
            attribute = "userName" if record.kind is EntryKind.USER else "displayName"
            self.add(
                record.line,
                f"{attribute} {record.name!r} is in the file twice (line {self._names[key]})",
            )
            return
        external = record.resource.get("externalId")
        if external is not None:
            ekey = (record.kind, external)
            if ekey in self._external:
                self.add(
                    record.line,
                    f"externalId {external!r} is in the file twice (line {self._external[ekey]})",
                )
                return
            self._external[ekey] = record.line
        self._names[key] = record.line
        parsed.records.append(record)

    def normalised(
        self, line: int, resource_type: ResourceType, body: Any
    ) -> dict[str, Any] | None:
        try:
            return normalise(resource_type, body).resource
        except ScimError as exc:
            self.add(line, exc.detail)
            return None

    def finish(self, parsed: ParsedFile) -> ParsedFile:
        if self.problems:
            raise ImportRefused(self.source, self.problems)
        return parsed


def read_file(
    path: Path, file_format: Format | None = None, mapping: Mapping[str, str] | None = None
) -> ParsedFile:
    """Read and check a whole file; raises :class:`~relay.exceptions.ImportRefused` listing
    every bad row, or :class:`OSError`."""
    file_format = file_format or Format.of(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problem = "not UTF-8 text; save the file as UTF-8"
        raise ImportRefused(str(path), [(line, problem)]) from exc
    readers = {Format.CSV: read_csv, Format.JSON: read_json, Format.LDIF: read_ldif_file}
    return readers[file_format](text, str(path), dict(mapping or {}))


def _targets(
    columns: Iterable[str], mapping: Mapping[str, str], collect: _Collector, line: int
) -> dict[str, Target | None]:
    targets: dict[str, Target | None] = {}
    for column in columns:
        try:
            targets[column] = parse_target(mapping.get(column, column))
        except ValueError as exc:
            hint = (
                "" if column in mapping else f"; map it with --map '{column}=PATH' or '{column}=-'"
            )
            collect.add(line, f"column {column!r}: {exc}{hint}")
    return targets


def read_csv(text: str, source: str, mapping: Mapping[str, str]) -> ParsedFile:
    collect = _Collector(source)
    parsed = ParsedFile()
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRefused(source, [(1, "the file is empty; a header row is needed")]) from None
    except csv.Error as exc:
        raise ImportRefused(source, [(1, f"not CSV: {exc}")]) from exc
    header = [column.strip() for column in header]
    unknown = sorted(set(mapping) - set(header))
    for column in unknown:
        collect.add(1, f"the mapping names column {column!r}, which the header lacks")
    targets = _targets(header, mapping, collect, 1)
    if collect.problems:
        return collect.finish(parsed)
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            collect.add(line, f"not CSV: {exc}")
            break
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            collect.add(start, f"{len(row)} cells; the header has {len(header)}")
            continue
        pairs = [(t, cell) for t, cell in zip(targets.values(), row, strict=True) if t is not None]
        user = _user(collect, start, pairs)
        if user is not None:
            collect.record(parsed, Record(start, EntryKind.USER, user[0], groups=user[1]))
    return collect.finish(parsed)


def _json_elements(text: str, source: str) -> Iterator[tuple[int, Any]]:
    """The resources of a JSON list or ListResponse, each with the line it starts on."""
    decoder = json.JSONDecoder()

    def line_of(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    def skip(offset: int) -> int:
        while offset < len(text) and text[offset] in " \t\r\n":
            offset += 1
        return offset

    def array(offset: int) -> Iterator[tuple[int, Any]]:
        offset = skip(offset + 1)
        if text.startswith("]", offset):
            return
        while True:
            offset = skip(offset)
            value, end = decoder.raw_decode(text, offset)
            yield line_of(offset), value
            offset = skip(end)
            if text.startswith("]", offset):
                return
            if not text.startswith(",", offset):
                raise json.JSONDecodeError("expected ',' or ']'", text, offset)
            offset += 1

    try:
        start = skip(0)
        if text.startswith("[", start):
            yield from array(start)
            return
        document, _ = decoder.raw_decode(text, start)
        if not isinstance(document, dict) or not isinstance(document.get("Resources"), list):
            raise ImportRefused(
                source, [(line_of(start), "expected a list of resources or a ListResponse")]
            )
        found = re.search(r'"Resources"\s*:\s*\[', text)
        assert found is not None  # the key is there: raw_decode just read it
        yield from array(found.end() - 1)
    except json.JSONDecodeError as exc:
        raise ImportRefused(source, [(exc.lineno, f"not JSON: {exc.msg}")]) from exc


def read_json(text: str, source: str, mapping: Mapping[str, str]) -> ParsedFile:
    collect = _Collector(source)
    parsed = ParsedFile()
    if mapping:
        raise ImportRefused(source, [(0, "a JSON file holds SCIM resources; it takes no mapping")])
    for line, item in _json_elements(text, source):
        if not isinstance(item, dict):
            collect.add(line, "a resource must be a JSON object")
            continue
        schemas = item.get("schemas")
        is_group = isinstance(schemas, list) and GROUP_SCHEMA in schemas
        resource_type = GROUP_TYPE if is_group else USER_TYPE
        try:
            written = normalise(resource_type, item)
        except ScimError as exc:
            collect.add(line, exc.detail)
            continue
        source_id = item.get("id") if isinstance(item.get("id"), str) else None
        kind = EntryKind.GROUP if is_group else EntryKind.USER
        collect.record(parsed, Record(line, kind, written.resource, source_id, written.members))
    return collect.finish(parsed)


def read_ldif_file(text: str, source: str, mapping: Mapping[str, str]) -> ParsedFile:
    collect = _Collector(source)
    parsed = ParsedFile()
    merged = {**LDIF_MAPPING, **{k.lower(): v for k, v in mapping.items()}}
    targets = _targets(merged, merged, collect, 0)
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
            user = _user(collect, entry.line, pairs)
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
    collect: _Collector, parsed: ParsedFile, entry: LdifRecord, member_attribute: str
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


def load_mapping_file(path: Path) -> dict[str, str]:
    """A TOML mapping file: a ``[columns]`` table of ``column = "scim path"``."""
    table = Table(read_toml(path), source=str(path))
    columns = table.string_map("columns")
    table.reject_unknown()
    for column, target in columns.items():
        try:
            parse_target(target)
        except ValueError as exc:
            raise table.error(f"columns.{column}", str(exc)) from exc
    return columns
