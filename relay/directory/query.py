"""A parsed SCIM filter and a directory query, shared by the SCIM server and the stores.

The filter tree is :mod:`shared.scim_filter`'s, re-exported here for the stores. The SCIM
server's filter parser produces these trees and each store translates them to its own SQL,
so neither side depends on the other's text. Attribute names are normalised to the schema's
spelling by the parser; string comparisons honour the schema's ``caseExact``
(``userName``, ``emails`` and ``displayName`` ignore case; ``id`` and ``externalId`` do not;
:meth:`relay.directory.schemas.ResourceType.resolve` gives any attribute's definition);
dates compare as ISO-8601 text.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.scim_filter import (
    And,
    AttributePath,
    Compare,
    CompareOp,
    Filter,
    Not,
    Or,
    Present,
    ValuePath,
)

__all__ = [
    "And",
    "AttributePath",
    "Compare",
    "CompareOp",
    "Filter",
    "Not",
    "Or",
    "Present",
    "Query",
    "ValuePath",
]


@dataclass(frozen=True, slots=True)
class Query:
    filter: Filter | None = None
    sort_by: AttributePath | None = None
    descending: bool = False
    start_index: int = 1
    """1-based, as in SCIM."""
    count: int | None = None
    """None asks for the server's default page size."""
