"""``hatchway agents list|show|revoke`` through ``main(argv)`` against a real relay, with a
real agent process connected to it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.registration import register
from relay.settings import RelaySettings
from shared.protocol.messages import CloseCode
from tests.e2e.harness import AgentProcess
from tests.relay.api.cli_relay import ThreadRelay, hatchway, point_at, relay_thread
from tests.servers.ports import free_port


@pytest.fixture
def relay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadRelay]:
    settings = RelaySettings(
        listen=f"127.0.0.1:{free_port()}", revocation_check_interval=0.2, shutdown_timeout=2
    )
    with relay_thread(settings, tmp_path / "relay") as served:
        point_at(monkeypatch, served, tmp_path / "cli-config")
        yield served


@pytest.fixture
def agent(relay: ThreadRelay, tmp_path: Path) -> Iterator[AgentProcess]:
    """``hatchway agent run`` as its own process, registered and connected; its output is
    followed on the relay's loop."""
    config_dir, data_dir = tmp_path / "agent" / "config", tmp_path / "agent" / "data"
    data_dir.mkdir(parents=True, mode=0o700)
    _, token = relay.run(relay.store.create_token("branch", 600))
    relay.run(register(relay.url, token, config_dir=config_dir, data_dir=data_dir))
    process = AgentProcess("branch", config_dir, data_dir)
    relay.run(process.start())
    relay.run(process.wait_for("connected"))
    yield process
    relay.run(process.terminate())


def test_no_agents(capsys: pytest.CaptureFixture[str], relay: ThreadRelay) -> None:
    code, out, _ = hatchway(capsys, "agents", "list")
    assert code == 0
    assert out.startswith("no agents registered")
    assert json.loads(hatchway(capsys, "agents", "list", "--json")[1]) == []


def test_list_and_show_a_connected_agent(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, agent: AgentProcess
) -> None:
    code, out, err = hatchway(capsys, "agents", "list")
    assert code == 0, err
    header, row = out.splitlines()[0], out.splitlines()[2]
    assert header.split() == [
        "NAME", "STATE", "SINCE", "(UTC)", "SOFTWARE", "PROTOCOL", "CONNECTORS", "OPERATIONS",
    ]  # fmt: skip
    assert row.split()[:2] == ["branch", "connected"]
    assert "hatchway-agent/" in row and "0 in flight, 0 queued" in row

    listed = json.loads(hatchway(capsys, "agents", "list", "--json")[1])
    assert [(a["name"], a["state"]) for a in listed] == [("branch", "connected")]

    code, out, _ = hatchway(capsys, "agents", "show", "branch")
    assert code == 0
    lines = dict(line.split(":", 1) for line in out.splitlines())
    assert lines["agent"].strip() == "branch"
    assert lines["state"].strip().startswith("connected since 20")
    assert lines["operations"].strip() == (
        "0 in flight (0 batches) sent and not answered, 0 waiting (0 batches)"
    )
    shown = json.loads(hatchway(capsys, "agents", "show", "branch", "--json")[1])
    assert shown["name"] == "branch" and shown["connected_since"] is not None


def test_revoke_disconnects_the_agent_for_good(
    capsys: pytest.CaptureFixture[str],
    relay: ThreadRelay,
    agent: AgentProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HATCHWAY_TOKEN", relay.viewer_token)
    code, out, err = hatchway(capsys, "agents", "revoke", "branch")
    assert (code, out) == (1, "")
    assert err.startswith("hatchway: error: forbidden: ") and err.count("\n") == 1

    monkeypatch.setenv("HATCHWAY_TOKEN", relay.admin_token)
    code, out, err = hatchway(capsys, "agents", "revoke", "branch")
    assert code == 0, err
    assert out.startswith("agent 'branch' revoked at 20")
    relay.run(agent.wait_for("disconnected", close_code=int(CloseCode.AGENT_REVOKED)))
    assert relay.run(agent.wait_exit()) != 0  # refused for good: it does not dial again
    assert json.loads(hatchway(capsys, "agents", "show", "branch", "--json")[1])["state"] == (
        "revoked"
    )


def test_an_unknown_agent_is_one_line(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay
) -> None:
    for argv in (["show", "nobody"], ["revoke", "nobody"]):
        code, out, err = hatchway(capsys, "agents", *argv)
        assert (code, out) == (1, "")
        assert err.startswith("hatchway: error: not_found: ") and "nobody" in err
        assert err.count("\n") == 1


def test_a_token_the_relay_does_not_know_is_one_line(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HATCHWAY_TOKEN", "hwa_revoked-or-mistyped")
    code, out, err = hatchway(capsys, "agents", "list")
    assert (code, out) == (1, "")
    assert (
        err == "hatchway: error: unauthenticated: the API token is not valid (unknown or revoked)\n"
    )
