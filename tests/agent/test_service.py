"""The Windows service's platform-neutral parts: folders, ACL and service command lines,
the log stream, and stopping the agent from the service manager's thread."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path, PureWindowsPath

import pytest
import structlog

from agent import service
from agent.state import AgentState
from relay.settings import RelaySettings
from shared import logs
from shared.connector import USER, Action, Operation
from tests.e2e.harness import AgentProcess, RelayHarness, registered_agent
from tests.servers.ports import free_port
from tests.servers.sqlite import SqliteOdbcDatabase

FOLDERS = service.ServiceFolders.under("C:\\ProgramData")
PYTHON = "C:\\Program Files\\Hatchway\\python\\python.exe"


def test_everything_lives_under_one_programdata_folder() -> None:
    assert FOLDERS.base == PureWindowsPath("C:/ProgramData/Hatchway")
    assert str(FOLDERS.config_dir) == "C:\\ProgramData\\Hatchway\\config"
    assert str(FOLDERS.data_dir) == "C:\\ProgramData\\Hatchway\\data"
    assert str(FOLDERS.log_dir) == "C:\\ProgramData\\Hatchway\\logs"


def test_the_acl_leaves_the_folders_to_system_administrators_and_the_service() -> None:
    reset, protect = service.acl_commands(FOLDERS, service.DEFAULT_ACCOUNT)
    assert reset == ["icacls", "C:\\ProgramData\\Hatchway", "/reset", "/T", "/C", "/Q"]
    assert protect == [
        "icacls",
        "C:\\ProgramData\\Hatchway",
        "/inheritance:r",
        "/grant:r",
        "*S-1-5-18:(OI)(CI)F",
        "*S-1-5-32-544:(OI)(CI)F",
        "NT SERVICE\\HatchwayAgent:(OI)(CI)M",
        "/Q",
    ]


def test_local_system_needs_no_grant_of_its_own() -> None:
    _, protect = service.acl_commands(FOLDERS, service.LOCAL_SYSTEM)
    assert [g for g in protect if ":(OI)(CI)" in g] == [
        "*S-1-5-18:(OI)(CI)F",
        "*S-1-5-32-544:(OI)(CI)F",
    ]


def test_the_service_restarts_after_a_crash() -> None:
    assert service.recovery_command() == [
        "sc.exe",
        "failure",
        "HatchwayAgent",
        "reset=",
        "86400",
        "actions=",
        "restart/10000/restart/10000/restart/60000",
    ]


def test_the_service_command_line_quotes_paths_with_spaces() -> None:
    folders = service.ServiceFolders.under("D:\\Program Data")
    line = service.command_line([PYTHON, *service.service_arguments(folders)])
    assert line == (
        '"C:\\Program Files\\Hatchway\\python\\python.exe" -m agent.windows_service'
        ' --config-dir "D:\\Program Data\\Hatchway\\config"'
        ' --data-dir "D:\\Program Data\\Hatchway\\data"'
        ' --log-dir "D:\\Program Data\\Hatchway\\logs"'
    )


def test_the_service_reads_back_the_folders_it_was_installed_with() -> None:
    options = service.parse_service_arguments(service.service_options(FOLDERS))
    assert str(options.config_dir) == str(FOLDERS.config_dir)
    assert str(options.data_dir) == str(FOLDERS.data_dir)
    assert str(options.log_dir) == str(FOLDERS.log_dir)
    assert options.log_level == "info"


class EventLog:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    def __call__(self, level: str, line: str) -> None:
        self.entries.append((level, line))


def test_the_log_file_gets_every_line_and_the_event_log_the_problems(tmp_path: Path) -> None:
    events = EventLog()
    log = service.ServiceLog(tmp_path / "logs" / "agent.log", events)
    lines = [json.dumps({"event": e, "level": lvl}) for e, lvl in [("a", "info"), ("b", "warning")]]
    log.write(lines[0] + "\n" + lines[1][:10])  # a line may arrive in pieces
    assert events.entries == []
    log.write(lines[1][10:] + "\n")
    log.write("Traceback (most recent call last):\n")
    log.close()
    written = (tmp_path / "logs" / "agent.log").read_text().splitlines()
    assert written == [*lines, "Traceback (most recent call last):"]
    assert events.entries == [
        ("warning", lines[1]),
        ("error", "Traceback (most recent call last):"),
    ]


def test_the_log_file_rotates_and_keeps_a_few_old_ones(tmp_path: Path) -> None:
    path = tmp_path / "agent.log"
    log = service.ServiceLog(path, EventLog(), max_bytes=100, backups=2)
    for n in range(12):
        log.write(json.dumps({"event": f"line {n:02}", "level": "info"}) + "\n")  # 36 bytes
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.log", "agent.log.1", "agent.log.2"]
    assert all(p.stat().st_size <= 100 for p in tmp_path.iterdir())
    kept = [path.with_name("agent.log.2"), path.with_name("agent.log.1"), path]
    events = [json.loads(line)["event"] for p in kept for line in p.read_text().splitlines()]
    assert events == [f"line {n:02}" for n in range(12 - len(events), 12)]


def test_structlog_writes_to_the_service_log(tmp_path: Path) -> None:
    events = EventLog()
    log = service.ServiceLog(tmp_path / "agent.log", events)
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    try:
        logs.configure(json=True, stream=log)  # type: ignore[arg-type]
        structlog.get_logger("test").warning("relay unreachable", relay="wss://r")
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, root_level
        log.close()
    ((level, line),) = events.entries
    assert level == "warning"
    assert json.loads(line)["event"] == "relay unreachable"
    assert json.loads((tmp_path / "agent.log").read_text())["relay"] == "wss://r"


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RelayHarness]:
    settings = RelaySettings(listen=f"127.0.0.1:{free_port()}", shutdown_timeout=2)
    harness = RelayHarness(tmp_path / "relay", settings)
    await harness.start()
    yield harness
    await harness.stop()


@pytest.fixture
async def agent(relay: RelayHarness, tmp_path: Path, sqlite_odbc_database: SqliteOdbcDatabase):
    """A registered agent's folders, with a SQLite connector."""
    agent = await registered_agent(relay, tmp_path / "agents", "branch")
    with sqlite3.connect(sqlite_odbc_database.path) as db:
        db.execute("CREATE TABLE users (id TEXT PRIMARY KEY, user_name TEXT UNIQUE)")
    agent.add_connector(
        "hr",
        type="sql",
        dialect="sqlite",
        connection_string=sqlite_odbc_database.odbc_connection_string,
    )
    return agent


async def test_the_service_manager_stops_the_agent_from_its_own_thread(
    relay: RelayHarness, agent: AgentProcess
) -> None:
    run = service.ServiceRun(agent.config_dir, agent.data_dir)
    serving = asyncio.create_task(asyncio.to_thread(run.run))
    create = Operation("op-1", Action.CREATE, USER, attributes={"id": "u1", "user_name": "ann"})
    (result,) = await relay.hub.send("branch", "hr", [create], timeout=30)
    assert result.ok and result.anchor == "u1"
    run.stop()  # from this thread, as the service manager's SvcStop does from its own
    await asyncio.wait_for(serving, 30)
    state = AgentState.read(agent.data_dir / "agent_state.json")
    assert state is not None and state.state == "stopped"


async def test_a_stop_before_the_loop_runs_is_not_lost(
    relay: RelayHarness, agent: AgentProcess
) -> None:
    run = service.ServiceRun(agent.config_dir, agent.data_dir)
    run.stop()
    await asyncio.wait_for(asyncio.to_thread(run.run), 30)
    record = await relay.store.get_agent("branch")
    assert record is not None and record.state == "registered", "it never connected"
