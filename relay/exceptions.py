"""The errors of the ``relay`` package.

::

    HatchwayError (shared.exceptions)
    └── RelayError
        ├── StoreError                 the store failed or its schema is not usable
        │   ├── NotFound               a named record does not exist
        │   ├── Conflict               a unique value (a user's userName) is taken
        │   ├── PreconditionFailed     the entry's version is not the one the caller expected
        │   ├── InvalidEntry           a directory entry the store cannot keep
        │   └── InvalidQuery           a directory query the store cannot run
        ├── RegistrationError          a registration token was refused; ``code`` says why
        ├── ImportRefused              a file to import has bad rows; ``problems`` lists them
        ├── DemoError                  ``hatchway demo`` could not finish a step
        └── DeliveryError              a batch did not reach a result
            ├── DeliveryTimeout        no result within the caller's timeout
            ├── AgentUnavailable       the agent is revoked or unknown
            └── BatchRefusedError      the agent refused the batch without running it
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.exceptions import HatchwayError


class RelayError(HatchwayError):
    """Base class of the relay's own errors."""


class StoreError(RelayError):
    """The store failed, or its schema is newer than this relay understands."""


class NotFound(StoreError):
    """A named record does not exist."""


class UnknownMember(NotFound):
    """A group's members name a user or group that does not exist: the request is wrong,
    not the group missing."""


class Conflict(StoreError):
    """A unique value is already taken (a user's ``userName``, compared case-insensitively)."""


class PreconditionFailed(StoreError):
    """The entry's version is not the one the caller expected (an If-Match that no longer
    matches)."""


class InvalidEntry(StoreError):
    """A directory entry the store cannot keep, e.g. a user without ``userName``."""


class InvalidQuery(StoreError):
    """A directory query the store cannot run, e.g. an unsupported operator on members."""


class RegistrationError(RelayError):
    """A registration was refused. ``code`` is the stable, machine-readable reason sent to
    the agent (``invalid_token``, ``token_expired``, ``token_used``, ``bad_request``)."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")


class ImportRefused(RelayError):
    """A file to import has bad rows, and nothing was imported. ``problems`` holds every
    one as (line number, what is wrong), in line order; line 0 is about the whole file."""

    def __init__(self, source: str, problems: Sequence[tuple[int, str]]) -> None:
        self.source = source
        self.problems = sorted(problems)
        count = len(self.problems)
        listed = "".join(
            f"\n  {source}:{line}: {message}" if line else f"\n  {source}: {message}"
            for line, message in self.problems
        )
        super().__init__(f"{source}: {count} bad row(s); nothing was imported{listed}")


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
