"""What ``hatchway directory import`` reads from a file, whatever its format: the
:class:`Record` each user or group becomes, the column mapping (:func:`parse_target`), and
the :class:`Collector` that gathers every bad row with its line number so that a file is
fixed in one pass. The readers are :mod:`relay.directory.importer` (CSV, JSON) and
:mod:`relay.directory.ldif`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from relay.directory.errors import ScimError
from relay.directory.resources import coerce, normalise
from relay.directory.schemas import (
    ENTERPRISE_USER_SCHEMA,
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


def place(body: dict[str, Any], target: Target, value: Any) -> None:
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


def user_resource(
    collect: Collector, line: int, values: Iterable[tuple[Target, str]]
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
        place(body, target, value)
    if not str(body.get("userName", "")).strip():
        collect.add(line, "'userName' is required")
        return None
    body["schemas"] = [USER_SCHEMA] + (
        [ENTERPRISE_USER_SCHEMA] if ENTERPRISE_USER_SCHEMA in body else []
    )
    return body, groups


class Collector:
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


def column_targets(
    columns: Iterable[str], mapping: Mapping[str, str], collect: Collector, line: int
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
