"""A gate in front of a real HTTP server: a small reverse proxy on loopback that holds
every request while closed, so a test decides when a target answers and can look at a
cycle half done without racing it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from tests.servers.ports import LOOPBACK, free_port

#: Seconds the proxy waits for the server behind it.
UPSTREAM_TIMEOUT = 60.0
#: Headers that belong to one connection, not to the message.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
}


class Gate:
    """Open at first; :meth:`close` holds the requests that arrive (and those not yet
    forwarded) until :meth:`open`."""

    def __init__(self, upstream: str, port: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = port
        self._open = asyncio.Event()
        self._open.set()
        self.held = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def open(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.clear()

    async def forward(self, request: web.Request) -> web.Response:
        self.held += 1
        try:
            await self._open.wait()
        finally:
            self.held -= 1
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP
        )
        session: aiohttp.ClientSession = request.app[_SESSION]
        async with session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT),
        ) as answer:
            body = await answer.read()
            kept = CIMultiDict(
                (k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP
            )
            return web.Response(status=answer.status, body=body, headers=kept)


_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session")


@contextlib.asynccontextmanager
async def gate_before(upstream_origin: str) -> AsyncIterator[Gate]:
    """A gate on a free loopback port forwarding to ``upstream_origin``
    (``http://127.0.0.1:PORT``); paths and queries pass unchanged."""
    gate = Gate(upstream_origin, free_port())
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{path:.*}", gate.forward)

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            app[_SESSION] = session
            yield

    app.cleanup_ctx.append(session_ctx)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    try:
        await web.TCPSite(runner, LOOPBACK, gate.port).start()
        yield gate
    finally:
        gate.open()
        await runner.cleanup()
