"""The ``hatchway job ...`` commands, run in-process through ``main(argv)`` against a real
SQLite store in a temporary data folder."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import structlog

from relay.app import start
from relay.cli import main
from relay.engine.cli import NO_RELAY, ask_relay, moment
from relay.settings import RelaySettings
from relay.store.base import Entry, EntryKind, Store
from relay.store.engine_records import (
    CycleKind,
    CycleState,
    CycleWrite,
    JobRecord,
    JobState,
    LogAction,
    LogEntry,
    LogStatus,
    Request,
    Shadow,
    StagedDecision,
    StagedOperation,
)
from relay.store.sqlite import SqliteStore
from tests.servers.ports import free_port
from tests.servers.scim import ScimServer

T = TypeVar("T")

JOB = """
name = "crm"
target = "scim"
scope = "all"

[connection]
connector = "crm"
"""


@contextlib.contextmanager
def saved_logging() -> Iterator[None]:
    """main() configures structlog and the root logger for the stream it is given: undo
    that, so nothing logs to a stream pytest has closed."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    with saved_logging():
        yield


@pytest.fixture
def folders(tmp_path: Path) -> list[str]:
    (tmp_path / "config").mkdir()
    return ["--config-dir", str(tmp_path / "config"), "--data-dir", str(tmp_path / "data")]


@pytest.fixture
def job_file(tmp_path: Path) -> Path:
    path = tmp_path / "crm.toml"
    path.write_text(JOB, encoding="utf-8")
    return path


#: Runs a function on the commands' store and returns its result.
OnStore = Callable[[Callable[[Store], Awaitable[Any]]], Any]


@pytest.fixture
def on_store(tmp_path: Path) -> Callable[[Callable[[Store], Awaitable[T]]], T]:
    """Run ``work`` on the store the commands use, as a relay would write it."""

    def run(work: Callable[[Store], Awaitable[T]]) -> T:
        async def opened() -> T:
            store = SqliteStore(tmp_path / "data" / "relay.sqlite3")
            await store.open()
            try:
                return await work(store)
            finally:
                await store.close()

        return asyncio.run(opened())

    return run


