"""The relay's credentials: agent registration tokens, SCIM client tokens and API tokens.

A new token's secret is in the answer to its creation and nowhere else: the store keeps
only its hash, so a lost secret is replaced, not recovered. Revoking an API token through
the API makes the relay forget the tokens it had verified, so it stops working at once
here (other relay nodes notice within their verifier's cache time).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from relay.api.exceptions import InvalidRequest
from relay.api.routes import (
    TIME,
    Route,
    field_enum,
    field_number,
    iso,
    json_response,
    page_of,
    path_param,
    read_json,
    ref,
)
from relay.keys import API_TOKENS, SCIM_TOKENS, STORE
from relay.store.base import ApiRole, ApiToken, ScimToken, TokenRecord
from shared.protocol.messages import valid_name

#: Seconds a registration token is valid for when the request does not say.
DEFAULT_TTL = 3600
MIN_TTL = 60
#: Thirty days.
MAX_TTL = 30 * 24 * 3600


def _name(body: dict[str, Any], field: str) -> str:
    """A name as agents, SCIM clients and API tokens have them (they end up in CLI tables
    and signed proofs, so the same rule holds everywhere)."""
    value = body.get(field)
    if not isinstance(value, str) or not valid_name(value):
        raise InvalidRequest(f"the body needs {field!r}: 1 to 100 letters, digits, '.', '_' or '-'")
    return value


def _registration_json(token: TokenRecord, now: float) -> dict[str, Any]:
    if token.used_at is not None:
        state = "used"
    elif token.expires_at <= now:
        state = "expired"
    else:
        state = "valid"
    return {
        "id": token.id,
        "agent_name": token.agent_name,
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
        "used_at": iso(token.used_at),
        "state": state,
    }


def _scim_json(token: ScimToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "client": token.client,
        "created_at": iso(token.created_at),
        "revoked_at": iso(token.revoked_at),
    }


def _api_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role.value,
        "created_at": iso(token.created_at),
        "revoked_at": iso(token.revoked_at),
    }


async def _list_registration_tokens(request: web.Request) -> web.Response:
    tokens = await request.config_dict[STORE].list_tokens()
    now = time.time()
    return json_response({"items": [_registration_json(t, now) for t in tokens], "next": None})


async def _create_registration_token(request: web.Request) -> web.Response:
    body = await read_json(request)
    agent_name = _name(body, "agent_name")
    ttl = field_number(body, "ttl_seconds", default=DEFAULT_TTL, minimum=MIN_TTL, maximum=MAX_TTL)
    record, secret = await request.config_dict[STORE].create_token(agent_name, ttl)
    answer = _registration_json(record, time.time())
    return json_response({**answer, "token": secret}, status=201)


async def _list_scim_clients(request: web.Request) -> web.Response:
    tokens = await request.config_dict[STORE].list_scim_clients()
    return json_response({"items": [_scim_json(t) for t in tokens], "next": None})


async def _create_scim_client(request: web.Request) -> web.Response:
    client = _name(await read_json(request), "client")
    record, secret = await request.config_dict[STORE].create_scim_client(client)
    answer = {k: v for k, v in _scim_json(record).items() if k != "revoked_at"}
    return json_response({**answer, "token": secret}, status=201)


async def _revoke_scim_client(request: web.Request) -> web.Response:
    count = await request.config_dict[STORE].revoke_scim_client(request.match_info["client"])
    request.config_dict[SCIM_TOKENS].forget()
    return json_response({"revoked": count})


async def _list_api_tokens(request: web.Request) -> web.Response:
    tokens = await request.config_dict[STORE].list_api_tokens()
    return json_response({"items": [_api_json(t) for t in tokens], "next": None})


async def _create_api_token(request: web.Request) -> web.Response:
    body = await read_json(request)
    name = _name(body, "name")
    if "role" not in body:
        raise InvalidRequest("the body needs 'role' (viewer or admin)")
    role = field_enum(body, "role", ApiRole, default=ApiRole.VIEWER)
    record, secret = await request.config_dict[STORE].create_api_token(name, role)
    return json_response({**_api_json(record), "token": secret}, status=201)


async def _revoke_api_token(request: web.Request) -> web.Response:
    count = await request.config_dict[STORE].revoke_api_token(request.match_info["name"])
    request.config_dict[API_TOKENS].forget()
    return json_response({"revoked": count})


_NAME_SCHEMA = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,100}$"}
_STAMP = {"type": "string", "format": "date-time"}
_SECRET = {"type": "string", "description": "the secret: shown in this answer only"}


def _with_token(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        **schema,
        "required": [*schema["required"], "token"],
        "properties": {**schema["properties"], "token": _SECRET},
    }


_REGISTRATION_TOKEN = {
    "type": "object",
    "required": ["id", "agent_name", "created_at", "expires_at", "used_at", "state"],
    "properties": {
        "id": {"type": "string"},
        "agent_name": {"type": "string"},
        "created_at": _STAMP,
        "expires_at": _STAMP,
        "used_at": TIME,
        "state": {"type": "string", "enum": ["valid", "used", "expired"]},
    },
}
_SCIM_CLIENT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "client", "created_at", "revoked_at"],
    "properties": {
        "id": {"type": "string"},
        "client": {"type": "string"},
        "created_at": _STAMP,
        "revoked_at": TIME,
    },
}
_API_TOKEN = {
    "type": "object",
    "required": ["id", "name", "role", "created_at", "revoked_at"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "role": {"type": "string", "enum": [r.value for r in ApiRole]},
        "created_at": _STAMP,
        "revoked_at": TIME,
    },
}
_NEW_SCIM_CLIENT = _with_token(
    {
        "type": "object",
        "required": ["id", "client", "created_at"],
        "properties": {k: v for k, v in _SCIM_CLIENT["properties"].items() if k != "revoked_at"},
    }
)
_REVOKED = {
    "type": "object",
    "required": ["revoked"],
    "properties": {"revoked": {"type": "integer", "minimum": 1}},
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "RegistrationToken": _REGISTRATION_TOKEN,
    "NewRegistrationToken": _with_token(_REGISTRATION_TOKEN),
    "ScimClient": _SCIM_CLIENT,
    "NewScimClient": _NEW_SCIM_CLIENT,
    "ApiToken": _API_TOKEN,
    "NewApiToken": _with_token(_API_TOKEN),
    "Revoked": _REVOKED,
}

ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/registration-tokens",
        _list_registration_tokens,
        "Every agent registration token, used and expired ones included",
        "credentials",
        response=page_of(ref("RegistrationToken")),
    ),
    Route(
        "POST",
        "/registration-tokens",
        _create_registration_token,
        "Issue a one-time token that registers (or re-registers) an agent",
        "credentials",
        role=ApiRole.ADMIN,
        body={
            "type": "object",
            "required": ["agent_name"],
            "properties": {
                "agent_name": _NAME_SCHEMA,
                "ttl_seconds": {
                    "type": "number",
                    "minimum": MIN_TTL,
                    "maximum": MAX_TTL,
                    "default": DEFAULT_TTL,
                    "description": "how long the token is valid",
                },
            },
        },
        response=ref("NewRegistrationToken"),
        status=201,
    ),
    Route(
        "GET",
        "/scim-clients",
        _list_scim_clients,
        "Every SCIM client token, revoked ones included",
        "credentials",
        response=page_of(ref("ScimClient")),
    ),
    Route(
        "POST",
        "/scim-clients",
        _create_scim_client,
        "Issue a bearer token for a SCIM client (a client may hold several, to rotate)",
        "credentials",
        role=ApiRole.ADMIN,
        body={"type": "object", "required": ["client"], "properties": {"client": _NAME_SCHEMA}},
        response=ref("NewScimClient"),
        status=201,
    ),
    Route(
        "DELETE",
        "/scim-clients/{client}",
        _revoke_scim_client,
        "Revoke every token of a SCIM client",
        "credentials",
        role=ApiRole.ADMIN,
        params=(path_param("client", "the SCIM client's name"),),
        response=ref("Revoked"),
    ),
    Route(
        "GET",
        "/api-tokens",
        _list_api_tokens,
        "Every API token, revoked ones included (never their secrets)",
        "credentials",
        response=page_of(ref("ApiToken")),
    ),
    Route(
        "POST",
        "/api-tokens",
        _create_api_token,
        "Issue a named API token with a role",
        "credentials",
        role=ApiRole.ADMIN,
        body={
            "type": "object",
            "required": ["name", "role"],
            "properties": {
                "name": _NAME_SCHEMA,
                "role": {"type": "string", "enum": [r.value for r in ApiRole]},
            },
        },
        response=ref("NewApiToken"),
        status=201,
        errors=(409,),
    ),
    Route(
        "DELETE",
        "/api-tokens/{name}",
        _revoke_api_token,
        "Revoke an API token; it stops working at once on this relay",
        "credentials",
        role=ApiRole.ADMIN,
        params=(path_param("name", "the API token's name"),),
        response=ref("Revoked"),
    ),
)
