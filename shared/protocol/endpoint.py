"""What both ends' state machines share: feeding frames, failing, and the outbox."""

from __future__ import annotations

import abc
from typing import Any, Generic, TypeVar

from shared.exceptions import ProtocolError
from shared.protocol.events import Closing
from shared.protocol.messages import CloseCode, Limits, close_reason, parse_frame

Event = TypeVar("Event")


class Endpoint(abc.ABC, Generic[Event]):
    """One end of a connection. Subclasses implement :meth:`_dispatch` for their messages
    and :meth:`_mark_closed` for their state."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.close: Closing | None = None
        self._outgoing: list[str] = []

    def receive(self, text: str | bytes) -> list[Event | Closing]:
        """Feed one frame; returns the events it caused. A broken frame returns a single
        :class:`Closing`; after that, frames are ignored."""
        if self.close is not None:
            return []
        try:
            message = parse_frame(text, self.limits)
            return self._dispatch(message)
        except ProtocolError as exc:
            return [self.fail(exc.code, exc.reason)]
        except (ValueError, TypeError, OverflowError) as exc:
            # Every field is checked on the way in; this is the net under those checks, so
            # no frame, however odd, can raise out of the state machine.
            return [self.fail(CloseCode.PROTOCOL_ERROR, f"malformed message: {exc}")]

    @abc.abstractmethod
    def _dispatch(self, message: dict[str, Any]) -> list[Event | Closing]: ...

    @abc.abstractmethod
    def _mark_closed(self) -> None: ...

    def fail(self, code: int, reason: str) -> Closing:
        """Close the connection: a protocol violation, or a peer this end refuses."""
        self._mark_closed()
        self.close = Closing(code, close_reason(reason))
        return self.close

    def data_to_send(self) -> list[str]:
        out, self._outgoing = self._outgoing, []
        return out
