"""The relay's inbound SCIM 2.0 endpoint, ``/scim/v2``: aiohttp routes over
:class:`~relay.directory.service.Directory`.

The routes live in a sub-application whose middleware checks the bearer token and turns
every error (ours, aiohttp's 404 and 405, a store failure) into an RFC 7644 error body, so a
client never sees an HTML page or a stack trace. Bodies are read here with the endpoint's
own size limit (the relay's application limit is small, for agents) and refused with 413
as soon as they exceed it. Resources and PATCH values are only walked as deep as the schema
goes, so JSON nesting needs no limit of its own here (Bulk, which walks its data for
``bulkId`` references, has one).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from relay.directory.bulk import run_bulk
from relay.directory.discovery import list_response, schemas, service_provider_config
from relay.directory.errors import (
    ScimError,
    invalid_syntax,
    invalid_value,
    not_found,
    payload_too_large,
    precondition_failed,
)
from relay.directory.resources import Projection, etag, parse_etag
from relay.directory.schemas import (
    SEARCH_REQUEST_SCHEMA,
    ResourceType,
    custom_schema,
    resource_types,
)
from relay.directory.service import Directory, Outcome, SearchRequest
from relay.directory.tokens import TokenVerifier
from relay.exceptions import StoreError
from relay.keys import SCIM_DIRECTORY, SCIM_TOKENS, SETTINGS, STORE

log = structlog.get_logger("relay.scim")

PREFIX = "/scim/v2"
CONTENT_TYPE = "application/scim+json"

#: Discovery paths, served without a token.
_OPEN_PATHS = tuple(PREFIX + p for p in ("/ServiceProviderConfig", "/Schemas", "/ResourceTypes"))

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup(app: web.Application) -> None:
    """Serve ``/scim/v2`` from ``app`` (its settings already set); call after the store's
    cleanup context is added."""
    settings = app[SETTINGS].scim
    types = resource_types(custom_schema(e.urn, e.attributes) for e in settings.extensions)

    async def scim_ctx(app: web.Application) -> AsyncIterator[None]:
        app[SCIM_DIRECTORY] = Directory(app[STORE], settings, types)
        app[SCIM_TOKENS] = TokenVerifier(app[STORE], cache_seconds=settings.token_cache_seconds)
        yield

    app.cleanup_ctx.append(scim_ctx)
    scim = web.Application(middlewares=[_scim_middleware])
    for rt in types:
        scim.router.add_get(rt.endpoint, _bind(_list, rt))
        scim.router.add_post(rt.endpoint, _bind(_create, rt))
        scim.router.add_post(f"{rt.endpoint}/.search", _bind(_search, rt))
        scim.router.add_get(rt.endpoint + "/{id}", _bind(_get, rt))
        scim.router.add_put(rt.endpoint + "/{id}", _bind(_replace, rt))
        scim.router.add_patch(rt.endpoint + "/{id}", _bind(_patch, rt))
        scim.router.add_delete(rt.endpoint + "/{id}", _bind(_delete, rt))
    scim.router.add_post("/.search", _root_search)
    scim.router.add_post("/Bulk", _bulk)
    scim.router.add_get("/ServiceProviderConfig", _service_provider_config)
    scim.router.add_get("/Schemas", _schemas)
    scim.router.add_get("/Schemas/{id}", _schema)
    scim.router.add_get("/ResourceTypes", _resource_types)
    scim.router.add_get("/ResourceTypes/{name}", _resource_type)
    app.add_subapp(PREFIX, scim)


def _bind(
    handler: Callable[[web.Request, ResourceType], Awaitable[web.StreamResponse]],
    resource_type: ResourceType,
) -> Handler:
    async def bound(request: web.Request) -> web.StreamResponse:
        return await handler(request, resource_type)

    return bound


@web.middleware
async def _scim_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if not request.path.startswith(_OPEN_PATHS):
            client = await request.config_dict[SCIM_TOKENS].client(
                request.headers.get("Authorization")
            )
            structlog.contextvars.bind_contextvars(scim_client=client)
        return await handler(request)
    except ScimError as exc:
        return _error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _error_response(ScimError(exc.status, exc.reason))
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except StoreError:
        log.exception("SCIM request failed in the store", path=request.path)
        return _error_response(ScimError(500, "the directory store failed; see the relay log"))
    finally:
        structlog.contextvars.unbind_contextvars("scim_client")


def _error_response(error: ScimError) -> web.Response:
    response = _json(error.body(), status=error.status)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="hatchway"'
    return response


def _json(body: Any, *, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, content_type=CONTENT_TYPE, dumps=_dumps)


def _dumps(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _base_url(request: web.Request) -> str:
    public = request.config_dict[SETTINGS].scim.public_url
    if public is not None:
        return f"{public}{PREFIX}"
    return f"{request.scheme}://{request.host}{PREFIX}"


def _directory(request: web.Request) -> Directory:
    return request.config_dict[SCIM_DIRECTORY]


async def read_body(request: web.Request) -> Any:
    """The request's JSON; 413 past the size limit, invalidSyntax if it is not JSON."""
    limit = request.config_dict[SETTINGS].scim.max_payload_bytes
    too_large = payload_too_large(f"the request body is larger than {limit} bytes (maxPayloadSize)")
    length = request.content_length
    if length is not None and length > limit:
        raise too_large
    data: bytes | bytearray
    if length is not None:
        # The framing stops the body at Content-Length, so one read of it is bounded.
        try:
            data = await request.content.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise invalid_syntax("the request body ended before its Content-Length") from exc
    else:
        data = bytearray()
        async for chunk in request.content.iter_chunked(65_536):
            data.extend(chunk)
            if len(data) > limit:
                raise too_large
    if not data:
        raise invalid_syntax("the request has no body")
    try:
        body = json.loads(bytes(data), parse_constant=_no_constant)
    except RecursionError as exc:
        raise invalid_syntax("the JSON nests too deeply") from exc
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise invalid_syntax(f"the body is not valid JSON: {exc}") from exc
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _if_match(request: web.Request) -> int | None:
    """The version an If-Match asks for; None for none or ``*``; 412 if it names no
    version of ours (so it cannot match)."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    version = parse_etag(header)
    if version is None:
        raise precondition_failed(f"If-Match {header!r} does not match the current version")
    return version


def _projection(request: web.Request, resource_type: ResourceType) -> Projection:
    return Projection.parse(
        resource_type,
        request.query.get("attributes"),
        request.query.get("excludedAttributes"),
    )


def _resource(outcome: Outcome) -> web.Response:
    response = _json(outcome.body, status=outcome.status)
    response.headers["ETag"] = etag(outcome.version)
    if outcome.status == 201:
        response.headers["Location"] = outcome.location
    return response


def _integer(value: Any, name: str) -> int | None:
    """``startIndex`` or ``count`` from a query string or a SearchRequest."""
    if value is None:
        return None
    problem = invalid_value(f"{name} must be a whole number between -2**31 and 2**31")
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit() or len(text) > 11:
            raise problem
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**31:
        raise problem
    return value


# Resources -------------------------------------------------------------------------------


async def _list(request: web.Request, resource_type: ResourceType) -> web.Response:
    params = request.query
    search = SearchRequest(
        filter=params.get("filter"),
        sort_by=params.get("sortBy"),
        sort_order=params.get("sortOrder"),
        start_index=_integer(params.get("startIndex"), "startIndex"),
        count=_integer(params.get("count"), "count"),
        attributes=params.get("attributes"),
        excluded_attributes=params.get("excludedAttributes"),
    )
    directory = _directory(request)
    query = directory.query(resource_type, search)
    return _json(await directory.search(resource_type, query, _base_url(request), search))


async def _search(request: web.Request, resource_type: ResourceType | None) -> web.Response:
    """``POST .search`` under a resource type, or at the root for all of them."""
    body = await read_body(request)
    if not isinstance(body, dict):
        raise invalid_syntax("the request body must be a JSON object")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or SEARCH_REQUEST_SCHEMA not in schemas:
        raise invalid_syntax(f"'schemas' must be [{SEARCH_REQUEST_SCHEMA!r}]")

    def names(key: str) -> str | None:
        value = body.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid_value(f"{key} must be a list of attribute names")
        return ",".join(value)

    def text(key: str) -> str | None:
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise invalid_value(f"{key} must be a string")
        return value

    search = SearchRequest(
        filter=text("filter"),
        sort_by=text("sortBy"),
        sort_order=text("sortOrder"),
        start_index=_integer(body.get("startIndex"), "startIndex"),
        count=_integer(body.get("count"), "count"),
        attributes=names("attributes"),
        excluded_attributes=names("excludedAttributes"),
    )
    directory = _directory(request)
    if resource_type is None:
        return _json(
            await directory.search_all(
                _directory(request).resource_types, search, _base_url(request)
            )
        )
    query = directory.query(resource_type, search)
    return _json(await directory.search(resource_type, query, _base_url(request), search))


async def _root_search(request: web.Request) -> web.Response:
    return await _search(request, None)


async def _create(request: web.Request, resource_type: ResourceType) -> web.Response:
    body = await read_body(request)
    outcome = await _directory(request).create(
        resource_type, body, _base_url(request), _projection(request, resource_type)
    )
    return _resource(outcome)


async def _get(request: web.Request, resource_type: ResourceType) -> web.Response:
    outcome = await _directory(request).get(
        resource_type,
        request.match_info["id"],
        _base_url(request),
        _projection(request, resource_type),
    )
    none_match = request.headers.get("If-None-Match")
    if none_match is not None:
        wanted = {parse_etag(tag) for tag in none_match.split(",")}
        if none_match.strip() == "*" or outcome.version in wanted:
            return web.Response(status=304, headers={"ETag": etag(outcome.version)})
    return _resource(outcome)


async def _replace(request: web.Request, resource_type: ResourceType) -> web.Response:
    return await _write(request, resource_type, _directory(request).replace)


async def _patch(request: web.Request, resource_type: ResourceType) -> web.Response:
    return await _write(request, resource_type, _directory(request).patch)


async def _write(
    request: web.Request, resource_type: ResourceType, operation: Callable[..., Awaitable[Outcome]]
) -> web.Response:
    """PUT or PATCH: the If-Match is checked before the body is read."""
    if_version = _if_match(request)
    body = await read_body(request)
    outcome = await operation(
        resource_type,
        request.match_info["id"],
        body,
        _base_url(request),
        _projection(request, resource_type),
        if_version=if_version,
    )
    return _resource(outcome)


async def _delete(request: web.Request, resource_type: ResourceType) -> web.Response:
    await _directory(request).delete(
        resource_type, request.match_info["id"], if_version=_if_match(request)
    )
    return web.Response(status=204)


async def _bulk(request: web.Request) -> web.Response:
    body = await read_body(request)
    result = await run_bulk(
        _directory(request),
        {rt.endpoint: rt for rt in _directory(request).resource_types},
        body,
        _base_url(request),
        request.config_dict[SETTINGS].scim.max_bulk_operations,
    )
    return _json(result)


# Discovery -------------------------------------------------------------------------------


async def _service_provider_config(request: web.Request) -> web.Response:
    return _json(service_provider_config(request.config_dict[SETTINGS].scim, _base_url(request)))


async def _schemas(request: web.Request) -> web.Response:
    base = _base_url(request)
    return _json(
        list_response(
            [
                s.document(f"{base}/Schemas/{s.id}")
                for s in schemas(_directory(request).resource_types)
            ]
        )
    )


async def _schema(request: web.Request) -> web.Response:
    wanted = request.match_info["id"]
    for schema in schemas(_directory(request).resource_types):
        if schema.id == wanted:
            return _json(schema.document(f"{_base_url(request)}/Schemas/{schema.id}"))
    raise not_found(f"no schema {wanted!r}")


async def _resource_types(request: web.Request) -> web.Response:
    base = _base_url(request)
    return _json(list_response([rt.document(base) for rt in _directory(request).resource_types]))


async def _resource_type(request: web.Request) -> web.Response:
    wanted = request.match_info["name"]
    for rt in _directory(request).resource_types:
        if rt.name == wanted:
            return _json(rt.document(_base_url(request)))
    raise not_found(f"no resource type {wanted!r}")
