"""The admin API's client against a real relay: answers, the relay's errors as one
readable error, and the failures that come before any answer (nothing listening, no
answer in time, an answer that is not the API's, an unknown CA)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from relay.api.client import ApiClient, api_path
from relay.api.exceptions import ApiCallError
from relay.settings import RelaySettings
from relay.store.base import ApiRole
from tests.pki import make_pki
from tests.relay.api.conftest import ApiRelay
from tests.servers.ports import free_port


async def test_answers_come_back_as_json(relay: ApiRelay) -> None:
    async with ApiClient(relay.url, relay.viewer_token) as api:
        assert await api.get("/whoami") == {"name": "viewer", "role": "viewer"}
        assert await api.items("/agents", cursor="after") == []


async def test_a_trailing_slash_in_the_url_does_no_harm(relay: ApiRelay) -> None:
    async with ApiClient(relay.url + "/", relay.admin_token) as api:
        assert (await api.get("/whoami"))["role"] == "admin"


@pytest.mark.parametrize(
    ("token", "method", "path", "status", "code", "words"),
    [
        ("hwa_not-a-token", "GET", "/whoami", 401, "unauthenticated", "not valid"),
        (None, "GET", "/whoami", 401, "unauthenticated", "Authorization"),
        ("viewer", "POST", "/agents/a1/revoke", 403, "forbidden", "viewer token"),
        ("admin", "GET", "/agents/nobody", 404, "not_found", "nobody"),
    ],
)
async def test_an_error_answer_is_one_line_with_code_and_message(
    relay: ApiRelay,
    token: str | None,
    method: str,
    path: str,
    status: int,
    code: str,
    words: str,
) -> None:
    secret = {"viewer": relay.viewer_token, "admin": relay.admin_token}.get(token or "", token)
    async with ApiClient(relay.url, secret) as api:
        with pytest.raises(ApiCallError) as info:
            await api.call(method, path)
    error = info.value
    assert (error.http_status, error.code) == (status, code)
    assert words in error.message
    assert str(error) == f"{code}: {error.message}"
    assert "\n" not in str(error)


async def test_a_taken_name_is_a_conflict(relay: ApiRelay) -> None:
    await relay.store.create_api_token("ci", ApiRole.VIEWER)
    async with ApiClient(relay.url, relay.admin_token) as api:
        with pytest.raises(ApiCallError) as info:
            await api.post("/api-tokens", {"name": "ci", "role": "viewer"})
    assert (info.value.http_status, info.value.code) == (409, "conflict")


async def test_a_bad_body_is_an_invalid_request(relay: ApiRelay) -> None:
    async with ApiClient(relay.url, relay.admin_token) as api:
        with pytest.raises(ApiCallError) as info:
            await api.post("/api-tokens", {"name": "ci", "role": "owner"})
    assert (info.value.http_status, info.value.code) == (400, "invalid_request")
    assert "role" in info.value.message


async def test_a_relay_that_is_not_there_is_named_by_its_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with ApiClient(url, "hwa_x") as api:
        with pytest.raises(ApiCallError) as info:
            await api.get("/whoami")
    assert info.value.code == "unreachable" and info.value.http_status is None
    assert str(info.value).startswith(f"cannot reach the relay at {url}: ")


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A server that accepts connections and never answers; its URL."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_no_answer_within_the_timeout(silent_server: str) -> None:
    async with ApiClient(silent_server, "hwa_x", timeout=0.3) as api:
        with pytest.raises(ApiCallError) as info:
            await api.get("/whoami")
    assert info.value.code == "timeout"
    assert str(info.value) == f"the relay at {silent_server} did not answer within 0.3 s"
    # A call may wait longer than the client's default.
    async with ApiClient(silent_server, "hwa_x", timeout=30) as api:
        with pytest.raises(ApiCallError, match=r"within 0\.2 s"):
            await api.get("/whoami", timeout=0.2)


@pytest.fixture
async def proxy_error_server() -> AsyncIterator[str]:
    """A server that answers every request as a proxy whose backend is down would."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        page = b"<html><body>502 Bad Gateway</body></html>"
        writer.write(
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: "
            + str(len(page)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + page
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.close()
    await server.wait_closed()


async def test_an_answer_that_is_not_the_apis(proxy_error_server: str) -> None:
    async with ApiClient(proxy_error_server, "hwa_x") as api:
        with pytest.raises(ApiCallError) as info:
            await api.get("/whoami")
    assert (info.value.code, info.value.http_status) == ("unexpected_answer", 502)
    assert "HTTP 502 Bad Gateway" in str(info.value) and "\n" not in str(info.value)


async def test_an_https_relay_is_verified_against_the_ca_file(
    tmp_path: Path, relay_settings: RelaySettings
) -> None:
    ca, cert, key = make_pki(tmp_path)
    settings = replace(relay_settings, tls_certificate=str(cert), tls_private_key=str(key))
    harness = ApiRelay(tmp_path / "tls-relay", settings)
    await harness.start()
    try:
        _, token = await harness.store.create_api_token("admin", ApiRole.ADMIN)
        assert harness.url.startswith("https://")
        async with ApiClient(harness.url, token, ca_file=ca) as api:
            assert (await api.get("/whoami"))["name"] == "admin"
        async with ApiClient(harness.url, token) as api:
            with pytest.raises(ApiCallError) as info:
                await api.get("/whoami")
        assert info.value.code == "unreachable"
        assert "certificate verify failed" in str(info.value)
    finally:
        await harness.stop()


async def test_a_ca_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ApiCallError, match="cannot load CA certificates from"):
        async with ApiClient("https://127.0.0.1:1", "hwa_x", ca_file=tmp_path / "none.pem"):
            pass


def test_path_segments_are_quoted() -> None:
    assert api_path("jobs", "crm", "status") == "/jobs/crm/status"
    assert api_path("agents", "a b/c") == "/agents/a%20b%2Fc"


async def test_calls_outside_the_context_are_refused() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await ApiClient("http://127.0.0.1:1", None).get("/whoami")


@pytest.fixture
async def redirecting_server(relay: ApiRelay) -> AsyncIterator[str]:
    """A front door that sends every request on to the relay under another origin (its
    ``localhost`` name), as a proxy sending ``http://`` to ``https://`` would; its URL."""
    elsewhere = relay.url.replace("127.0.0.1", "localhost")

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ")[1].decode()
        writer.write(
            f"HTTP/1.1 308 Permanent Redirect\r\nLocation: {elsewhere}{path}\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.close()
    await server.wait_closed()


async def test_a_redirect_is_reported_with_where_it_leads_not_followed(
    relay: ApiRelay, redirecting_server: str
) -> None:
    """Followed, the redirect would reach the relay without the token (dropped on the way
    to another origin): "no API token" for a token that was given, and a POST made a GET."""
    elsewhere = relay.url.replace("127.0.0.1", "localhost")
    async with ApiClient(redirecting_server, relay.admin_token) as api:
        for method in ("GET", "POST"):
            with pytest.raises(ApiCallError) as info:
                await api.call(method, "/whoami")
            assert (info.value.code, info.value.http_status) == ("redirected", 308)
            assert str(info.value) == (
                f"redirected: the relay at {redirecting_server} answered HTTP 308 Permanent"
                f" Redirect, a redirect to {elsewhere}/api/v1/whoami"
                f" (use {elsewhere} as the relay's URL)"
            )
