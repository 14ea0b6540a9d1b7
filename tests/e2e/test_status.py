"""``hatchway agent status`` tells an administrator where the agent stands."""

from __future__ import annotations

from tests.e2e.test_registration import _cli


async def test_status_follows_the_agent(relay, make_agent, tmp_path):
    code, out, _ = await _cli(
        "agent",
        "status",
        "--config-dir",
        str(tmp_path / "none"),
        "--data-dir",
        str(tmp_path / "nd"),
    )
    assert code == 3
    assert "not registered" in out

    agent = await make_agent("watched")
    agent.add_connector(
        "hr", type="sql", dialect="sqlite", connection_string="Driver=SQLite3;Database=:memory:"
    )
    dirs = ("--config-dir", str(agent.config_dir), "--data-dir", str(agent.data_dir))
    code, out, _ = await _cli("agent", "status", *dirs)
    assert code == 1
    assert "never run" in out
    assert "installed connector types: ldap, scim, sql" in out
    assert "hr" in out and "sql" in out

    await agent.start()
    await agent.wait_for("connected")
    code, out, _ = await _cli("agent", "status", *dirs)
    assert code == 0
    assert "state:      connected" in out
    assert "agent:      watched" in out
    assert "connection_string" not in out and "Driver=" not in out

    await agent.terminate()
    code, out, _ = await _cli("agent", "status", *dirs)
    assert code == 1
    assert "state:      stopped" in out

    (agent.data_dir / "agent_state.json").write_text("{not json")
    code, out, _ = await _cli("agent", "status", *dirs)
    assert code == 1
    assert "state:      unknown (" in out
    assert "is not a state file" in out
