"""The errors of the ``relay`` package.

::

    HatchwayError (shared.exceptions)
    └── RelayError
        ├── StoreError                 the store failed or its schema is not usable
        │   └── NotFound               a named record does not exist
        ├── RegistrationError          a registration token was refused; ``code`` says why
        ├── DemoError                  ``hatchway demo`` could not finish a step
        └── DeliveryError              a batch did not reach a result
            ├── DeliveryTimeout        no result within the caller's timeout
            ├── AgentUnavailable       the agent is revoked or unknown
            └── BatchRefusedError      the agent refused the batch without running it
"""

from __future__ import annotations

from shared.exceptions import HatchwayError


class RelayError(HatchwayError):
    """Base class of the relay's own errors."""


class StoreError(RelayError):
    """The store failed, or its schema is newer than this relay understands."""


class NotFound(StoreError):
    """A named record does not exist."""


class RegistrationError(RelayError):
    """A registration was refused. ``code`` is the stable, machine-readable reason sent to
    the agent (``invalid_token``, ``token_expired``, ``token_used``, ``bad_request``)."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")


class DemoError(RelayError):
    """The demo could not finish; the message says which step failed."""


class DeliveryError(RelayError):
    """A batch did not reach a result."""


class DeliveryTimeout(DeliveryError):
    """No result arrived within the caller's timeout. A batch still queued is withdrawn; one
    already sent may yet run on the agent, so resend it with the same idempotency keys."""


class AgentUnavailable(DeliveryError):
    """The agent is unknown or revoked, so nothing can be sent to it."""


class BatchRefusedError(DeliveryError):
    """The agent refused the batch without running any of it."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"agent refused the batch ({reason}): {detail}")
