"""HubTarget: operations reach a connector on a real agent process through the relay's hub;
a batch that cannot be delivered is one TargetUnavailable, whatever the hub's reason."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.engine.exceptions import TargetUnavailable
from relay.engine.target import HubTarget
from relay.exceptions import AgentUnavailable, DeliveryTimeout
from relay.settings import RelaySettings
from shared.connector import USER, Action, Operation
from shared.exceptions import ErrorClass
from shared.protocol.messages import Limits
from tests.e2e.harness import AgentProcess, RelayHarness, registered_agent
from tests.servers.ports import free_port
from tests.servers.sqlite import SqliteOdbcDatabase

pytestmark = pytest.mark.server

#: The relay's (and so the agent's) largest batch in these tests.
MAX_BATCH = 5


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RelayHarness]:
    settings = RelaySettings(
        listen=f"127.0.0.1:{free_port()}",
        shutdown_timeout=2,
        limits=Limits(max_batch_operations=MAX_BATCH),
    )
    harness = RelayHarness(tmp_path / "relay", settings)
    await harness.start()
    yield harness
    await harness.stop()


@pytest.fixture
async def agent(
    relay: RelayHarness, tmp_path: Path, sqlite_odbc_database: SqliteOdbcDatabase
) -> AsyncIterator[AgentProcess]:
    with sqlite3.connect(sqlite_odbc_database.path) as db:
        db.execute("CREATE TABLE users (id TEXT PRIMARY KEY, user_name TEXT UNIQUE NOT NULL)")
    process = await registered_agent(relay, tmp_path / "agents", "branch")
    process.add_connector(
        "hr",
        type="sql",
        dialect="sqlite",
        connection_string=sqlite_odbc_database.odbc_connection_string,
        users_table="users",
        key_column="id",
        naming_column="user_name",
    )
    await process.start()
    await process.wait_for("connected")
    yield process
    await process.kill()


def creates(count: int) -> list[Operation]:
    return [
        Operation(f"c-{i}", Action.CREATE, USER, attributes={"id": f"u{i}", "user_name": f"n{i}"})
        for i in range(count)
    ]


async def test_a_batch_larger_than_the_agent_takes_is_sent_in_parts(
    relay: RelayHarness, agent: AgentProcess, sqlite_odbc_database: SqliteOdbcDatabase
) -> None:
    target = HubTarget(relay.hub, "branch", "hr", max_batch=MAX_BATCH)
    assert target.name == "agent branch / connector hr"

    results = await target.run(creates(12), timeout=30)

    assert [r.key for r in results] == [f"c-{i}" for i in range(12)]
    assert [r.anchor for r in results] == [f"u{i}" for i in range(12)]
    with sqlite3.connect(sqlite_odbc_database.path) as db:
        assert db.execute("SELECT count(*) FROM users").fetchone() == (12,)


async def test_an_operation_that_fails_is_a_result_not_an_exception(
    relay: RelayHarness, agent: AgentProcess
) -> None:
    target = HubTarget(relay.hub, "branch", "hr")
    missing = Operation("d-1", Action.DELETE, USER, anchor="nobody")
    [created, failed] = await target.run([*creates(1), missing], timeout=30)
    assert created.ok
    assert failed.error is not None
    assert failed.error.error_class is ErrorClass.NOT_FOUND


async def test_an_unknown_agent_is_a_target_unavailable(relay: RelayHarness) -> None:
    target = HubTarget(relay.hub, "ghost", "hr")
    with pytest.raises(TargetUnavailable, match="agent ghost / connector hr") as info:
        await target.run(creates(1), timeout=5)
    assert isinstance(info.value.__cause__, AgentUnavailable)


async def test_a_revoked_agent_is_a_target_unavailable(
    relay: RelayHarness, agent: AgentProcess
) -> None:
    await relay.store.revoke_agent("branch")
    with pytest.raises(TargetUnavailable, match="revoked"):
        await HubTarget(relay.hub, "branch", "hr").run(creates(1), timeout=5)


async def test_an_offline_agent_past_the_timeout_is_a_target_unavailable(
    relay: RelayHarness, tmp_path: Path
) -> None:
    await registered_agent(relay, tmp_path / "agents", "asleep")
    with pytest.raises(TargetUnavailable, match=r"within 0\.3 s") as info:
        await HubTarget(relay.hub, "asleep", "hr").run(creates(1), timeout=0.3)
    assert isinstance(info.value.__cause__, DeliveryTimeout)


async def test_an_empty_batch_sends_nothing(relay: RelayHarness) -> None:
    assert await HubTarget(relay.hub, "ghost", "hr").run([]) == []