def hatchway(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def crm(capsys: pytest.CaptureFixture[str], folders: list[str], job_file: Path) -> None:
    """The job ``crm``, created with ``hatchway job create``."""
    code, _, err = hatchway(capsys, "job", "create", str(job_file), *folders)
    assert code == 0, err


# Defining jobs -----------------------------------------------------------------------------


def test_create_list_show_update_delete(
    capsys: pytest.CaptureFixture[str], folders: list[str], job_file: Path, tmp_path: Path
) -> None:
    code, out, err = hatchway(capsys, "job", "create", str(job_file), *folders)
    assert code == 0
    assert "job 'crm' created" in out
    assert "hatchway job start crm" in out
    assert "[connectors.crm]" in err  # relay.toml has no such connector for the built-in agent

    code, out, _ = hatchway(capsys, "job", "list", *folders)
    assert code == 0
    assert "crm" in out and "created" in out and "built-in / crm" in out

    code, out, _ = hatchway(capsys, "job", "show", "crm", *folders)
    assert (code, out) == (0, JOB)

    changed = tmp_path / "changed.toml"
    changed.write_text(JOB.replace('scope = "all"', 'scope = "assigned"'), encoding="utf-8")
    code, out, _ = hatchway(capsys, "job", "update", "crm", str(changed), *folders)
    assert code == 0
    assert "version 2" in out
    assert 'scope = "assigned"' in hatchway(capsys, "job", "show", "crm", *folders)[1]

    code, out, _ = hatchway(capsys, "job", "delete", "crm", *folders)
    assert code == 0
    assert "left as they are" in out
    code, _, err = hatchway(capsys, "job", "show", "crm", *folders)
    assert code == 1
    assert err.startswith("hatchway: error:") and err.count("\n") == 1


def test_the_name_on_the_command_line_wins(
    capsys: pytest.CaptureFixture[str],
    folders: list[str],
    job_file: Path,
    on_store: OnStore,
) -> None:
    code, out, _ = hatchway(capsys, "job", "create", str(job_file), "--name", "crm-eu", *folders)
    assert code == 0
    assert "'crm-eu'" in out
    assert [j.name for j in on_store(lambda s: s.list_jobs())] == ["crm-eu"]


def test_a_connector_in_relay_toml_gives_no_warning(
    capsys: pytest.CaptureFixture[str], folders: list[str], job_file: Path, tmp_path: Path
) -> None:
    (tmp_path / "config" / "relay.toml").write_text(
        '[connectors.crm]\ntype = "scim"\nbase_url = "https://crm.example/scim"\n'
    )
    code, _, err = hatchway(capsys, "job", "create", str(job_file), *folders)
    assert (code, err) == (0, "")


def test_a_bad_job_file_is_refused_naming_file_and_key(
    capsys: pytest.CaptureFixture[str], folders: list[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(JOB.replace('connector = "crm"', 'connector = ""'), encoding="utf-8")
    code, _, err = hatchway(capsys, "job", "create", str(bad), *folders)
    assert code == 2
    assert str(bad) in err and "connection.connector" in err
    assert err.count("\n") == 1


def test_a_second_job_of_the_same_name_is_refused(
    capsys: pytest.CaptureFixture[str], folders: list[str], job_file: Path, crm: None
) -> None:
    code, _, err = hatchway(capsys, "job", "create", str(job_file), *folders)
    assert code == 1
    assert "crm" in err and err.count("\n") == 1


def test_updating_an_unknown_job_is_an_error(
    capsys: pytest.CaptureFixture[str], folders: list[str], job_file: Path
) -> None:
    code, _, err = hatchway(capsys, "job", "update", "nope", str(job_file), *folders)
    assert code == 1
    assert "nope" in err


# Steering ----------------------------------------------------------------------------------


def test_start_pause_resume(
    capsys: pytest.CaptureFixture[str],
    folders: list[str],
    crm: None,
    on_store: OnStore,
) -> None:

    def state() -> JobState:
        record: JobRecord = on_store(lambda s: s.get_job("crm"))
        return record.state

    assert "started" in hatchway(capsys, "job", "start", "crm", *folders)[1]
    assert state() is JobState.RUNNING
    assert "already running" in hatchway(capsys, "job", "start", "crm", *folders)[1]
    assert "paused" in hatchway(capsys, "job", "pause", "crm", *folders)[1]
    assert state() is JobState.PAUSED
    assert "resumed" in hatchway(capsys, "job", "resume", "crm", *folders)[1]
    assert state() is JobState.RUNNING


def test_resume_clears_a_quarantine(
    capsys: pytest.CaptureFixture[str],
    folders: list[str],
    crm: None,
    on_store: OnStore,
) -> None:
    on_store(
        lambda s: s.update_job(
            "crm",
            state=JobState.QUARANTINED,
            quarantine_reason="refused",
            next_attempt_at=5.0,
            quarantine_count=3,
        )
    )
    assert hatchway(capsys, "job", "resume", "crm", *folders)[0] == 0
    record: JobRecord = on_store(lambda s: s.get_job("crm"))
    assert record.state is JobState.RUNNING
    assert (record.quarantine_reason, record.next_attempt_at, record.quarantine_count) == (
        None,
        None,
        0,
    )


def test_restart_runs_a_fresh_initial_cycle_and_stops_running_cycles(
    capsys: pytest.CaptureFixture[str],
    folders: list[str],
    crm: None,
    on_store: OnStore,
) -> None:

    async def ran(store: Store) -> str:
        await store.update_job("crm", state=JobState.PAUSED, initial_done=True, cursor=7)
        cycle = await store.start_cycle("crm", CycleKind.INCREMENTAL)
        return cycle.id

    cycle_id = on_store(ran)
    code, out, _ = hatchway(capsys, "job", "restart", "crm", *folders)
    assert code == 0
    assert "fresh initial cycle" in out
    record: JobRecord = on_store(lambda s: s.get_job("crm"))
    assert record.state is JobState.RUNNING
    assert not record.initial_done
    assert on_store(lambda s: s.get_cycle(cycle_id)).state is CycleState.STOPPED


def test_steering_an_unknown_job_is_an_error(
    capsys: pytest.CaptureFixture[str], folders: list[str]
) -> None:
    code, _, err = hatchway(capsys, "job", "start", "nope", *folders)
    assert code == 1
    assert "nope" in err and err.count("\n") == 1


# Status, where, staged ---------------------------------------------------------------------


def linked_user(store: Store) -> Awaitable[Entry]:
    async def work() -> Entry:
        ada = await store.create_entry(EntryKind.USER, {"userName": "ada"})
        cycle = await store.start_cycle("crm", CycleKind.INITIAL, total=10)
        shadow = Shadow("crm", EntryKind.USER, ada.id, "anchor-ada", {}, ada.version)
        staged = StagedOperation(
            0, "crm", cycle.id, EntryKind.USER, ada.id, "anchor-ada", "delete", "gone", "ada", 1.0
        )
        await store.record_batch(
            CycleWrite(job="crm", cycle=cycle.id, done=4, shadows=(shadow,), staged=(staged,))
        )
        await store.update_job("crm", state=JobState.RUNNING)
        return ada

    return work()


def test_status_in_text_and_json(
    capsys: pytest.CaptureFixture[str],
    folders: list[str],
    crm: None,
    on_store: OnStore,
) -> None:
    on_store(linked_user)

    code, out, _ = hatchway(capsys, "job", "status", "crm", *folders)
    assert code == 0
    assert "running, waiting for approval" in out
    assert "initial since" in out and "4/10 done" in out
    assert "linked:      1" in out

    code, out, _ = hatchway(capsys, "job", "status", "crm", "--json", *folders)
    status = json.loads(out)
    assert status["state"] == "running" and status["staged"] == 1
    assert status["current"]["done"] == 4 and status["current"]["kind"] == "initial"


def test_where_in_text_and_json(
    capsys: pytest.CaptureFixture[str],
    folders: list[str],
    crm: None,
    on_store: OnStore,
) -> None:
    ada = on_store(linked_user)

    code, out, _ = hatchway(capsys, "job", "where", "crm", "ada", *folders)
    assert code == 0
    assert f"ada (id {ada.id}) in job crm" in out
    assert "scope:     in scope" in out
    assert "linked as anchor-ada" in out
    assert "delete staged" in out and "waiting for approval" in out
    assert "initial cycle has not finished" in out

    code, out, _ = hatchway(capsys, "job", "where", "crm", ada.id, "--json", *folders)
    found = json.loads(out)
    assert found["entry_id"] == ada.id and found["in_scope"] is True
    assert found["state"] == "linked" and found["staged"]["action"] == "delete"

    code, out, _ = hatchway(capsys, "job", "where", "crm", "Nobody", "--group", *folders)
    assert code == 0
    assert "no group with id or name 'Nobody'" in out


def test_staged_then_approve_some_and_reject_the_rest(
    capsys: pytest.CaptureFixture[str],
    folders: list[str],
    crm: None,
    on_store: OnStore,
) -> None:
    assert "no staged deprovisions" in hatchway(capsys, "job", "staged", "crm", *folders)[1]

    async def stage(store: Store) -> list[int]:
        cycle = await store.start_cycle("crm", CycleKind.RECONCILE)
        staged = tuple(
            StagedOperation(
                0,
                "crm",
                cycle.id,
                EntryKind.USER,
                f"u{i}",
                f"a{i}",
                "disable",
                "left",
                f"user{i}",
                1.0,
            )
            for i in range(3)
        )
        await store.record_batch(CycleWrite(job="crm", staged=staged))
        return [s.id for s in await store.list_staged("crm")]

    ids = on_store(stage)
    code, out, _ = hatchway(capsys, "job", "staged", "crm", *folders)
    assert code == 0
    assert all(f"user{i}" in out for i in range(3)) and "disable" in out

    code, out, _ = hatchway(capsys, "job", "approve", "crm", "--id", str(ids[0]), *folders)
    assert (code, out) == (0, "1 staged deprovision(s) approved\n")
    code, out, _ = hatchway(capsys, "job", "reject", "crm", *folders)
    assert (code, out) == (0, "2 staged deprovision(s) rejected\n")
    decided = on_store(lambda s: s.list_staged("crm"))
    assert [s.decision for s in decided] == [
        StagedDecision.APPROVED,
        StagedDecision.REJECTED,
        StagedDecision.REJECTED,
    ]


# Logs ---------------------------------------------------------------------------------------


def write_logs(store: Store) -> Awaitable[None]:
    now = time.time()

    def entry(name: str, action: LogAction, status: LogStatus, ago: float) -> LogEntry:
        return LogEntry(
            job="crm",
            cycle="c1",
            kind=EntryKind.USER,
            entry_id=f"id-{name}",
            action=action,
            status=status,
            at=now - ago,
            source_name=name,
            anchor=f"anchor-{name}",
            reason="refused" if status is LogStatus.FAILURE else None,
            error_class="invalid_data" if status is LogStatus.FAILURE else None,
            changes={"title": [None, "Engineer"]} if action is LogAction.CREATE else {},
            duration_ms=12.5,
        )

    logs = (
        entry("old", LogAction.CREATE, LogStatus.SUCCESS, 3 * 86400),
        entry("ada", LogAction.CREATE, LogStatus.SUCCESS, 3600),
        entry("bob", LogAction.UPDATE, LogStatus.FAILURE, 60),
    )
    return store.record_batch(CycleWrite(job="crm", logs=logs))


def test_logs_as_a_table_filtered(
    capsys: pytest.CaptureFixture[str],
    folders: list[str],
    crm: None,
    on_store: OnStore,
) -> None:
    on_store(write_logs)

    code, out, _ = hatchway(capsys, "job", "logs", "crm", *folders)
    assert code == 0
    assert out.index("bob") < out.index("ada") < out.index("old")  # newest first
    assert "invalid_data: refused" in out

    out = hatchway(capsys, "job", "logs", "crm", "--since", "2d", *folders)[1]
    assert "ada" in out and "bob" in out and "old" not in out
    out = hatchway(capsys, "job", "logs", "crm", "--status", "failure", *folders)[1]
    assert "bob" in out and "ada" not in out
    out = hatchway(capsys, "job", "logs", "crm", "--user", "ada", *folders)[1]
    assert "ada" in out and "bob" not in out
    out = hatchway(capsys, "job", "logs", "crm", "--limit", "1", *folders)[1]
    assert "bob" in out and "ada" not in out


def test_logs_export_as_csv_and_jsonl(
    capsys: pytest.CaptureFixture[str],
    folders: list[str],
    crm: None,
    on_store: OnStore,
) -> None:
    on_store(write_logs)

    code, out, _ = hatchway(capsys, "job", "logs", "crm", "--format", "csv", *folders)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert out.splitlines()[0] == (
        "id,at,job,cycle,kind,entry_id,source_name,anchor,action,status,reason,error_class,"
        "changes,duration_ms"
    )
    assert [r["source_name"] for r in rows] == ["bob", "ada", "old"]
    ada = rows[1]
    assert ada["at"].endswith("Z") and "T" in ada["at"]
    assert json.loads(ada["changes"]) == {"title": [None, "Engineer"]}
    assert (ada["action"], ada["status"], ada["duration_ms"]) == ("create", "success", "12.5")
    assert rows[0]["error_class"] == "invalid_data"

    code, out, _ = hatchway(
        capsys, "job", "logs", "crm", "--format", "jsonl", "--action", "update", *folders
    )
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(e["source_name"], e["action"], e["status"]) for e in lines] == [
        ("bob", "update", "failure")
    ]


def test_since_and_until_read_iso_times_and_durations() -> None:
    assert moment("2024-05-01T08:00:00Z") == 1714550400.0
    assert moment("2024-05-01T08:00:00") == 1714550400.0  # no zone: UTC
    assert moment("2024-05-01T10:00:00+02:00") == 1714550400.0
    assert moment("2h", now=lambda: 10_000.0) == 10_000.0 - 7200


def test_a_bad_since_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], folders: list[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["job", "logs", "crm", "--since", "yesterday", *folders])
    assert info.value.code == 2
    assert "neither an ISO 8601 time" in capsys.readouterr().err


# Requests to the relay ---------------------------------------------------------------------


def test_provision_without_a_relay_says_so_within_the_timeout(
    capsys: pytest.CaptureFixture[str],
    folders: list[str],
    crm: None,
    on_store: OnStore,
) -> None:
    started = time.monotonic()
    code, _, err = hatchway(capsys, "job", "provision", "crm", "ada", "--timeout", "0.5", *folders)
    assert time.monotonic() - started < 5
    assert code == 1
    assert err == f"hatchway: error: {NO_RELAY}\n"
    # The unanswered request is closed, so a relay started later does not act on it.
    assert on_store(lambda s: s.open_requests()) == []


async def test_an_answer_that_comes_as_the_wait_ends_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "relay.sqlite3")
    await store.open()
    try:
        await store.create_job("crm", JOB)
        looked = store.get_request

        async def answered_right_after_the_last_look(request_id: str) -> Request:
            request = await looked(request_id)
            if request.finished_at is None:
                await store.finish_request(request_id, result={"action": "create"})  # the relay
            return request

        monkeypatch.setattr(store, "get_request", answered_right_after_the_last_look)
        result = await ask_relay(store, "crm", "provision", {"entry": "ada"}, timeout=0.01)
    finally:
        await store.close()
    assert result == {"action": "create"}


