"""An in-process :class:`Target` for tests of the engine's cycles: a SQL-like table per
object class, with the agent journal's at-most-once answer to a repeated key, and a gate
a test can close to hold the engine in the middle of a cycle."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

from relay.engine.target import Target
from shared.connector import (
    GROUP,
    USER,
    Action,
    AttributeInfo,
    ConnectorObject,
    DeltaKind,
    Equals,
    ObjectClassInfo,
    Operation,
    OperationError,
    OperationResult,
    Schema,
)
from shared.exceptions import ErrorClass

USER_COLUMNS = (
    "user_name",
    "email",
    "display_name",
    "given_name",
    "family_name",
    "department",
    "title",
    "active",
    "external_id",
    "manager",
)
NAMING = {USER: "user_name", GROUP: "name"}


class MemoryTarget(Target):
    def __init__(self) -> None:
        self.name = "memory"
        self.objects: dict[str, dict[str, dict[str, Any]]] = {USER: {}, GROUP: {}}
        self.journal: dict[str, OperationResult] = {}
        self.writes = 0
        self._anchors = itertools.count(1)
        #: Writes allowed before the target holds every batch (None: never holds).
        self.hold_after: int | None = None
        self.holding = asyncio.Event()
        self.released = asyncio.Event()

    def add(self, object_class: str, **attributes: Any) -> str:
        anchor = str(next(self._anchors))
        self.objects[object_class][anchor] = dict(attributes)
        return anchor

    def by_name(self, object_class: str) -> dict[str, dict[str, Any]]:
        naming = NAMING[object_class]
        return {o[naming]: o for o in self.objects[object_class].values()}

    async def run(
        self, operations: Sequence[Operation], *, timeout: float | None = 120.0
    ) -> list[OperationResult]:
        writes = [
            o for o in operations if o.action in (Action.CREATE, Action.UPDATE, Action.DELETE)
        ]
        if writes and self.hold_after is not None and self.writes >= self.hold_after:
            self.holding.set()
            await self.released.wait()
        return [self._one(op) for op in operations]

    def _one(self, op: Operation) -> OperationResult:
        if op.key in self.journal:
            done = self.journal[op.key]
            return OperationResult(op.key, error=done.error, anchor=done.anchor, replayed=True)
        table = self.objects[op.object_class]
        match op.action:
            case Action.SCHEMA:
                return OperationResult(op.key, schema=SCHEMA)
            case Action.SEARCH:
                found = [
                    ConnectorObject(a, dict(v))
                    for a, v in table.items()
                    if op.filter is None or _matches(op.filter, v)
                ]
                return OperationResult(op.key, objects=found)
            case Action.CREATE:
                self.writes += 1
                attributes = dict(op.attributes or {})
                naming = NAMING[op.object_class]
                if any(v.get(naming) == attributes.get(naming) for v in table.values()):
                    result = _error(op, ErrorClass.CONFLICT, "exists")
                else:
                    anchor = str(next(self._anchors))
                    table[anchor] = attributes
                    result = OperationResult(op.key, anchor=anchor)
            case Action.UPDATE:
                self.writes += 1
                assert op.anchor is not None
                if op.anchor not in table:
                    result = _error(op, ErrorClass.NOT_FOUND, "gone")
                else:
                    _apply(table[op.anchor], op)
                    result = OperationResult(op.key, anchor=op.anchor)
            case Action.DELETE:
                self.writes += 1
                if table.pop(op.anchor or "", None) is None:
                    result = _error(op, ErrorClass.NOT_FOUND, "gone")
                else:
                    result = OperationResult(op.key, anchor=op.anchor)
            case _:
                raise AssertionError(f"unexpected {op.action}")
        self.journal[op.key] = result
        return result


def _error(op: Operation, error_class: ErrorClass, message: str) -> OperationResult:
    return OperationResult(op.key, error=OperationError(error_class, message))


def _matches(flt: Any, values: dict[str, Any]) -> bool:
    assert isinstance(flt, Equals), flt
    found = values.get(flt.attribute)
    if isinstance(found, list):
        return flt.value in found
    return bool(found == flt.value)


def _apply(values: dict[str, Any], op: Operation) -> None:
    for delta in op.deltas:
        current = values.get(delta.attribute)
        if delta.kind is DeltaKind.REPLACE:
            multi = delta.attribute == "members" or len(delta.values) > 1
            values[delta.attribute] = list(delta.values) if multi else delta.values[0]
        elif delta.kind is DeltaKind.CLEAR:
            values.pop(delta.attribute, None)
        elif delta.kind is DeltaKind.ADD:
            values[delta.attribute] = list(current or []) + [
                v for v in delta.values if v not in (current or [])
            ]
        elif delta.kind is DeltaKind.REMOVE:
            values[delta.attribute] = [v for v in current or [] if v not in delta.values]


SCHEMA = Schema(
    (
        ObjectClassInfo(
            USER,
            "user_name",
            tuple(AttributeInfo(c, unique=c == "user_name") for c in USER_COLUMNS),
        ),
        ObjectClassInfo(
            GROUP,
            "name",
            (AttributeInfo("name", unique=True), AttributeInfo("members", multi_valued=True)),
        ),
    )
)
