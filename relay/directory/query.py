"""A parsed SCIM filter and a directory query, shared by the SCIM server and the stores.

The SCIM server's filter parser produces these trees and each store translates them to its
own SQL, so neither side depends on the other's text. Attribute names are normalised to the
schema's spelling by the parser; string comparisons honour the schema's ``caseExact``
(``userName``, ``emails`` and ``displayName`` ignore case; ``id`` and ``externalId`` do not;
:meth:`relay.directory.schemas.ResourceType.resolve` gives any attribute's definition);
dates compare as ISO-8601 text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class AttributePath:
    attribute: str
    """``userName``, ``name``, ``emails``, ``members``, ``meta``: the schema's spelling."""
    sub_attribute: str | None = None
    """``givenName``, ``value``, ``type``, ``lastModified``; None for a simple attribute."""
    schema: str | None = None
    """An extension URN such as the enterprise user's; None for the core schema."""


class CompareOp(StrEnum):
    EQ = "eq"
    NE = "ne"
    CO = "co"
    SW = "sw"
    EW = "ew"
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"


@dataclass(frozen=True, slots=True)
class Compare:
    path: AttributePath
    op: CompareOp
    value: str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Present:
    path: AttributePath


@dataclass(frozen=True, slots=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True, slots=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True, slots=True)
class Not:
    inner: Filter


@dataclass(frozen=True, slots=True)
class ValuePath:
    """``emails[type eq "work" and value co "@x"]``: the inner filter's paths are
    sub-attributes of ``path.attribute`` and must hold for one and the same value. Inner
    paths carry the sub-attribute's name in ``attribute`` (``AttributePath("type")``), with
    ``sub_attribute`` and ``schema`` None; value paths do not nest."""

    path: AttributePath
    filter: Filter


Filter = Compare | Present | And | Or | Not | ValuePath


@dataclass(frozen=True, slots=True)
class Query:
    filter: Filter | None = None
    sort_by: AttributePath | None = None
    descending: bool = False
    start_index: int = 1
    """1-based, as in SCIM."""
    count: int | None = None
    """None asks for the server's default page size."""
