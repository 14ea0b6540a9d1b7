"""Registration tokens, SCIM client tokens and API tokens through the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiohttp
import pytest

from relay.store.base import (
    API_TOKEN_PREFIX,
    REGISTRATION_TOKEN_PREFIX,
    SCIM_TOKEN_PREFIX,
)
from tests.relay.api.conftest import Api, ApiRelay


def moment(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def test_registration_tokens_are_issued_and_listed_with_their_state(
    api: Api, relay: ApiRelay
) -> None:
    status, new = await api(
        "POST", "/registration-tokens", json={"agent_name": "branch", "ttl_seconds": 600}
    )
    assert status == 201
    assert new["token"].startswith(REGISTRATION_TOKEN_PREFIX)
    assert (new["agent_name"], new["state"], new["used_at"]) == ("branch", "valid", None)
    assert moment(new["expires_at"]) - moment(new["created_at"]) == pytest.approx(600, abs=0.01)

    _, default = await api("POST", "/registration-tokens", json={"agent_name": "plant"})
    assert moment(default["expires_at"]) - moment(default["created_at"]) == pytest.approx(
        3600, abs=0.01
    )
    await relay.store.redeem_token(new["token"], "key", "hatchway-agent 1.0")
    await relay.store.create_token("late", -1)

    status, page = await api("GET", "/registration-tokens", token=relay.viewer_token)
    assert status == 200
    assert page["next"] is None
    states = {t["agent_name"]: t["state"] for t in page["items"]}
    assert states == {"branch": "used", "plant": "valid", "late": "expired"}
    assert all("token" not in t for t in page["items"]), "secrets are shown once"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"agent_name": ""},
        {"agent_name": "a b"},
        {"agent_name": 7},
        {"agent_name": "x" * 101},
        {"agent_name": "branch", "ttl_seconds": 59},
        {"agent_name": "branch", "ttl_seconds": 2592001},
        {"agent_name": "branch", "ttl_seconds": "600"},
        {"agent_name": "branch", "ttl_seconds": True},
    ],
)
async def test_registration_token_requests_are_checked(
    api: Api, relay: ApiRelay, body: dict[str, Any]
) -> None:
    status, answer = await api("POST", "/registration-tokens", json=body)
    assert status == 400
    assert answer["error"]["code"] == "invalid_request"
    assert await relay.store.list_tokens() == []


async def test_scim_clients_are_issued_listed_and_revoked(api: Api, relay: ApiRelay) -> None:
    status, new = await api("POST", "/scim-clients", json={"client": "entra"})
    assert status == 201
    assert set(new) == {"id", "client", "created_at", "token"}
    assert new["token"].startswith(SCIM_TOKEN_PREFIX)
    assert await relay.store.verify_scim_token(new["token"]) == "entra"
    await api("POST", "/scim-clients", json={"client": "entra"})

    assert await api("DELETE", "/scim-clients/entra") == (200, {"revoked": 2})
    assert await relay.store.verify_scim_token(new["token"]) is None
    status, page = await api("GET", "/scim-clients", token=relay.viewer_token)
    assert status == 200
    assert [(t["client"], t["revoked_at"] is not None) for t in page["items"]] == [
        ("entra", True),
        ("entra", True),
    ]
    status, body = await api("DELETE", "/scim-clients/entra")
    assert status == 404
    assert "entra" in body["error"]["message"]


async def test_a_scim_token_revoked_through_the_api_stops_working_at_once(
    api: Api, relay: ApiRelay
) -> None:
    _, new = await api("POST", "/scim-clients", json={"client": "okta"})
    scim = {"Authorization": f"Bearer {new['token']}"}
    async with aiohttp.ClientSession(headers=scim) as http:
        async with http.get(f"{relay.url}/scim/v2/Users") as response:
            assert response.status == 200  # verified, and remembered for a while
        assert (await api("DELETE", "/scim-clients/okta"))[0] == 200
        async with http.get(f"{relay.url}/scim/v2/Users") as response:
            assert response.status == 401


@pytest.mark.parametrize("body", [{}, {"client": ""}, {"client": "a/b"}, {"client": None}])
async def test_scim_client_requests_are_checked(api: Api, body: dict[str, Any]) -> None:
    status, answer = await api("POST", "/scim-clients", json=body)
    assert status == 400
    assert "'client'" in answer["error"]["message"]


async def test_api_tokens_are_issued_listed_and_revoked(api: Api, relay: ApiRelay) -> None:
    status, new = await api("POST", "/api-tokens", json={"name": "grafana", "role": "viewer"})
    assert status == 201
    assert new["token"].startswith(API_TOKEN_PREFIX)
    assert (new["name"], new["role"], new["revoked_at"]) == ("grafana", "viewer", None)
    assert await api("GET", "/whoami", token=new["token"]) == (
        200,
        {"name": "grafana", "role": "viewer"},
    )

    status, body = await api("POST", "/api-tokens", json={"name": "grafana", "role": "admin"})
    assert status == 409
    assert "grafana" in body["error"]["message"]

    status, page = await api("GET", "/api-tokens", token=relay.viewer_token)
    assert status == 200
    assert [(t["name"], t["role"]) for t in page["items"]] == [
        ("admin", "admin"),
        ("viewer", "viewer"),
        ("grafana", "viewer"),
    ]
    assert all("token" not in t for t in page["items"])

    assert await api("DELETE", "/api-tokens/grafana") == (200, {"revoked": 1})
    assert (await api("GET", "/whoami", token=new["token"]))[0] == 401
    assert (await api("DELETE", "/api-tokens/grafana"))[0] == 404
    # The name is free again once revoked.
    assert (await api("POST", "/api-tokens", json={"name": "grafana", "role": "admin"}))[0] == 201


@pytest.mark.parametrize(
    "body",
    [
        {"name": "ci"},
        {"name": "ci", "role": "owner"},
        {"name": "ci", "role": None},
        {"role": "admin"},
        {"name": "c i", "role": "admin"},
    ],
)
async def test_api_token_requests_are_checked(
    api: Api, relay: ApiRelay, body: dict[str, Any]
) -> None:
    status, answer = await api("POST", "/api-tokens", json=body)
    assert status == 400
    assert answer["error"]["code"] == "invalid_request"
    assert len(await relay.store.list_api_tokens()) == 2
