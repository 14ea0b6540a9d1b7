"""The errors of the ``shared`` package.

Every error raised by Hatchway code derives from :class:`HatchwayError`; callers that must
not crash on a Hatchway failure catch that one class. The tree::

    HatchwayError
    ├── SettingsError              a settings file is missing, unreadable or invalid
    ├── KeyFileError               a key file is missing, unreadable, too open or not Ed25519
    ├── ProtocolError              a frame broke the protocol; carries the close code
    │   └── SignatureError         a batch's signature, nonce or expiry did not verify
    └── ConnectorError             a connector operation failed; carries its ErrorClass
        ├── UnavailableError       the target cannot be reached (retryable)
        ├── OperationTimeoutError  the target did not answer in time (retryable)
        ├── ThrottledError         the target asked to slow down (retryable, retry_after)
        ├── ConflictError          the object already exists: match instead of creating
        ├── NotFoundError          the object does not exist
        ├── InvalidDataError       the target refused the values; never retried as is
        └── AuthenticationError    the target refused the credentials; quarantines the job

Lower-layer errors are translated where they enter Hatchway code with
``raise X(...) from exc`` so the original stays attached for debugging.
"""

from __future__ import annotations

from enum import StrEnum


class HatchwayError(Exception):
    """Base class of every error Hatchway raises on purpose."""


class SettingsError(HatchwayError):
    """A settings file is missing, unreadable or invalid.

    The message always names the file, the key and what is wrong, because an administrator
    reading it has only the file open in front of them.
    """

    def __init__(self, path: str, key: str | None, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        where = f"{path}: {key}" if key else path
        super().__init__(f"{where}: {problem}")


class KeyFileError(HatchwayError):
    """A key file is missing, unreadable, readable by others, or not an Ed25519 key."""


class ProtocolError(HatchwayError):
    """A peer broke the protocol. ``code`` is the websocket close code to send."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{reason} (close code {code})")


class SignatureError(ProtocolError):
    """A batch's signature, nonce or expiry did not verify."""


class ErrorClass(StrEnum):
    """How the engine must react to a failed operation.

    The values travel on the wire in results, so they are part of the protocol.
    """

    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    THROTTLED = "throttled"
    CONFLICT = "conflict"
    NOT_FOUND = "not_found"
    INVALID_DATA = "invalid_data"
    AUTHENTICATION = "authentication"
    INTERNAL = "internal"

    @property
    def retryable(self) -> bool:
        return self in (ErrorClass.UNAVAILABLE, ErrorClass.TIMEOUT, ErrorClass.THROTTLED)


class ConnectorError(HatchwayError):
    """A connector operation failed; ``error_class`` tells the engine what to do about it."""

    error_class: ErrorClass = ErrorClass.INTERNAL

    def __init__(
        self, message: str, *, attribute: str | None = None, retry_after: float | None = None
    ) -> None:
        self.message = message
        self.attribute = attribute
        self.retry_after = retry_after
        super().__init__(message)


class UnavailableError(ConnectorError):
    error_class = ErrorClass.UNAVAILABLE


class OperationTimeoutError(ConnectorError):
    error_class = ErrorClass.TIMEOUT


class ThrottledError(ConnectorError):
    error_class = ErrorClass.THROTTLED


class ConflictError(ConnectorError):
    error_class = ErrorClass.CONFLICT


class NotFoundError(ConnectorError):
    error_class = ErrorClass.NOT_FOUND


class InvalidDataError(ConnectorError):
    error_class = ErrorClass.INVALID_DATA


class AuthenticationError(ConnectorError):
    error_class = ErrorClass.AUTHENTICATION
