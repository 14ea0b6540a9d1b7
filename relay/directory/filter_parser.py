"""SCIM filters (RFC 7644 §3.4.2.2) parsed into :mod:`relay.directory.query` trees.

The grammar is :mod:`shared.scim_filter`'s; this module gives the tree the directory's
meaning. Attribute names are checked against the resource type's schemas and normalised to
their spelling, so the stores never see a name they do not know, and values are converted
to the attribute's type. Filters come from the network: length, nesting depth and the number
of comparisons are bounded, and any fault is a 400 ``invalidFilter``, never an exception of
another kind.
"""

from __future__ import annotations

from datetime import datetime
from typing import assert_never

from relay.directory.errors import invalid_filter
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
from relay.directory.schemas import Attribute, ResourceType, Returned, Type
from shared import scim_filter
from shared.scim_filter import ScimFilterError, parse_attribute_path

#: Longest filter text accepted, in characters.
MAX_FILTER_LENGTH = 4096
#: Deepest nesting of parentheses, ``not`` and value paths.
MAX_DEPTH = 16
#: Most comparisons (``eq``, ``pr``, ...) in one filter.
MAX_COMPARISONS = 100

_ORDERING = {CompareOp.GT, CompareOp.GE, CompareOp.LT, CompareOp.LE}
_SUBSTRING = {CompareOp.CO, CompareOp.SW, CompareOp.EW}


def split_path(text: str) -> tuple[str | None, str, str | None]:
    """``[URN ":"] attribute ["." sub-attribute]`` into its three parts; :class:`ValueError`
    if ``text`` is not one."""
    try:
        path = parse_attribute_path(text)
    except ScimFilterError as exc:
        raise ValueError(f"{text!r} is not an attribute path: {exc}") from exc
    return path.schema, path.attribute, path.sub_attribute


def resolve_path(
    text: str, resource_type: ResourceType
) -> tuple[AttributePath, Attribute, Attribute | None]:
    """An attribute path's text checked against the schemas (see :func:`resolve`)."""
    urn, name, sub = split_path(text)
    return resolve(AttributePath(name, sub, urn), resource_type)


def resolve(
    path: AttributePath, resource_type: ResourceType
) -> tuple[AttributePath, Attribute, Attribute | None]:
    """An attribute path checked against the schemas, in the schema's spelling, with the
    attribute's and sub-attribute's definitions. :class:`ValueError` says what is wrong."""
    found = resource_type.resolve(path.attribute, path.schema)
    if found is None:
        where = f" in schema {path.schema}" if path.schema else ""
        raise ValueError(f"unknown attribute {path.attribute!r}{where}")
    attribute, schema = found
    sub_attribute: Attribute | None = None
    if path.sub_attribute is not None:
        sub_attribute = attribute.sub(path.sub_attribute)
        if sub_attribute is None:
            raise ValueError(f"unknown sub-attribute {path.sub_attribute!r} of {attribute.name!r}")
    resolved = AttributePath(
        attribute.name, None if sub_attribute is None else sub_attribute.name, schema
    )
    return resolved, attribute, sub_attribute


def parse_filter(text: str, resource_type: ResourceType) -> Filter:
    """Parse ``text`` for ``resource_type``; raises :class:`ScimError` (400 invalidFilter)."""
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid_filter(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    if not text.strip():
        raise invalid_filter("the filter is empty")
    try:
        parsed = scim_filter.parse_filter(
            text, max_depth=MAX_DEPTH, max_comparisons=MAX_COMPARISONS
        )
    except ScimFilterError as exc:
        raise invalid_filter(str(exc)) from exc
    return normalise(parsed, resource_type, None)


def normalise(node: Filter, resource_type: ResourceType, parent: Attribute | None) -> Filter:
    """A parsed filter in the schema's spelling with values of the attributes' types; inside
    a value filter, ``parent`` is the attribute whose sub-attributes the paths name. Raises
    :class:`ScimError` (400 invalidFilter)."""
    match node:
        case And(left, right):
            return And(
                normalise(left, resource_type, parent), normalise(right, resource_type, parent)
            )
        case Or(left, right):
            return Or(
                normalise(left, resource_type, parent), normalise(right, resource_type, parent)
            )
        case Not(inner):
            return Not(normalise(inner, resource_type, parent))
        case ValuePath(path, inner):
            resolved, attribute, _ = _path(path, resource_type, parent)
            if attribute.type != Type.COMPLEX:
                raise invalid_filter(f"{attribute.name!r} is not complex: it has no value filter")
            return ValuePath(resolved, normalise(inner, resource_type, attribute))
        case Present(path):
            return Present(_path(path, resource_type, parent)[0])
        case Compare(path, op, value):
            resolved, attribute, sub_attribute = _path(path, resource_type, parent)
            target = sub_attribute or attribute
            if target.type == Type.COMPLEX:
                value_sub = target.sub("value")
                if value_sub is None or sub_attribute is not None:
                    raise invalid_filter(
                        f"{target.name!r} is complex: name one of its sub-attributes"
                    )
                resolved = AttributePath(resolved.attribute, value_sub.name, resolved.schema)
                target = value_sub
            return Compare(resolved, op, _checked(target, op, value))
    assert_never(node)


def _path(
    path: AttributePath, resource_type: ResourceType, parent: Attribute | None
) -> tuple[AttributePath, Attribute, Attribute | None]:
    if parent is not None:
        found = parent.sub(path.attribute)
        if found is None:
            raise invalid_filter(f"unknown sub-attribute {path.attribute!r} of {parent.name!r}")
        return AttributePath(found.name), found, None
    try:
        resolved, attribute, sub_attribute = resolve(path, resource_type)
    except ValueError as exc:
        raise invalid_filter(str(exc)) from exc
    if (sub_attribute or attribute).returned == Returned.NEVER:
        raise invalid_filter(f"{(sub_attribute or attribute).name!r} cannot be filtered on")
    return resolved, attribute, sub_attribute


def _checked(
    attribute: Attribute, op: CompareOp, value: str | int | float | bool | None
) -> str | int | float | bool | None:
    """The value converted to the attribute's type, or invalidFilter if it cannot be."""
    where = f"comparing {attribute.name!r} with {op.value!r}"
    if attribute.type == Type.BOOLEAN:
        if op in _ORDERING or op in _SUBSTRING:
            raise invalid_filter(f"{op.value!r} does not apply to boolean {attribute.name!r}")
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool) and value is not None:
            raise invalid_filter(f"{attribute.name!r} compares with true or false")
        return value
    if attribute.type == Type.BINARY and op in _ORDERING:
        raise invalid_filter(f"{op.value!r} does not apply to binary {attribute.name!r}")
    if op in _SUBSTRING and not isinstance(value, str):
        raise invalid_filter(f"{op.value!r} needs a quoted string {where}")
    if value is None:
        if op not in (CompareOp.EQ, CompareOp.NE):
            raise invalid_filter(f"null only compares with eq or ne {where}")
        return None
    if attribute.type in (Type.INTEGER, Type.DECIMAL):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid_filter(f"{attribute.name!r} compares with a number")
        if attribute.type == Type.INTEGER and isinstance(value, float):
            raise invalid_filter(f"{attribute.name!r} compares with a whole number")
        return value
    if not isinstance(value, str):
        raise invalid_filter(f"{attribute.name!r} compares with a quoted string")
    if attribute.type == Type.DATE_TIME and op not in _SUBSTRING:
        try:
            datetime.fromisoformat(value)
        except ValueError as exc:
            raise invalid_filter(f"{value!r} is not an ISO 8601 date and time") from exc
    return value
