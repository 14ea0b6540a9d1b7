"""An update's deltas, folded into one change per column of an object table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.connectors.sql_columns import Column, param
from agent.connectors.sql_table import Change, ClearIfIn, ObjectTable, Set
from shared.connector import Delta, DeltaKind, Scalar
from shared.exceptions import InvalidDataError


def plan(table: ObjectTable, deltas: Sequence[Delta]) -> dict[Column, Change]:
    """Fold the deltas into one change per column, so an update is a single statement."""
    changes: dict[Column, Change] = {}
    for delta in deltas:
        column = table.column(delta.attribute)
        change = _fold(column, changes.get(column), delta)
        if change is not None:
            changes[column] = change
    key_change = changes.get(table.key)
    if key_change is not None and (not isinstance(key_change, Set) or key_change.value is None):
        raise InvalidDataError(
            f"attribute {table.key.attribute!r} is the key and cannot be cleared",
            attribute=table.key.attribute,
        )
    return changes


def _fold(column: Column, current: Change | None, delta: Delta) -> Change | None:
    if delta.kind is DeltaKind.CLEAR:
        return Set(None)
    if delta.kind is DeltaKind.REPLACE:
        return Set(_single(column, delta.values))
    if delta.kind is DeltaKind.ADD:
        return Set(_single(column, delta.values)) if delta.values else current
    removed = tuple(param(column, v) for v in delta.values if v is not None)
    if not removed:
        return current
    if isinstance(current, Set):
        return Set(None) if current.value in removed else current
    return ClearIfIn((current.values if current else ()) + removed)


def _single(column: Column, values: tuple[Scalar, ...]) -> Any:
    if len(values) > 1:
        raise InvalidDataError(
            f"attribute {column.attribute!r} holds one value, not {len(values)}",
            attribute=column.attribute,
        )
    return param(column, values[0]) if values else None
