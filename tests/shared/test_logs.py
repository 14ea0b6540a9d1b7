"""Log lines: one JSON object per line for services, readable text in a terminal, the
connection's context on every line, and credentials masked whatever the caller logs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from shared import logs
from shared.secret import Secret

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)


def _json_lines(err: str) -> list[dict[str, Any]]:
    lines = err.splitlines()
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]


def test_json_lines_carry_the_bound_context(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(json=True)
    log = structlog.get_logger()
    with structlog.contextvars.bound_contextvars(agent="onprem", connection="c-7"):
        log.info("connected", window=8)
        log.warning("batch refused", batch="b-1", reason="expired")
    log.info("closed")

    first, second, third = _json_lines(capsys.readouterr().err)
    assert first["event"] == "connected"
    assert first["level"] == "info"
    assert first["agent"] == "onprem"
    assert first["connection"] == "c-7"
    assert first["window"] == 8
    assert "timestamp" in first
    assert second["event"] == "batch refused"
    assert second["level"] == "warning"
    assert (second["agent"], second["batch"], second["reason"]) == ("onprem", "b-1", "expired")
    assert third["event"] == "closed"
    assert "agent" not in third  # the context ends with its block


def test_standard_library_records_become_json_lines_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure(json=True)
    with structlog.contextvars.bound_contextvars(agent="onprem"):
        logging.getLogger("websockets.server").warning("connection %s rejected", "c-9")

    (line,) = _json_lines(capsys.readouterr().err)
    assert line["event"] == "connection c-9 rejected"
    assert line["level"] == "warning"
    assert line["agent"] == "onprem"


def test_below_the_level_nothing_is_written(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(json=True, level="warning")
    structlog.get_logger().info("chatty")
    structlog.get_logger().error("loud")

    (line,) = _json_lines(capsys.readouterr().err)
    assert line["event"] == "loud"


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "db_Password",
        "client_secret",
        "token",
        "refresh_token",
        "private_key",
        "connection_string",
        "Authorization",
    ],
)
def test_values_under_credential_keys_are_masked(
    capsys: pytest.CaptureFixture[str], key: str
) -> None:
    logs.configure(json=True)
    structlog.get_logger().info("configured", **{key: "hunter2", "user": "svc-hatchway"})

    err = capsys.readouterr().err
    assert "hunter2" not in err
    (line,) = _json_lines(err)
    assert line[key] == "********"
    assert line["user"] == "svc-hatchway"  # only credential keys are masked


def test_credentials_bound_as_context_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(json=True)
    with structlog.contextvars.bound_contextvars(token="t0ps3cret", agent="onprem"):
        structlog.get_logger().info("connected")
        logging.getLogger("aiohttp.access").warning("request")

    err = capsys.readouterr().err
    assert "t0ps3cret" not in err
    lines = _json_lines(err)
    assert len(lines) == 2
    assert all(line["token"] == "********" and line["agent"] == "onprem" for line in lines)


def test_a_secret_under_any_key_is_written_masked(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(json=True)
    structlog.get_logger().info("loaded", dsn=Secret("Pwd=hunter2"))

    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert "********" in _json_lines(err)[0]["dsn"]


def test_console_lines_are_readable_text(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(json=False)
    with structlog.contextvars.bound_contextvars(agent="onprem"):
        structlog.get_logger().info("connected", window=8, password="hunter2")

    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[0])
    text = _ANSI.sub("", lines[0])
    assert "connected" in text
    assert "info" in text
    assert "agent=onprem" in text
    assert "window=8" in text
    assert "hunter2" not in text
    assert "password=********" in text
