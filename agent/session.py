"""The agent's connection to the relay: dial, authenticate, serve batches, reconnect.

A thin asyncio adapter around :class:`~shared.protocol.agent.AgentProtocol` over the
``websockets`` client. Batches run as tasks owned by the session, not the connection: if
the socket drops mid-batch the batch still finishes and is journaled, and the relay's
redelivery is answered from the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import ssl
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from agent.exceptions import RelayRefused
from agent.executor import Executor
from agent.settings import AgentSettings, relay_urls
from agent.state import AgentState, now
from shared import __version__
from shared.connector import OperationError, failed
from shared.exceptions import ErrorClass
from shared.protocol import signing
from shared.protocol.agent import AgentProtocol, NonceCache
from shared.protocol.events import BatchDeclined, BatchReceived, Closing, ConnectorInfo, Welcomed
from shared.protocol.messages import CloseCode, Limits

log = structlog.get_logger("agent.session")

#: First reconnection delay in seconds; doubles per failed attempt up to the maximum.
RECONNECT_BASE_DELAY = 0.5


class AgentSession:
    def __init__(
        self,
        settings: AgentSettings,
        key: Ed25519PrivateKey,
        executor: Executor,
        connectors: list[ConnectorInfo],
        *,
        state_path: Path,
        limits: Limits | None = None,
    ) -> None:
        self.settings = settings
        self.key = key
        self.executor = executor
        self.connectors = connectors
        self.state_path = state_path
        self.limits = limits or Limits()
        self.ws_url, _ = relay_urls(settings.relay)
        self.relay_key = signing.public_key_from_text(settings.relay_public_key)
        self.nonces = NonceCache(skew=self.limits.clock_skew)
        self.batches: set[asyncio.Task[None]] = set()
        self._send_lock = asyncio.Lock()

    def _record(self, state: str, session: str | None = None, error: str | None = None) -> None:
        """Leave the state for ``hatchway agent status``; failing to is no reason to stop."""
        try:
            self._write_state(state, session, error)
        except OSError as exc:
            log.warning("cannot write the state file", path=str(self.state_path), error=str(exc))

    def _write_state(self, state: str, session: str | None, error: str | None) -> None:
        AgentState(
            pid=os.getpid(),
            state=state,
            relay=self.settings.relay,
            since=now(),
            session=session,
            last_error=error,
        ).write(self.state_path)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set; raises :class:`RelayRefused` when the relay refuses
        this agent for good (revoked, unknown, wrong key)."""
        attempt = 0
        try:
            while not stop.is_set():
                self._record("connecting")
                try:
                    welcomed = await self._connect_once(stop)
                    error = None
                except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                    welcomed = False
                    error = f"{type(exc).__name__}: {exc}"
                    log.warning("relay connection failed", url=self.ws_url, error=error)
                attempt = 0 if welcomed else attempt + 1
                if stop.is_set():
                    break
                delay = min(self.settings.reconnect_max_delay, RECONNECT_BASE_DELAY * 2**attempt)
                delay *= random.uniform(0.5, 1.0)  # jitter: agents must not reconnect in step
                self._record("connecting", error=error)
                log.info("reconnecting", delay=round(delay, 2))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        finally:
            await self._finish_batches()
            self._record("stopped")

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.ws_url.startswith("wss:"):
            return None
        return ssl.create_default_context(cafile=self.settings.ca_file)

    async def _connect_once(self, stop: asyncio.Event) -> bool:
        """One connection, from dial to close. True if the handshake completed."""
        try:
            ws = await connect(
                self.ws_url,
                open_timeout=self.settings.open_timeout,
                ping_interval=self.settings.ping_interval,
                ping_timeout=self.settings.ping_interval,
                close_timeout=5,
                max_size=self.limits.max_frame_bytes,
                compression=None,
                ssl=self._ssl(),
                user_agent_header=f"hatchway-agent/{__version__}",
            )
        except InvalidURI as exc:
            raise RelayRefused(0, str(exc)) from exc
        protocol = AgentProtocol(
            self.settings.name,
            self.key,
            self.relay_key,
            connectors=self.connectors,
            software=f"hatchway-agent/{__version__}",
            nonces=self.nonces,
            limits=self.limits,
        )
        protocol.start()
        drainer = asyncio.create_task(self._drain_on(stop, ws, protocol))
        try:
            await self._flush(ws, protocol)
            async for message in ws:
                for event in protocol.receive(message):
                    self._handle(ws, protocol, event)
                await self._flush(ws, protocol)
                if protocol.close is not None:
                    await ws.close(protocol.close.code, protocol.close.reason)
                    break
        except ConnectionClosed:
            pass  # the close code and reason are read from ws below
        finally:
            drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drainer
        code = ws.close_code if protocol.close is None else protocol.close.code
        reason = ws.close_reason if protocol.close is None else protocol.close.reason
        log.info("disconnected", close_code=code, reason=reason or "")
        if is_permanent(code):
            raise RelayRefused(code or 0, reason or "")
        return protocol.session is not None

    def _handle(self, ws: ClientConnection, protocol: AgentProtocol, event: object) -> None:
        match event:
            case Welcomed(session=session):
                structlog.contextvars.bind_contextvars(connection=session)
                log.info("connected", relay=self.ws_url)
                self._record("connected", session)
            case BatchReceived():
                task = asyncio.create_task(self._run_batch(ws, protocol, event))
                self.batches.add(task)
                task.add_done_callback(self.batches.discard)
            case BatchDeclined(batch_id=batch_id, reason=reason, detail=detail):
                log.warning("batch refused", batch=batch_id, reason=reason.value, detail=detail)
            case Closing(code=code, reason=reason):
                log.warning("closing connection", close_code=code, reason=reason)

    async def _run_batch(
        self, ws: ClientConnection, protocol: AgentProtocol, batch: BatchReceived
    ) -> None:
        # Runs in its own task, so the binding covers this batch's log lines only.
        structlog.contextvars.bind_contextvars(batch=batch.batch_id, connector=batch.connector)
        try:
            results = await self.executor.run(batch.connector, batch.operations)
        except Exception as exc:
            # The journal could not be read or written, so nothing ran: answer every
            # operation with the error rather than leave the relay waiting for a timeout.
            log.exception("batch could not run")
            error = OperationError(ErrorClass.INTERNAL, f"agent could not run the batch: {exc}")
            results = failed(batch.operations, error)
        errors = sum(not r.ok for r in results)
        log.debug("batch done", operations=len(results), failed=errors)
        protocol.send_results(batch.batch_id, results)
        try:
            await self._flush(ws, protocol)
        except ConnectionClosed:
            log.info("results kept in the journal for redelivery")

    async def _flush(self, ws: ClientConnection, protocol: AgentProtocol) -> None:
        frames = protocol.data_to_send()
        if frames:
            async with self._send_lock:
                for frame in frames:
                    await ws.send(frame)

    async def _drain_on(
        self, stop: asyncio.Event, ws: ClientConnection, protocol: AgentProtocol
    ) -> None:
        """On shutdown: ask for no more work, let batches in flight answer, then close."""
        await stop.wait()
        log.info("draining", batches=len(self.batches), operations=self.executor.busy)
        self._record("draining", protocol.session)
        protocol.drain()
        with contextlib.suppress(ConnectionClosed):
            await self._flush(ws, protocol)
        await self._finish_batches()
        await ws.close(CloseCode.GOING_AWAY, "agent shutting down")

    async def _finish_batches(self) -> None:
        """Wait up to the drain timeout; whatever is still running is handed back (its
        results never reach the relay, which redelivers it to this agent later)."""
        if not self.batches:
            return
        _, pending = await asyncio.wait(set(self.batches), timeout=self.settings.drain_timeout)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("handed back unfinished batches", count=len(pending))
            await asyncio.gather(*pending, return_exceptions=True)


def is_permanent(code: int | None) -> bool:
    """Whether a close code means reconnecting cannot help until an administrator acts."""
    try:
        return code is not None and CloseCode(code).permanent
    except ValueError:
        return False
