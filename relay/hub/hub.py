"""The hub's one internal call: send a batch to an agent's connector and await the results."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from relay.exceptions import AgentUnavailable, DeliveryError, DeliveryTimeout, StoreError
from relay.hub.link import AgentLink, PendingBatch, Sender
from relay.store.base import Store
from shared.connector import Operation, OperationResult

#: Default seconds :meth:`Hub.send` waits for results, queueing and agent downtime included.
DEFAULT_SEND_TIMEOUT = 60.0


class Hub:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.links: dict[str, AgentLink] = {}

    def link(self, agent: str) -> AgentLink:
        link = self.links.get(agent)
        if link is None:
            link = self.links[agent] = AgentLink(agent)
        return link

    def connected_agents(self) -> list[str]:
        return sorted(name for name, link in self.links.items() if link.connection is not None)

    async def send(
        self,
        agent: str,
        connector: str,
        operations: Sequence[Operation],
        *,
        timeout: float | None = DEFAULT_SEND_TIMEOUT,
    ) -> list[OperationResult]:
        """Deliver ``operations`` to ``connector`` on ``agent`` and return one result each.

        The batch waits while the agent is offline or its window is full, and is sent
        again after a reconnect. Raises :class:`AgentUnavailable` for an unknown or revoked
        agent, :class:`DeliveryTimeout` after ``timeout`` seconds (``None``: wait forever),
        :class:`~relay.exceptions.BatchRefusedError` if the agent refuses it, and
        :class:`DeliveryError` if the store cannot be read (as while the relay shuts down).
        """
        if not operations:
            raise ValueError("a batch needs at least one operation")
        batch: PendingBatch | None = None
        link: AgentLink | None = None
        try:
            async with asyncio.timeout(timeout):
                try:
                    record = await self.store.get_agent(agent)
                except StoreError as exc:
                    raise DeliveryError(f"cannot look up agent {agent!r}: {exc}") from exc
                if record is None:
                    raise AgentUnavailable(f"no agent named {agent!r}")
                if record.revoked_at is not None:
                    raise AgentUnavailable(f"agent {agent!r} is revoked")
                link = self.link(agent)
                batch = PendingBatch(uuid.uuid4().hex, connector, operations)
                link.submit(batch)
                await link.pump()
                return await batch.future
        except TimeoutError as exc:
            state = "connected" if link is not None and link.connection else "not connected"
            raise DeliveryTimeout(
                f"no results from agent {agent!r} within {timeout} s ({state})"
            ) from exc
        finally:
            # Timed out or cancelled: a batch still queued is dropped; one already with the
            # agent runs there, and its late results are ignored.
            if batch is not None and link is not None:
                link.withdraw(batch)
                batch.future.cancel()

    def attach(self, agent: str, connection: Sender) -> Sender | None:
        """Make ``connection`` the agent's current one; returns the one it replaces."""
        link = self.link(agent)
        previous = link.connection
        if previous is not None:
            link.detach(previous)
        link.attach(connection)
        return previous

    def detach(self, agent: str, connection: Sender) -> None:
        link = self.links.get(agent)
        if link is not None:
            link.detach(connection)

    def withdraw_all(self, reason: str) -> None:
        """On shutdown: fail every waiting caller instead of leaving it hanging."""
        for link in self.links.values():
            for batch in [*link.queue, *link.sent.values()]:
                if not batch.future.done():
                    batch.future.set_exception(AgentUnavailable(reason))
            link.queue.clear()
            link.sent.clear()
