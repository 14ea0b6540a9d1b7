"""The relay-agent protocol, sans-I/O.

:mod:`.messages` defines the frames, :mod:`.signing` the keys and signatures,
:mod:`.relay` and :mod:`.agent` the state machine of each end. The state machines are fed
text frames and return events and frames to send; they never touch a socket, so the whole
protocol is tested without one. ``docs/protocol.md`` is the specification.
"""

from shared.protocol.messages import SUPPORTED_VERSIONS, CloseCode, Limits

__all__ = ["SUPPORTED_VERSIONS", "CloseCode", "Limits"]
