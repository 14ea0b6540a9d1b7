"""Who may call the admin API, and the JSON errors every refusal answers with."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
import structlog.testing

from relay.api.routes import MAX_BODY_BYTES
from relay.app import STORE_FILE
from relay.engine.settings import EngineSettings
from relay.keys import API_TOKENS
from relay.settings import RelaySettings
from relay.store.base import ApiRole, ApiToken, Store
from shared import logs
from tests.relay.api.conftest import CALL_TIMEOUT, Api, ApiRelay
from tests.relay.api.job_helpers import JOB
from tests.servers.databases import unique_database_name
from tests.servers.ports import free_port
from tests.servers.postgres import PostgresServer


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
    relay[API_TOKENS].cache.cache_seconds = 0.0
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


class HeldVerification:
    """The relay's store, except that verifying ``secret`` waits, after reading the store,
    until :attr:`release` is set: a request caught between its token's lookup and its
    answer."""

    def __init__(self, store: Store, secret: str) -> None:
        self.store = store
        self.secret = secret
        self.read = asyncio.Event()
        self.release = asyncio.Event()

    async def verify_api_token(self, token: str) -> ApiToken | None:
        found = await self.store.verify_api_token(token)
        if token == self.secret:
            self.read.set()
            await self.release.wait()
        return found


async def test_a_token_looked_up_before_its_revocation_is_not_remembered_after_it(
    api: Api, relay: ApiRelay
) -> None:
    _, secret = await relay.store.create_api_token("leaver", ApiRole.VIEWER)
    verifier = relay[API_TOKENS]
    held = HeldVerification(relay.store, secret)
    verifier.store = cast(Store, held)
    # The admin token is remembered already, so the revocation below is not held.
    assert (await api("GET", "/whoami"))[0] == 200
    request = asyncio.create_task(api("GET", "/whoami", token=secret))
    await asyncio.wait_for(held.read.wait(), CALL_TIMEOUT)
    assert (await api("DELETE", "/api-tokens/leaver"))[0] == 200
    held.release.set()
    # Asked before the revocation, answered as it was then...
    assert (await request)[0] == 200
    # ...but not remembered: the next request finds the token revoked.
    status, body = await api("GET", "/whoami", token=secret)
    assert status == 401, body


async def raw_status(relay: ApiRelay, request: bytes) -> tuple[int, Any]:
    """Send ``request`` as it is (bytes an HTTP client would not send) and read the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), CALL_TIMEOUT)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def test_a_token_that_is_not_text_is_refused_not_a_server_error(relay: ApiRelay) -> None:
    for secret in (b"hwa_\xff\xfe", b"hwa_\xc3\xa9t\xc3\xa9", b"hwa_a b"):
        status, body = await raw_status(
            relay,
            b"GET /api/v1/whoami HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n"
            b"Authorization: Bearer " + secret + b"\r\n\r\n",
        )
        assert status == 401, (secret, body)
        assert error_code(body) == "unauthenticated"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/jobs/a%00b", None),
        ("/agents/%00", None),
        ("/logs", {"entry": "a\x00b"}),
        ("/jobs/crm/where", {"entry": "\x00"}),
        ("/directory/users", {"after": "\x00"}),
    ],
)
async def test_a_nul_in_a_path_or_query_parameter_is_a_400(
    api: Api, path: str, params: dict[str, str] | None
) -> None:
    # PostgreSQL refuses NUL in text: it would fail the query (503), SQLite would find
    # nothing (200 or 404). Either way the caller sent something that is no name.
    answer = await api.raw("GET", path, params=params)
    assert answer.status == 400, answer.body
    assert error_code(answer.body) == "invalid_request"
    assert "NUL" in answer.body["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "ci", "role": "viewer", "x": "\\u0000"}',
        '{"name": "ci", "role": "viewer", "x": ["\\ud800"]}',
        '{"name": "ci", "role": "viewer", "\\udfff": 1}',
        '{"name": "ci", "role": "viewer", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"name": "ci", "role": "viewer", "x": ' + "9" * 5000 + "}",
    ],
    ids=["nul", "surrogate", "surrogate-key", "deep", "long-number"],
)
async def test_a_body_the_stores_cannot_keep_is_a_400(api: Api, relay: ApiRelay, body: str) -> None:
    answer = await api.raw(
        "POST", "/api-tokens", data=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status == 400, answer.body
    assert error_code(answer.body) == "invalid_request"
    assert [t.name for t in await relay.store.list_api_tokens()] == ["admin", "viewer"]


async def test_a_body_whose_encoding_does_not_decode_is_a_400(relay: ApiRelay) -> None:
    status, body = await raw_status(
        relay,
        b"POST /api/v1/api-tokens HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n"
        + f"Authorization: Bearer {relay.admin_token}\r\n".encode()
        + b"Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: 5\r\n\r\nabcde",
    )
    assert status == 400, body
    assert error_code(body) == "invalid_request"
    assert "gzip" in body["error"]["message"]


async def test_a_body_under_the_limit_is_read_whole_however_it_arrives(relay: ApiRelay) -> None:
    comments = ("# " + "x" * 98 + "\n") * 5000
    spec = 'name = "big"\ntarget = "scim"\nscope = "all"\n' + comments
    spec += '[connection]\nconnector = "crm"\n'
    body = json.dumps({"spec": spec}).encode()
    assert len(body) < MAX_BODY_BYTES
    half = len(body) // 2
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    try:
        writer.write(
            b"POST /api/v1/jobs HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n".encode()
            + f"Authorization: Bearer {relay.admin_token}\r\n\r\n".encode()
            + body[:half]
        )
        await writer.drain()
        # The relay waits for the rest of the body rather than answering the first half.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.5)
        writer.write(body[half:])
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), CALL_TIMEOUT)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, text = answer.partition(b"\r\n\r\n")
    assert int(head.split()[1]) == 201, text[:300]
    assert json.loads(text)["spec"] == spec


