"""Where a job's operations go: a connector on an agent (through the hub), or a connector
of the relay's built-in agent.

The engine sees one interface either way, and one failure: :class:`TargetUnavailable`
when a batch could not be delivered at all. Everything else a target says comes back as
per-operation results, which the engine acts on by error class.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from relay.engine.exceptions import TargetUnavailable
from relay.exceptions import DeliveryError
from relay.hub.hub import Hub
from shared.connector import Operation, OperationResult
from shared.protocol.messages import Limits

if TYPE_CHECKING:
    from relay.engine.builtin import BuiltinAgent

#: Default seconds :meth:`Target.run` waits for a whole batch's results.
DEFAULT_RUN_TIMEOUT = 120.0


class Target(abc.ABC):
    #: Says which target this is in logs and errors, such as
    #: "agent acme / connector hr-db" or "built-in / connector slack".
    name: str

    @abc.abstractmethod
    async def run(
        self, operations: Sequence[Operation], *, timeout: float | None = DEFAULT_RUN_TIMEOUT
    ) -> list[OperationResult]:
        """One result per operation, in order. Raises :class:`TargetUnavailable` when the
        batch could not be delivered (agent unknown, revoked, offline past ``timeout``
        seconds, refused; ``None`` waits forever): the engine retries those later."""


class HubTarget(Target):
    """A connector on a remote agent. A batch larger than the agent protocol allows
    (``max_batch``, the relay's ``limits.max_batch_operations``) is sent in parts under
    one deadline, so the caller's batch size never decides whether a batch is refused."""

    def __init__(
        self,
        hub: Hub,
        agent: str,
        connector: str,
        *,
        max_batch: int = Limits().max_batch_operations,
    ) -> None:
        self.hub = hub
        self.agent = agent
        self.connector = connector
        self.max_batch = max_batch
        self.name = f"agent {agent} / connector {connector}"

    async def run(
        self, operations: Sequence[Operation], *, timeout: float | None = DEFAULT_RUN_TIMEOUT
    ) -> list[OperationResult]:
        if not operations:
            return []
        deadline = None if timeout is None else time.monotonic() + timeout
        results: list[OperationResult] = []
        for start in range(0, len(operations), self.max_batch):
            part = operations[start : start + self.max_batch]
            left = timeout
            if deadline is not None and start:
                left = round(max(deadline - time.monotonic(), 0.001), 3)
            try:
                results.extend(await self.hub.send(self.agent, self.connector, part, timeout=left))
            except DeliveryError as exc:
                raise TargetUnavailable(f"{self.name}: {exc}") from exc
        return results


class BuiltinTarget(Target):
    """A connector of the relay's built-in agent, run in this process."""

    def __init__(self, agent: BuiltinAgent, connector: str) -> None:
        self.agent = agent
        self.connector = connector
        self.name = f"built-in / connector {connector}"

    async def run(
        self, operations: Sequence[Operation], *, timeout: float | None = DEFAULT_RUN_TIMEOUT
    ) -> list[OperationResult]:
        if not operations:
            return []
        try:
            async with asyncio.timeout(timeout):
                return await self.agent.run(self.connector, operations)
        except TimeoutError as exc:
            # The journal keeps the interrupted operations in doubt; the engine's retry
            # sends the same keys again and they are settled tolerantly.
            raise TargetUnavailable(f"{self.name}: no results within {timeout} s") from exc
