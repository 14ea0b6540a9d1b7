"""The errors of the ``relay.api`` package: each one is an HTTP answer.
::

    HatchwayError (shared.exceptions)
    └── ApiError                   500 internal: something failed that the caller cannot fix
        ├── InvalidRequest         400 invalid_request: a parameter or body is wrong
        ├── Unauthenticated        401 unauthenticated: no token, or not an API token
        ├── Forbidden              403 forbidden: the token's role may not do this
        ├── NotFound               404 not_found: no such job, agent, entry or route
        ├── MethodNotAllowed       405 method_not_allowed
        ├── Conflict               409 conflict: the name is taken, or the state forbids it
        ├── PayloadTooLarge        413 too_large: the body is over the API's limit
        ├── Unavailable            503 unavailable: the store or the engine cannot answer now
        └── ApiCallError           client side: a call of the CLI to the API failed

Every answer with an error has the body ``{"error": {"code": ..., "message": ...}}``; the
``code`` is stable for scripts, the message is for people. Lower-layer errors are turned
into these where a handler meets them, with ``raise X(...) from exc``. ``ApiCallError`` is
the other side: what :mod:`relay.api.client` raises when the relay answers with an error or
cannot be reached, so the CLI prints one line instead of a stack trace.
"""

from __future__ import annotations

from typing import Any

from shared.exceptions import HatchwayError


class ApiError(HatchwayError):
    """Base class: an error the API answers with ``status`` and ``code``."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class InvalidRequest(ApiError):
    status = 400
    code = "invalid_request"


class Unauthenticated(ApiError):
    status = 401
    code = "unauthenticated"

    def __init__(self, message: str) -> None:
        super().__init__(
            message, headers={"WWW-Authenticate": 'Bearer realm="hatchway", error="invalid_token"'}
        )


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "too_large"


class Unavailable(ApiError):
    status = 503
    code = "unavailable"


class ApiCallError(ApiError):
    """A call to the admin API failed. ``code`` is the error's code from the relay's body
    (``unreachable`` or ``timeout`` when no answer came, ``unexpected_answer`` when the
    answer was not the API's), ``http_status`` the HTTP status (None without an answer).
    The text is one line for the CLI: ``<code>: <message>`` for an answer, the message
    alone when the relay was not reached (it names the URL)."""

    def __init__(self, code: str, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message if http_status is None else f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status
