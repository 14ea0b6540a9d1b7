"""A small SCIM service written for the tests, for what ``scim2-server`` cannot do.

scim2-server has no basic or OAuth 2.0 authentication, never answers 429 or 503, and
cannot be made to answer malformed JSON, slowly, or to drop a connection. This stand-in is
an aiohttp application on a real loopback socket, in the test's own event loop, that
speaks enough SCIM for those tests: users and groups in memory, ``userName eq`` and
``displayName eq`` filters, PATCH recorded as sent, PUT with ``If-Match``, Bulk creates
(when asked to offer Bulk), and an OAuth 2.0 token endpoint (client credentials). It
serves no ``/Schemas`` or ``/ResourceTypes``, as some real services do not. Faults are
queued per method and path and used once each, and every request is logged, so tests can
see exactly what the connector sent.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .ports import LOOPBACK, free_port

CLIENT_ID = "hatchway-client"
CLIENT_SECRET = "s3cret/with+chars"  # a throwaway server on loopback
BEARER = "standin-token"
USERNAME, PASSWORD = "provisioner", "pa:ss word"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"


@dataclass(frozen=True)
class Fault:
    """What the next matching request gets instead of a normal answer.

    ``kind`` is ``status`` (answer ``status`` with ``headers`` and ``body``), ``malformed``
    (do the work, answer with a body that is not JSON), ``slow`` (never answer until the
    stand-in stops), ``drop_after`` (do the work, then drop the connection) or
    ``drop_before`` (drop the connection without doing anything).
    """

    kind: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None
    peer: Any


class ScimStandIn:
    def __init__(
        self,
        *,
        auth: str = "bearer",
        patch: bool = True,
        etag: bool = False,
        bulk: bool = False,
        token_lifetime: int = 3600,
    ) -> None:
        self.auth = auth
        self.patch = patch
        self.etag = etag
        self.bulk = bulk
        self.token_lifetime = token_lifetime
        self.port = free_port()
        self.resources: dict[str, dict[str, dict[str, Any]]] = {"Users": {}, "Groups": {}}
        self.seen: list[Seen] = []
        self.faults: dict[tuple[str, str], deque[Fault]] = {}
        self.tokens: dict[str, float] = {}
        self.tokens_issued = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self._crowd: tuple[int, asyncio.Event] | None = None
        #: Set once, by the test, to let requests held at ``gate`` through.
        self.gate: asyncio.Event | None = None
        self.stopping = asyncio.Event()
        self._ids = itertools.count(1)
        self._versions = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v2"

    @property
    def token_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/token"

    def fail(self, method: str, path: str, *faults: Fault) -> None:
        """Queue faults for the next requests of ``method`` on ``path`` (no query)."""
        self.faults.setdefault((method, path), deque()).extend(faults)

    async def crowded(self, count: int) -> None:
        """Return once ``count`` requests are in the handler at the same time."""
        event = asyncio.Event()
        self._crowd = (count, event)
        if self.in_flight >= count:
            event.set()
        await event.wait()

    def requests(self, method: str, prefix: str = "/v2/") -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.startswith(prefix)]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_route("*", "/v2/{tail:.*}", self._scim)
        return app

    # Handlers ---------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.seen.append(Seen("POST", "/token", {}, dict(form), None, None))
        expected = base64.b64encode(
            f"{CLIENT_ID}:{CLIENT_SECRET.replace('/', '%2F').replace('+', '%2B')}".encode()
        ).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        self.tokens_issued += 1
        token = f"access-{self.tokens_issued}"
        self.tokens[token] = time.monotonic() + self.token_lifetime
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}
        )

    async def _scim(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        path = request.path
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.seen.append(
            Seen(request.method, path, dict(request.query), body,
                 request.headers.get("Authorization"), peer)
        )  # fmt: skip
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        if self._crowd is not None and self.in_flight >= self._crowd[0]:
            self._crowd[1].set()
        try:
            if self.gate is not None:
                await self.gate.wait()
            if path != "/v2/ServiceProviderConfig" and not self._authorized(request):
                return _error(401, "bad credentials")
            queue = self.faults.get((request.method, path))
            fault = queue.popleft() if queue else None
            if fault is None:
                return self._serve(request.method, path, request, body)
            return await self._faulty(fault, request, body)
        finally:
            self.in_flight -= 1

    async def _faulty(self, fault: Fault, request: web.Request, body: Any) -> web.StreamResponse:
        if fault.kind == "status":
            return web.Response(
                status=fault.status, headers=fault.headers, text=fault.body,
                content_type="application/scim+json",
            )  # fmt: skip
        if fault.kind == "slow":
            await self.stopping.wait()
            return _error(503, "stopping")
        if fault.kind == "malformed":
            done = self._serve(request.method, request.path, request, body)
            return web.Response(
                status=done.status, text='{"id": "unterminated', content_type="application/json"
            )
        if fault.kind == "drop_after":
            self._serve(request.method, request.path, request, body)
        assert request.transport is not None
        request.transport.abort()
        return web.Response(status=500)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self.auth == "none":
            return True
        if self.auth == "bearer":
            return header == f"Bearer {BEARER}"
        if self.auth == "basic":
            pair = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
            return header == f"Basic {pair}"
        scheme, _, token = header.partition(" ")
        return scheme == "Bearer" and self.tokens.get(token, 0) > time.monotonic()

    def _serve(self, method: str, path: str, request: web.Request, body: Any) -> web.Response:
        parts = path.removeprefix("/v2/").split("/")
        if parts == ["ServiceProviderConfig"]:
            return _json(200, self._config())
        if parts == ["Bulk"] and method == "POST" and self.bulk:
            return _json(200, self._bulk(body))
        kind = parts[0]
        if kind not in self.resources:
            return _error(404, f"no endpoint {path}")
        store = self.resources[kind]
        if len(parts) == 1 and method == "POST":
            return self._create(kind, body)
        if len(parts) == 1 and method == "GET":
            return _json(200, self._list(kind, request.query.get("filter")))
        found = store.get(parts[1]) if len(parts) == 2 else None
        if found is None:
            return _error(404, "not found")
        if method == "GET":
            return _json(200, found, etag=found["meta"]["version"])
        if method == "DELETE":
            del store[parts[1]]
            return web.Response(status=204)
        if method == "PATCH" and self.patch:
            found["meta"]["version"] = f'W/"{next(self._versions)}"'
            return web.Response(status=204)
        if method == "PUT":
            wanted = request.headers.get("If-Match")
            if self.etag and wanted is not None and wanted != found["meta"]["version"]:
                return _error(412, "changed meanwhile")
            replaced = {**body, "id": found["id"], "meta": found["meta"]}
            replaced["meta"]["version"] = f'W/"{next(self._versions)}"'
            store[found["id"]] = replaced
            return _json(200, replaced)
        return _error(501, f"{method} is not supported")

    def _create(self, kind: str, body: Any) -> web.Response:
        naming = "userName" if kind == "Users" else "displayName"
        name = body.get(naming)
        if any(r.get(naming) == name for r in self.resources[kind].values()):
            return _error(409, f"{naming} is taken", scim_type="uniqueness")
        resource_id = f"{kind[0].lower()}{next(self._ids)}"
        version = f'W/"{next(self._versions)}"'
        stored = {**body, "id": resource_id, "meta": {"version": version}}
        self.resources[kind][resource_id] = stored
        return _json(201, stored, etag=version)

    def _bulk(self, body: Any) -> dict[str, Any]:
        """Creates only, each answered as its own POST would be."""
        results = []
        for operation in body["Operations"]:
            assert operation["method"] == "POST", "the stand-in's Bulk only creates"
            answer = self._create(operation["path"].strip("/"), operation["data"])
            results.append({
                "method": "POST", "bulkId": operation["bulkId"],
                "status": str(answer.status), "response": json.loads(answer.text or "null"),
            })  # fmt: skip
        return {"schemas": [BULK_RESPONSE], "Operations": results}

    def _list(self, kind: str, flt: str | None) -> dict[str, Any]:
        found = list(self.resources[kind].values())
        if flt is not None:
            matched = re.fullmatch(r'(\w+) eq (".*")', flt)
            assert matched is not None, f"the stand-in only filters with eq: {flt}"
            name, value = matched.group(1), json.loads(matched.group(2))
            found = [r for r in found if r.get(name) == value]
        return {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(found),
            "startIndex": 1,
            "itemsPerPage": len(found),
            "Resources": found,
        }

    def _config(self) -> dict[str, Any]:
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": self.patch},
            "bulk": {"supported": self.bulk, "maxOperations": 100, "maxPayloadSize": 1 << 20},
            "filter": {"supported": True, "maxResults": 100},
            "etag": {"supported": self.etag},
        }


def _json(status: int, body: Any, *, etag: str | None = None) -> web.Response:
    headers = {"ETag": etag} if etag else {}
    return web.Response(
        status=status, text=json.dumps(body), headers=headers, content_type="application/scim+json"
    )


def _error(status: int, detail: str, *, scim_type: str | None = None) -> web.Response:
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": str(status),
        "detail": detail,
    }
    if scim_type:
        body["scimType"] = scim_type
    return _json(status, body)


@asynccontextmanager
async def running_standin(**options: Any) -> AsyncIterator[ScimStandIn]:
    standin = ScimStandIn(**options)
    runner = web.AppRunner(standin.app(), handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, LOOPBACK, standin.port).start()
    try:
        yield standin
    finally:
        standin.stopping.set()
        if standin.gate is not None:
            standin.gate.set()
        await runner.cleanup()
