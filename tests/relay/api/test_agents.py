"""Agents through the API, with real ``hatchway agent run`` processes on a real websocket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from relay.exceptions import AgentUnavailable
from relay.hub.hub import Hub
from relay.settings import RelaySettings
from shared import __version__
from shared.protocol.messages import CloseCode
from tests.e2e.harness import AgentProcess, registered_agent
from tests.e2e.test_batches import _users_table, creates, sql_settings
from tests.relay.api.conftest import Api, ApiRelay
from tests.servers.ports import free_port

MakeAgent = Callable[[str], Awaitable[AgentProcess]]


@pytest.fixture
def relay_settings() -> RelaySettings:
    # The relay's own revocation watch looks only once an hour: a revoked agent that drops
    # at once was dropped by the API.
    return RelaySettings(
        listen=f"127.0.0.1:{free_port()}", revocation_check_interval=3600, shutdown_timeout=2
    )


@pytest.fixture
async def make_agent(relay: ApiRelay, tmp_path: Path) -> AsyncIterator[MakeAgent]:
    agents: list[AgentProcess] = []

    async def make(name: str) -> AgentProcess:
        agent = await registered_agent(relay, tmp_path / "agents", name)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        if agent.proc is not None and agent.proc.returncode is None:
            await agent.kill()


async def queued(hub: Hub, agent: str, count: int = 1) -> None:
    """Wait until ``count`` batches wait for ``agent``; Hub.send looks the agent up in the
    store first, and the hub sets no event when it queues."""
    async with asyncio.timeout(10):
        while len(hub.link(agent).queue) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def agent_in_state(api: Api, name: str, state: str) -> dict[str, Any]:
    """The agent once the API shows it in ``state``; the relay records a disconnect just
    after the socket closes, with no event a test could await."""
    async with asyncio.timeout(10):
        while True:
            status, body = await api("GET", f"/agents/{name}")
            assert status == 200
            if body["state"] == state:
                return body
            await asyncio.sleep(0.05)


async def cancelled(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, AgentUnavailable):
        await task


async def test_a_connected_agent_is_listed_with_its_version_and_heartbeat(
    api: Api, relay: ApiRelay, make_agent: MakeAgent
) -> None:
    agent = await make_agent("branch")
    agent.add_connector("crm", type="scim", base_url="http://127.0.0.1:9/scim", token="t")
    await agent.start()
    await agent.wait_for("connected")

    status, page = await api("GET", "/agents", token=relay.viewer_token)
    assert status == 200
    assert page["next"] is None
    [listed] = page["items"]
    assert listed["name"] == "branch"
    assert listed["state"] == "connected"
    assert listed["software"] == f"hatchway-agent/{__version__}"
    assert isinstance(listed["protocol_version"], int)
    assert listed["connectors"] == [{"name": "crm", "type": "scim"}]
    assert listed["connected_since"] is not None
    assert listed["last_heartbeat"] is not None
    assert (listed["disconnected_at"], listed["revoked_at"]) == (None, None)
    assert (listed["in_flight"], listed["queued"]) == (0, 0)
    assert await api("GET", "/agents/branch", token=relay.viewer_token) == (200, listed)

    await agent.terminate()
    gone = await agent_in_state(api, "branch", "disconnected")
    assert gone["connected_since"] is None
    assert gone["disconnected_at"] is not None


async def test_batches_waiting_for_an_agent_that_never_connected_are_queued(
    api: Api, relay: ApiRelay
) -> None:
    await relay.store.redeem_token(await relay.token("later"), "key", "hatchway-agent/1")
    sending = asyncio.create_task(relay.hub.send("later", "hr", creates("k", 3), timeout=60))
    try:
        await queued(relay.hub, "later")
        status, body = await api("GET", "/agents/later")
        assert status == 200
        assert (body["state"], body["queued"], body["in_flight"]) == ("registered", 1, 0)
        assert (body["connected_since"], body["last_heartbeat"]) == (None, None)
    finally:
        await cancelled(sending)


async def test_batches_sent_and_not_answered_are_in_flight(
    api: Api,
    relay: ApiRelay,
    make_agent: MakeAgent,
    sqlite_odbc_database: Any,
    tmp_path: Path,
) -> None:
    _users_table(sqlite_odbc_database.path)
    pause = tmp_path / "pause"
    pause.touch()
    agent = await make_agent("slow")
    agent.add_connector(
        "hr",
        **{**sql_settings(sqlite_odbc_database), "type": "pausing_connector:PausingSqlConnector"},
        pause_file=str(pause),
        ran_file=str(tmp_path / "ran"),
    )
    await agent.start()
    await agent.wait_for("connected")
    sending = asyncio.create_task(relay.hub.send("slow", "hr", creates("k", 2), timeout=120))
    try:
        await agent.wait_for("batch ran, pausing")
        status, body = await api("GET", "/agents/slow")
        assert (status, body["in_flight"], body["queued"]) == (200, 1, 0)
        assert (body["operations_in_flight"], body["operations_queued"]) == (2, 0)
        await agent.kill()
        body = await agent_in_state(api, "slow", "disconnected")
        # Unanswered: back in the queue for the next connection.
        assert (body["in_flight"], body["queued"]) == (0, 1)
        assert (body["operations_in_flight"], body["operations_queued"]) == (0, 2)
    finally:
        await cancelled(sending)


async def test_revoking_closes_the_connection_at_once(
    api: Api, relay: ApiRelay, make_agent: MakeAgent
) -> None:
    agent = await make_agent("leaver")
    await agent.start()
    await agent.wait_for("connected")

    status, body = await api("POST", "/agents/leaver/revoke")
    assert status == 200
    assert (body["state"], body["connected_since"]) == ("revoked", None)
    assert body["revoked_at"] is not None
    await agent.wait_for("disconnected", close_code=int(CloseCode.AGENT_REVOKED))
    assert await agent.wait_exit() != 0
    assert "revoked" in agent.output()
    assert relay.hub.connected_agents() == []
    status, page = await api("GET", "/agents")
    assert [(a["name"], a["state"]) for a in page["items"]] == [("leaver", "revoked")]


async def test_a_viewer_cannot_revoke(api: Api, relay: ApiRelay, make_agent: MakeAgent) -> None:
    agent = await make_agent("stayer")
    await agent.start()
    await agent.wait_for("connected")
    status, body = await api("POST", "/agents/stayer/revoke", token=relay.viewer_token)
    assert status == 403
    assert body["error"]["code"] == "forbidden"
    record = await relay.store.get_agent("stayer")
    assert record is not None and record.state == "connected"
    assert relay.hub.connected_agents() == ["stayer"]
    assert not agent.exited


async def test_an_unknown_agent_is_404(api: Api) -> None:
    for method, path in (("GET", "/agents/ghost"), ("POST", "/agents/ghost/revoke")):
        status, body = await api(method, path)
        assert status == 404, path
        assert "ghost" in body["error"]["message"]
