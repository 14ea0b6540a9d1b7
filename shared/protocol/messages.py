"""Frames of the relay-agent protocol: envelope, message types, limits and close codes.

Every frame is one JSON object in a websocket text frame with the envelope fields ``v``
(protocol version), ``type`` and ``id`` (unique per sender and connection). See
``docs/protocol.md`` for each message's fields.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from shared.exceptions import ProtocolError

#: Protocol versions this build speaks, oldest first.
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)

#: Supported versions that a coming release will stop speaking. A relay warns when an
#: agent negotiates one and marks the agent in ``hatchway relay agents``, so operators
#: upgrade those agents before the relay drops the version.
DEPRECATED_VERSIONS: frozenset[int] = frozenset()


class VersionStatus(StrEnum):
    CURRENT = "current"
    DEPRECATED = "deprecated"
    UNSUPPORTED = "unsupported"


def version_status(version: int) -> VersionStatus:
    """Where a negotiated protocol version stands with this build."""
    if version not in SUPPORTED_VERSIONS:
        return VersionStatus.UNSUPPORTED
    if version in DEPRECATED_VERSIONS:
        return VersionStatus.DEPRECATED
    return VersionStatus.CURRENT


#: Domain separation strings: a signature made for one purpose never verifies for another.
RELAY_PROOF = b"hatchway-relay-proof-v1\n"
AGENT_PROOF = b"hatchway-agent-proof-v1\n"
BATCH_PROOF = b"hatchway-batch-v1\n"


class MessageType(StrEnum):
    HELLO = "hello"
    CHALLENGE = "challenge"
    AUTH = "auth"
    WELCOME = "welcome"
    BATCH = "batch"
    RESULTS = "results"
    REFUSED = "refused"
    DRAINING = "draining"


class CloseCode(IntEnum):
    """Websocket close codes. 1xxx are RFC 6455's; 4xxx are Hatchway's."""

    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    PROTOCOL_ERROR = 4000
    AUTHENTICATION_FAILED = 4001
    UNSUPPORTED_VERSION = 4002
    UNKNOWN_AGENT = 4003
    AGENT_REVOKED = 4004
    RELAY_KEY_MISMATCH = 4005
    REPLACED = 4006
    HANDSHAKE_TIMEOUT = 4008
    BAD_BATCH_SIGNATURE = 4011
    REPLAYED_BATCH = 4012

    @property
    def permanent(self) -> bool:
        """True when reconnecting cannot help until an administrator acts."""
        return self in (
            CloseCode.AUTHENTICATION_FAILED,
            CloseCode.UNSUPPORTED_VERSION,
            CloseCode.UNKNOWN_AGENT,
            CloseCode.AGENT_REVOKED,
            CloseCode.RELAY_KEY_MISMATCH,
        )


class RefusalReason(StrEnum):
    """Why an agent refused a batch without running it (the connection stays open)."""

    EXPIRED = "expired"
    UNKNOWN_CONNECTOR = "unknown_connector"
    INVALID_OPERATION = "invalid_operation"
    DRAINING = "draining"


#: Seconds of clock difference between relay and agent tolerated on batch expiry.
DEFAULT_CLOCK_SKEW = 30.0


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits both ends enforce. The relay announces its values in ``welcome``."""

    #: Largest text frame, in bytes of UTF-8.
    max_frame_bytes: int = 8 * 1024 * 1024
    #: Most operations in one batch.
    max_batch_operations: int = 1000
    #: Longest single string value in an operation, in characters.
    max_value_chars: int = 256 * 1024
    #: Batches a relay may have sent to one agent without results (backpressure).
    window: int = 8
    #: How long a signed batch stays valid, in seconds.
    batch_ttl: float = 120.0
    #: Clock difference tolerated when checking a batch's expiry, in seconds.
    clock_skew: float = DEFAULT_CLOCK_SKEW


def close_reason(text: str) -> str:
    """A websocket close reason is at most 123 bytes of UTF-8; cut without splitting a
    character."""
    return text.encode()[:120].decode(errors="ignore")


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def parse_frame(text: str | bytes, limits: Limits) -> dict[str, Any]:
    """Decode one frame and check its envelope; anything wrong is a :class:`ProtocolError`."""
    if isinstance(text, bytes):
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "binary frames are not part of the protocol")
    try:
        size = len(text.encode())
    except UnicodeEncodeError as exc:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "frame is not valid Unicode text") from exc
    if size > limits.max_frame_bytes:
        raise ProtocolError(
            CloseCode.MESSAGE_TOO_BIG, f"frame larger than {limits.max_frame_bytes} bytes"
        )
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"malformed JSON: {exc}") from exc
    except RecursionError as exc:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "malformed JSON: nested too deeply") from exc
    if not isinstance(message, dict):
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "a frame must be a JSON object")
    version = message.get("v")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "missing or non-integer 'v'")
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "missing 'type'")
    if kind not in MessageType.__members__.values():
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"unknown message type {kind[:40]!r}")
    if not isinstance(message.get("id"), str):
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "missing 'id'")
    return message


def field(
    message: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str | None = None
) -> Any:
    """A required field of a message, of the right JSON type; ``where`` names the part of
    the message for the error (default: the message type)."""
    value = message.get(name)
    if (
        value is None
        or not isinstance(value, kind)
        or (isinstance(value, bool) and kind is not bool)
    ):
        raise ProtocolError(
            CloseCode.PROTOCOL_ERROR,
            f"{where or message.get('type')}: missing or malformed {name!r}",
        )
    return value


def valid_name(name: str) -> bool:
    """Agent and connector names: letters, digits, '.', '_' and '-', 1 to 100 of them.

    Names are part of the signed proofs, where a newline separates fields, so anything
    that could blur a field boundary is refused outright."""
    return 0 < len(name) <= 100 and all(c.isascii() and (c.isalnum() or c in "._-") for c in name)


class Envelope:
    """Stamps outgoing messages with the version and a connection-unique id."""

    def __init__(self, prefix: str) -> None:
        self.version = SUPPORTED_VERSIONS[-1]
        self._prefix = prefix
        self._ids = itertools.count(1)

    def frame(self, kind: MessageType, **body: Any) -> str:
        return dumps(
            {
                "v": self.version,
                "type": kind.value,
                "id": f"{self._prefix}{next(self._ids)}",
                **body,
            }
        )
