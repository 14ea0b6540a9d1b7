"""The agent's end of the connection, as a sans-I/O state machine.

Besides framing, it is where the agent's distrust of the network lives: every batch must
carry a valid signature from the pinned relay key, name this agent, be unexpired, and use
a nonce not seen before. A bad signature or a replayed nonce means someone other than the
relay wrote the frame, so the connection is closed; an expired batch is only refused.
"""

from __future__ import annotations

import enum
import heapq
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.connector import Operation, OperationError, OperationResult
from shared.exceptions import ErrorClass, ProtocolError, SignatureError
from shared.protocol import signing
from shared.protocol.endpoint import Endpoint
from shared.protocol.events import (
    AgentEvent,
    BatchDeclined,
    BatchReceived,
    ConnectorInfo,
    Welcomed,
)
from shared.protocol.messages import (
    AGENT_PROOF,
    BATCH_PROOF,
    DEFAULT_CLOCK_SKEW,
    RELAY_PROOF,
    SUPPORTED_VERSIONS,
    CloseCode,
    Envelope,
    Limits,
    MessageType,
    RefusalReason,
    field,
    valid_name,
)


class NonceCache:
    """Nonces of batches already accepted, kept until they can no longer verify.

    One cache serves every connection of an agent process, so a batch captured on one
    connection cannot be replayed on the next. A nonce is forgotten once its batch has
    expired (plus the clock skew allowed), because an expired batch is refused anyway;
    forgetting walks a heap ordered by expiry, so each batch costs O(log n).
    """

    def __init__(
        self, clock: Callable[[], float] = time.time, *, skew: float = DEFAULT_CLOCK_SKEW
    ) -> None:
        self._seen: set[str] = set()
        self._by_expiry: list[tuple[float, str]] = []
        self._clock = clock
        self._skew = skew

    def add(self, nonce: str, expires: float) -> bool:
        """Remember a nonce; False if it was already seen."""
        horizon = self._clock() - self._skew
        while self._by_expiry and self._by_expiry[0][0] < horizon:
            _, old = heapq.heappop(self._by_expiry)
            self._seen.discard(old)
        if nonce in self._seen:
            return False
        self._seen.add(nonce)
        heapq.heappush(self._by_expiry, (expires, nonce))
        return True


class AgentState(enum.Enum):
    AWAIT_CHALLENGE = "await_challenge"
    AWAIT_WELCOME = "await_welcome"
    OPEN = "open"
    CLOSED = "closed"


