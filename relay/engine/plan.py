"""What must change in the target: the difference between what the job last wrote (the
shadow) and what the mappings give now.

An update carries only deltas, so a target is not asked to rewrite values that did not
change, and a multi-valued attribute (a group's members) gets its added and removed
values rather than the whole list: a group of 50 000 members that gains one is sent one
value. Values compare with their type, as a target stores them: ``True`` is not ``1``,
and ``"1"`` is not ``1``. A null, an empty text and a list of nothing else all mean "no
value", as they do in the mappings and the scoping filters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from shared.connector import Delta, DeltaKind

#: The Python types of single JSON values; others (objects, lists) compare as JSON text.
_SCALARS = (str, int, float, bool, type(None))


def deltas(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    multi_valued: Callable[[str], bool],
) -> tuple[Delta, ...]:
    """The deltas that turn ``old`` into ``new``.

    ``multi_valued(name)`` says whether the target's schema has the attribute
    multi-valued; a list on either side makes it multi-valued anyway. Attributes of
    ``old`` that ``new`` lacks or leaves empty are cleared.
    """
    out: list[Delta] = []
    for name, value in new.items():
        before = old.get(name)
        if empty(value):
            if not empty(before):
                out.append(Delta(name, DeltaKind.CLEAR))
        elif isinstance(value, list) or isinstance(before, list) or multi_valued(name):
            out += _list_deltas(name, before, value)
        elif _key(before) != _key(value):
            out.append(Delta(name, DeltaKind.REPLACE, (value,)))
    for name, before in old.items():
        if name not in new and not empty(before):
            out.append(Delta(name, DeltaKind.CLEAR))
    return tuple(out)


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{attribute: [old value, new value]}`` for each attribute that differs, for the
    provisioning log; an attribute without a value shows as None."""
    if not old:  # a create: every value is new (the common case of an initial cycle)
        return {name: [None, value] for name, value in new.items() if not empty(value)}
    out: dict[str, list[Any]] = {}
    for name in [*new, *(n for n in old if n not in new)]:
        before, after = old.get(name), new.get(name)
        if not _same(before, after):
            out[name] = [None if empty(before) else before, None if empty(after) else after]
    return out


def _list_deltas(name: str, before: Any, after: Any) -> list[Delta]:
    wanted = _values(after)
    had = _values(before)
    added = tuple(v for k, v in wanted.items() if k not in had)
    removed = tuple(v for k, v in had.items() if k not in wanted)
    out = []
    if added:
        out.append(Delta(name, DeltaKind.ADD, added))
    if removed:
        out.append(Delta(name, DeltaKind.REMOVE, removed))
    return out


def _same(before: Any, after: Any) -> bool:
    if empty(before) or empty(after):
        return empty(before) and empty(after)
    if isinstance(before, list) or isinstance(after, list):
        return _values(before).keys() == _values(after).keys()
    return _key(before) == _key(after)


def _values(value: Any) -> dict[object, Any]:
    """The values of an attribute by comparison key, in their order, without duplicates
    or empty values."""
    items = value if isinstance(value, list) else [value]
    out: dict[object, Any] = {}
    for item in items:
        if not empty(item):
            out.setdefault(_key(item), item)
    return out


def _key(value: Any) -> object:
    """What two values must share to be equal: their type as well as their value, so
    ``True``, ``1`` and ``1.0`` differ."""
    if isinstance(value, _SCALARS):
        return (value.__class__, value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def empty(value: Any) -> bool:
    """No value: null, empty text, or a list of nothing else (as scoping's ``IS NULL``)."""
    if isinstance(value, list):
        return all(item is None or item == "" for item in value)
    return value is None or value == ""
