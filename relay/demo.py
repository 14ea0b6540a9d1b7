"""``hatchway demo``: a relay, an agent and a SQLite target, end to end, on one machine.

It runs the real parts: the relay serves on a free loopback port, the agent registers
with a one-time token and runs as its own process, and a batch of user operations
travels signed over the websocket to the SQL connector, which writes a SQLite database
through its ODBC driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sqlite3
import sys
import tempfile
from pathlib import Path

from agent.registration import register
from agent.settings import CONFIG_FILE
from relay.app import STORE_FILE, start
from relay.exceptions import DemoError
from relay.keys import HUB
from relay.settings import RelaySettings
from relay.store.sqlite import SqliteStore
from shared.connector import USER, Action, Delta, DeltaKind, Operation, OperationResult

PEOPLE = [
    ("adele.vance", "Adele Vance", "Sales"),
    ("alex.wilber", "Alex Wilber", "Marketing"),
    ("diego.siciliani", "Diego Siciliani", "HR"),
    ("grady.archie", "Grady Archie", "Engineering"),
    ("henrietta.mueller", "Henrietta Mueller", "Engineering"),
    ("isaiah.langer", "Isaiah Langer", "Sales"),
    ("johanna.lorenz", "Johanna Lorenz", "Engineering"),
    ("joni.sherman", "Joni Sherman", "Legal"),
    ("lee.gu", "Lee Gu", "Finance"),
    ("lidia.holloway", "Lidia Holloway", "Engineering"),
    ("lynne.robbins", "Lynne Robbins", "Marketing"),
    ("megan.bowen", "Megan Bowen", "Marketing"),
    ("miriam.graham", "Miriam Graham", "Sales"),
    ("nestor.wilke", "Nestor Wilke", "Operations"),
    ("patti.fernandez", "Patti Fernandez", "Executive"),
    ("pradeep.gupta", "Pradeep Gupta", "Finance"),
]


def _say(text: str) -> None:
    print(text, flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _create_target(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(
            "CREATE TABLE users (id TEXT PRIMARY KEY, user_name TEXT NOT NULL UNIQUE,"
            " display_name TEXT, department TEXT, email TEXT, active INTEGER NOT NULL DEFAULT 1)"
        )
        db.commit()


def _print_rows(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT id, user_name, display_name, department, active FROM users ORDER BY id"
        ).fetchall()
    _say(f"\n  {'ID':<6}{'USER NAME':<20}{'DISPLAY NAME':<20}{'DEPARTMENT':<14}ACTIVE")
    for row in rows:
        _say(f"  {row[0]:<6}{row[1]:<20}{row[2]:<20}{row[3] or '-':<14}{row[4]}")
    _say(f"  ({len(rows)} rows in {path})\n")


def _summary(results: list[OperationResult]) -> str:
    ok = sum(r.ok for r in results)
    failed = [r for r in results if not r.ok]
    text = f"{ok} ok, {len(failed)} failed"
    if failed and failed[0].error is not None:
        text += f" (first error: {failed[0].error.error_class}: {failed[0].error.message})"
    return text


async def run(*, once: bool, workdir: str | None = None) -> int:
    with contextlib.ExitStack() as stack:
        base = (
            Path(workdir) if workdir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        base.mkdir(parents=True, exist_ok=True)
        return await _run(base, once=once)


async def _run(base: Path, *, once: bool) -> int:
    relay_data = base / "relay"
    agent_config, agent_data = base / "agent-config", base / "agent-data"
    target = base / "target.db"
    for folder in (relay_data, agent_config, agent_data):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if target.exists():
        target.unlink()
    _create_target(target)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings = RelaySettings(listen=f"127.0.0.1:{port}")
    runner = await start(settings, relay_data)
    app = runner.app
    _say(f"1. relay listening on {url} (SQLite store in {relay_data / STORE_FILE})")
    agent_proc: asyncio.subprocess.Process | None = None
    try:
        store = SqliteStore(relay_data / STORE_FILE)
        await store.open()
        _, token = await store.create_token("demo-agent", 600)
        await store.close()
        done = await register(url, token, config_dir=agent_config, data_dir=agent_data)
        _say(
            f"2. agent registered as {done.name!r} with a one-time token; relay key pinned "
            f"({done.relay_key_fingerprint})"
        )
        with (agent_config / CONFIG_FILE).open("a", encoding="utf-8") as fh:
            fh.write(
                '\n[connectors.hr]\ntype = "sql"\ndialect = "sqlite"\n'
                f'connection_string = "Driver=SQLite3;Database={target}"\n'
                'users_table = "users"\nkey_column = "id"\nnaming_column = "user_name"\n'
            )
        agent_proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "relay.cli",
            "--log-level",
            "warning",
            "agent",
            "run",
            "--config-dir",
            str(agent_config),
            "--data-dir",
            str(agent_data),
        )
        link = app[HUB].link("demo-agent")
        try:
            await asyncio.wait_for(link.connected.wait(), 30)
        except TimeoutError as exc:
            raise DemoError("the agent did not connect within 30 s") from exc
        _say(f"3. agent process {agent_proc.pid} dialled out and authenticated over the websocket")

        hub = app[HUB]
        creates = [
            Operation(
                key=f"demo-create-{i}",
                action=Action.CREATE,
                object_class=USER,
                attributes={
                    "id": str(1000 + i),
                    "user_name": login,
                    "display_name": name,
                    "department": dept,
                    "email": f"{login}@contoso.example",
                    "active": 1,
                },
            )
            for i, (login, name, dept) in enumerate(PEOPLE)
        ]
        results = await hub.send("demo-agent", "hr", creates, timeout=60)
        _say(f"4. signed batch of {len(creates)} creates -> connector 'hr': {_summary(results)}")
        changes = [
            Operation(
                "demo-move-1",
                Action.UPDATE,
                USER,
                anchor="1003",
                deltas=(Delta("department", DeltaKind.REPLACE, ("Research",)),),
            ),
            Operation(
                "demo-leave-1",
                Action.UPDATE,
                USER,
                anchor="1007",
                deltas=(Delta("active", DeltaKind.REPLACE, (0,)),),
            ),
            Operation("demo-delete-1", Action.DELETE, USER, anchor="1015"),
        ]
        results = await hub.send("demo-agent", "hr", changes, timeout=60)
        _say(f"5. a mover, a leaver (disabled) and a deletion: {_summary(results)}")
        results = await hub.send("demo-agent", "hr", creates[:3], timeout=60)
        replayed = sum(r.replayed for r in results)
        _say(
            f"6. the first 3 creates redelivered: {replayed} answered from the agent's journal,"
            " nothing written twice"
        )
        _say("\nWhat arrived in the target database:")
        _print_rows(target)
        if not once:
            _say(f"Relay running at {url}; agent connected. Press Ctrl-C to stop.")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, stop.set)
            loop.add_signal_handler(signal.SIGTERM, stop.set)
            await stop.wait()
        return 0
    finally:
        if agent_proc is not None and agent_proc.returncode is None:
            agent_proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(agent_proc.wait(), 15)
            except TimeoutError:
                agent_proc.kill()
                await agent_proc.wait()
        await runner.cleanup()
        _say(
            "Stopped the agent and the relay. Where to look next: docs/agent.md (install and"
            " configure an agent), docs/relay.md (run a relay), docs/protocol.md (the wire)."
        )
