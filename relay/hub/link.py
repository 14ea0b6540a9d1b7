"""One agent's link: the batches waiting for it and the connection currently serving it.

A link outlives connections. Batches sent on a connection that drops before its results
arrive go back to the head of the queue and are sent again, re-signed, on the next
connection; the agent's journal answers the operations it already ran.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from relay.exceptions import BatchRefusedError, DeliveryError
from shared.connector import Operation, OperationResult
from shared.protocol.messages import RefusalReason
from shared.protocol.relay import RelayProtocol

log = structlog.get_logger("relay.hub")


class Sender(Protocol):
    """The adapter side of a connection: writes frames to its socket."""

    protocol: RelayProtocol

    async def send_frames(self, frames: list[str]) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass(eq=False, slots=True)
class PendingBatch:
    id: str
    connector: str
    operations: Sequence[Operation]
    future: asyncio.Future[list[OperationResult]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    deliveries: int = 0


class AgentLink:
    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.connection: Sender | None = None
        self.queue: collections.deque[PendingBatch] = collections.deque()
        self.sent: dict[str, PendingBatch] = {}
        self.connected = asyncio.Event()

    def attach(self, connection: Sender) -> None:
        self.connection = connection
        self.connected.set()

    def detach(self, connection: Sender) -> None:
        """Forget a connection; what it had in flight waits for the next one."""
        if self.connection is not connection:
            return
        self.connection = None
        self.connected.clear()
        unanswered = [b for b in self.sent.values() if not b.future.done()]
        self.sent.clear()
        self.queue.extendleft(reversed(unanswered))

    def submit(self, batch: PendingBatch) -> None:
        self.queue.append(batch)

    def withdraw(self, batch: PendingBatch) -> None:
        """The caller gave up waiting. A batch still queued is dropped; one already with the
        agent keeps its window slot until the agent answers."""
        try:
            self.queue.remove(batch)
        except ValueError:
            return

    def resolve(self, batch_id: str, results: list[OperationResult]) -> None:
        batch = self.sent.pop(batch_id, None)
        if batch is not None and not batch.future.done():
            batch.future.set_result(results)

    def refuse(self, batch_id: str, reason: str, detail: str) -> None:
        """A refused batch fails its caller, except one refused because the agent is
        draining: that one waits for the agent's next connection."""
        batch = self.sent.pop(batch_id, None)
        if batch is None or batch.future.done():
            return
        if reason == RefusalReason.DRAINING:
            self.queue.appendleft(batch)
        else:
            batch.future.set_exception(BatchRefusedError(reason, detail))

    async def pump(self) -> None:
        """Send queued batches while the window has room."""
        conn = self.connection
        if conn is None:
            return
        frames: list[str] = []
        while self.queue and conn.protocol.can_send:
            batch = self.queue.popleft()
            if batch.future.done():
                continue
            try:
                conn.protocol.send_batch(batch.id, batch.connector, batch.operations)
            except ValueError as exc:
                # Too large for the limits this agent was welcomed with: fail this caller,
                # keep serving the others.
                batch.future.set_exception(DeliveryError(str(exc)))
                continue
            batch.deliveries += 1
            if batch.deliveries > 1:
                log.info("batch redelivered", batch=batch.id, deliveries=batch.deliveries)
            self.sent[batch.id] = batch
            frames.extend(conn.protocol.data_to_send())
        if frames:
            await conn.send_frames(frames)
