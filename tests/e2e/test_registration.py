"""Registration and authentication refusals: each says why, and nothing else changes."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agent.exceptions import RegistrationFailed
from agent.registration import register
from agent.settings import KEY_FILE
from relay.app import STORE_FILE
from relay.store.sqlite import SqliteStore
from shared import keyfile


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "relay.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _state(relay) -> tuple[list, list]:
    return await relay.store.list_agents(), await relay.store.list_tokens()


async def test_wrong_token_is_refused_on_the_console_and_in_the_relay_log(relay, tmp_path):
    await relay.token("real")
    before = await _state(relay)
    with capture_logs() as logs:
        code, _, err = await _cli(
            "agent",
            "register",
            "--relay",
            relay.url,
            "--token",
            "hwt_not-a-real-token",
            "--config-dir",
            str(tmp_path / "c"),
            "--data-dir",
            str(tmp_path / "d"),
        )
    assert code == 1
    assert "registration refused (invalid_token)" in err
    assert "Traceback" not in err
    assert any(
        e["event"] == "registration refused" and e["reason"] == "invalid_token" for e in logs
    )
    assert await _state(relay) == before
    assert not (tmp_path / "c" / "agent.toml").exists()


async def test_expired_token_is_refused(relay, tmp_path):
    past = SqliteStore(relay.data_dir / STORE_FILE, clock=lambda: time.time() - 7200)
    await past.open()
    _, token = await past.create_token("late", 3600)
    await past.close()
    before = await _state(relay)
    with pytest.raises(RegistrationFailed) as caught:
        await register(relay.url, token, config_dir=tmp_path / "c", data_dir=tmp_path / "d")
    assert caught.value.code == "token_expired"
    assert "expired" in caught.value.detail
    assert await _state(relay) == before


async def test_used_token_is_refused_and_the_first_agent_keeps_its_key(relay, tmp_path):
    token = await relay.token("once")
    await register(relay.url, token, config_dir=tmp_path / "a", data_dir=tmp_path / "ad")
    first = await relay.store.get_agent("once")
    with pytest.raises(RegistrationFailed) as caught:
        await register(relay.url, token, config_dir=tmp_path / "b", data_dir=tmp_path / "bd")
    assert caught.value.code == "token_used"
    assert await relay.store.get_agent("once") == first


async def test_unreachable_relay_is_a_clear_error(tmp_path):
    with pytest.raises(RegistrationFailed) as caught:
        await register(
            "http://127.0.0.1:9",
            "hwt_x",
            config_dir=tmp_path / "c",
            data_dir=tmp_path / "d",
            timeout=5,
        )
    assert caught.value.code == "unreachable"


async def test_agent_with_a_key_the_relay_does_not_know_is_refused(relay, make_agent):
    agent = await make_agent("swapped")
    key_file: Path = agent.data_dir / KEY_FILE
    key_file.unlink()
    keyfile.generate_key_file(key_file)
    await agent.start()
    assert await agent.wait_exit() != 0
    assert "4001" in agent.output()
    assert "failed the challenge" in agent.output()
    assert relay.hub.connected_agents() == []


async def test_unregistered_agent_name_is_refused(relay, make_agent):
    agent = await make_agent("known")
    config = agent.config_dir / "agent.toml"
    config.write_text(config.read_text().replace('name = "known"', 'name = "ghost"'))
    await agent.start()
    assert await agent.wait_exit() != 0
    assert "4003" in agent.output()
    assert "no agent named 'ghost'" in agent.output()


async def test_revoked_agent_is_disconnected_and_cannot_come_back(relay, make_agent):
    agent = await make_agent("leaver")
    other = await make_agent("stayer")
    await agent.start()
    await other.start()
    await agent.wait_for("connected")
    await other.wait_for("connected")

    code, out, _ = await _cli(
        "relay",
        "agents",
        "revoke",
        "leaver",
        "--data-dir",
        str(relay.data_dir),
        "--config-dir",
        str(relay.data_dir),
    )
    assert code == 0
    assert "revoked" in out
    assert await agent.wait_exit() != 0
    assert "4004" in agent.output()
    assert "revoked" in agent.output()

    assert relay.hub.connected_agents() == ["stayer"]
    code, out, _ = await _cli(
        "relay", "agents", "--data-dir", str(relay.data_dir), "--config-dir", str(relay.data_dir)
    )
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert lines == {"leaver": "revoked", "stayer": "connected"}

    await agent.start()  # a restart is refused at the handshake now
    assert await agent.wait_exit() != 0
    assert "has been revoked" in agent.output()


async def test_plain_http_beyond_loopback_is_refused_before_the_token_is_sent(tmp_path):
    with pytest.raises(RegistrationFailed) as caught:
        await register(
            "http://relay.example.com",
            "hwt_secret",
            config_dir=tmp_path / "c",
            data_dir=tmp_path / "d",
        )
    assert caught.value.code == "insecure"
    assert "--allow-insecure" in caught.value.detail
    assert not (tmp_path / "c").exists()
    assert not (tmp_path / "d" / KEY_FILE).exists()
