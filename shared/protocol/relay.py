"""The relay's end of one agent connection, as a sans-I/O state machine.

Feed it each text frame with :meth:`RelayProtocol.receive`; it returns events. Frames to
send accumulate in :meth:`data_to_send`. When it wants the connection closed it returns a
:class:`Closing` event and sets :attr:`close`; the adapter sends the close frame.
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.connector import Operation, OperationResult
from shared.exceptions import ProtocolError
from shared.protocol import signing
from shared.protocol.endpoint import Endpoint
from shared.protocol.events import (
    Authenticated,
    BatchRefused,
    ConnectorInfo,
    Draining,
    HelloReceived,
    RelayEvent,
    ResultsReceived,
)
from shared.protocol.messages import (
    AGENT_PROOF,
    BATCH_PROOF,
    RELAY_PROOF,
    SUPPORTED_VERSIONS,
    CloseCode,
    Envelope,
    Limits,
    MessageType,
    RefusalReason,
    dumps,
    field,
    valid_name,
)


class RelayState(enum.Enum):
    AWAIT_HELLO = "await_hello"
    HELLO_RECEIVED = "hello_received"
    AWAIT_AUTH = "await_auth"
    OPEN = "open"
    CLOSED = "closed"


class RelayProtocol(Endpoint[RelayEvent]):
    def __init__(
        self,
        signing_key: Ed25519PrivateKey,
        *,
        limits: Limits | None = None,
        session: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signing_key = signing_key
        super().__init__(limits or Limits())
        self.session = session or os.urandom(8).hex()
        self.clock = clock
        self.state = RelayState.AWAIT_HELLO
        self.agent: str | None = None
        self.in_flight: dict[str, int] = {}
        self.draining = False
        self._envelope = Envelope("r")
        self._agent_nonce = b""
        self._relay_nonce = b""
        self._agent_key: Ed25519PublicKey | None = None

    # Feeding ---------------------------------------------------------------------------

    def _dispatch(self, message: dict[str, Any]) -> list[RelayEvent]:
        kind = message["type"]
        if self.state is RelayState.AWAIT_HELLO and kind == MessageType.HELLO:
            return [self._on_hello(message)]
        if message["v"] != self._envelope.version:
            raise ProtocolError(
                CloseCode.UNSUPPORTED_VERSION, f"frame version {message['v']} was not negotiated"
            )
        if self.state is RelayState.AWAIT_AUTH and kind == MessageType.AUTH:
            return [self._on_auth(message)]
        if self.state is RelayState.OPEN and kind == MessageType.RESULTS:
            return [self._on_results(message)]
        if self.state is RelayState.OPEN and kind == MessageType.REFUSED:
            return [self._on_refused(message)]
        if self.state is RelayState.OPEN and kind == MessageType.DRAINING:
            self.draining = True
            return [Draining()]
        raise ProtocolError(
            CloseCode.PROTOCOL_ERROR, f"unexpected {kind!r} in state {self.state.value}"
        )

    def _on_hello(self, message: dict[str, Any]) -> HelloReceived:
        offered = field(message, "versions", list)
        common = set(SUPPORTED_VERSIONS) & {
            v for v in offered if isinstance(v, int) and not isinstance(v, bool)
        }
        if not common:
            raise ProtocolError(
                CloseCode.UNSUPPORTED_VERSION,
                f"no common protocol version: agent offers {offered[:10]}, "
                f"relay speaks {list(SUPPORTED_VERSIONS)}",
            )
        self._envelope.version = max(common)
        agent = field(message, "agent", str)
        if not valid_name(agent):
            raise ProtocolError(
                CloseCode.PROTOCOL_ERROR,
                "hello: an agent name is 1 to 100 letters, digits, '.', '_' or '-'",
            )
        try:
            self._agent_nonce = signing.b64decode(field(message, "nonce", str))
        except ValueError as exc:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "hello: nonce is not base64") from exc
        if len(self._agent_nonce) < 16:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "hello: nonce shorter than 16 bytes")
        connectors = []
        for item in field(message, "connectors", list)[:1000]:
            if not isinstance(item, dict):
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "hello: malformed connector")
            connectors.append(ConnectorInfo(field(item, "name", str), field(item, "type", str)))
        self.agent = agent
        self.state = RelayState.HELLO_RECEIVED
        software = message.get("software")
        return HelloReceived(
            agent=agent,
            version=self._envelope.version,
            software=software[:100] if isinstance(software, str) else "unknown",
            connectors=tuple(connectors),
        )

    def challenge(self, agent_key: Ed25519PublicKey) -> None:
        """Answer the hello of a known agent: prove the relay's identity, ask for the agent's."""
        if self.state is not RelayState.HELLO_RECEIVED or self.agent is None:
            raise RuntimeError("challenge() is only valid right after HelloReceived")
        self._agent_key = agent_key
        self._relay_nonce = os.urandom(32)
        proof = RELAY_PROOF + self.agent.encode() + b"\n" + self._agent_nonce
        self._outgoing.append(
            self._envelope.frame(
                MessageType.CHALLENGE,
                nonce=signing.b64encode(self._relay_nonce),
                signature=signing.sign(self.signing_key, proof),
            )
        )
        self.state = RelayState.AWAIT_AUTH

    def _on_auth(self, message: dict[str, Any]) -> Authenticated:
        assert self._agent_key is not None
        assert self.agent is not None
        proof = (
            AGENT_PROOF
            + self.agent.encode()
            + b"\n"
            + self._relay_nonce
            + b"\n"
            + self._agent_nonce
        )
        if not signing.verify(self._agent_key, field(message, "signature", str), proof):
            raise ProtocolError(
                CloseCode.AUTHENTICATION_FAILED,
                f"agent {self.agent!r} failed the challenge: signature does not match its key",
            )
        self.state = RelayState.OPEN
        lim = self.limits
        self._outgoing.append(
            self._envelope.frame(
                MessageType.WELCOME,
                session=self.session,
                window=lim.window,
                max_frame_bytes=lim.max_frame_bytes,
                max_batch_operations=lim.max_batch_operations,
                max_value_chars=lim.max_value_chars,
                batch_ttl=lim.batch_ttl,
            )
        )
        return Authenticated(self.agent)

    def _on_results(self, message: dict[str, Any]) -> ResultsReceived:
        batch_id = field(message, "batch", str)
        if batch_id not in self.in_flight:
            raise ProtocolError(
                CloseCode.PROTOCOL_ERROR, f"results for unknown batch {batch_id[:40]!r}"
            )
        try:
            results = [OperationResult.from_wire(r) for r in field(message, "results", list)]
        except ValueError as exc:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"results: {exc}") from exc
        expected = self.in_flight.pop(batch_id)
        if len(results) != expected:
            raise ProtocolError(
                CloseCode.PROTOCOL_ERROR,
                f"batch {batch_id[:40]}: {len(results)} results for {expected} operations",
            )
        return ResultsReceived(batch_id, results)

    def _on_refused(self, message: dict[str, Any]) -> BatchRefused:
        batch_id = field(message, "batch", str)
        if batch_id not in self.in_flight:
            raise ProtocolError(
                CloseCode.PROTOCOL_ERROR, f"refusal of unknown batch {batch_id[:40]!r}"
            )
        try:
            reason = RefusalReason(field(message, "reason", str))
        except ValueError as exc:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "refused: unknown reason") from exc
        detail = message.get("detail")
        del self.in_flight[batch_id]
        return BatchRefused(batch_id, reason, detail[:500] if isinstance(detail, str) else "")

    # Commands --------------------------------------------------------------------------

    @property
    def can_send(self) -> bool:
        """True while the window has room and the agent takes work."""
        return (
            self.state is RelayState.OPEN
            and not self.draining
            and len(self.in_flight) < self.limits.window
        )

    def send_batch(self, batch_id: str, connector: str, operations: Sequence[Operation]) -> None:
        """Sign and queue a batch. A fresh nonce and expiry each time, so a redelivered batch
        is a new signed frame with the same idempotency keys inside."""
        if not self.can_send:
            raise RuntimeError("send_batch() without room in the window")
        if batch_id in self.in_flight:
            raise ValueError(f"batch {batch_id!r} is already in flight")
        if not 0 < len(operations) <= self.limits.max_batch_operations:
            raise ValueError(f"a batch holds 1 to {self.limits.max_batch_operations} operations")
        assert self.agent is not None
        payload = dumps(
            {
                "agent": self.agent,
                "batch": batch_id,
                "connector": connector,
                "nonce": signing.b64encode(os.urandom(16)),
                "expires": round(self.clock() + self.limits.batch_ttl, 3),
                "operations": [op.as_wire() for op in operations],
            }
        )
        signature = signing.sign(self.signing_key, BATCH_PROOF + payload.encode())
        frame = self._envelope.frame(MessageType.BATCH, payload=payload, signature=signature)
        if len(frame.encode()) > self.limits.max_frame_bytes:
            raise ValueError("batch larger than the frame limit; send fewer operations")
        self.in_flight[batch_id] = len(operations)
        self._outgoing.append(frame)

    def _mark_closed(self) -> None:
        self.state = RelayState.CLOSED
