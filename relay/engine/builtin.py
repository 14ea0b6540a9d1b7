"""The relay's built-in agent: connectors for cloud apps (SCIM) run inside the relay.

A cloud app needs no agent in the customer's network, so the relay runs its connector
itself, with the very parts an agent uses: the connectors of ``relay.toml``'s
``[connectors.NAME]`` tables (the format of ``agent.toml``), the :class:`Executor` and an
on-disk :class:`Journal` (``builtin_journal.sqlite3`` in the relay's data folder). Operations
therefore keep their at-most-once effect across relay restarts, as they do on an agent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path

import structlog

from agent.executor import Executor
from agent.journal import Journal
from agent.runner import build_connector, prune_forever
from agent.settings import ConnectorSettings
from relay.engine.exceptions import TargetUnavailable
from shared.connector import Connector, Operation, OperationResult

log = structlog.get_logger("relay.builtin")

#: The built-in agent's journal, in the relay's data folder.
JOURNAL_FILE = "builtin_journal.sqlite3"


class BuiltinAgent:
    def __init__(
        self,
        connectors: Sequence[ConnectorSettings],
        data_dir: Path,
        *,
        source: str,
        concurrency: int = 4,
        operation_timeout: float = 300.0,
        journal_retention_days: float = 7.0,
    ) -> None:
        """``source`` is the settings file the connectors came from, named in errors.
        ``concurrency`` (batches at once, default 4), ``operation_timeout`` (seconds a
        connector may take for one batch, default 300) and ``journal_retention_days``
        (default 7) mean what they mean in ``agent.toml``."""
        self.settings = tuple(connectors)
        self.journal_path = data_dir / JOURNAL_FILE
        self.source = source
        self.concurrency = concurrency
        self.operation_timeout = operation_timeout
        self.retention = journal_retention_days * 86400
        self._connectors: dict[str, Connector] = {}
        self._journal: Journal | None = None
        self._executor: Executor | None = None
        self._pruner: asyncio.Task[None] | None = None

    @property
    def connectors(self) -> list[str]:
        """The names of the configured connectors."""
        return sorted(item.name for item in self.settings)

    async def open(self) -> None:
        """Build every connector and open the journal. A bad connector table stops the
        relay at start with an error naming the file and the key, as it stops an agent."""
        connectors = {item.name: build_connector(item, Path(self.source)) for item in self.settings}
        journal = Journal(self.journal_path)
        try:
            journal.open()
        except BaseException:
            for connector in connectors.values():
                await connector.close()
            raise
        self._connectors = connectors
        self._journal = journal
        self._executor = Executor(
            connectors,
            journal,
            concurrency=self.concurrency,
            operation_timeout=self.operation_timeout,
        )
        if connectors:
            self._pruner = asyncio.create_task(
                prune_forever(journal, self.retention), name="builtin-journal-prune"
            )
        log.info("built-in agent ready", connectors=sorted(connectors))

    async def close(self) -> None:
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
            self._pruner = None
        self._executor = None
        connectors, self._connectors = self._connectors, {}
        for connector in connectors.values():
            await connector.close()
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    async def run(self, connector: str, operations: Sequence[Operation]) -> list[OperationResult]:
        """One result per operation, in order; :class:`TargetUnavailable` for a connector
        that is not configured or while the agent is closed."""
        if self._executor is None:
            raise TargetUnavailable("the built-in agent is not running")
        if connector not in self._connectors:
            known = ", ".join(sorted(self._connectors)) or "none"
            raise TargetUnavailable(
                f"the built-in agent has no connector {connector!r} (configured: {known}); "
                f"add a [connectors.{connector}] table to {self.source}"
            )
        return await self._executor.run(connector, operations)
