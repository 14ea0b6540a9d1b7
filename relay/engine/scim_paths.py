"""SCIM attribute paths (RFC 7644 section 3.10) compiled into functions of a source object.

``[urn:]attribute[.sub]`` and ``[urn:]attribute[filter][.sub]``, where the filter takes
``eq ne co sw ew gt ge lt le pr``, ``and``, ``or``, ``not (...)`` and parentheses, parsed by
:mod:`shared.scim_filter`; this module gives the tree the engine's meaning. Attribute
names and string comparisons are case-insensitive, as SCIM's are. A filtered path that
matches one value gives that value and several give a list; an unfiltered path into a
multi-valued attribute gives a list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from relay.engine.exceptions import ExpressionSyntaxError
from shared.scim_filter import (
    And,
    Compare,
    Filter,
    Not,
    Or,
    Present,
    ScimFilterError,
    parse_path,
)

if TYPE_CHECKING:
    from relay.engine.source import Resolver, Source, Value

CORE_SCHEMAS = (
    "urn:ietf:params:scim:schemas:core:2.0:user",
    "urn:ietf:params:scim:schemas:core:2.0:group",
)


def field(container: Mapping[str, Any], name: str) -> Any:
    """A SCIM attribute of a complex value; names compare case-insensitively (RFC 7643 2.1)."""
    value = container.get(name)
    if value is not None or name in container:
        return value
    size = len(name)
    folded = name.casefold()
    for key in container:
        if len(key) == size and key.casefold() == folded:
            return container[key]
    return None


def is_mapping(value: Any) -> bool:
    return value.__class__ is dict or isinstance(value, Mapping)


def present(value: Any) -> Value:
    """Absent, empty strings and empty lists read as ``None``: Entra has no empty attributes."""
    if not value and (value == "" or value == [] or value == {}):
        return None
    return value  # type: ignore[no-any-return]


Predicate: TypeAlias = Callable[[Mapping[str, Any]], bool]

MAX_FILTER_DEPTH = 20
"""The deepest nesting of brackets, parentheses and ``not (...)`` in a path."""


def _compare(operator: str, actual: Any, expected: Any) -> bool:
    if actual is None:
        return operator == "ne" and expected is not None
    if isinstance(actual, str) and isinstance(expected, str):
        actual, expected = actual.casefold(), expected.casefold()
    if operator == "eq":
        return bool(actual == expected)
    if operator == "ne":
        return bool(actual != expected)
    if operator in ("co", "sw", "ew"):
        if not isinstance(actual, str) or not isinstance(expected, str):
            return False
        if operator == "co":
            return expected in actual
        return actual.startswith(expected) if operator == "sw" else actual.endswith(expected)
    try:
        if operator == "gt":
            return bool(actual > expected)
        if operator == "ge":
            return bool(actual >= expected)
        if operator == "lt":
            return bool(actual < expected)
        return bool(actual <= expected)
    except TypeError:
        return False


def _predicate(node: Filter) -> Predicate:
    """A value filter as a function of one value; names and strings ignore case."""
    if isinstance(node, And):
        left, right = _predicate(node.left), _predicate(node.right)
        return lambda e: left(e) and right(e)
    if isinstance(node, Or):
        left, right = _predicate(node.left), _predicate(node.right)
        return lambda e: left(e) or right(e)
    if isinstance(node, Not):
        inner = _predicate(node.inner)
        return lambda e: not inner(e)
    name = node.path.attribute
    if isinstance(node, Present):
        return lambda e: present(field(e, name)) is not None
    if not isinstance(node, Compare):
        raise AssertionError(f"value paths do not nest: {node!r}")
    operator, expected = node.op.value, node.value
    if operator == "eq" and isinstance(expected, str):
        folded = expected.casefold()

        def equals(element: Mapping[str, Any]) -> bool:
            actual = field(element, name)
            return actual.__class__ is str and actual.casefold() == folded

        return equals
    return lambda e: _compare(operator, field(e, name), expected)


def _path_resolver(
    urn: str | None, attribute: str, predicate: Predicate | None, sub: str | None
) -> Resolver:
    core = urn is None or urn.casefold() in CORE_SCHEMAS

    def container(source: Source) -> Mapping[str, Any] | None:
        if core:
            return source.resource
        found = field(source.resource, urn)  # type: ignore[arg-type]
        return found if isinstance(found, Mapping) else None

    if predicate is None and sub is None:

        def plain(source: Source) -> Value:
            holder = source.resource if core else container(source)
            return None if holder is None else present(field(holder, attribute))

        return plain

    general = _nested_resolver(container, attribute, predicate, sub)
    if predicate is None and sub is not None:

        def dotted(source: Source) -> Value:
            # The common case (name.givenName) without the general path's checks.
            holder = source.resource if core else container(source)
            value = None if holder is None else holder.get(attribute)
            if value.__class__ is dict:
                found = value.get(sub)
                if found is not None:
                    return present(found)
            return general(source)

        return dotted
    return general


def _nested_resolver(
    container: Callable[[Source], Mapping[str, Any] | None],
    attribute: str,
    predicate: Predicate | None,
    sub: str | None,
) -> Resolver:

    def nested(source: Source) -> Value:
        holder = container(source)
        if holder is None:
            return None
        value = field(holder, attribute)
        if value is None:
            return None
        if value.__class__ is not list:
            if not is_mapping(value) or (predicate is not None and not predicate(value)):
                return None
            return present(field(value, sub)) if sub is not None else dict(value)
        picked: list[Any] = []
        for element in value:
            if not is_mapping(element) or (predicate is not None and not predicate(element)):
                continue
            if sub is None:
                picked.append(dict(element))
            else:
                found = present(field(element, sub))
                if found is not None:
                    picked.append(found)
        if not picked:
            return None
        if predicate is not None and len(picked) == 1:
            return picked[0]  # type: ignore[no-any-return]
        return picked

    return nested


def compile_path(text: str) -> Resolver:
    """A SCIM path's text as a function of a source; raises ExpressionSyntaxError."""
    try:
        path = parse_path(text, max_depth=MAX_FILTER_DEPTH, noun="reference")
    except ScimFilterError as exc:
        raise ExpressionSyntaxError(exc.position, exc.expected, exc.found) from exc
    predicate = None if path.value_filter is None else _predicate(path.value_filter)
    return _path_resolver(path.schema, path.attribute, predicate, path.sub_attribute)
