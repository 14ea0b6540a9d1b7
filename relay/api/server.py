"""Serves the admin API under ``/api/v1``: every route of the table behind its role, and
every failure as a JSON error body.

The routes live in a sub-application whose middleware answers each error, ours or
aiohttp's (an unknown path, a wrong method), with ``{"error": {"code", "message"}}``, so a
script never has to parse an HTML page. The store's and the settings' errors are translated
here, at the API's edge: a missing record is 404, a taken name 409, a bad job file 400, a
failing store 503. Handlers read the relay's resources through ``request.config_dict``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import structlog
from aiohttp import web

from relay.api import (
    agents,
    assignments,
    credentials,
    directory,
    jobs,
    logs,
    openapi,
    system,
)
from relay.api.auth import ApiTokenVerifier, require
from relay.api.exceptions import (
    ApiError,
    Conflict,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unavailable,
)
from relay.api.routes import (
    MAX_BODY_BYTES,
    PREFIX,
    Handler,
    Route,
    check_text,
    json_response,
)
from relay.exceptions import Conflict as StoreConflict
from relay.exceptions import (
    InvalidEntry,
    InvalidQuery,
    PreconditionFailed,
    StoreError,
    UnknownMember,
)
from relay.exceptions import NotFound as StoreNotFound
from relay.keys import API_TOKEN, API_TOKENS, SETTINGS, STORE
from shared.exceptions import SettingsError

log = structlog.get_logger("relay.api")

MODULES = (system, agents, credentials, jobs, logs, directory, assignments)
OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi")


async def _openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


#: The document lists itself, as the one operation that needs no token, so that what the
#: relay serves under the prefix and what the document says are the same set.
DOCUMENT = Route(
    "GET",
    "/openapi.json",
    _openapi,
    "This document: the admin API in OpenAPI 3.1 (no token needed)",
    "system",
    role=None,
    response={"type": "object", "required": ["openapi", "info", "paths"]},
)


def routes() -> list[Route]:
    """Every route of the API, in the order the document lists them."""
    return [*(route for module in MODULES for route in module.ROUTES), DOCUMENT]


def schemas() -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for module in MODULES:
        for name, schema in module.SCHEMAS.items():
            if name in merged and merged[name] != schema:
                raise ValueError(f"two API modules define the schema {name!r} differently")
            merged[name] = schema
    return merged


def setup(app: web.Application) -> None:
    """Serve the API from ``app``; call after the store's cleanup context is added."""

    async def api_ctx(app: web.Application) -> AsyncIterator[None]:
        app[API_TOKENS] = ApiTokenVerifier(
            app[STORE], cache_seconds=app[SETTINGS].api.token_cache_seconds
        )
        yield

    app.cleanup_ctx.append(api_ctx)
    table = routes()
    api = web.Application(middlewares=[_errors], client_max_size=MAX_BODY_BYTES)
    api[OPENAPI] = openapi.document(table, schemas())
    for route in table:
        api.router.add_route(route.method, route.path, _guarded(route))
    app.add_subapp(PREFIX, api)


def _guarded(route: Route) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if route.role is not None:
            token = await request.config_dict[API_TOKENS].token(
                request.headers.get("Authorization")
            )
            require(token, route.role)
            request[API_TOKEN] = token
            if request.method != "GET":
                log.info(
                    "admin API change",
                    # Not under a key with "token" in it: the log would mask the name.
                    by=token.name,
                    method=request.method,
                    path=request.path,
                )
        # At the edge, so that no store sees a NUL (PostgreSQL would fail: 503, not 400).
        for param in route.params:
            value = (request.match_info if param.where == "path" else request.query).get(param.name)
            if value is not None:
                check_text(value, f"{param.where} parameter {param.name!r}")
        return await route.handler(request)

    handler.__name__ = route.handler.__name__
    return handler


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return _error_response(exc)
    except web.HTTPRequestEntityTooLarge:
        return _error_response(PayloadTooLarge(f"the body is over {MAX_BODY_BYTES} bytes"))
    except web.HTTPNotFound:
        return _error_response(NotFound(f"no API route {request.path}"))
    except web.HTTPMethodNotAllowed as exc:
        error = MethodNotAllowed(f"{request.method} is not allowed on {request.path}")
        error.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return _error_response(error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error_response(InvalidRequest(exc.reason))
    except (StoreNotFound, UnknownMember) as exc:
        return _error_response(NotFound(str(exc)))
    except (StoreConflict, PreconditionFailed) as exc:
        return _error_response(Conflict(str(exc)))
    except (InvalidEntry, InvalidQuery, SettingsError) as exc:
        return _error_response(InvalidRequest(str(exc)))
    except StoreError as exc:
        # The store's message names its database and may quote stored values: it goes to
        # the log, which only the relay's operators read, and not to a viewer token.
        log.warning("store failed under an API request", path=request.path, error=str(exc))
        return _error_response(Unavailable("the store failed; the relay's log says why"))
    except Exception as exc:
        log.exception("API request failed", path=request.path)
        return _error_response(ApiError(f"the relay failed: {type(exc).__name__}"))


def _error_response(error: ApiError) -> web.Response:
    response = json_response(error.body(), status=error.status)
    response.headers.update(error.headers)
    return response
