"""Fixtures for end-to-end tests: a relay in this process, agents as child processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from relay.settings import RelaySettings
from tests.e2e.harness import AgentProcess, RelayHarness, registered_agent
from tests.servers.ports import free_port


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RelayHarness]:
    settings = RelaySettings(
        listen=f"127.0.0.1:{free_port()}", revocation_check_interval=0.2, shutdown_timeout=2
    )
    harness = RelayHarness(tmp_path / "relay", settings)
    await harness.start()
    yield harness
    await harness.stop()


@pytest.fixture
async def make_agent(
    relay: RelayHarness, tmp_path: Path
) -> AsyncIterator[Callable[[str], Awaitable[AgentProcess]]]:
    agents: list[AgentProcess] = []

    async def make(name: str) -> AgentProcess:
        agent = await registered_agent(relay, tmp_path / "agents", name)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        if agent.proc is not None and agent.proc.returncode is None:
            await agent.kill()
