"""A mapping checked against the target's schema, when the connector has given it.

The target attribute must exist in the object class (a name that differs only in case gets
a hint), and constants and defaults, which come from text (TOML strings, Entra ID's
``"True"``), must convert to the attribute's type. Every problem is a :class:`MappingError`
that starts with ``where``, the mapping's name.
"""

from __future__ import annotations

import math

from relay.engine.exceptions import MappingError
from shared.connector import AttributeInfo, AttributeType, ObjectClassInfo, Scalar


def attribute_info(where: str, target: str, schema: ObjectClassInfo | None) -> AttributeInfo | None:
    """The schema's description of the mapping's target attribute (None without a schema);
    raises :class:`MappingError` when the object class has no such attribute."""
    if schema is None:
        return None
    info = next((a for a in schema.attributes if a.name == target), None)
    if info is not None:
        return info
    folded = target.casefold()
    near = next((a.name for a in schema.attributes if a.name.casefold() == folded), None)
    hint = f"; did you mean {near!r}?" if near else ""
    raise MappingError(
        f"{where}: the target has no attribute {target!r} in object class {schema.name!r}{hint}"
    )


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def converted(where: str, what: str, value: Scalar, info: AttributeInfo | None) -> Scalar:
    """A constant or default as the target attribute's type wants it; constants come from
    text (TOML strings, Entra's "True"), so text that spells the type is accepted."""
    if info is None or value is None:
        return value
    kind = info.type
    if kind is AttributeType.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise MappingError(f"{where}: {what} {value!r} is not true or false")
    if kind is AttributeType.INTEGER:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return int(str(value).strip())
        except ValueError as exc:
            raise MappingError(f"{where}: {what} {value!r} is not an integer") from exc
    if kind is AttributeType.DECIMAL:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        try:
            number = float(str(value).strip())
        except ValueError as exc:
            raise MappingError(f"{where}: {what} {value!r} is not a number") from exc
        if not math.isfinite(number):
            raise MappingError(f"{where}: {what} {value!r} is not a finite number")
        return number
    if isinstance(value, bool):
        return "True" if value else "False"
    return value if isinstance(value, str) else str(value)
