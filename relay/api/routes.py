"""The admin API's route table, and the small helpers its handlers share.

Every route is declared once, as a :class:`Route`, with what the OpenAPI document says of
it: its parameters, body, answer and role. The server adds the routes to aiohttp and the
document is built from the same table, so the two cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar

from aiohttp import web

from relay.api.exceptions import InvalidRequest, PayloadTooLarge
from relay.store.base import ApiRole

PREFIX = "/api/v1"
#: Largest request body the API reads (a job file is the biggest thing sent).
MAX_BODY_BYTES = 1024 * 1024
#: Items a list answers with when ``limit`` is not given, and the most it may ask for.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Param:
    """A path or query parameter; a path parameter is always required."""

    name: str
    where: Literal["path", "query"]
    schema: dict[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    """One operation of the API. ``path`` is below :data:`PREFIX`; ``role`` None means
    no token is needed. ``body`` and ``response`` are JSON schemas (``$ref`` to the
    document's components allowed); ``response`` None means the answer has no body.
    ``errors`` lists the error statuses the handler itself can answer with; 401 and 403
    (for routes with a role), 400 (for routes with parameters or a body), 404 (for paths
    with parameters), 413 (with a body), 500 and 503 are added to the document for all."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    role: ApiRole | None = ApiRole.VIEWER
    params: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.lstrip("_")


def path_param(name: str, description: str) -> Param:
    return Param(name, "path", {"type": "string", "minLength": 1}, description, required=True)


def limit_param(default: int = DEFAULT_LIMIT) -> Param:
    return Param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": default},
        f"items at most (default {default})",
    )


def ref(name: str) -> dict[str, Any]:
    """A reference to a schema in the document's components."""
    return {"$ref": f"#/components/schemas/{name}"}


def page_of(item: dict[str, Any], cursor: str = "the cursor") -> dict[str, Any]:
    """The schema of a list answer: ``items``, and ``next`` to pass back for more."""
    return {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": item},
            "next": {
                "type": ["string", "null"],
                "description": f"{cursor} of the next page; null on the last page",
            },
        },
    }


#: Schemas for the shapes every module uses.
TIME = {"type": ["string", "null"], "format": "date-time"}


def json_response(data: Any, *, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def iso(at: float | None) -> str | None:
    """A moment as ISO 8601 in UTC (``2026-11-28T14:03:07.250Z``); None stays None."""
    if at is None:
        return None
    text = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


# Reading requests ----------------------------------------------------------------------------


def query_text(request: web.Request, name: str, *, max_length: int = 1000) -> str | None:
    value = request.query.get(name)
    if value is None:
        return None
    if not value or len(value) > max_length:
        raise InvalidRequest(f"query parameter {name!r} must be 1 to {max_length} characters")
    return value


def query_int(
    request: web.Request, name: str, *, default: int, minimum: int = 0, maximum: int = MAX_LIMIT
) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidRequest(f"query parameter {name!r} must be an integer, not {text!r}") from None
    if not minimum <= value <= maximum:
        raise InvalidRequest(f"query parameter {name!r} must be from {minimum} to {maximum}")
    return value


def query_limit(request: web.Request, default: int = DEFAULT_LIMIT) -> int:
    return query_int(request, "limit", default=default, minimum=1)


def query_enum(request: web.Request, name: str, kind: type[E]) -> E | None:
    text = request.query.get(name)
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidRequest(f"query parameter {name!r} must be one of: {allowed}") from None


def query_time(request: web.Request, name: str) -> float | None:
    """An ISO 8601 moment (UTC when it names no zone) as a Unix time."""
    text = request.query.get(name)
    if text is None:
        return None
    return parse_time(text, f"query parameter {name!r}")


def parse_time(text: str, what: str) -> float:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{what} must be an ISO 8601 time, not {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def check_text(text: str, what: str) -> None:
    """Refuse, with 400, text no store can keep: a NUL character (PostgreSQL refuses it,
    and would answer 503) or a lone surrogate (not encodable as UTF-8), which JSON's
    ``\\u`` escapes and a URL's ``%00`` let through."""
    if "\x00" in text:
        raise InvalidRequest(f"{what} holds a NUL character")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidRequest(f"{what} holds a lone surrogate, which is not text") from exc


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; refused with 400 unless it is one (or when a string in
    it fails :func:`check_text`), 413 when too big."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is over {MAX_BODY_BYTES} bytes")
    # One read answers what has arrived so far, not the whole body: read to its end.
    data = bytearray()
    try:
        while chunk := await request.content.read(MAX_BODY_BYTES + 1 - len(data)):
            data += chunk
            if len(data) > MAX_BODY_BYTES:
                raise PayloadTooLarge(f"the body is over {MAX_BODY_BYTES} bytes")
    except web.RequestPayloadError as exc:  # its Content-Encoding does not decode
        raise InvalidRequest(f"the body cannot be read: {exc}") from exc
    try:
        body = json.loads(data) if data else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"the body is not JSON: {exc}") from exc
    except ValueError as exc:  # Python reads no integer of more than 4300 digits
        raise InvalidRequest("the body holds a number too long to read") from exc
    except RecursionError as exc:
        raise InvalidRequest("the body nests arrays or objects too deeply to read") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    _check_strings(body)
    return body


def _check_strings(body: dict[str, Any]) -> None:
    """:func:`check_text` on every key and string of ``body``, without recursion (the
    parser allows nesting near Python's recursion limit)."""
    pending: list[Any] = [body]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            check_text(value, "a string in the body")
        elif isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def field_text(body: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"the body needs {name!r} (a string)")
        return None
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{name!r} must be a non-empty string")
    return value


def field_number(
    body: Mapping[str, Any], name: str, *, default: float, minimum: float, maximum: float
) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{name!r} must be a number")
    if not minimum <= value <= maximum:
        raise InvalidRequest(f"{name!r} must be from {minimum:g} to {maximum:g}")
    return float(value)


def field_enum(body: Mapping[str, Any], name: str, kind: type[E], *, default: E) -> E:
    value = body.get(name, default.value)
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidRequest(f"{name!r} must be one of: {allowed}") from None