class AgentProtocol(Endpoint[AgentEvent]):
    def __init__(
        self,
        name: str,
        agent_key: Ed25519PrivateKey,
        relay_key: Ed25519PublicKey,
        *,
        connectors: Sequence[ConnectorInfo] = (),
        software: str = "hatchway-agent",
        nonces: NonceCache | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
        versions: Sequence[int] = SUPPORTED_VERSIONS,
    ) -> None:
        self.name = name
        self.agent_key = agent_key
        self.relay_key = relay_key
        self.connectors = tuple(connectors)
        self.software = software
        super().__init__(limits or Limits())
        self.nonces = (
            nonces if nonces is not None else NonceCache(clock, skew=self.limits.clock_skew)
        )
        self.clock = clock
        self.versions = tuple(versions)
        if not self.versions:
            raise ValueError("an agent must offer at least one protocol version")
        if not valid_name(name):
            raise ValueError(f"agent name {name!r}: use letters, digits, '.', '_' or '-'")
        self.state = AgentState.AWAIT_CHALLENGE
        self.session: str | None = None
        self.in_flight: set[str] = set()
        self.draining = False
        self._envelope = Envelope("a")
        self._envelope.version = max(self.versions)
        self._nonce = os.urandom(32)

    def start(self) -> None:
        """Queue the hello; call once, right after the socket opens."""
        self._outgoing.append(
            self._envelope.frame(
                MessageType.HELLO,
                agent=self.name,
                versions=list(self.versions),
                nonce=signing.b64encode(self._nonce),
                software=self.software,
                connectors=[{"name": c.name, "type": c.type} for c in self.connectors],
            )
        )

    # Feeding ---------------------------------------------------------------------------

    def _dispatch(self, message: dict[str, Any]) -> list[AgentEvent]:
        kind = message["type"]
        if self.state is AgentState.AWAIT_CHALLENGE and kind == MessageType.CHALLENGE:
            if message["v"] not in self.versions:
                raise ProtocolError(
                    CloseCode.UNSUPPORTED_VERSION, f"relay chose unoffered version {message['v']}"
                )
            self._envelope.version = message["v"]
            self._on_challenge(message)
            return []
        if message["v"] != self._envelope.version:
            raise ProtocolError(
                CloseCode.UNSUPPORTED_VERSION, f"frame version {message['v']} was not negotiated"
            )
        if self.state is AgentState.AWAIT_WELCOME and kind == MessageType.WELCOME:
            return [self._on_welcome(message)]
        if self.state is AgentState.OPEN and kind == MessageType.BATCH:
            return [self._on_batch(message)]
        raise ProtocolError(
            CloseCode.PROTOCOL_ERROR, f"unexpected {kind!r} in state {self.state.value}"
        )

    def _on_challenge(self, message: dict[str, Any]) -> None:
        proof = RELAY_PROOF + self.name.encode() + b"\n" + self._nonce
        if not signing.verify(self.relay_key, field(message, "signature", str), proof):
            raise ProtocolError(
                CloseCode.RELAY_KEY_MISMATCH,
                "the relay did not prove the pinned signing key; refusing to trust it",
            )
        try:
            relay_nonce = signing.b64decode(field(message, "nonce", str))
        except ValueError as exc:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "challenge: nonce is not base64") from exc
        answer = AGENT_PROOF + self.name.encode() + b"\n" + relay_nonce + b"\n" + self._nonce
        self._outgoing.append(
            self._envelope.frame(MessageType.AUTH, signature=signing.sign(self.agent_key, answer))
        )
        self.state = AgentState.AWAIT_WELCOME

    def _on_welcome(self, message: dict[str, Any]) -> Welcomed:
        mine = self.limits
        # The relay's limits apply, but never looser than the agent's own.
        self.limits = Limits(
            max_frame_bytes=min(mine.max_frame_bytes, field(message, "max_frame_bytes", int)),
            max_batch_operations=min(
                mine.max_batch_operations, field(message, "max_batch_operations", int)
            ),
            max_value_chars=min(mine.max_value_chars, field(message, "max_value_chars", int)),
            window=field(message, "window", int),
            batch_ttl=float(field(message, "batch_ttl", (int, float))),
            clock_skew=mine.clock_skew,
        )
        lim = self.limits
        if min(lim.max_frame_bytes, lim.max_batch_operations, lim.max_value_chars, lim.window) < 1:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "welcome: limits must be positive")
        if not 0 < lim.batch_ttl < 86400:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "welcome: batch_ttl out of range")
        self.session = field(message, "session", str)
        self.state = AgentState.OPEN
        return Welcomed(self.session, self.limits)

    def _on_batch(self, message: dict[str, Any]) -> BatchReceived | BatchDeclined:
        payload_text = field(message, "payload", str)
        if not signing.verify(
            self.relay_key, field(message, "signature", str), BATCH_PROOF + payload_text.encode()
        ):
            raise SignatureError(CloseCode.BAD_BATCH_SIGNATURE, "batch signature does not verify")
        try:
            payload = json.loads(payload_text)
        except ValueError as exc:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "batch payload is not JSON") from exc
        if not isinstance(payload, dict):
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "batch payload is not an object")
        where = "batch payload"
        if field(payload, "agent", str, where) != self.name:
            raise SignatureError(
                CloseCode.BAD_BATCH_SIGNATURE, "batch was signed for another agent"
            )
        batch_id = field(payload, "batch", str, where)
        expires = float(field(payload, "expires", (int, float), where))
        if not self.nonces.add(field(payload, "nonce", str, where), expires):
            raise SignatureError(
                CloseCode.REPLAYED_BATCH, f"batch {batch_id[:40]} replays a used nonce"
            )
        if batch_id in self.in_flight:
            raise ProtocolError(
                CloseCode.PROTOCOL_ERROR, f"batch {batch_id[:40]} is already in flight"
            )
        if len(self.in_flight) >= self.limits.window:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "relay exceeded the batch window")
        self.in_flight.add(batch_id)
        if expires + self.limits.clock_skew < self.clock():
            return self.decline(batch_id, RefusalReason.EXPIRED, f"expired at {expires}")
        if self.draining:
            return self.decline(batch_id, RefusalReason.DRAINING, "the agent is shutting down")
        connector = field(payload, "connector", str, where)
        if connector not in {c.name for c in self.connectors}:
            return self.decline(
                batch_id, RefusalReason.UNKNOWN_CONNECTOR, f"no connector {connector[:80]!r}"
            )
        raw = field(payload, "operations", list, where)
        if not 0 < len(raw) <= self.limits.max_batch_operations:
            return self.decline(
                batch_id,
                RefusalReason.INVALID_OPERATION,
                f"a batch holds 1 to {self.limits.max_batch_operations} operations",
            )
        try:
            operations = [Operation.from_wire(op) for op in raw]
        except ValueError as exc:
            return self.decline(batch_id, RefusalReason.INVALID_OPERATION, str(exc))
        oversized = _oversized_attribute(operations, self.limits.max_value_chars)
        if oversized:
            return self.decline(batch_id, RefusalReason.INVALID_OPERATION, oversized)
        return BatchReceived(batch_id, connector, operations)

    # Commands --------------------------------------------------------------------------

    def decline(self, batch_id: str, reason: RefusalReason, detail: str) -> BatchDeclined:
        self.in_flight.discard(batch_id)
        self._outgoing.append(
            self._envelope.frame(
                MessageType.REFUSED, batch=batch_id, reason=reason.value, detail=detail[:500]
            )
        )
        return BatchDeclined(batch_id, reason, detail)

    def send_results(self, batch_id: str, results: Sequence[OperationResult]) -> None:
        """Queue a batch's results. Results too large for one frame (a huge search page) are
        replaced by an error telling the relay to ask for smaller pages."""
        self.in_flight.discard(batch_id)
        wire = [r.as_wire() for r in results]
        frame = self._envelope.frame(MessageType.RESULTS, batch=batch_id, results=wire)
        if len(frame.encode()) > self.limits.max_frame_bytes:
            too_big = OperationError(
                ErrorClass.INVALID_DATA, "result larger than the frame limit; use smaller pages"
            )
            wire = [
                OperationResult(r.key, error=too_big).as_wire() if r.ok else r.as_wire()
                for r in results
            ]
            frame = self._envelope.frame(MessageType.RESULTS, batch=batch_id, results=wire)
        if len(frame.encode()) > self.limits.max_frame_bytes:
            # Even the errors are too large (huge keys or messages): answer every operation
            # with the bare error so the relay is never left waiting.
            bare = [OperationResult(r.key[:200], error=too_big).as_wire() for r in results]
            frame = self._envelope.frame(MessageType.RESULTS, batch=batch_id, results=bare)
        self._outgoing.append(frame)

    def drain(self) -> None:
        """Tell the relay to send no more work; batches in flight still get results."""
        if self.state is AgentState.OPEN and not self.draining:
            self.draining = True
            self._outgoing.append(self._envelope.frame(MessageType.DRAINING))

    def _mark_closed(self) -> None:
        self.state = AgentState.CLOSED


def _oversized_attribute(operations: Sequence[Operation], limit: int) -> str | None:
    for op in operations:
        for name, value in (op.attributes or {}).items():
            if type(value) is str:
                if len(value) <= limit:
                    continue
            elif not isinstance(value, list) or not any(
                isinstance(v, str) and len(v) > limit for v in value
            ):
                continue
            return f"operation {op.key}: attribute {name!r} longer than {limit} characters"
        for delta in op.deltas:
            if any(isinstance(v, str) and len(v) > limit for v in delta.values):
                name = delta.attribute
                return f"operation {op.key}: attribute {name!r} longer than {limit} characters"
    return None
