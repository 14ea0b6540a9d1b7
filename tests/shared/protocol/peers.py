"""Test helpers: an in-memory link between a RelayProtocol and an AgentProtocol, and
frame forgers. The fixtures that build them live in ``conftest.py`` beside this file.

Nothing here opens a socket: frames move between the two state machines as Python strings,
exactly as the asyncio adapters would move them, so every test can look at (and tamper
with) each frame on its way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.protocol import signing
from shared.protocol.agent import AgentProtocol, NonceCache
from shared.protocol.events import (
    AgentEvent,
    Authenticated,
    Closing,
    ConnectorInfo,
    HelloReceived,
    RelayEvent,
    Welcomed,
)
from shared.protocol.messages import BATCH_PROOF, SUPPORTED_VERSIONS, Limits
from shared.protocol.relay import RelayProtocol

AGENT_NAME = "branch-office"
CONNECTORS = (ConnectorInfo("hr", "sql"), ConnectorInfo("directory", "ldap"))
#: A whole second, so that expiry arithmetic in the tests is exact.
START = 1_700_000_000.0


class FakeClock:
    """A clock the test moves by hand: no sleeps."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Link:
    """A relay and an agent joined by two in-memory pipes."""

    relay: RelayProtocol
    agent: AgentProtocol
    relay_key: Ed25519PrivateKey
    agent_key: Ed25519PrivateKey
    clock: FakeClock
    sent_to_relay: list[str] = field(default_factory=list)
    sent_to_agent: list[str] = field(default_factory=list)

    def to_relay(self) -> list[RelayEvent]:
        """Deliver every frame the agent has queued; the relay's events, in order."""
        events: list[RelayEvent] = []
        for frame in self.agent.data_to_send():
            self.sent_to_relay.append(frame)
            events.extend(self.relay.receive(frame))
        return events

    def to_agent(self) -> list[AgentEvent]:
        """Deliver every frame the relay has queued; the agent's events, in order."""
        events: list[AgentEvent] = []
        for frame in self.relay.data_to_send():
            self.sent_to_agent.append(frame)
            events.extend(self.agent.receive(frame))
        return events

    def handshake(self) -> tuple[HelloReceived, Welcomed]:
        """hello -> challenge -> auth -> welcome, asserting each step's events."""
        self.agent.start()
        hello = self.to_relay()
        assert len(hello) == 1
        assert isinstance(hello[0], HelloReceived), hello
        self.relay.challenge(self.agent_key.public_key())
        assert self.to_agent() == []  # the agent answers the challenge with auth
        assert self.to_relay() == [Authenticated(self.agent.name)]
        welcome = self.to_agent()
        assert len(welcome) == 1
        assert isinstance(welcome[0], Welcomed), welcome
        return hello[0], welcome[0]

    def forge_batch(self, **overrides: Any) -> str:
        """A batch frame signed with the relay's key, with any payload field overridden
        (``None`` removes a field); ``signing_key``, ``raw_payload`` and ``v`` override the
        frame itself. This is how a misbehaving (or impersonated) relay is played."""
        overrides.setdefault("agent", self.agent.name)
        return forge_batch(self.relay_key, now=self.clock(), **overrides)


def forge_batch(
    relay_key: Ed25519PrivateKey,
    *,
    now: float,
    signing_key: Ed25519PrivateKey | None = None,
    raw_payload: str | None = None,
    v: int = SUPPORTED_VERSIONS[-1],
    frame_id: str = "r900",
    **payload_fields: Any,
) -> str:
    payload: dict[str, Any] = {
        "agent": AGENT_NAME,
        "batch": "forged-1",
        "connector": "hr",
        "nonce": signing.b64encode(os.urandom(16)),
        "expires": now + 120,
        "operations": [{"key": "k1", "action": "test", "object_class": "user"}],
    }
    for name, value in payload_fields.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    text = json.dumps(payload) if raw_payload is None else raw_payload
    signature = signing.sign(signing_key or relay_key, BATCH_PROOF + text.encode())
    return json.dumps(
        {"v": v, "type": "batch", "id": frame_id, "payload": text, "signature": signature}
    )


def frame(kind: str, *, v: int = 1, frame_id: str = "x1", **body: Any) -> str:
    """Any frame, built by hand."""
    return json.dumps({"v": v, "type": kind, "id": frame_id, **body}, ensure_ascii=False)


def hello_frame(
    *,
    agent: Any = AGENT_NAME,
    versions: Any = (1,),
    nonce: str | None = None,
    software: str = "test-agent/1",
    connectors: Sequence[Any] = (),
) -> str:
    """A hello as an agent would send it; ``versions`` may be any JSON value."""
    return frame(
        "hello",
        frame_id="a1",
        agent=agent,
        versions=list(versions) if isinstance(versions, list | tuple) else versions,
        nonce=nonce if nonce is not None else signing.b64encode(os.urandom(32)),
        software=software,
        connectors=list(connectors),
    )


def build_link(
    relay_key: Ed25519PrivateKey,
    agent_key: Ed25519PrivateKey,
    clock: FakeClock,
    *,
    relay_limits: Limits | None = None,
    agent_limits: Limits | None = None,
    name: str = AGENT_NAME,
    versions: Sequence[int] = SUPPORTED_VERSIONS,
    connectors: Sequence[ConnectorInfo] = CONNECTORS,
    nonces: NonceCache | None = None,
    pinned: Ed25519PrivateKey | None = None,
    agent_clock: Callable[[], float] | None = None,
) -> Link:
    """A relay and an agent that trust each other, before the handshake. ``pinned`` is the
    relay key the agent pinned (default: the right one); ``agent_clock`` lets the agent's
    clock differ from the relay's."""
    relay = RelayProtocol(relay_key, limits=relay_limits, session="s-1", clock=clock)
    agent = AgentProtocol(
        name,
        agent_key,
        (pinned or relay_key).public_key(),
        connectors=connectors,
        software="hatchway-agent/test",
        nonces=nonces,
        limits=agent_limits,
        clock=agent_clock or clock,
        versions=versions,
    )
    return Link(relay, agent, relay_key, agent_key, clock)


#: The ``make_link`` fixture: :func:`build_link` with the keys and clock filled in.
MakeLink = Callable[..., Link]


def closed_with(events: list[Any], code: int) -> Closing:
    """The single Closing event, with the expected code and a reason that fits a frame."""
    assert len(events) == 1, events
    event = events[0]
    assert isinstance(event, Closing), event
    assert event.code == code, event
    assert len(event.reason.encode()) <= 123
    return event


def decode(text: str) -> dict[str, Any]:
    message = json.loads(text)
    assert isinstance(message, dict)
    return message


def only(events: list[Any]) -> object:
    assert len(events) == 1, events
    return events[0]
