"""The relay's aiohttp application: routes, and one ``cleanup_ctx`` per resource."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from aiohttp import web

from relay.api import dashboard, health
from relay.api import server as api_server
from relay.api.metrics import Metrics
from relay.directory import server as scim_server
from relay.engine.builtin import BuiltinAgent
from relay.engine.engine import Engine
from relay.exceptions import StoreError
from relay.hub.endpoint import agent_socket, close_all
from relay.hub.hub import Hub
from relay.hub.registration import register
from relay.keys import BUILTIN, ENGINE, HUB, METRICS, RELAY_KEY, SETTINGS, SOCKETS, STORE
from relay.settings import RelaySettings
from relay.store.configured import STORE_FILE as STORE_FILE
from relay.store.configured import configured_store
from shared import keyfile
from shared.protocol import signing
from shared.protocol.messages import CloseCode

log = structlog.get_logger("relay")

SIGNING_KEY_FILE = "relay_signing_key.pem"


def build_app(settings: RelaySettings, data_dir: Path) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[SETTINGS] = settings
    app[SOCKETS] = set()

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        store = configured_store(settings.store, data_dir / STORE_FILE)
        await store.open()
        await store.forget_sessions()
        app[STORE] = store
        yield
        await store.close()

    async def key_ctx(app: web.Application) -> AsyncIterator[None]:
        app[RELAY_KEY] = await asyncio.to_thread(
            keyfile.load_or_create_key_file, data_dir / SIGNING_KEY_FILE
        )
        log.info("relay signing key", fingerprint=signing.fingerprint(app[RELAY_KEY].public_key()))
        yield

    async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
        app[HUB] = Hub(app[STORE])
        yield
        app[HUB].withdraw_all("the relay is shutting down")

    async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
        app[METRICS] = Metrics(app[HUB])
        yield

    async def revocation_ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_watch_revocations(app), name="revocation-watch")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def builtin_ctx(app: web.Application) -> AsyncIterator[None]:
        builtin = BuiltinAgent(settings.connectors, data_dir, source=settings.source)
        await builtin.open()
        app[BUILTIN] = builtin
        yield
        await builtin.close()

    async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
        engine = Engine(app[STORE], app[HUB], app[BUILTIN], settings.engine, observer=app[METRICS])
        app[ENGINE] = engine
        if settings.engine.enabled:
            await engine.start()
        yield
        await engine.stop()

    app.cleanup_ctx.extend(
        [store_ctx, key_ctx, hub_ctx, metrics_ctx, revocation_ctx, builtin_ctx, engine_ctx]
    )
    app.on_shutdown.append(close_all)
    health.setup(app)
    app.router.add_post("/agent/v1/register", register)
    app.router.add_get("/agent/v1/connect", agent_socket)
    scim_server.setup(app)
    api_server.setup(app)
    dashboard.setup(app)
    return app


async def _watch_revocations(app: web.Application) -> None:
    """Close connections of agents revoked by another process (``hatchway relay agents
    revoke`` writes the store directly). A store error skips one round, never the watch."""
    interval = app[SETTINGS].revocation_check_interval
    hub = app[HUB]
    while True:
        await asyncio.sleep(interval)
        connected = hub.connected_agents()
        if not connected:
            continue
        try:
            revoked = {a.name for a in await app[STORE].list_agents() if a.revoked_at is not None}
        except StoreError as exc:
            log.warning("revocation check failed; retrying", error=str(exc))
            continue
        for name in connected:
            conn = hub.link(name).connection
            if name in revoked and conn is not None:
                log.warning("closing revoked agent", agent=name)
                await conn.close(CloseCode.AGENT_REVOKED, "agent revoked")


async def start(settings: RelaySettings, data_dir: Path) -> web.AppRunner:
    """Start serving; the caller stops with ``await runner.cleanup()``. The application
    is ``runner.app``."""
    runner = web.AppRunner(
        build_app(settings, data_dir),
        shutdown_timeout=settings.shutdown_timeout,
        handle_signals=False,
    )
    await runner.setup()
    host, port = settings.host_port
    tls = settings.ssl_context()
    try:
        await web.TCPSite(runner, host, port, reuse_address=True, ssl_context=tls).start()
    except BaseException:
        await runner.cleanup()
        raise
    log.info("relay listening", listen=f"{host}:{port}", tls=tls is not None)
    return runner


async def serve(settings: RelaySettings, data_dir: Path) -> None:
    """Run the relay until cancelled (the CLI turns SIGINT and SIGTERM into cancellation)."""
    runner = await start(settings, data_dir)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
