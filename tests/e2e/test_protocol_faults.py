"""Hostile and broken frames against a real relay and a real agent.

Each fault must be refused (closing the connection with a reason where the protocol says
so) while the relay and the agent keep serving everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from relay.app import SIGNING_KEY_FILE
from shared import keyfile
from shared.protocol import signing
from shared.protocol.messages import CloseCode, MessageType
from shared.protocol.relay import RelayProtocol
from tests.e2e.test_batches import _users_table, creates, sql_settings
from tests.servers.ports import free_port


async def _closed_with(ws) -> tuple[int | None, str | None]:
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(10):
            async for _ in ws:
                pass
    return ws.close_code, ws.close_reason


async def _serving_agent(relay, make_agent, db, name="healthy"):
    _users_table(db.path)
    agent = await make_agent(name)
    agent.add_connector("hr", **sql_settings(db))
    await agent.start()
    await agent.wait_for("connected")
    return agent


async def _still_serves(relay, name="healthy", prefix="after"):
    results = await relay.hub.send(name, "hr", creates(prefix, 3, start=100), timeout=30)
    assert all(r.ok for r in results)


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        ("{not json", CloseCode.PROTOCOL_ERROR, "malformed JSON"),
        ("[1, 2, 3]", CloseCode.PROTOCOL_ERROR, "must be a JSON object"),
        ('{"v": 1, "type": "sing", "id": "1"}', CloseCode.PROTOCOL_ERROR, "unknown message type"),
        (
            '{"v": 1, "type": "results", "id": "1"}',
            CloseCode.PROTOCOL_ERROR,
            "unexpected 'results'",
        ),
        (
            '{"v": 7, "type": "hello", "id": "1", "agent": "x", "versions": [7, 8],'
            ' "nonce": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "connectors": []}',
            CloseCode.UNSUPPORTED_VERSION,
            "no common protocol version",
        ),
    ],
)
async def test_bad_frames_close_the_connection_with_a_reason(
    relay, make_agent, sqlite_odbc_database, frame, code, reason
):
    await _serving_agent(relay, make_agent, sqlite_odbc_database)
    async with connect(relay.ws_url) as ws:
        await ws.send(frame)
        got_code, got_reason = await _closed_with(ws)
    assert got_code == code
    assert reason in (got_reason or "")
    await _still_serves(relay)


async def test_oversized_frame_is_refused(relay, make_agent, sqlite_odbc_database):
    await _serving_agent(relay, make_agent, sqlite_odbc_database)
    big = json.dumps({"v": 1, "type": "hello", "id": "1", "pad": "x" * (9 * 1024 * 1024)})
    async with connect(relay.ws_url, max_size=None) as ws:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(big)
        got_code, _ = await _closed_with(ws)
    assert got_code == CloseCode.MESSAGE_TOO_BIG
    await _still_serves(relay)


async def test_silent_client_is_dropped_after_the_handshake_timeout(relay):
    from dataclasses import replace

    await relay.stop()
    relay.settings = replace(relay.settings, handshake_timeout=1.0)
    await relay.start()
    async with connect(relay.ws_url) as ws:
        got_code, got_reason = await _closed_with(ws)
    assert got_code == CloseCode.HANDSHAKE_TIMEOUT
    assert "handshake" in (got_reason or "")


# A man in the middle: forwards frames between agent and relay, and can tamper with them.


class Proxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.tamper = None  # callable(frame) -> list of frames to deliver instead
        self.closes: list[tuple[int | None, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, agent_ws: ServerConnection) -> None:
        async with connect(self.upstream) as relay_ws:

            async def up() -> None:
                with contextlib.suppress(ConnectionClosed):
                    async for frame in agent_ws:
                        await relay_ws.send(frame)
                await relay_ws.close()

            async def down() -> None:
                with contextlib.suppress(ConnectionClosed):
                    async for frame in relay_ws:
                        frames = self.tamper(frame) if self.tamper else [frame]
                        for item in frames:
                            await agent_ws.send(item)

            tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.closes.append((agent_ws.close_code, agent_ws.close_reason))


@contextlib.asynccontextmanager
async def proxy_to(relay):
    proxy = Proxy(relay.ws_url)
    async with serve(proxy.handle, "127.0.0.1", proxy.port, compression=None):
        yield proxy


def _is_batch(frame: str) -> bool:
    return json.loads(frame).get("type") == MessageType.BATCH


async def _agent_behind(proxy, relay, make_agent, db):
    _users_table(db.path)
    agent = await make_agent("remote")
    config = agent.config_dir / "agent.toml"
    config.write_text(config.read_text().replace(relay.url, proxy.url))
    agent.add_connector("hr", **sql_settings(db))
    await agent.start()
    await agent.wait_for("connected")
    return agent


async def test_tampered_batch_is_refused_and_closes_the_connection(
    relay, make_agent, sqlite_odbc_database
):
    async with proxy_to(relay) as proxy:
        agent = await _agent_behind(proxy, relay, make_agent, sqlite_odbc_database)
        tampered: list[str] = []

        def tamper(frame: str) -> list[str]:
            if _is_batch(frame) and not tampered:
                message = json.loads(frame)
                payload = json.loads(message["payload"])
                payload["operations"][0]["attributes"]["display_name"] = "Injected"
                message["payload"] = json.dumps(payload)
                tampered.append(frame)
                return [json.dumps(message)]
            return [frame]

        proxy.tamper = tamper
        results = await relay.hub.send("remote", "hr", creates("t", 2), timeout=60)
        assert all(r.ok for r in results)
        closing = await agent.wait_for("closing connection")
        assert closing["close_code"] == CloseCode.BAD_BATCH_SIGNATURE
        await agent.wait_for("connected", count=2)  # reconnected; the batch was redelivered
    import sqlite3

    with sqlite3.connect(sqlite_odbc_database.path) as db:
        names = [r[0] for r in db.execute("SELECT display_name FROM users ORDER BY id")]
    assert names == ["User 0", "User 1"]


async def test_replayed_batch_is_refused(relay, make_agent, sqlite_odbc_database):
    async with proxy_to(relay) as proxy:
        agent = await _agent_behind(proxy, relay, make_agent, sqlite_odbc_database)
        replayed: list[str] = []

        def replay(frame: str) -> list[str]:
            if _is_batch(frame) and not replayed:
                replayed.append(frame)
                return [frame, frame]
            return [frame]

        proxy.tamper = replay
        results = await relay.hub.send("remote", "hr", creates("r", 2), timeout=60)
        assert all(r.ok for r in results)
        closing = await agent.wait_for("closing connection")
        assert closing["close_code"] == CloseCode.REPLAYED_BATCH
        await agent.wait_for("connected", count=2)
        await _still_serves(relay, "remote", "later")


async def test_expired_batch_is_refused_without_running(relay, make_agent, sqlite_odbc_database):
    """A rogue relay that holds the real signing key but signs with an old clock: the agent
    refuses the batch as expired and keeps the connection."""
    _users_table(sqlite_odbc_database.path)
    agent = await make_agent("target")
    agent.add_connector("hr", **sql_settings(sqlite_odbc_database))
    key = keyfile.load_key_file(relay.data_dir / SIGNING_KEY_FILE)
    record = await relay.store.get_agent("target")
    await relay.stop()

    refused = asyncio.get_running_loop().create_future()

    async def rogue(ws: ServerConnection) -> None:
        proto = RelayProtocol(key, clock=lambda: time.time() - 3600)
        proto.receive(await ws.recv())
        proto.challenge(signing.public_key_from_text(record.public_key))
        for frame in proto.data_to_send():
            await ws.send(frame)
        proto.receive(await ws.recv())
        proto.send_batch("old", "hr", creates("e", 1))
        for frame in proto.data_to_send():
            await ws.send(frame)
        events = proto.receive(await ws.recv())
        refused.set_result(events)
        await ws.wait_closed()

    async with serve(rogue, "127.0.0.1", relay.port):
        await agent.start()
        events = await asyncio.wait_for(refused, 30)
    assert events[0].reason.value == "expired"
    await agent.wait_for("batch refused", reason="expired")
    import sqlite3

    with sqlite3.connect(sqlite_odbc_database.path) as db:
        assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 0


async def test_agent_sockets_never_negotiate_compression(relay):
    """Deflate would cost the relay about 100 KiB per connected agent."""
    async with connect(relay.ws_url) as ws:  # the client offers permessage-deflate
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
