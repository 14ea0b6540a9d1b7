"""Real relays and agents for end-to-end tests.

The relay runs inside the test process (an aiohttp server on a free loopback port), so a
test can reach its hub and store; every agent is a separate ``hatchway agent run``
process speaking the protocol over a real websocket. Agent output is read line by line
as JSON log events, so tests wait for events instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from agent.registration import register
from agent.settings import CONFIG_FILE
from relay.app import start
from relay.hub.hub import Hub
from relay.keys import HUB, STORE
from relay.settings import RelaySettings
from relay.store.base import Store

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


@dataclass
class RelayHarness:
    data_dir: Path
    settings: RelaySettings
    runner: web.AppRunner | None = None
    app: web.Application | None = None

    @property
    def port(self) -> int:
        return self.settings.host_port[1]

    @property
    def tls(self) -> bool:
        return self.settings.tls_certificate is not None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/agent/v1/connect"

    @property
    def hub(self) -> Hub:
        assert self.app is not None
        return self.app[HUB]

    @property
    def store(self) -> Store:
        assert self.app is not None
        return self.app[STORE]

    async def start(self) -> None:
        self.runner = await start(self.settings, self.data_dir)
        self.app = self.runner.app

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def token(self, name: str, ttl: float = 600) -> str:
        _, token = await self.store.create_token(name, ttl)
        return token


@dataclass
class AgentProcess:
    """A ``hatchway agent run`` child process and the log events it has printed."""

    name: str
    config_dir: Path
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: asyncio.subprocess.Process | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _reader: asyncio.Task[None] | None = None

    def add_connector(self, name: str, **settings: Any) -> None:
        with (self.config_dir / CONFIG_FILE).open("a", encoding="utf-8") as fh:
            fh.write(f"\n[connectors.{name}]\n")
            for key, value in settings.items():
                fh.write(f"{key} = {json.dumps(value)}\n")

    async def start(self) -> None:
        env = {**os.environ, **self.env}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HERE), env.get("PYTHONPATH", "")])
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "relay.cli",
            "--log-json",
            "--log-level",
            "debug",
            "agent",
            "run",
            "--config-dir",
            str(self.config_dir),
            "--data-dir",
            str(self.data_dir),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        self._reader = asyncio.create_task(self._read(self.proc))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            async with self._changed:
                self.lines.append(line)
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if isinstance(event, dict):
                        self.events.append(event)
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    def count(self, event: str, **fields: Any) -> int:
        return sum(1 for e in self.events if _matches(e, event, fields))

    async def wait_for(
        self, event: str, *, count: int = 1, timeout: float = 30, **fields: Any
    ) -> dict[str, Any]:
        """Wait until the agent has logged ``event`` (with ``fields``) ``count`` times."""

        def found() -> bool:
            return self.count(event, **fields) >= count or self.exited

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(found)
        except TimeoutError:
            raise AssertionError(
                f"agent never logged {event!r} {fields} x{count}; output:\n" + self.output()
            ) from None
        matches = [e for e in self.events if _matches(e, event, fields)]
        if len(matches) < count:
            raise AssertionError(
                f"agent exited before logging {event!r} {fields}; output:\n" + self.output()
            )
        return matches[count - 1]

    @property
    def exited(self) -> bool:
        return self.proc is not None and self.proc.returncode is not None

    def output(self, lines: int = 60) -> str:
        return "\n".join(self.lines[-lines:])

    async def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader is not None:
            await self._reader
        return code

    async def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await self.wait_exit(timeout)

    async def kill(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.kill()
        await self.wait_exit()

    async def restart(self) -> None:
        await self.start()


def _matches(event: dict[str, Any], name: str, fields: dict[str, Any]) -> bool:
    return event.get("event") == name and all(event.get(k) == v for k, v in fields.items())


async def registered_agent(relay: RelayHarness, root: Path, name: str) -> AgentProcess:
    """An agent registered with ``relay`` through the real registration endpoint."""
    config_dir, data_dir = root / name / "config", root / name / "data"
    data_dir.mkdir(parents=True, mode=0o700)
    await register(relay.url, await relay.token(name), config_dir=config_dir, data_dir=data_dir)
    return AgentProcess(name, config_dir, data_dir)
