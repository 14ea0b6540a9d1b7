"""A test plug-in, loaded by the agent as ``pausing_connector:PausingSqlConnector``.

It runs a batch through the real SQL connector, then, while ``pause_file`` exists, writes
``ran_file``, logs "batch ran, pausing" and hangs before answering, so a test can kill
the agent at exactly the moment a batch has reached the target but its results have not
reached the journal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import structlog

from agent.connectors.sql import SqlConnector
from shared.connector import Operation, OperationResult


class PausingSqlConnector(SqlConnector):
    type_name = "pausing-sql"
    pause_file: Path
    ran_file: Path

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any], *, source: str) -> Self:
        rest = {k: v for k, v in settings.items() if k not in ("pause_file", "ran_file")}
        connector = super().from_settings(name, rest, source=source)
        connector.pause_file = Path(settings["pause_file"])
        connector.ran_file = Path(settings["ran_file"])
        return connector

    async def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        results = await super().apply(operations)
        if self.pause_file.exists():
            self.ran_file.write_text(str(len(results)))
            structlog.get_logger("pausing").info("batch ran, pausing", count=len(results))
            await asyncio.Event().wait()  # until the test kills this process
        return results
