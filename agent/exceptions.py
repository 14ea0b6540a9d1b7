"""The errors of the ``agent`` package.

::

    HatchwayError (shared.exceptions)
    └── AgentError
        ├── RegistrationFailed     the relay refused the registration token, or was unreachable
        ├── RelayRefused           the relay closed the connection for good (revoked, unknown
        │                          agent, key mismatch): reconnecting cannot help
        ├── JournalError           the on-disk journal cannot be read or written
        ├── ConnectorLoadError     a connector type named in agent.toml cannot be loaded
        └── ServiceError           the Windows service cannot be managed (or not here)
"""

from __future__ import annotations

from shared.exceptions import HatchwayError


class AgentError(HatchwayError):
    """Base class of the agent's own errors."""


class RegistrationFailed(AgentError):
    """Registration did not succeed; ``code`` is the relay's reason when it gave one."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"registration refused ({code}): {detail}")


class RelayRefused(AgentError):
    """The relay closed the connection with a code that reconnecting cannot fix."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"the relay refused this agent (close code {code}): {reason}")


class JournalError(AgentError):
    """The journal file cannot be read or written."""


class ConnectorLoadError(AgentError):
    """A connector type cannot be found or imported."""


class ServiceError(AgentError):
    """Installing, starting, stopping or removing the Windows service failed, or the
    command ran where there is no Windows service manager."""
