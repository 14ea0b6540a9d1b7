"""Add requests sent several at a time on one connection, each answer matched to its request
by message ID.

ldap3 builds every request as a tree of pyasn1 objects and encodes that: about 0.7 ms of
Python per add, more than the directory takes to store the entry. An add request is a fixed
shape (RFC 4511, 4.7), so it is written here as BER directly; and the connection keeps up to
:data:`WINDOW` of them outstanding, so the directory works while Python encodes the next.
The answers are read and decoded by ldap3 itself, and a refusal becomes the same
``LDAPOperationResult`` that ``Connection.add`` raises, so errors are classified as before.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import ldap3
from ldap3.core.exceptions import (
    LDAPOperationResult,
    LDAPSessionTerminatedByServerError,
    LDAPSocketSendError,
)
from ldap3.utils.asn1 import decode_message_fast

from agent.connectors.ldap_changes import Value
from agent.connectors.ldap_errors import DN_REFUSED, classify
from shared.exceptions import ConnectorError

#: Requests outstanding on one connection. The answers to this many are a few hundred bytes,
#: far below a socket's buffer, so the directory never blocks writing them while this side
#: blocks writing requests.
WINDOW = 64
#: protocolOp tag of an addResponse.
_ADD_RESPONSE = 9


@dataclass(slots=True)
class Add:
    """One entry to add, and once the directory answered, what came of it."""

    naming: str
    dn: str
    classes: tuple[str, ...]
    entry: dict[str, list[Value]]
    answered: bool = False
    error: ConnectorError | None = None


def add_entries(adds: list[Add], conn: ldap3.Connection) -> None:
    """Send the adds not yet answered and record each answer on its add. A lost connection
    raises ldap3's error and leaves the unanswered adds as they were, so that the pool's
    retry on a new connection sends only those."""
    waiting: dict[int, Add] = {}
    pending = deque(a for a in adds if not a.answered)
    while pending or waiting:
        while pending and len(waiting) < WINDOW:
            batch = []
            while pending and len(waiting) < WINDOW:
                add = pending.popleft()
                message_id = conn.server.next_message_id()
                waiting[message_id] = add
                batch.append(add_request(message_id, add))
            try:
                conn.socket.sendall(b"".join(batch))
            except OSError as exc:
                raise LDAPSocketSendError(f"socket sending error: {exc}") from exc
        messages = conn.strategy.receiving()
        if not messages:
            raise LDAPSessionTerminatedByServerError("the directory closed the connection")
        for raw in messages:
            _answer(waiting, decode_message_fast(raw), conn)


def add_request(message_id: int, add: Add) -> bytes:
    """The BER encoding of an LDAPMessage holding an AddRequest (RFC 4511, 4.7)."""
    attributes = [_attribute("objectClass", add.classes)]
    attributes.extend(_attribute(name, values) for name, values in add.entry.items())
    body = _tlv(0x04, add.dn.encode()) + _tlv(0x30, b"".join(attributes))
    return _tlv(0x30, _tlv(0x02, _integer(message_id)) + _tlv(0x68, body))


def refused(add: Add, exc: LDAPOperationResult) -> ConnectorError:
    """The Hatchway error for the directory's refusal of ``add``."""
    error = classify(exc, dn=add.dn, names=add.entry)
    if error.attribute is None and exc.result in DN_REFUSED:
        error.attribute = add.naming  # the DN is the naming attribute's value and the template
    return error


def _answer(waiting: dict[int, Add], message: dict[str, object], conn: ldap3.Connection) -> None:
    message_id = message["messageID"]
    add = waiting.pop(message_id, None) if isinstance(message_id, int) else None
    if add is None or message["protocolOp"] != _ADD_RESPONSE:
        # Message ID 0 is the directory's notice of disconnection (RFC 4511, 4.4.1); any
        # other message answers nothing this connection asked: its state is unknown.
        raise LDAPSessionTerminatedByServerError(
            f"the directory sent an unexpected message (ID {message_id})"
        )
    result = conn.strategy.decode_response_fast(message)
    add.answered = True
    if result["result"] != 0:
        exc = LDAPOperationResult(
            result=result["result"],
            description=result["description"],
            dn=result["dn"],
            message=result["message"],
            response_type=result["type"],
        )
        error = refused(add, exc)
        error.__cause__ = exc
        add.error = error


def _attribute(name: str, values: tuple[str, ...] | list[Value]) -> bytes:
    encoded = b"".join(_tlv(0x04, v.encode() if isinstance(v, str) else v) for v in values)
    return _tlv(0x30, _tlv(0x04, name.encode()) + _tlv(0x31, encoded))


def _tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def _integer(value: int) -> bytes:
    """A non-negative INTEGER's content octets: big-endian, with room for the sign bit."""
    return value.to_bytes(value.bit_length() // 8 + 1, "big")
