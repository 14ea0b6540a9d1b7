"""``hatchway logs``: every job's provisioning logs through ``main(argv)`` against a real
relay, filtered, paged and exported."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from relay.api.cli import moment
from relay.settings import RelaySettings
from relay.store.base import EntryKind
from relay.store.engine_records import CycleWrite, LogAction, LogEntry, LogStatus
from tests.relay.api.cli_relay import ThreadRelay, hatchway, point_at, relay_thread
from tests.servers.ports import free_port

JOB = """
name = "{name}"
target = "scim"
scope = "all"

[connection]
connector = "{name}"
"""


@pytest.fixture
def relay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadRelay]:
    settings = RelaySettings(listen=f"127.0.0.1:{free_port()}", shutdown_timeout=2)
    with relay_thread(settings, tmp_path / "relay") as served:
        point_at(monkeypatch, served, tmp_path / "cli-config")
        for name in ("crm", "wiki"):
            served.run(served.store.create_job(name, JOB.format(name=name)))
        yield served


def entry(job: str, name: str, action: LogAction, status: LogStatus, ago: float) -> LogEntry:
    return LogEntry(
        job=job,
        cycle="c1",
        kind=EntryKind.USER,
        entry_id=f"id-{name}",
        action=action,
        status=status,
        at=time.time() - ago,
        source_name=name,
        anchor=f"anchor-{name}",
        reason="refused" if status is LogStatus.FAILURE else None,
        error_class="invalid_data" if status is LogStatus.FAILURE else None,
        changes={"title": [None, "Engineer"]} if action is LogAction.CREATE else {},
        duration_ms=12.5,
    )


@pytest.fixture
def logged(relay: ThreadRelay) -> None:
    """Four entries of two jobs, from three days ago to a minute ago, written in that order
    (the logs list the last written first)."""
    for job, name, action, status, ago in (
        ("crm", "old", LogAction.CREATE, LogStatus.SUCCESS, 3 * 86400),
        ("crm", "ada", LogAction.CREATE, LogStatus.SUCCESS, 3600),
        ("wiki", "eve", LogAction.CREATE, LogStatus.SUCCESS, 1800),
        ("crm", "bob", LogAction.UPDATE, LogStatus.FAILURE, 60),
    ):
        written = CycleWrite(job=job, logs=(entry(job, name, action, status, ago),))
        relay.run(relay.store.record_batch(written))


def test_every_jobs_entries_newest_first_in_a_table(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, logged: None
) -> None:
    code, out, err = hatchway(capsys, "logs")
    assert code == 0, err
    assert out.splitlines()[0].split()[:4] == ["AT", "(UTC)", "JOB", "KIND"]
    assert out.index("bob") < out.index("eve") < out.index("ada") < out.index("old")
    assert "invalid_data: refused" in out
    eve = next(line for line in out.splitlines() if "eve" in line)
    assert eve.split()[2:4] == ["wiki", "user"]


def test_filters(capsys: pytest.CaptureFixture[str], relay: ThreadRelay, logged: None) -> None:
    def who(*argv: str) -> list[str]:
        code, out, err = hatchway(capsys, "logs", "--format", "jsonl", *argv)
        assert code == 0, err
        return [json.loads(line)["source_name"] for line in out.splitlines()]

    assert who("--job", "wiki") == ["eve"]
    assert who("--job", "crm", "--since", "2d") == ["bob", "ada"]
    assert who("--until", "2h") == ["old"]
    assert who("--status", "failure") == ["bob"]
    assert who("--action", "create", "--user", "ada") == ["ada"]
    assert who("--cycle", "c2") == []
    assert who("--limit", "2") == ["bob", "eve"]


def test_export_as_csv_jsonl_and_json(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, logged: None
) -> None:
    code, out, _ = hatchway(capsys, "logs", "--job", "crm", "--format", "csv")
    assert code == 0
    assert out.splitlines()[0] == (
        "id,at,job,cycle,kind,entry_id,source_name,anchor,action,status,reason,error_class,"
        "changes,duration_ms"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["source_name"] for r in rows] == ["bob", "ada", "old"]
    ada = rows[1]
    assert ada["at"].endswith("Z") and "T" in ada["at"]
    assert json.loads(ada["changes"]) == {"title": [None, "Engineer"]}
    assert (ada["action"], ada["status"], ada["duration_ms"]) == ("create", "success", "12.5")
    assert (rows[0]["error_class"], rows[0]["reason"]) == ("invalid_data", "refused")

    code, out, _ = hatchway(capsys, "logs", "--json", "--status", "failure")
    [bob] = json.loads(out)
    assert (bob["job"], bob["source_name"], bob["changes"]) == ("crm", "bob", {})


def test_all_entries_are_read_page_after_page(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay
) -> None:
    many = tuple(
        entry("crm", f"user{i}", LogAction.CREATE, LogStatus.SUCCESS, 5000 - i) for i in range(1205)
    )
    relay.run(relay.store.record_batch(CycleWrite(job="crm", logs=many)))

    def ids(*argv: str) -> list[int]:
        code, out, err = hatchway(capsys, "logs", "--format", "jsonl", *argv)
        assert code == 0, err
        return [json.loads(line)["id"] for line in out.splitlines()]

    everything = ids("--limit", "0")
    assert len(everything) == len(set(everything)) == 1205
    assert everything == sorted(everything, reverse=True)
    assert ids("--limit", "1100") == everything[:1100]
    assert len(ids()) == 100  # the default


def test_nothing_matches(capsys: pytest.CaptureFixture[str], relay: ThreadRelay) -> None:
    assert hatchway(capsys, "logs") == (0, "no log entries match\n", "")


def test_since_after_until_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay
) -> None:
    code, out, err = hatchway(capsys, "logs", "--since", "1h", "--until", "2h")
    assert (code, out) == (2, "")
    assert err == "hatchway: error: --since: is after --until\n"


def test_a_bad_since_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        hatchway(capsys, "logs", "--since", "yesterday")
    assert info.value.code == 2
    assert "neither an ISO 8601 time" in capsys.readouterr().err


def test_since_and_until_read_iso_times_and_durations() -> None:
    assert moment("2024-05-01T08:00:00Z") == 1714550400.0
    assert moment("2024-05-01T08:00:00") == 1714550400.0  # no zone: UTC
    assert moment("2024-05-01T10:00:00+02:00") == 1714550400.0
    assert moment("2h", now=lambda: 10_000.0) == 10_000.0 - 7200


@pytest.mark.parametrize(
    "argv",
    [
        ("logs", "--format", "jsonl"),
        ("logs", "--json"),
        ("logs",),  # a rich table
    ],
    ids=["jsonl", "json", "table"],
)
def test_output_whose_reader_went_away_ends_quietly(
    relay: ThreadRelay, logged: None, argv: tuple[str, ...]
) -> None:
    """``hatchway logs | head``: once the reader has gone, the command stops with 141, as a
    shell reports a command a closed pipe stopped, and prints no error and no traceback."""
    reading, writing = os.pipe()
    os.close(reading)  # the reader is gone before the first line is written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "relay.cli", "--log-level", "error", *argv],
            stdout=writing,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(writing)
    assert (done.returncode, done.stderr) == (141, "")


def test_names_and_reasons_are_shown_as_written_not_as_markup(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay
) -> None:
    """Square brackets in a table cell are text: rich would take ``[b]`` as bold and stop
    at ``[/]`` with a traceback."""
    odd = entry("crm", "[/]root [b]x[/b]", LogAction.UPDATE, LogStatus.FAILURE, 60)
    odd = dataclasses.replace(odd, reason="[Errno 111] Connect call failed [/]")
    relay.run(relay.store.record_batch(CycleWrite(job="crm", logs=(odd,))))
    code, out, err = hatchway(capsys, "logs")
    assert (code, err) == (0, "")
    assert "[/]root [b]x[/b]" in out
    assert "invalid_data: [Errno 111] Connect call failed [/]" in out


def test_control_characters_from_the_directory_never_reach_the_terminal(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay
) -> None:
    """A displayName or an error holding escape sequences (a window title, a colour, a
    carriage return that hides what came before) is shown escaped in tables and lines;
    JSON escapes them by itself."""
    trap = "eve\x1b]0;owned\x07\x1b[8m\rroot"
    odd = entry("crm", trap, LogAction.UPDATE, LogStatus.FAILURE, 60)
    odd = dataclasses.replace(odd, reason="refused\x1b[2J", entry_id="id-\x9b1m")
    relay.run(relay.store.record_batch(CycleWrite(job="crm", logs=(odd,))))
    code, out, err = hatchway(capsys, "logs")
    assert (code, err) == (0, "")
    assert "eve\\x1b]0;owned\\x07\\x1b[8m\\x0droot" in out
    assert "refused\\x1b[2J" in out
    assert not any(c in out for c in "\x1b\x07\r\x9b")
    code, out, _ = hatchway(capsys, "logs", "--json")
    assert "\x1b" not in out and json.loads(out)[0]["source_name"] == trap
