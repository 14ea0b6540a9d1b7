"""The relay's aiohttp application: routes, and one ``cleanup_ctx`` per resource."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from aiohttp import web

from relay.hub.endpoint import agent_socket, close_all
from relay.hub.hub import Hub
from relay.hub.registration import register
from relay.keys import BACKGROUND, HUB, RELAY_KEY, SETTINGS, SOCKETS, STORE
from relay.settings import RelaySettings
from relay.store.sqlite import SqliteStore
from shared.protocol import signing
from shared.protocol.messages import CloseCode

log = structlog.get_logger("relay")

SIGNING_KEY_FILE = "relay_signing_key.pem"
STORE_FILE = "relay.sqlite3"


async def healthz(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    return web.json_response({"status": "ok", "agents_connected": len(hub.connected_agents())})


def build_app(settings: RelaySettings, data_dir: Path) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[SETTINGS] = settings
    app[SOCKETS] = set()
    app[BACKGROUND] = []

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        store = SqliteStore(data_dir / STORE_FILE)
        await store.open()
        await store.forget_sessions()
        app[STORE] = store
        yield
        await store.close()

    async def key_ctx(app: web.Application) -> AsyncIterator[None]:
        app[RELAY_KEY] = await asyncio.to_thread(
            signing.load_or_create_key_file, data_dir / SIGNING_KEY_FILE
        )
        log.info("relay signing key", fingerprint=signing.fingerprint(app[RELAY_KEY].public_key()))
        yield

    async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
        app[HUB] = Hub(app[STORE])
        yield
        app[HUB].withdraw_all("the relay is shutting down")

    async def revocation_ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_watch_revocations(app), name="revocation-watch")
        app[BACKGROUND].append(task)
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.extend([store_ctx, key_ctx, hub_ctx, revocation_ctx])
    app.on_shutdown.append(close_all)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/agent/v1/register", register)
    app.router.add_get("/agent/v1/connect", agent_socket)
    return app


async def _watch_revocations(app: web.Application) -> None:
    """Close connections of agents revoked by another process (``hatchway relay agents
    revoke`` writes the store directly)."""
    interval = app[SETTINGS].revocation_check_interval
    hub = app[HUB]
    while True:
        await asyncio.sleep(interval)
        for name in hub.connected_agents():
            record = await app[STORE].get_agent(name)
            conn = hub.link(name).connection
            if conn is None or (record is not None and record.revoked_at is None):
                continue
            log.warning("closing revoked agent", agent=name)
            await conn.close(CloseCode.AGENT_REVOKED, "agent revoked")


async def serve(
    settings: RelaySettings, data_dir: Path, *, ready: asyncio.Event | None = None
) -> None:
    """Run the relay until cancelled (SIGINT/SIGTERM arrive as cancellation)."""
    app = build_app(settings, data_dir)
    runner = web.AppRunner(app, shutdown_timeout=settings.shutdown_timeout, handle_signals=False)
    await runner.setup()
    host, port = settings.host_port
    tls = settings.ssl_context()
    site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=tls)
    await site.start()
    log.info("relay listening", listen=f"{host}:{port}", tls=tls is not None)
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
