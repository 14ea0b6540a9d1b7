"""Who may call the admin API, and the JSON errors every refusal answers with."""

from __future__ import annotations

from relay.api.routes import MAX_BODY_BYTES
from relay.keys import API_TOKENS
from relay.store.base import ApiRole
from tests.relay.api.conftest import Api, ApiRelay


def error_code(body: object) -> str:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    code: str = body["error"]["code"]
    return code


async def test_no_token_is_refused_with_a_challenge(api: Api) -> None:
    answer = await api.raw("GET", "/agents", token=None)
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer ")
    assert answer.headers["Content-Type"].startswith("application/json")
    assert error_code(answer.body) == "unauthenticated"
    assert "Authorization: Bearer" in answer.body["error"]["message"]


async def test_a_malformed_authorization_header_is_refused(api: Api, relay: ApiRelay) -> None:
    for header in (f"Basic {relay.admin_token}", "Bearer", "Bearer   ", relay.admin_token):
        answer = await api.raw("GET", "/agents", token=None, headers={"Authorization": header})
        assert answer.status == 401, header
        assert error_code(answer.body) == "unauthenticated"
        assert "WWW-Authenticate" in answer.headers


async def test_an_unknown_token_is_refused(api: Api, relay: ApiRelay) -> None:
    for token in ("hwa_" + "x" * 43, relay.admin_token[:-1], "something-else"):
        status, body = await api("GET", "/agents", token=token)
        assert status == 401
        assert error_code(body) == "unauthenticated"
        assert "not valid" in body["error"]["message"]


async def test_a_token_revoked_through_the_api_stops_working_at_once(
    api: Api, relay: ApiRelay
) -> None:
    status, created = await api("POST", "/api-tokens", json={"name": "ci", "role": "viewer"})
    assert status == 201
    assert (await api("GET", "/whoami", token=created["token"]))[0] == 200
    status, body = await api("DELETE", "/api-tokens/ci")
    assert (status, body) == (200, {"revoked": 1})
    status, body = await api("GET", "/whoami", token=created["token"])
    assert status == 401
    assert "revoked" in body["error"]["message"]


async def test_a_token_revoked_elsewhere_stops_working_within_the_cache_time(
    api: Api, relay: ApiRelay
) -> None:
    # As `hatchway relay api-token revoke` does: straight in the store, behind the relay.
    relay[API_TOKENS].cache_seconds = 0.0
    _, secret = await relay.store.create_api_token("script", ApiRole.ADMIN)
    assert (await api("GET", "/whoami", token=secret))[0] == 200
    await relay.store.revoke_api_token("script")
    assert (await api("GET", "/whoami", token=secret))[0] == 401


async def test_scim_and_registration_tokens_are_named_in_the_refusal(
    api: Api, relay: ApiRelay
) -> None:
    _, scim = await relay.store.create_scim_client("entra")
    registration = await relay.token("branch")
    status, body = await api("GET", "/agents", token=scim)
    assert status == 401
    assert "SCIM client token" in body["error"]["message"]
    status, body = await api("GET", "/agents", token=registration)
    assert status == 401
    assert "registration token" in body["error"]["message"]


async def test_a_viewer_reads_but_cannot_change(api: Api, relay: ApiRelay) -> None:
    status, body = await api("GET", "/whoami", token=relay.viewer_token)
    assert (status, body) == (200, {"name": "viewer", "role": "viewer"})
    status, body = await api(
        "POST", "/api-tokens", token=relay.viewer_token, json={"name": "x", "role": "admin"}
    )
    assert status == 403
    assert error_code(body) == "forbidden"
    assert "viewer" in body["error"]["message"]
    assert [t.name for t in await relay.store.list_api_tokens()] == ["admin", "viewer"]


async def test_an_unknown_route_is_a_json_404(api: Api) -> None:
    status, body = await api("GET", "/no-such-thing")
    assert status == 404
    assert error_code(body) == "not_found"


async def test_a_wrong_method_is_a_json_405_with_allow(api: Api) -> None:
    answer = await api.raw("PUT", "/agents")
    assert answer.status == 405
    assert error_code(answer.body) == "method_not_allowed"
    assert "GET" in answer.headers["Allow"]


async def test_a_body_that_is_not_a_json_object_is_a_400(api: Api) -> None:
    for data in ("{not json", "[1, 2]", "\xff"):
        answer = await api.raw(
            "POST", "/api-tokens", data=data, headers={"Content-Type": "application/json"}
        )
        assert answer.status == 400, data
        assert error_code(answer.body) == "invalid_request"


async def test_a_body_over_one_mebibyte_is_a_413(api: Api) -> None:
    big = b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}'
    answer = await api.raw(
        "POST", "/api-tokens", data=big, headers={"Content-Type": "application/json"}
    )
    assert answer.status == 413
    assert error_code(answer.body) == "too_large"


async def test_the_openapi_document_needs_no_token(api: Api) -> None:
    status, body = await api("GET", "/openapi.json", token=None)
    assert status == 200
    assert body["openapi"].startswith("3.1")