def test_dry_run_without_a_relay_says_so(
    capsys: pytest.CaptureFixture[str], folders: list[str], crm: None
) -> None:
    code, _, err = hatchway(capsys, "job", "dry-run", "crm", "--timeout", "0.3", *folders)
    assert code == 1
    assert NO_RELAY in err


def test_provision_for_an_unknown_job_fails_at_once(
    capsys: pytest.CaptureFixture[str], folders: list[str]
) -> None:
    code, _, err = hatchway(capsys, "job", "provision", "nope", "ada", *folders)
    assert code == 1
    assert "nope" in err and NO_RELAY not in err


# With a serving relay ----------------------------------------------------------------------


@pytest.fixture
def serving_relay(tmp_path: Path, scim_server: ScimServer) -> Iterator[None]:
    """``hatchway relay serve`` on the commands' folders, in a thread with its own event
    loop, provisioning into a real scim2-server through the built-in agent."""
    (tmp_path / "config" / "relay.toml").write_text(
        f'listen = "127.0.0.1:{free_port()}"\n\n[engine]\ncontrol_interval = 0.1\n\n'
        f'[connectors.crm]\ntype = "scim"\nbase_url = "{scim_server.base_url}"\n'
        f'token = "{scim_server.token}"\n',
        encoding="utf-8",
    )
    settings = RelaySettings.load(tmp_path / "config" / "relay.toml")
    ready = threading.Event()
    failure: list[BaseException] = []
    stops: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def serve() -> None:
        stop = asyncio.Event()
        runner = await start(settings, tmp_path / "data")
        stops.append((asyncio.get_running_loop(), stop))
        ready.set()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="relay")
    thread.start()
    assert ready.wait(30) and not failure, failure
    with saved_logging():  # the relay logs while it stops: not to the test's closed stream
        yield
    loop, stop = stops[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    assert not failure, failure


@pytest.mark.server
def test_provision_and_dry_run_are_answered_by_a_serving_relay(
    capsys: pytest.CaptureFixture[str],
    folders: list[str],
    on_store: OnStore,
    scim_server: ScimServer,
    serving_relay: None,
    crm: None,  # after the relay starts: the logging main() sets is undone before it stops
) -> None:
    name = f"ada-{uuid.uuid4().hex[:8]}"
    ada: Entry = on_store(lambda s: s.create_entry(EntryKind.USER, {"userName": name}))

    code, out, _ = hatchway(capsys, "job", "dry-run", "crm", "--timeout", "30", *folders)
    assert code == 0, out
    assert "a cycle now would do" in out
    assert ada.id in out

    code, out, err = hatchway(capsys, "job", "provision", "crm", name, "--timeout", "30", *folders)
    assert code == 0, err
    assert out.startswith(f"user {name} (id {ada.id}): create success")
    found = scim_server.request("GET", f"/Users?filter=userName%20eq%20%22{name}%22")
    assert [r["userName"] for r in found["Resources"]] == [name]
    code, out, err = hatchway(capsys, "job", "reconcile", "crm", "--timeout", "30", *folders)
    assert code == 1
    assert "job 'crm' is not running in this relay" in err
    assert hatchway(capsys, "job", "start", "crm", *folders)[0] == 0
    deadline = time.monotonic() + 30
    while True:
        code, out, err = hatchway(capsys, "job", "reconcile", "crm", "--timeout", "30", *folders)
        if code == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # the relay notices the start at its next look at the jobs
    assert code == 0, err
    assert "reconcile of job 'crm' requested" in out
