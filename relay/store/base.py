"""The store interface the relay's parts program against.

Implementations: :mod:`relay.store.sqlite` (the default, one file in the data folder).
Every method is a coroutine; implementations over blocking drivers run them in a thread.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    agent_name: str
    created_at: float
    expires_at: float
    used_at: float | None = None


@dataclass(frozen=True, slots=True)
class AgentRecord:
    name: str
    public_key: str
    registered_at: float
    revoked_at: float | None = None
    software: str = ""
    protocol_version: int | None = None
    connectors: list[dict[str, str]] = field(default_factory=list)
    session: str | None = None
    connected_at: float | None = None
    last_seen_at: float | None = None
    disconnected_at: float | None = None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.session is not None:
            return "connected"
        if self.connected_at is None:
            return "registered"
        return "disconnected"


class Store(abc.ABC):
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date; refuse a schema newer than this code."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def create_token(self, agent_name: str, ttl: float) -> tuple[TokenRecord, str]:
        """Issue a one-time registration token for ``agent_name``; returns the record and
        the token text, which is shown once and stored only as a hash."""

    @abc.abstractmethod
    async def list_tokens(self) -> list[TokenRecord]: ...

    @abc.abstractmethod
    async def redeem_token(self, token: str, public_key: str, software: str) -> AgentRecord:
        """Use a token to register (or re-register) its agent with ``public_key``.

        Atomic: of two concurrent redemptions of one token, exactly one succeeds. Raises
        :class:`~relay.exceptions.RegistrationError`.
        """

    @abc.abstractmethod
    async def get_agent(self, name: str) -> AgentRecord | None: ...

    @abc.abstractmethod
    async def list_agents(self) -> list[AgentRecord]: ...

    @abc.abstractmethod
    async def revoke_agent(self, name: str) -> AgentRecord:
        """Raises :class:`~relay.exceptions.NotFound` for an unknown name."""

    @abc.abstractmethod
    async def agent_connected(
        self,
        name: str,
        *,
        session: str,
        software: str,
        protocol_version: int,
        connectors: list[dict[str, str]],
    ) -> None: ...

    @abc.abstractmethod
    async def agent_disconnected(self, name: str, session: str) -> None:
        """Record a disconnect, unless a newer session of the agent has taken over."""

    @abc.abstractmethod
    async def forget_sessions(self) -> None:
        """On start: no agent is connected to a relay that has just started."""