async def test_a_failing_store_is_a_503_that_does_not_show_the_store(
    api: Api, relay: ApiRelay
) -> None:
    # Another process breaks the database under the relay.
    with contextlib.closing(sqlite3.connect(relay.data_dir / STORE_FILE)) as db:
        db.execute("ALTER TABLE agents RENAME TO agents_gone")
        db.commit()
    status, body = await api("GET", "/agents")
    assert status == 503, body
    assert error_code(body) == "unavailable"
    assert "log" in body["error"]["message"]
    assert str(relay.data_dir) not in body["error"]["message"]
    assert "agents" not in body["error"]["message"]


@pytest.fixture
async def postgres_api(
    postgres_server: PostgresServer, tmp_path: Path
) -> AsyncIterator[tuple[Api, ApiRelay]]:
    """The API of a relay whose store is PostgreSQL (which refuses NUL in text)."""
    postgres_server.start()
    database = unique_database_name()
    postgres_server.create_database(database)
    settings = RelaySettings(
        listen=f"127.0.0.1:{free_port()}",
        shutdown_timeout=2,
        store=postgres_server.url(database),
        engine=EngineSettings(enabled=False),
    )
    relay = ApiRelay(tmp_path / "relay", settings)
    await relay.start()
    try:
        _, relay.admin_token = await relay.store.create_api_token("admin", ApiRole.ADMIN)
        await relay.store.create_job("crm", JOB)
        async with aiohttp.ClientSession() as session:
            yield Api(session, relay), relay
    finally:
        await relay.stop()
        postgres_server.drop_database(database)


@pytest.mark.server
async def test_a_nul_is_a_400_on_postgresql_too(postgres_api: tuple[Api, ApiRelay]) -> None:
    api, relay = postgres_api
    answers = [
        await api.raw("GET", "/jobs/a%00b"),
        await api.raw("GET", "/jobs/crm/where", params={"entry": "\x00"}),
        await api.raw("GET", "/logs", params={"cycle": "c\x00"}),
        await api.raw("POST", "/jobs/crm/assignments", json={"kind": "user", "entry": "\x00"}),
        await api.raw("POST", "/jobs/crm/provision", json={"entry": "a\x00"}),
    ]
    for answer in answers:
        assert answer.status == 400, answer.body
        assert "NUL" in answer.body["error"]["message"]
    assert await relay.store.assignments("crm") == []


async def test_a_change_is_logged_with_the_name_of_the_token_that_made_it(api: Api) -> None:
    with structlog.testing.capture_logs() as events:
        status, _ = await api("POST", "/jobs", json={"spec": JOB.replace('"crm"', '"audited"')})
    assert status == 201
    [change] = [e for e in events if e["event"] == "admin API change"]
    assert (change["by"], change["method"], change["path"]) == ("admin", "POST", "/api/v1/jobs")
    # The JSON log's redaction masks keys that look like secrets; the name must survive it.
    assert logs._redact(None, "info", dict(change))["by"] == "admin"
