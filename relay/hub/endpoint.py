"""``GET /agent/v1/connect``: the websocket agents dial, driving a :class:`RelayProtocol`.

This adapter only moves frames between the socket and the state machine, looks agents
up in the store, and hands authenticated connections to the hub.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aiohttp import WSMsgType, web

from relay.keys import HUB, RELAY_KEY, SETTINGS, SOCKETS, STORE
from shared.protocol import messages, signing
from shared.protocol.events import (
    Authenticated,
    BatchRefused,
    Closing,
    Draining,
    HelloReceived,
    RelayEvent,
    ResultsReceived,
)
from shared.protocol.messages import CloseCode, VersionStatus, close_reason
from shared.protocol.relay import RelayProtocol, RelayState

log = structlog.get_logger("relay.endpoint")


class AgentConnection:
    """One agent socket; the hub sends batches through :meth:`send_frames`."""

    def __init__(self, ws: web.WebSocketResponse, protocol: RelayProtocol) -> None:
        self.ws = ws
        self.protocol = protocol
        self.hello: HelloReceived | None = None
        #: Set once the hub serves the agent through this connection.
        self.attached = False
        self._send_lock = asyncio.Lock()

    async def send_frames(self, frames: list[str]) -> None:
        """Write frames; a socket that died meanwhile is left to the reader, which detaches
        it, and the hub sends its unanswered batches again on the next connection."""
        async with self._send_lock:
            for frame in frames:
                if self.ws.closed:
                    return
                try:
                    await self.ws.send_str(frame)
                except ConnectionError as exc:
                    log.info("agent socket closed while sending", error=str(exc))
                    return

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code=code, message=close_reason(reason).encode())


async def agent_socket(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings = app[SETTINGS]
    ws = web.WebSocketResponse(
        compress=False,  # deflate costs ~100 KiB per connection; batches are small anyway
        max_msg_size=settings.limits.max_frame_bytes,
        heartbeat=settings.heartbeat,
    )
    await ws.prepare(request)
    protocol = RelayProtocol(app[RELAY_KEY], limits=settings.limits)
    conn = AgentConnection(ws, protocol)
    app[SOCKETS].add(ws)
    structlog.contextvars.bind_contextvars(connection=protocol.session, peer=request.remote)
    try:
        await _serve(app, conn)
    finally:
        app[SOCKETS].discard(ws)
        if conn.attached and protocol.agent is not None:
            app[HUB].detach(protocol.agent, conn)
            await app[STORE].agent_disconnected(protocol.agent, protocol.session)
        structlog.contextvars.unbind_contextvars("connection", "peer", "agent")
    return ws


async def _serve(app: web.Application, conn: AgentConnection) -> None:
    protocol = conn.protocol
    try:
        # Only the handshake is timed: once the agent's proof verifies, attaching it and
        # sending what waited for it may take as long as it takes.
        async with asyncio.timeout(app[SETTINGS].handshake_timeout):
            while True:
                events = await _read(conn)
                if events is None:
                    return
                if protocol.state is RelayState.OPEN:
                    break
                if not await _process(app, conn, events):
                    return
    except TimeoutError:
        log.warning("handshake timed out")
        await conn.close(CloseCode.HANDSHAKE_TIMEOUT, "handshake not finished in time")
        return
    while await _process(app, conn, events):
        events = await _read(conn)
        if events is None:
            return


async def _read(conn: AgentConnection) -> list[RelayEvent] | None:
    """The events of the next frame; None once the socket has closed."""
    msg = await conn.ws.receive()
    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
        return None
    if msg.type is WSMsgType.ERROR:
        exc = conn.ws.exception()
        log.warning("agent socket error", error=str(exc), close_code=conn.ws.close_code)
        return None
    data = msg.data if msg.type is WSMsgType.TEXT else bytes(msg.data)
    return conn.protocol.receive(data)


async def _process(app: web.Application, conn: AgentConnection, events: list[RelayEvent]) -> bool:
    """Act on a frame's events and send what they produced; False once closing."""
    for event in events:
        await _handle(app, conn, event)
    await conn.send_frames(conn.protocol.data_to_send())
    if conn.protocol.close is not None:
        await conn.close(conn.protocol.close.code, conn.protocol.close.reason)
        return False
    return True


async def _handle(app: web.Application, conn: AgentConnection, event: RelayEvent) -> None:
    protocol = conn.protocol
    match event:
        case HelloReceived(agent=name):
            structlog.contextvars.bind_contextvars(agent=name)
            record = await app[STORE].get_agent(name)
            if record is None:
                log.warning("unknown agent refused")
                protocol.fail(CloseCode.UNKNOWN_AGENT, f"no agent named {name!r} is registered")
            elif record.revoked_at is not None:
                log.warning("revoked agent refused")
                protocol.fail(CloseCode.AGENT_REVOKED, f"agent {name!r} has been revoked")
            else:
                protocol.challenge(signing.public_key_from_text(record.public_key))
                conn.hello = event
        case Authenticated(agent=name):
            hello = conn.hello
            assert hello is not None
            await app[STORE].agent_connected(
                name,
                session=protocol.session,
                software=hello.software,
                protocol_version=hello.version,
                connectors=[{"name": c.name, "type": c.type} for c in hello.connectors],
            )
            previous = app[HUB].attach(name, conn)
            conn.attached = True
            if isinstance(previous, AgentConnection):
                await previous.close(CloseCode.REPLACED, "a newer connection of this agent")
            log.info("agent connected", software=hello.software, version=hello.version)
            if messages.version_status(hello.version) is VersionStatus.DEPRECATED:
                log.warning(
                    "agent speaks a deprecated protocol version; upgrade it",
                    software=hello.software,
                    version=hello.version,
                    supported=list(messages.SUPPORTED_VERSIONS),
                )
            await conn.send_frames(protocol.data_to_send())
            await app[HUB].link(name).pump()
        case ResultsReceived(batch_id=batch_id, results=results):
            link = app[HUB].link(protocol.agent or "")
            link.resolve(batch_id, results)
            await link.pump()
        case BatchRefused(batch_id=batch_id, reason=reason, detail=detail):
            log.warning("agent refused batch", batch=batch_id, reason=reason, detail=detail)
            link = app[HUB].link(protocol.agent or "")
            link.refuse(batch_id, reason.value, detail)
            await link.pump()
        case Draining():
            log.info("agent is draining")
        case Closing(code=code, reason=reason):
            log.warning("closing agent connection", close_code=code, reason=reason)


async def close_all(app: web.Application) -> None:
    """On shutdown: tell every agent the relay is going away, so it reconnects elsewhere."""
    sockets: set[web.WebSocketResponse] = app[SOCKETS]
    for ws in list(sockets):
        with contextlib.suppress(ConnectionError):
            await ws.close(code=CloseCode.GOING_AWAY, message=b"relay shutting down")
