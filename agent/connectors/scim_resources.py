"""SCIM resources (JSON documents) as flat contract attributes, and deltas applied to them.

``flatten`` names each value as :class:`~agent.connectors.scim_paths.Catalogue` resolves
names, so what ``get`` returns compares with what was written. ``write`` applies one delta
to a document the way the service applies the matching PATCH; the connector builds create
bodies with it, and the full resource for a PUT where PATCH is not offered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from agent.connectors.scim_paths import MEMBERS, AttributePath, Shape, quote, writable_values
from shared.connector import Attributes, DeltaKind, Scalar

_NOT_ATTRIBUTES = frozenset({"schemas", "id", "meta"})


def flatten(resource: Mapping[str, Any]) -> Attributes:
    """The contract attributes of a SCIM resource, named as :class:`Catalogue` resolves."""
    out: Attributes = {}
    for key, value in resource.items():
        if key in _NOT_ATTRIBUTES:
            continue
        if key.startswith("urn:") and isinstance(value, dict):
            for inner, item in value.items():
                _flatten_one(out, f"{key}:{inner}", inner, item)
        else:
            _flatten_one(out, key, key, value)
    return out


def _flatten_one(out: Attributes, name: str, attribute: str, value: Any) -> None:
    if _is_scalar(value):
        out[name] = value
    elif isinstance(value, dict):
        for sub, item in value.items():
            if _is_scalar(item):
                out[f"{name}.{sub}"] = item
    elif isinstance(value, list):
        if all(_is_scalar(v) for v in value):
            out[name] = list(value)
            return
        elements = [e for e in value if isinstance(e, dict)]
        out[name] = [e["value"] for e in elements if _is_scalar(e.get("value"))]
        if attribute == MEMBERS:
            return
        for element in elements:
            kind = element.get("type")
            if not isinstance(kind, str):
                continue
            for sub, item in element.items():
                typed = f"{name}[type eq {quote(kind)}].{sub}"
                if sub != "type" and _is_scalar(item) and typed not in out:
                    out[typed] = item


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


# Writing values into a resource ----------------------------------------------------------


def write(
    resource: dict[str, Any], path: AttributePath, kind: DeltaKind, values: tuple[Scalar, ...]
) -> None:
    """Apply one delta to a resource document, as the service would apply the same PATCH."""
    checked = writable_values(path, values)
    if path.schema is not None:
        holder = resource.setdefault(path.schema, {})
        schemas = resource.setdefault("schemas", [])
        if path.schema not in schemas:
            schemas.append(path.schema)
    else:
        holder = resource
    if path.shape is Shape.SIMPLE:
        _write_single(holder, path.attribute, kind, checked)
    elif path.shape is Shape.SUB:
        inner = holder.setdefault(path.attribute, {})
        _write_single(inner, path.sub or "value", kind, checked)
        if not inner:
            del holder[path.attribute]
    elif path.shape is Shape.SIMPLE_MULTI:
        _write_list(holder, path.attribute, kind, checked, lambda v: v, lambda v: v)
    elif path.shape is Shape.VALUES:
        _write_list(
            holder,
            path.attribute,
            kind,
            checked,
            lambda v: {"value": v},
            lambda e: e.get("value") if isinstance(e, dict) else e,
        )
    else:
        _write_typed(holder, path, kind, checked)
    if path.schema is not None and not holder:
        del resource[path.schema]
        resource["schemas"].remove(path.schema)


def _write_single(holder: dict[str, Any], key: str, kind: DeltaKind, values: list[Any]) -> None:
    value = values[0] if values else None
    if kind in (DeltaKind.REPLACE, DeltaKind.ADD) and value is not None:
        holder[key] = value
    elif kind is DeltaKind.REMOVE:
        if holder.get(key) == value:
            holder.pop(key, None)
    else:
        holder.pop(key, None)


def _write_list(
    holder: dict[str, Any],
    key: str,
    kind: DeltaKind,
    values: list[Any],
    element: Any,
    value_of: Any,
) -> None:
    held = holder.get(key)
    current: list[Any] = held if isinstance(held, list) else []
    if kind is DeltaKind.REPLACE:
        current = [element(v) for v in values if v is not None]
    elif kind is DeltaKind.CLEAR:
        current = []
    elif kind is DeltaKind.ADD:
        present = {json.dumps(value_of(e)) for e in current}
        current = [*current, *(element(v) for v in values if json.dumps(v) not in present)]
    else:
        gone = {json.dumps(v) for v in values}
        current = [e for e in current if json.dumps(value_of(e)) not in gone]
    if current:
        holder[key] = current
    else:
        holder.pop(key, None)


def _write_typed(
    holder: dict[str, Any], path: AttributePath, kind: DeltaKind, values: list[Any]
) -> None:
    held = holder.get(path.attribute)
    elements: list[Any] = held if isinstance(held, list) else []
    match = next(
        (e for e in elements if isinstance(e, dict) and e.get("type") == path.type_value), None
    )
    if match is None:
        match = {"type": path.type_value}
        elements = [*elements, match]
    _write_single(match, path.sub or "value", kind, values)
    if set(match) <= {"type"}:
        elements = [e for e in elements if e is not match]
    if elements:
        holder[path.attribute] = elements
    else:
        holder.pop(path.attribute, None)


def value_at(resource: Mapping[str, Any], path: AttributePath) -> Any:
    """The value a single-valued path holds in a resource, or None."""
    holder: Any = resource.get(path.schema, {}) if path.schema else resource
    if not isinstance(holder, Mapping):
        return None
    value = holder.get(path.attribute)
    if path.shape is Shape.SUB:
        return value.get(path.sub) if isinstance(value, Mapping) else None
    if path.shape is Shape.TYPED:
        for element in value if isinstance(value, list) else []:
            if isinstance(element, Mapping) and element.get("type") == path.type_value:
                return element.get(path.sub)
        return None
    return value


def anchor_in(body: Any, location: str | None) -> str | None:
    """The id of a created resource: the answer's ``id``, else the last segment of its
    ``Location``; None when neither says."""
    if isinstance(body, dict) and isinstance(body.get("id"), str) and body["id"]:
        return str(body["id"])
    if location:
        return unquote(urlsplit(location).path.rstrip("/").rpartition("/")[2]) or None
    return None


def version_of(resource: Mapping[str, Any]) -> str | None:
    """The resource's ``meta.version`` (its ETag), if it has one."""
    meta = resource.get("meta")
    version = meta.get("version") if isinstance(meta, dict) else None
    return version if isinstance(version, str) else None
