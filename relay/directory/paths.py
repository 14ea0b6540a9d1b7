"""PATCH paths (RFC 7644 §3.5.2): ``attrPath / valuePath [subAttr]``, and value filters
evaluated against the values of a multi-valued attribute.

``members[value eq "2819c223"]``, ``emails[type eq "work"].value``, ``name.givenName`` and
``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`` all parse into a
:class:`PatchPath`; a path naming a whole extension schema has no attribute. Every fault is
a 400 ``invalidPath``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relay.directory.errors import ScimError, invalid_path
from relay.directory.filter_parser import MAX_COMPARISONS, MAX_DEPTH, normalise, resolve
from relay.directory.query import (
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
from relay.directory.schemas import Attribute, ResourceType, Type
from shared import scim_filter
from shared.scim_filter import ScimFilterError

MAX_PATH_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class PatchPath:
    schema: str | None
    """The extension URN, None for the core schema and the common attributes."""
    attribute: Attribute | None
    """None when the path names a whole extension schema."""
    value_filter: Filter | None = None
    sub_attribute: Attribute | None = None


def parse_path(text: str, resource_type: ResourceType) -> PatchPath:
    if not isinstance(text, str) or not text.strip():
        raise invalid_path("'path' must be a non-empty string")
    if len(text) > MAX_PATH_LENGTH:
        raise invalid_path(f"the path is longer than {MAX_PATH_LENGTH} characters")
    text = text.strip()
    extension = resource_type.extension(text) if ":" in text else None
    if extension is not None:
        return PatchPath(extension.id, None)
    try:
        parsed = scim_filter.parse_path(text, max_depth=MAX_DEPTH, max_comparisons=MAX_COMPARISONS)
        path, attribute, _ = resolve(
            AttributePath(parsed.attribute, None, parsed.schema), resource_type
        )
    except (ScimFilterError, ValueError) as exc:
        raise invalid_path(f"{text!r}: {exc}") from exc
    value_filter: Filter | None = None
    if parsed.value_filter is not None:
        if attribute.type != Type.COMPLEX or not attribute.multi_valued:
            raise invalid_path(f"{text!r}: a value filter needs a multi-valued complex attribute")
        try:
            value_filter = normalise(parsed.value_filter, resource_type, attribute)
        except ScimError as exc:
            raise invalid_path(f"{text!r}: {exc.detail}") from exc
    sub_attribute = None
    if parsed.sub_attribute is not None:
        sub_attribute = attribute.sub(parsed.sub_attribute)
        if sub_attribute is None:
            raise invalid_path(
                f"{text!r}: {attribute.name!r} has no sub-attribute {parsed.sub_attribute!r}"
            )
    return PatchPath(path.schema, attribute, value_filter, sub_attribute)


def matches(value_filter: Filter, value: Any, attribute: Attribute) -> bool:
    """Whether one value of the multi-valued complex ``attribute`` passes the filter."""
    if not isinstance(value, dict):
        return False
    match value_filter:
        case And(left, right):
            return matches(left, value, attribute) and matches(right, value, attribute)
        case Or(left, right):
            return matches(left, value, attribute) or matches(right, value, attribute)
        case Not(inner):
            return not matches(inner, value, attribute)
        case Present(path):
            return value.get(path.attribute) not in (None, "", [], {})
        case Compare(path, op, expected):
            sub = attribute.sub(path.attribute)
            return _compare(
                value.get(path.attribute), op, expected, sub is not None and sub.case_exact
            )
        case ValuePath():
            return False
    return False


def _compare(actual: Any, op: CompareOp, expected: Any, case_exact: bool) -> bool:
    if expected is None:
        return (actual is None) == (op == CompareOp.EQ)
    if actual is None:
        return op == CompareOp.NE
    if isinstance(actual, str) and isinstance(expected, str) and not case_exact:
        actual, expected = actual.lower(), expected.lower()
    if isinstance(actual, bool) != isinstance(expected, bool):
        return op == CompareOp.NE
    match op:
        case CompareOp.EQ:
            return bool(actual == expected)
        case CompareOp.NE:
            return bool(actual != expected)
    if isinstance(actual, str) != isinstance(expected, str):
        return False
    match op:
        case CompareOp.CO:
            return expected in actual
        case CompareOp.SW:
            return bool(actual.startswith(expected))
        case CompareOp.EW:
            return bool(actual.endswith(expected))
        case CompareOp.GT:
            return bool(actual > expected)
        case CompareOp.GE:
            return bool(actual >= expected)
        case CompareOp.LT:
            return bool(actual < expected)
        case CompareOp.LE:
            return bool(actual <= expected)
    return False


def equalities(value_filter: Filter) -> dict[str, Any] | None:
    """The sub-attribute values an ``eq``-only filter (joined by ``and``) pins, so a value
    can be created to match it (``emails[type eq "work"].value`` on a user without a work
    email); None for any other filter."""
    match value_filter:
        case Compare(path, CompareOp.EQ, expected) if expected is not None:
            return {path.attribute: expected}
        case And(left, right):
            first, second = equalities(left), equalities(right)
            if first is None or second is None:
                return None
            return {**first, **second}
    return None


def member_values(value_filter: Filter) -> list[str] | None:
    """The ids a members filter names when it is only ``value eq "id"`` comparisons joined
    by ``or`` (what Okta and Entra send), so they need not be read; None otherwise."""
    match value_filter:
        case Compare(path, CompareOp.EQ, str(expected)) if path.attribute == "value":
            return [expected]
        case Or(left, right):
            first, second = member_values(left), member_values(right)
            if first is None or second is None:
                return None
            return first + second
    return None
