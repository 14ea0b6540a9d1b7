"""The relay's built-in agent: a cloud SCIM app provisioned from inside the relay, through
the same executor, journal and connector an agent uses, against a real scim2-server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.settings import ConnectorSettings
from relay.app import start
from relay.engine.builtin import JOURNAL_FILE, BuiltinAgent
from relay.engine.exceptions import TargetUnavailable
from relay.engine.target import BuiltinTarget
from relay.keys import BUILTIN
from relay.settings import RelaySettings
from shared.connector import USER, Action, Delta, DeltaKind, Operation
from shared.exceptions import ErrorClass, SettingsError
from tests.servers.ports import free_port
from tests.servers.scim import ScimServer

pytestmark = pytest.mark.server


def scim_connector(server: ScimServer, name: str = "cloud") -> ConnectorSettings:
    table: dict[str, Any] = {
        "type": "scim",
        "base_url": server.base_url,
        "token": server.token,
        "timeout": 10.0,
    }
    return ConnectorSettings(name, "scim", table)


@pytest.fixture
async def builtin(scim_server: ScimServer, tmp_path: Path) -> AsyncIterator[BuiltinAgent]:
    agent = BuiltinAgent([scim_connector(scim_server)], tmp_path, source="relay.toml")
    await agent.open()
    yield agent
    await agent.close()


def scim_user(server: ScimServer, anchor: str) -> dict[str, Any]:
    found: dict[str, Any] = server.request("GET", f"/Users/{anchor}")
    return found


def user_names(server: ScimServer, user_name: str) -> list[str]:
    answer = server.request("GET", f"/Users?filter=userName%20eq%20%22{user_name}%22")
    return [r["userName"] for r in answer.get("Resources", [])]


async def test_a_user_is_created_updated_and_deleted_through_the_builtin_target(
    builtin: BuiltinAgent, scim_server: ScimServer
) -> None:
    target = BuiltinTarget(builtin, "cloud")
    name = f"ada-{uuid.uuid4().hex[:8]}"

    [created] = await target.run(
        [Operation("k-create", Action.CREATE, USER, attributes={"userName": name, "title": "A"})]
    )
    assert created.ok, created.error
    assert created.anchor is not None
    assert scim_user(scim_server, created.anchor)["title"] == "A"

    [updated] = await target.run(
        [
            Operation(
                "k-update",
                Action.UPDATE,
                USER,
                anchor=created.anchor,
                deltas=(Delta("title", DeltaKind.REPLACE, ("Engineer",)),),
            )
        ]
    )
    assert updated.ok, updated.error
    assert scim_user(scim_server, created.anchor)["title"] == "Engineer"

    [deleted] = await target.run(
        [Operation("k-delete", Action.DELETE, USER, anchor=created.anchor)]
    )
    assert deleted.ok, deleted.error
    assert user_names(scim_server, name) == []


async def test_results_come_back_one_per_operation_in_order_with_errors_by_class(
    builtin: BuiltinAgent, scim_server: ScimServer
) -> None:
    target = BuiltinTarget(builtin, "cloud")
    names = [f"order-{uuid.uuid4().hex[:8]}-{i}" for i in range(3)]
    operations = [
        Operation(f"o-{n}", Action.CREATE, USER, attributes={"userName": n}) for n in names
    ]
    missing = Operation("o-missing", Action.DELETE, USER, anchor=uuid.uuid4().hex)

    results = await target.run([operations[0], missing, operations[1], operations[2]])

    assert [r.key for r in results] == [
        "o-" + names[0],
        "o-missing",
        "o-" + names[1],
        "o-" + names[2],
    ]
    assert results[1].error is not None
    assert results[1].error.error_class is ErrorClass.NOT_FOUND
    for n in names:
        assert user_names(scim_server, n) == [n]


async def test_a_repeated_key_is_answered_from_the_journal_after_a_restart(
    scim_server: ScimServer, tmp_path: Path
) -> None:
    name = f"once-{uuid.uuid4().hex[:8]}"
    create = Operation("k-once", Action.CREATE, USER, attributes={"userName": name})
    first = BuiltinAgent([scim_connector(scim_server)], tmp_path, source="relay.toml")
    await first.open()
    try:
        [done] = await BuiltinTarget(first, "cloud").run([create])
    finally:
        await first.close()
    assert (tmp_path / JOURNAL_FILE).exists()

    again = BuiltinAgent([scim_connector(scim_server)], tmp_path, source="relay.toml")
    await again.open()
    try:
        [replayed] = await BuiltinTarget(again, "cloud").run([create])
    finally:
        await again.close()

    assert done.ok and replayed.ok
    assert replayed.replayed
    assert replayed.anchor == done.anchor
    assert user_names(scim_server, name) == [name]


async def test_an_unknown_connector_is_a_target_unavailable(builtin: BuiltinAgent) -> None:
    target = BuiltinTarget(builtin, "slack")
    assert target.name == "built-in / connector slack"
    with pytest.raises(TargetUnavailable, match=r"no connector 'slack'.*cloud"):
        await target.run([Operation("k", Action.DELETE, USER, anchor="x")])


async def test_a_closed_builtin_agent_is_a_target_unavailable(
    scim_server: ScimServer, tmp_path: Path
) -> None:
    agent = BuiltinAgent([scim_connector(scim_server)], tmp_path, source="relay.toml")
    with pytest.raises(TargetUnavailable, match="not running"):
        await BuiltinTarget(agent, "cloud").run([Operation("k", Action.DELETE, USER, anchor="x")])


async def test_a_bad_connector_table_stops_the_open_naming_file_and_key(tmp_path: Path) -> None:
    bad = ConnectorSettings("cloud", "scim", {"type": "scim"})
    agent = BuiltinAgent([bad], tmp_path, source="/etc/hatchway/relay.toml")
    with pytest.raises(SettingsError) as info:
        await agent.open()
    assert "/etc/hatchway/relay.toml" in str(info.value)
    assert "connectors.cloud.base_url" in str(info.value)


async def test_the_relay_serves_the_connectors_of_relay_toml(
    scim_server: ScimServer, tmp_path: Path
) -> None:
    config = tmp_path / "relay.toml"
    config.write_text(
        f'listen = "127.0.0.1:{free_port()}"\n\n[connectors.cloud]\ntype = "scim"\n'
        f'base_url = "{scim_server.base_url}"\ntoken = "{scim_server.token}"\n',
        encoding="utf-8",
    )
    runner = await start(RelaySettings.load(config), tmp_path / "data")
    try:
        builtin = runner.app[BUILTIN]
        assert builtin.connectors == ["cloud"]
        name = f"served-{uuid.uuid4().hex[:8]}"
        [created] = await BuiltinTarget(builtin, "cloud").run(
            [Operation("k-served", Action.CREATE, USER, attributes={"userName": name})]
        )
        assert created.ok, created.error
    finally:
        await runner.cleanup()
    assert (tmp_path / "data" / JOURNAL_FILE).exists()
    assert user_names(scim_server, name) == [name]
