"""Deltas as RFC 7644 PATCH operations (section 3.5.2).

Each delta becomes operations on its own path, so a PATCH never carries a value it did not
mean to change: members are added with ``add`` of just the new ones and removed one by one
with ``members[value eq "..."]``, and no member list is ever read. Removing a value from a
single-valued attribute only clears it when it still holds that value, which PATCH cannot
say, so those deltas are decided on the resource the caller read first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agent.connectors.scim_paths import AttributePath, Shape, writable_values
from agent.connectors.scim_resources import value_at
from shared.connector import Delta, DeltaKind

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

Change = tuple[AttributePath, Delta]


def needs_current(changes: Sequence[Change]) -> bool:
    """Whether the operations depend on the values the resource holds now."""
    return any(d.kind is DeltaKind.REMOVE and not p.multi_valued for p, d in changes)


def patch_body(changes: Sequence[Change], current: Mapping[str, Any] | None) -> dict[str, Any]:
    operations: list[dict[str, Any]] = []
    for path, delta in changes:
        operations.extend(_operations(path, delta, current))
    return {"schemas": [PATCH_OP], "Operations": operations}


def _operations(
    path: AttributePath, delta: Delta, current: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    values = [v for v in writable_values(path, delta.values) if v is not None]
    target = path.scim_path()
    if not path.multi_valued:
        if delta.kind in (DeltaKind.REPLACE, DeltaKind.ADD) and values:
            return [{"op": "replace", "path": target, "value": values[0]}]
        if delta.kind is DeltaKind.ADD:
            return []
        if delta.kind is DeltaKind.REMOVE:
            held = value_at(current or {}, path)
            if not values or held != values[0]:
                return []
        return [{"op": "remove", "path": target}]
    elements = values if path.shape is Shape.SIMPLE_MULTI else [{"value": v} for v in values]
    match delta.kind:
        case DeltaKind.ADD:
            return [{"op": "add", "path": target, "value": elements}] if elements else []
        case DeltaKind.REMOVE:
            return [{"op": "remove", "path": path.element_path(v)} for v in values]
        case DeltaKind.REPLACE if elements:
            return [{"op": "replace", "path": target, "value": elements}]
    return [{"op": "remove", "path": target}]
