"""What the state machines report to their adapters after being fed a frame."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.connector import Operation, OperationResult
from shared.protocol.messages import Limits, RefusalReason


@dataclass(frozen=True, slots=True)
class ConnectorInfo:
    """A connector an agent offers: its name in ``agent.toml`` and its type."""

    name: str
    type: str


# Relay side ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HelloReceived:
    """The agent said who it is; the adapter looks the name up and answers with
    :meth:`RelayProtocol.challenge` or :meth:`RelayProtocol.fail`."""

    agent: str
    version: int
    software: str
    connectors: tuple[ConnectorInfo, ...]


@dataclass(frozen=True, slots=True)
class Authenticated:
    agent: str


@dataclass(frozen=True, slots=True)
class ResultsReceived:
    batch_id: str
    results: list[OperationResult]


@dataclass(frozen=True, slots=True)
class BatchRefused:
    batch_id: str
    reason: RefusalReason
    detail: str


@dataclass(frozen=True, slots=True)
class Draining:
    """The agent is shutting down: send it nothing new; in-flight batches still finish."""


# Agent side ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Welcomed:
    session: str
    limits: Limits


@dataclass(frozen=True, slots=True)
class BatchReceived:
    """A verified batch: signature, agent name, expiry and nonce all checked."""

    batch_id: str
    connector: str
    operations: list[Operation] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BatchDeclined:
    """The agent refused a batch without running it; the refusal frame is already queued."""

    batch_id: str
    reason: RefusalReason
    detail: str


# Both ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Closing:
    """The state machine wants the connection closed with this code and reason."""

    code: int
    reason: str


RelayEvent = HelloReceived | Authenticated | ResultsReceived | BatchRefused | Draining | Closing
AgentEvent = Welcomed | BatchReceived | BatchDeclined | Closing
