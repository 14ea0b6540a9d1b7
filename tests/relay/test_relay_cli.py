"""The ``hatchway relay ...`` commands, run in-process through ``main(argv)``."""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

import relay.app
from relay.cli import main, parse_duration
from relay.store.base import AgentRecord
from relay.store.sqlite import SqliteStore
from shared import __version__

AGENTS_HEADER = re.compile(r"NAME\s+STATE\s+SINCE \(UTC\)\s+SOFTWARE\s+PROTOCOL\s+CONNECTORS")


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Explicit folders; the environment points elsewhere so a lost flag is noticed (and
    nothing ever lands in the machine's own folders)."""
    monkeypatch.setenv("HATCHWAY_CONFIG_DIR", str(tmp_path / "env-config"))
    monkeypatch.setenv("HATCHWAY_DATA_DIR", str(tmp_path / "env-data"))
    return tmp_path / "config", tmp_path / "data"


def dir_args(dirs: tuple[Path, Path]) -> list[str]:
    config, data = dirs
    return ["--data-dir", str(data), "--config-dir", str(config)]


def store_at(data: Path) -> SqliteStore:
    return SqliteStore(data / relay.app.STORE_FILE)


async def add_agent(data: Path, name: str) -> None:
    store = store_at(data)
    await store.open()
    try:
        _, token = await store.create_token(name, 600)
        await store.redeem_token(token, "pk", "hatchway-agent 0.1.0")
    finally:
        await store.close()


async def get_agent(data: Path, name: str) -> AgentRecord | None:
    store = store_at(data)
    await store.open()
    try:
        return await store.get_agent(name)
    finally:
        await store.close()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hatchway {__version__}"


def test_token_create_prints_the_token_and_its_validity(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before = time.time()
    code = main(["relay", "token", "create", "--name", "branch", "--ttl", "2h", *dir_args(dirs)])
    after = time.time()
    out, err = capsys.readouterr()

    assert code == 0
    token = out.strip()
    assert out.count("\n") == 1
    assert token.startswith("hwt_")
    assert token not in err
    match = re.search(r"valid until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", err)
    assert match, err
    assert "'branch'" in err
    until = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert int(before) + 7200 <= until.timestamp() <= after + 7200

    # The printed token is the one stored, and it registers the agent.
    async def redeem() -> None:
        store = store_at(dirs[1])
        await store.open()
        try:
            (record,) = await store.list_tokens()
            assert record.agent_name == "branch"
            assert record.expires_at - record.created_at == 7200
            agent = await store.redeem_token(token, "pk", "sw")
            assert agent.name == "branch"
        finally:
            await store.close()

    asyncio.run(redeem())


def test_token_create_for_an_existing_agent_warns_about_re_registration(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(add_agent(dirs[1], "branch"))
    assert main(["relay", "token", "create", "--name", "branch", *dir_args(dirs)]) == 0
    out, err = capsys.readouterr()
    assert out.strip().startswith("hwt_")
    assert "re-registers" in err


def test_token_list(dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["relay", "token", "create", "--name", "branch", *dir_args(dirs)]) == 0
    assert main(["relay", "token", "create", "--name", "lab", "--ttl", "1d", *dir_args(dirs)]) == 0
    capsys.readouterr()

    assert main(["relay", "token", "list", *dir_args(dirs)]) == 0
    out = capsys.readouterr().out

    lines = out.splitlines()
    assert re.match(r"ID\s+AGENT\s+EXPIRES \(UTC\)\s+USED", lines[0])
    assert len(lines) == 3
    assert lines[1].split()[1] == "branch"
    assert lines[2].split()[1] == "lab"
    assert lines[1].split()[-1] == "-"  # not used
    assert "hwt_" not in out


def test_agents_with_no_agents_prints_just_the_header(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["relay", "agents", *dir_args(dirs)]) == 0
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1
    assert AGENTS_HEADER.match(lines[0])


def test_agents_lists_each_agent_with_its_state(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(add_agent(dirs[1], "branch"))
    assert main(["relay", "agents", *dir_args(dirs)]) == 0
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[1].split()[:2] == ["branch", "registered"]


def test_agents_revoke(dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(add_agent(dirs[1], "branch"))
    assert main(["relay", "agents", "revoke", "branch", *dir_args(dirs)]) == 0
    out, _ = capsys.readouterr()
    assert "'branch' revoked" in out
    agent = asyncio.run(get_agent(dirs[1], "branch"))
    assert agent is not None
    assert agent.state == "revoked"


def test_agents_revoke_honours_folders_given_before_the_subcommand(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # `hatchway relay agents --data-dir D revoke NAME` must act on D, not on another store.
    asyncio.run(add_agent(dirs[1], "branch"))
    code = main(["relay", "agents", *dir_args(dirs), "revoke", "branch"])
    _, err = capsys.readouterr()
    assert code == 0, err
    agent = asyncio.run(get_agent(dirs[1], "branch"))
    assert agent is not None
    assert agent.state == "revoked"


def test_revoking_an_unknown_agent_is_one_line_on_stderr(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["relay", "agents", "revoke", "nobody", *dir_args(dirs)])
    out, err = capsys.readouterr()

    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("hatchway: error: ")
    assert "nobody" in err
    assert "Traceback" not in err


def test_a_bad_ttl_is_a_usage_error(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["relay", "token", "create", "--name", "x", "--ttl", "5x", *dir_args(dirs)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--ttl" in err
    assert "'5x'" in err
    assert not (dirs[1] / relay.app.STORE_FILE).exists()


def test_a_bad_relay_toml_is_exit_2(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def must_not_serve(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server must not start")

    monkeypatch.setattr(relay.app, "serve", must_not_serve)
    config, _ = dirs
    config.mkdir(parents=True)
    (config / "relay.toml").write_text("[limits]\nwindow = 0\n", encoding="utf-8")

    code = main(["relay", "serve", *dir_args(dirs)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("hatchway: error: ")
    assert "limits.window" in err
    assert str(config / "relay.toml") in err


def test_serve_with_a_bad_listen_is_exit_2_naming_the_flag(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def must_not_serve(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server must not start")

    monkeypatch.setattr(relay.app, "serve", must_not_serve)

    code = main(["relay", "serve", "--listen", "nonsense", *dir_args(dirs)])
    err = capsys.readouterr().err

    assert code == 2
    assert err.startswith("hatchway: error: ")
    assert err.count("\n") == 1
    assert "--listen" in err
    assert "nonsense" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("15m", 900.0),
        ("1h", 3600.0),
        ("2h", 7200.0),
        ("7d", 604800.0),
        ("45", 45.0),
        ("1.5h", 5400.0),
        (" 10 m ", 600.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0h", "5x", "h", "-1h", "1hh", "1h30m", "1e3"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
        parse_duration(text)
