"""SCIM error answers (RFC 7644 section 3.12) turned into Hatchway's error classes.

The engine acts on the class, so the mapping is the contract: 409 and ``uniqueness`` mean
the object exists (match it), 404 that it does not, other 4xx that the values are refused
(never retried as they are), 401 and 403 that the credentials are (the job is quarantined),
429 that the service wants fewer requests, and 5xx that it is unavailable for now.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from shared.exceptions import (
    AuthenticationError,
    ConflictError,
    ConnectorError,
    InvalidDataError,
    NotFoundError,
    ThrottledError,
    UnavailableError,
)

#: Longest service-provided detail quoted in a message: enough to read, not a whole page.
DETAIL_LIMIT = 300


def error_detail(body: Any) -> tuple[str | None, str]:
    """The ``scimType`` and ``detail`` of an error body; a body that is not one gives none."""
    if not isinstance(body, dict):
        return None, ""
    scim_type = body.get("scimType")
    detail = body.get("detail")
    return (
        scim_type if isinstance(scim_type, str) else None,
        detail[:DETAIL_LIMIT] if isinstance(detail, str) else "",
    )


def mentioned_attribute(detail: str, names: Iterable[str]) -> str | None:
    """The attribute a service's detail text names, among those the request carried.

    Services name attributes in free text ("Input should be a valid boolean: active"), by
    their SCIM name, so each candidate is matched by its last name segment as a whole word.
    """
    best: tuple[int, str] | None = None
    for name in names:
        leaf = re.split(r"[.:\]]", name)[-1] or name
        found = re.search(rf"(?<![\w$]){re.escape(leaf)}(?![\w$])", detail, re.IGNORECASE)
        if found and (best is None or len(leaf) > best[0]):
            best = (len(leaf), name)
    return None if best is None else best[1]


def classify(
    status: int,
    body: Any,
    *,
    what: str,
    attributes: Iterable[str] = (),
    auth_hint: str = "",
    retry_after: float | None = None,
) -> ConnectorError:
    """The error of a SCIM answer with an error status; ``what`` names the request."""
    scim_type, detail = error_detail(body)
    said = f": {detail}" if detail else ""
    kind = f" ({scim_type})" if scim_type else ""
    attribute = mentioned_attribute(detail, attributes) if detail else None
    if status == 409 or scim_type == "uniqueness":
        return ConflictError(
            f"{what}: the service already has such an object{kind}{said}", attribute=attribute
        )
    if status == 404:
        return NotFoundError(f"{what}: not found{said}")
    if status == 401:
        return AuthenticationError(
            f"{what}: the SCIM service refused the credentials (401 Unauthorized){said};"
            f" {auth_hint}".rstrip("; ")
        )
    if status == 403:
        return AuthenticationError(
            f"{what}: the SCIM service accepted the credentials but does not allow this"
            f" (403 Forbidden){said}; grant the account the right to manage users and groups"
        )
    if status == 429:
        return ThrottledError(
            f"{what}: the service asks for fewer requests (429){said}", retry_after=retry_after
        )
    if status >= 500 and status != 501:
        return UnavailableError(
            f"{what}: the service failed (HTTP {status}){said}", retry_after=retry_after
        )
    if status == 501:
        return InvalidDataError(f"{what}: the service does not support this (501){said}")
    return InvalidDataError(
        f"{what}: the service refused the request (HTTP {status}){kind}{said}",
        attribute=attribute,
    )
