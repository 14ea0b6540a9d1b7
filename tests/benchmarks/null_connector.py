"""A benchmark connector, loaded by the agent as ``null_connector:NullConnector``.

Every operation does nothing and succeeds, so a benchmark through it measures the relay,
the protocol, the agent's executor and its journal, and no target. A create answers with
its ``id`` attribute as the anchor, or with the operation's idempotency key when there is
none; updates, deletes and gets answer with the anchor they were given.

Put ``tests/benchmarks`` on ``PYTHONPATH`` and add to ``agent.toml``::

    [connectors.null]
    type = "null_connector:NullConnector"
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Self

from shared.connector import (
    USER,
    Action,
    AttributeInfo,
    Attributes,
    Connector,
    ConnectorObject,
    Delta,
    Filter,
    ObjectClassInfo,
    Operation,
    OperationResult,
    Page,
    Schema,
    SearchResult,
    run_operation,
)


class NullConnector(Connector):
    type_name = "null"

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any], *, source: str) -> Self:
        return cls(name)

    async def test(self) -> None:
        return None

    async def schema(self) -> Schema:
        return Schema((ObjectClassInfo(USER, "id", (AttributeInfo("id", required=True),)),))

    async def create(self, object_class: str, attributes: Attributes) -> str:
        # Without the operation at hand (see apply), a fresh anchor stands in for the key.
        value = attributes.get("id")
        return str(value) if value is not None else uuid.uuid4().hex

    async def update(self, object_class: str, anchor: str, deltas: Sequence[Delta]) -> str:
        return anchor

    async def delete(self, object_class: str, anchor: str) -> None:
        return None

    async def get(self, object_class: str, anchor: str) -> ConnectorObject:
        return ConnectorObject(anchor, {})

    async def search(self, object_class: str, flt: Filter | None, page: Page) -> SearchResult:
        return SearchResult([])

    async def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        results = []
        for op in operations:
            if op.action is Action.CREATE:
                value = (op.attributes or {}).get("id")
                anchor = str(value) if value is not None else op.key
                results.append(OperationResult(op.key, anchor=anchor))
            else:
                results.append(await run_operation(self, op))
        return results
