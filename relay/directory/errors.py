"""The errors of the directory's SCIM server, each carrying its RFC 7644 §3.12 response.

::

    HatchwayError (shared.exceptions)
    └── RelayError (relay.exceptions)
        └── ScimError              an HTTP status, an optional scimType and a detail

Parsers, PATCH and validation raise :class:`ScimError` with the status and ``scimType`` the
RFC gives for the fault, so the server turns any of them into the same JSON error body.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from relay.exceptions import RelayError

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimType(StrEnum):
    """The ``scimType`` values of RFC 7644 §3.12, table 9."""

    INVALID_FILTER = "invalidFilter"
    TOO_MANY = "tooMany"
    UNIQUENESS = "uniqueness"
    MUTABILITY = "mutability"
    INVALID_SYNTAX = "invalidSyntax"
    INVALID_PATH = "invalidPath"
    NO_TARGET = "noTarget"
    INVALID_VALUE = "invalidValue"
    INVALID_VERSION = "invalidVers"
    SENSITIVE = "sensitive"


class ScimError(RelayError):
    """A request the SCIM server refuses, with the status and ``scimType`` to answer."""

    def __init__(self, status: int, detail: str, scim_type: ScimType | None = None) -> None:
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        kind = f"{status} {scim_type.value}" if scim_type is not None else str(status)
        super().__init__(f"{kind}: {detail}")

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(self.status)}
        if self.scim_type is not None:
            body["scimType"] = self.scim_type.value
        body["detail"] = self.detail
        return body


def invalid_filter(detail: str) -> ScimError:
    return ScimError(400, detail, ScimType.INVALID_FILTER)


def invalid_path(detail: str) -> ScimError:
    return ScimError(400, detail, ScimType.INVALID_PATH)


def invalid_value(detail: str) -> ScimError:
    return ScimError(400, detail, ScimType.INVALID_VALUE)


def invalid_syntax(detail: str) -> ScimError:
    return ScimError(400, detail, ScimType.INVALID_SYNTAX)


def mutability(detail: str) -> ScimError:
    return ScimError(400, detail, ScimType.MUTABILITY)


def no_target(detail: str) -> ScimError:
    return ScimError(400, detail, ScimType.NO_TARGET)


def uniqueness(detail: str) -> ScimError:
    return ScimError(409, detail, ScimType.UNIQUENESS)


def not_found(detail: str) -> ScimError:
    return ScimError(404, detail)


def precondition_failed(detail: str) -> ScimError:
    return ScimError(412, detail)


def payload_too_large(detail: str) -> ScimError:
    return ScimError(413, detail)


def unauthorized(detail: str) -> ScimError:
    return ScimError(401, detail)
