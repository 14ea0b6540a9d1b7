"""How the SQL connector reaches objects: the interface its three modes implement.

The connector owns the connection pool and the error translation; a mode turns each
operation into statements run on that pool: mapped tables (:mod:`agent.connectors.sql_tables`),
or named statements, which the stored-procedure mode makes from procedure names
(:mod:`agent.connectors.sql_procedures`) and the custom mode takes as written
(:mod:`agent.connectors.sql_custom`).
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping, Sequence

from shared.connector import (
    Attributes,
    ConnectorObject,
    Delta,
    Filter,
    Operation,
    OperationResult,
    Page,
    Schema,
    SearchResult,
)

#: Runs one operation through the connector, errors turned into results.
RunOne = Callable[[Operation], Awaitable[OperationResult]]


class SqlMode(abc.ABC):
    @abc.abstractmethod
    async def check(self) -> None:
        """Check that what the settings name exists (the connector's ``test``)."""

    @abc.abstractmethod
    async def schema(self) -> Schema: ...

    @abc.abstractmethod
    async def create(self, object_class: str, attributes: Attributes) -> str: ...

    @abc.abstractmethod
    async def update(self, object_class: str, anchor: str, deltas: Sequence[Delta]) -> str: ...

    @abc.abstractmethod
    async def delete(self, object_class: str, anchor: str) -> None: ...

    @abc.abstractmethod
    async def get(self, object_class: str, anchor: str) -> ConnectorObject: ...

    @abc.abstractmethod
    async def search(self, object_class: str, flt: Filter | None, page: Page) -> SearchResult: ...

    async def apply(
        self, operations: Sequence[Operation], run_one: RunOne
    ) -> list[OperationResult]:
        """A batch, one operation at a time unless the mode has a faster path."""
        return [await run_one(op) for op in operations]

    def column_attributes(self) -> Mapping[str, str]:
        """Column names to attribute names, so a database error names the attribute."""
        return {}
