"""Agents report their software version; the relay flags protocol versions it will drop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from relay.cli import main
from shared import __version__
from shared.protocol import messages
from tests.e2e.harness import REPO, RelayHarness


async def hatchway(*args: str) -> str:
    """Run the ``hatchway`` command as an administrator would, in its own process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay.cli", *args, stdout=asyncio.subprocess.PIPE, cwd=REPO
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out
    return out.decode()


async def agents_row(relay: RelayHarness, name: str) -> str:
    out = await hatchway("relay", "agents", "--data-dir", str(relay.data_dir))
    return _row(out, name)


def _row(out: str, name: str) -> str:
    (row,) = [line for line in out.splitlines() if line.startswith(name + " ")]
    return row


@contextlib.contextmanager
def logging_kept() -> Iterator[None]:
    """``main`` configures logging for its process; put this test process's back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, level


async def test_a_current_agent_shows_its_version_and_protocol(
    relay: RelayHarness, make_agent
) -> None:
    agent = await make_agent("branch")
    await agent.start()
    await agent.wait_for("connected")
    row = (await agents_row(relay, "branch")).split()
    assert row[1] == "connected"
    assert row[4:6] == [f"hatchway-agent/{__version__}", "1"]
    record = await relay.store.get_agent("branch")
    assert record is not None and record.protocol_version == 1

    folders = ["--config-dir", str(agent.config_dir), "--data-dir", str(agent.data_dir)]
    status = await hatchway("agent", "status", *folders)
    assert f"software:   hatchway-agent/{__version__}" in status


async def test_an_agent_on_a_deprecated_protocol_is_warned_about_and_marked(
    relay: RelayHarness,
    make_agent,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(messages, "DEPRECATED_VERSIONS", frozenset({1}))
    agent = await make_agent("old-branch")
    with capture_logs() as logged:
        await agent.start()
        await agent.wait_for("connected")
    (warning,) = [e for e in logged if e["event"].startswith("agent speaks a deprecated protocol")]
    assert warning["log_level"] == "warning"
    assert warning["version"] == 1 and warning["software"] == f"hatchway-agent/{__version__}"
    # In this process, where the deprecation is patched in: 'hatchway relay agents'.
    with logging_kept():
        code = await asyncio.to_thread(main, ["relay", "agents", "--data-dir", str(relay.data_dir)])
    assert code == 0
    assert "1 (deprecated)" in _row(capsys.readouterr().out, "old-branch")
