"""The OpenAPI 3.1 document of the admin API, built from the route table the server
serves, so that every route is documented and every documented route exists."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from relay.api.routes import PREFIX, Route
from shared import __version__

_REASONS = {
    400: "The parameters or the body are wrong",
    401: "No API token, or not a valid one",
    403: "The token's role may not do this",
    404: "No such resource",
    409: "The name is taken, or the resource's state does not allow it",
    413: "The body is too large",
    500: "The relay failed; its log says why",
    503: "The store or the engine cannot answer now",
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "enum": [
                        "invalid_request",
                        "unauthenticated",
                        "forbidden",
                        "not_found",
                        "method_not_allowed",
                        "conflict",
                        "too_large",
                        "unavailable",
                        "internal",
                    ],
                },
                "message": {"type": "string"},
            },
        }
    },
}


def document(routes: Iterable[Route], schemas: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The whole document; raises :class:`ValueError` for two routes with one operation
    id or one method and path (a mistake in the table, found when the relay starts)."""
    paths: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for route in routes:
        if route.operation_id in seen:
            raise ValueError(f"two API routes have the operation id {route.operation_id!r}")
        seen.add(route.operation_id)
        operations = paths.setdefault(PREFIX + route.path, {})
        method = route.method.lower()
        if method in operations:
            raise ValueError(f"two API routes for {route.method} {route.path}")
        operations[method] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hatchway admin API",
            "version": __version__,
            "description": (
                "Agents, tokens, provisioning jobs, cycles, provisioning logs and the directory"
                " of a Hatchway relay. Send an API token as 'Authorization: Bearer hwa_...';"
                " viewer tokens read, admin tokens also change. Times are ISO 8601 in UTC."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA, **schemas},
            "securitySchemes": {
                "apiToken": {"type": "http", "scheme": "bearer", "bearerFormat": "hwa_..."}
            },
        },
    }


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "security": [{"apiToken": []}] if route.role is not None else [],
    }
    if route.role is not None:
        operation["description"] = f"Needs an API token with the {route.role.value} role."
    parameters = [
        {
            "name": p.name,
            "in": p.where,
            "required": p.required or p.where == "path",
            "description": p.description,
            "schema": p.schema,
        }
        for p in route.params
    ]
    declared = {p.name for p in route.params if p.where == "path"}
    in_path = set(re.findall(r"{(\w+)}", route.path))
    if declared != in_path:
        raise ValueError(f"{route.method} {route.path}: path parameters {sorted(in_path)}")
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": route.body}},
        }
    success: dict[str, Any] = {"description": route.summary}
    if route.response is not None:
        success["content"] = {"application/json": {"schema": route.response}}
    responses: dict[str, Any] = {str(route.status): success}
    for status in sorted(_errors(route)):
        responses[str(status)] = {
            "description": _REASONS[status],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    operation["responses"] = responses
    return operation


def _errors(route: Route) -> set[int]:
    errors = {500, 503, *route.errors}
    if route.role is not None:
        errors |= {401, 403}
    if route.params or route.body is not None:
        errors.add(400)
    if "{" in route.path:
        errors.add(404)
    if route.body is not None:
        errors.add(413)
    return errors
