"""Creates sent together as RFC 7644 Bulk requests (section 3.7).

Requests stay within the service's ``maxOperations`` and ``maxPayloadSize`` (and the
connector's own ``bulk_max_operations``); each operation gets a ``bulkId`` of its position,
and its result is read back by that id. ``failOnErrors`` is not sent, so one refused user
does not stop the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from agent.connectors.scim_errors import classify
from agent.connectors.scim_resources import anchor_in
from shared.connector import Operation
from shared.exceptions import ConnectorError

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
#: Bytes kept free in a request for the envelope around the operations.
ENVELOPE_BYTES = 256


@dataclass(frozen=True, slots=True)
class BulkCreate:
    operation: Operation
    endpoint: str
    document: dict[str, Any]
    size: int


def bulk_create(operation: Operation, endpoint: str, document: dict[str, Any]) -> BulkCreate:
    encoded = json.dumps(document, ensure_ascii=False).encode()
    # The method, path and bulkId around the data take about 60 bytes more.
    return BulkCreate(operation, endpoint, document, len(encoded) + 64 + len(endpoint))


def chunks(
    creates: Sequence[BulkCreate], max_operations: int, max_bytes: int
) -> Iterator[list[BulkCreate]]:
    """Consecutive creates in requests that respect both limits (0 means no byte limit)."""
    budget = max_bytes - ENVELOPE_BYTES if max_bytes else 0
    chunk: list[BulkCreate] = []
    used = 0
    for create in creates:
        full = len(chunk) >= max_operations or (budget and used + create.size > budget)
        if chunk and full:
            yield chunk
            chunk, used = [], 0
        chunk.append(create)
        used += create.size
    if chunk:
        yield chunk


def fits_alone(create: BulkCreate, max_bytes: int) -> bool:
    return not max_bytes or create.size <= max_bytes - ENVELOPE_BYTES


def bulk_body(chunk: Sequence[BulkCreate]) -> dict[str, Any]:
    return {
        "schemas": [BULK_REQUEST],
        "Operations": [
            {"method": "POST", "path": c.endpoint, "bulkId": f"op{i}", "data": c.document}
            for i, c in enumerate(chunk)
        ],
    }


Outcome = str | ConnectorError | None


def outcomes(chunk: Sequence[BulkCreate], body: Any) -> list[Outcome]:
    """Per create: its anchor, its error, or None when the answer does not say (in doubt)."""
    items = body.get("Operations") if isinstance(body, dict) else None
    by_id = {item.get("bulkId"): item for item in items or [] if isinstance(item, dict)}
    results: list[Outcome] = []
    for i, create in enumerate(chunk):
        item = by_id.get(f"op{i}")
        results.append(None if item is None else _outcome(create, item))
    return results


def _outcome(create: BulkCreate, item: dict[str, Any]) -> Outcome:
    status = _status(item.get("status"))
    if status is None:
        return None
    what = f"creating {create.operation.object_class} in a Bulk request"
    if 200 <= status < 300:
        location = item.get("location")
        return anchor_in(item.get("response"), location if isinstance(location, str) else None)
    return classify(
        status, item.get("response"), what=what, attributes=create.operation.attributes or {}
    )


def _status(value: Any) -> int | None:
    if isinstance(value, dict):  # an early draft's {"code": "201"}
        value = value.get("code")
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
