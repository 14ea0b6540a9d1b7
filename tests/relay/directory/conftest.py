"""A relay serving ``/scim/v2`` on a real socket, on SQLite or on PostgreSQL, with a SCIM
client token and an HTTP session that sends it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp.test_utils import TestServer

from relay.app import build_app
from relay.directory.query import Query
from relay.keys import STORE
from relay.settings import RelaySettings
from relay.store.base import EntryKind, Store
from tests.servers.databases import unique_database_name

SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@dataclass
class ScimRelay:
    url: str
    """``http://127.0.0.1:PORT/scim/v2``"""
    token: str
    store: Store
    http: aiohttp.ClientSession
    """Sends the token and ``Content-Type: application/scim+json``."""

    async def call(
        self, method: str, path: str, body: Any = None, **kwargs: Any
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        """Send a request; the status, the decoded JSON body (None if empty) and the
        response."""
        async with self.http.request(method, self.url + path, json=body, **kwargs) as response:
            text = await response.text()
            decoded = None
            if text:
                assert response.content_type == SCIM_JSON, text
                decoded = await response.json(content_type=SCIM_JSON)
            return response.status, decoded, response


async def start_relay(settings: RelaySettings, data_dir: Path) -> AsyncIterator[ScimRelay]:
    app = build_app(settings, data_dir)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        store = app[STORE]
        _, token = await store.create_scim_client("test-client")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": SCIM_JSON}
        async with aiohttp.ClientSession(headers=headers) as http:
            yield ScimRelay(str(server.make_url("/scim/v2")), token, store, http)
    finally:
        await server.close()


@pytest.fixture
async def scim(tmp_path: Path) -> AsyncIterator[ScimRelay]:
    """The SCIM endpoint on SQLite."""
    async for relay in start_relay(RelaySettings(), tmp_path):
        yield relay


@pytest.fixture(params=["sqlite", "postgresql"])
async def scim_any_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ScimRelay]:
    """The SCIM endpoint on each store in turn."""
    settings = RelaySettings()
    database = None
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        server.start()
        database = unique_database_name()
        server.create_database(database)
        settings = replace(settings, store=server.url(database))
    try:
        async for relay in start_relay(settings, tmp_path):
            yield relay
    finally:
        if database is not None:
            server.drop_database(database)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """For tests that run the CLI's main(), which configures structlog and the root logger:
    undo that for the tests that follow."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


# Requests and checks shared by the endpoint's tests ------------------------------------------


def user(user_name: str, **extra: Any) -> dict[str, Any]:
    return {"schemas": [USER_SCHEMA], "userName": user_name, **extra}


def group(name: str, *member_ids: str) -> dict[str, Any]:
    return {
        "schemas": [GROUP_SCHEMA],
        "displayName": name,
        "members": [{"value": m} for m in member_ids],
    }


def patch_op(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


async def create(scim: ScimRelay, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, created, _ = await scim.call("POST", path, body)
    assert status == 201, created
    return created


async def snapshot(scim: ScimRelay) -> list[tuple[str, dict[str, Any], int]]:
    """Every entry with its resource and version, to show nothing was written."""
    found = []
    for kind in EntryKind:
        entries, _ = await scim.store.query_entries(kind, Query(count=10_000))
        found += [(e.id, e.resource, e.version) for e in entries]
    return sorted(found, key=lambda item: item[0])


def assert_error(status: int, body: Any, expected: int, scim_type: str | None = None) -> None:
    assert status == expected, body
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(expected)
    assert body.get("scimType") == scim_type, body
    assert body["detail"]
