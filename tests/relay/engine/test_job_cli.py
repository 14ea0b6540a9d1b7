"""The ``hatchway job ...`` commands, run in-process through ``main(argv)`` against a real
relay (served from a thread) over its admin API, provisioning into a real scim2-server
through the built-in agent. ``HATCHWAY_URL`` and ``HATCHWAY_TOKEN`` point the commands at
the relay, as a script would set them."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from relay.api.client import ApiClient
from relay.engine.cli import wait_for_initial_cycle
from relay.settings import RelaySettings
from relay.store.base import Entry, EntryKind, Store
from relay.store.engine_records import (
    CycleKind,
    CycleState,
    CycleWrite,
    JobState,
    LogAction,
    LogEntry,
    LogStatus,
    Shadow,
    StagedDecision,
    StagedOperation,
)
from tests.relay.api.cli_relay import ThreadRelay, hatchway, point_at, relay_thread, saved_logging
from tests.relay.api.job_helpers import JOB
from tests.servers.ports import free_port
from tests.servers.scim import ScimServer

pytestmark = pytest.mark.server

#: Seconds a test waits for the relay's engine to act on a change.
ENGINE_WAIT = 30.0


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    with saved_logging():
        yield


@pytest.fixture
def relay(
    tmp_path: Path, scim_server: ScimServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ThreadRelay]:
    """A relay whose built-in agent has the connector ``crm`` for the scim2-server, and
    ``crm-bad``, which the server refuses (a wrong token)."""
    relay_toml = tmp_path / "relay.toml"
    relay_toml.write_text(
        f'listen = "127.0.0.1:{free_port()}"\nshutdown_timeout = 2\n\n'
        "[engine]\ncontrol_interval = 0.1\n\n"
        f'[connectors.crm]\ntype = "scim"\nbase_url = "{scim_server.base_url}"\n'
        f'token = "{scim_server.token}"\n\n'
        f'[connectors.crm-bad]\ntype = "scim"\nbase_url = "{scim_server.base_url}"\n'
        'token = "not-the-token"\n',
        encoding="utf-8",
    )
    with relay_thread(RelaySettings.load(relay_toml), tmp_path / "data") as served:
        point_at(monkeypatch, served, tmp_path / "cli-config")
        yield served


@pytest.fixture
def job_file(tmp_path: Path) -> Path:
    path = tmp_path / "crm.toml"
    path.write_text(JOB, encoding="utf-8")
    return path


@pytest.fixture
def crm(capsys: pytest.CaptureFixture[str], relay: ThreadRelay, job_file: Path) -> None:
    """The job ``crm``, created with ``hatchway job create``."""
    code, _, err = hatchway(capsys, "job", "create", str(job_file))
    assert code == 0, err


def one_line_error(err: str, code: str) -> None:
    assert err.startswith(f"hatchway: error: {code}: "), err
    assert err.count("\n") == 1, err


def state(capsys: pytest.CaptureFixture[str], job: str = "crm") -> str:
    code, out, err = hatchway(capsys, "job", "status", job, "--json")
    assert code == 0, err
    value: str = json.loads(out)["state"]
    return value


def users(relay: ThreadRelay, count: int) -> list[Entry]:
    """``count`` users in the relay's directory, named afresh (the SCIM server lives for
    the whole session)."""
    prefix = uuid.uuid4().hex[:8]
    return [
        relay.run(relay.store.create_entry(EntryKind.USER, {"userName": f"{prefix}-{i}"}))
        for i in range(count)
    ]


# Defining jobs -----------------------------------------------------------------------------


def test_create_list_show_update_delete(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, job_file: Path, tmp_path: Path
) -> None:
    code, out, err = hatchway(capsys, "job", "create", str(job_file))
    assert (code, err) == (0, "")
    assert out == "job 'crm' created; start it with: hatchway job start crm\n"

    code, out, _ = hatchway(capsys, "job", "list")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("crm"))
    assert row.split()[:5] == ["crm", "created", "built-in", "/", "crm"]
    [listed] = json.loads(hatchway(capsys, "job", "list", "--json")[1])
    assert (listed["name"], listed["state"], listed["connection"]) == (
        "crm",
        "created",
        "built-in / crm",
    )

    code, out, _ = hatchway(capsys, "job", "show", "crm")
    assert (code, out) == (0, JOB)
    detail = json.loads(hatchway(capsys, "job", "show", "crm", "--json")[1])
    assert (detail["spec"], detail["version"]) == (JOB, 1)

    changed = tmp_path / "changed.toml"
    changed.write_text(JOB.replace('scope = "all"', 'scope = "assigned"'), encoding="utf-8")
    code, out, _ = hatchway(capsys, "job", "update", "crm", str(changed))
    assert (code, out) == (0, "job 'crm' updated (version 2)\n")
    assert 'scope = "assigned"' in hatchway(capsys, "job", "show", "crm")[1]

    code, out, _ = hatchway(capsys, "job", "delete", "crm")
    assert code == 0
    assert "left as they are" in out
    code, out, err = hatchway(capsys, "job", "show", "crm")
    assert (code, out) == (1, "")
    one_line_error(err, "not_found")
    assert "crm" in err


def test_the_name_on_the_command_line_wins(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, job_file: Path
) -> None:
    code, out, _ = hatchway(capsys, "job", "create", str(job_file), "--name", "crm-eu")
    assert code == 0
    assert "'crm-eu'" in out
    assert [j.name for j in relay.run(relay.store.list_jobs())] == ["crm-eu"]


def test_a_bad_job_file_is_refused_naming_file_and_key(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(JOB.replace('connector = "crm"', 'connector = ""'), encoding="utf-8")
    code, out, err = hatchway(capsys, "job", "create", str(bad))
    assert (code, out) == (2, "")
    assert str(bad) in err and "connection.connector" in err
    assert err.count("\n") == 1
    assert relay.run(relay.store.list_jobs()) == []


def test_a_second_job_of_the_same_name_is_a_conflict(
    capsys: pytest.CaptureFixture[str], job_file: Path, crm: None
) -> None:
    code, _, err = hatchway(capsys, "job", "create", str(job_file))
    assert code == 1
    one_line_error(err, "conflict")
    assert "crm" in err


def test_an_unknown_job_is_not_found(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, job_file: Path
) -> None:
    for argv in (
        ["update", "nope", str(job_file)],
        ["start", "nope"],
        ["status", "nope"],
        ["logs", "nope"],
        ["provision", "nope", "ada"],
    ):
        code, out, err = hatchway(capsys, "job", *argv)
        assert (code, out) == (1, ""), argv
        one_line_error(err, "not_found")
        assert "nope" in err


def test_changes_need_an_admin_token(
    capsys: pytest.CaptureFixture[str],
    relay: ThreadRelay,
    crm: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HATCHWAY_TOKEN", relay.viewer_token)
    assert hatchway(capsys, "job", "list")[0] == 0  # reading is enough for a viewer
    code, out, err = hatchway(capsys, "job", "start", "crm")
    assert (code, out) == (1, "")
    one_line_error(err, "forbidden")
    assert state(capsys) == "created"


# Steering ----------------------------------------------------------------------------------


def test_start_pause_resume(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, crm: None
) -> None:
    assert hatchway(capsys, "job", "start", "crm")[1] == "job 'crm' started (state running)\n"
    assert state(capsys) == "running"
    assert hatchway(capsys, "job", "start", "crm")[1] == "job 'crm' is already running\n"
    assert hatchway(capsys, "job", "pause", "crm")[1] == "job 'crm' paused (state paused)\n"
    assert state(capsys) == "paused"
    assert hatchway(capsys, "job", "resume", "crm")[1] == "job 'crm' resumed (state running)\n"
    assert state(capsys) == "running"


def test_resume_clears_a_quarantine(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, crm: None
) -> None:
    relay.run(
        relay.store.update_job(
            "crm",
            state=JobState.QUARANTINED,
            quarantine_reason="refused",
            next_attempt_at=time.time() + 3600,
            quarantine_count=3,
        )
    )
    code, out, _ = hatchway(capsys, "job", "status", "crm")
    assert code == 0
    assert "quarantined: refused" in out and "next attempt:" in out
    assert hatchway(capsys, "job", "resume", "crm")[0] == 0
    record = relay.run(relay.store.get_job("crm"))
    assert record.state is JobState.RUNNING
    assert (record.quarantine_reason, record.next_attempt_at, record.quarantine_count) == (
        None,
        None,
        0,
    )


def test_restart_stops_running_cycles_and_waits_for_a_fresh_initial_cycle(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, crm: None
) -> None:
    users(relay, 3)

    async def ran(store: Store) -> str:
        await store.update_job("crm", state=JobState.PAUSED, initial_done=True, cursor=7)
        cycle = await store.start_cycle("crm", CycleKind.INCREMENTAL)
        return cycle.id

    cycle_id = relay.run(ran(relay.store))
    code, out, err = hatchway(capsys, "job", "restart", "crm", "--wait")
    assert code == 0, err
    assert out.startswith("job 'crm' restarted: a fresh initial cycle runs")
    assert out.rstrip().endswith("initial cycle of job 'crm' done: 3 created")
    assert relay.run(relay.store.get_cycle(cycle_id)).state is CycleState.STOPPED
    record = relay.run(relay.store.get_job("crm"))
    assert record.state is JobState.RUNNING and record.initial_done


def test_start_wait_shows_the_initial_cycle_until_it_is_done(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, crm: None, scim_server: ScimServer
) -> None:
    made = users(relay, 40)
    code, out, err = hatchway(capsys, "job", "start", "crm", "--wait")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "job 'crm' started (state running)"
    bar = next(line for line in lines if line.startswith("initial cycle crm"))
    assert " 40/40 " in f"{bar} "  # the bar's last state: complete
    assert lines[-1] == "initial cycle of job 'crm' done: 40 created"
    prefix = made[0].resource["userName"].split("-")[0]
    found = scim_server.request("GET", f"/Users?filter=userName%20sw%20%22{prefix}%22&count=100")
    assert found["totalResults"] == 40
    # A job whose initial cycle is done: nothing to wait for.
    code, out, _ = hatchway(capsys, "job", "start", "crm", "--wait")
    assert code == 0
    assert out.splitlines()[0] == "job 'crm' is already running"
    assert out.splitlines()[-1] == "initial cycle of job 'crm' done: 40 created"


def test_start_wait_on_a_job_that_is_quarantined_exits_1_with_the_reason(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, tmp_path: Path
) -> None:
    users(relay, 5)
    bad = tmp_path / "bad.toml"
    bad.write_text(JOB.replace('"crm"', '"crm-bad"'), encoding="utf-8")
    assert hatchway(capsys, "job", "create", str(bad))[0] == 0
    code, out, err = hatchway(capsys, "job", "start", "crm-bad", "--wait")
    assert code == 1
    assert out.startswith("job 'crm-bad' started")
    assert err.startswith(
        "hatchway: error: job 'crm-bad' was quarantined before its initial cycle finished: "
    )
    assert err.count("\n") == 1
    reason = relay.run(relay.store.get_job("crm-bad")).quarantine_reason
    assert reason is not None and err.rstrip("\n").endswith(reason)


def test_the_wait_ends_when_the_job_stops_before_its_initial_cycle(
    relay: ThreadRelay, crm: None
) -> None:
    relay.run(relay.store.update_job("crm", state=JobState.PAUSED))
    out = io.StringIO()

    async def wait() -> str | None:
        async with ApiClient(relay.url, relay.viewer_token) as api:
            return await wait_for_initial_cycle(api, "crm", Console(file=out), interval=0.05)

    assert asyncio.run(wait()) == "job 'crm' is paused; its initial cycle did not finish"


def test_the_wait_shows_why_attempts_at_the_initial_cycle_fail(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, tmp_path: Path
) -> None:
    """A job whose agent never connected: the relay keeps trying, the job stays running,
    and the operator waiting sees each attempt's error instead of a bar that never moves."""
    lost = tmp_path / "lost.toml"
    lost.write_text(
        JOB.replace('"crm"', '"lost"', 1).replace(
            'connector = "crm"', 'agent = "nobody"\nconnector = "crm"'
        ),
        encoding="utf-8",
    )
    assert hatchway(capsys, "job", "create", str(lost))[0] == 0
    assert hatchway(capsys, "job", "start", "lost")[0] == 0
    out = io.StringIO()

    async def wait() -> str:
        async with ApiClient(relay.url, relay.viewer_token) as api:
            waiting = asyncio.create_task(
                wait_for_initial_cycle(api, "lost", Console(file=out), interval=0.05)
            )
            deadline = time.monotonic() + ENGINE_WAIT
            try:
                while "attempt" not in out.getvalue() and time.monotonic() < deadline:
                    assert not waiting.done(), waiting.result()
                    await asyncio.sleep(0.05)
            finally:
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
            return out.getvalue()

    shown = asyncio.run(wait())
    line = next((line for line in shown.splitlines() if "attempt" in line), shown)
    assert line.startswith("an attempt of the initial cycle failed: "), shown
    assert "nobody" in line
    assert state(capsys, "lost") == "running"


# Status, where, staged ---------------------------------------------------------------------


async def linked_user(store: Store) -> Entry:
    """A user linked by a cycle still running at 4 of 10, whose delete waits for approval;
    the job stays ``created``, so the engine leaves it alone."""
    ada = await store.create_entry(EntryKind.USER, {"userName": "ada"})
    cycle = await store.start_cycle("crm", CycleKind.INITIAL, total=10)
    shadow = Shadow("crm", EntryKind.USER, ada.id, "anchor-ada", {}, ada.version)
    staged = StagedOperation(
        0, "crm", cycle.id, EntryKind.USER, ada.id, "anchor-ada", "delete", "gone", "ada", 1.0
    )
    await store.record_batch(
        CycleWrite(job="crm", cycle=cycle.id, done=4, shadows=(shadow,), staged=(staged,))
    )
    return ada


def test_status_in_text_and_json(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, crm: None
) -> None:
    relay.run(linked_user(relay.store))

    code, out, _ = hatchway(capsys, "job", "status", "crm")
    assert code == 0
    assert "created, waiting for approval" in out
    assert "initial since" in out and "4/10 done" in out
    assert "linked:      1" in out
    assert "staged:      1 deprovision(s): hatchway job staged crm" in out

    code, out, _ = hatchway(capsys, "job", "status", "crm", "--json")
    status = json.loads(out)
    assert status["state"] == "created" and status["staged"] == 1
    assert status["current"]["done"] == 4 and status["current"]["kind"] == "initial"


def test_where_in_text_and_json(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, crm: None
) -> None:
    ada = relay.run(linked_user(relay.store))

    code, out, _ = hatchway(capsys, "job", "where", "crm", "ada")
    assert code == 0
    assert f"ada (id {ada.id}) in job crm" in out
    assert "scope:     in scope" in out
    assert "linked as anchor-ada" in out
    assert "delete staged" in out and "waiting for approval" in out
    assert "initial cycle has not finished" in out

    code, out, _ = hatchway(capsys, "job", "where", "crm", ada.id, "--json")
    found = json.loads(out)
    assert found["entry_id"] == ada.id and found["in_scope"] is True
    assert found["state"] == "linked" and found["staged"]["action"] == "delete"

    code, out, _ = hatchway(capsys, "job", "where", "crm", "Nobody", "--group")
    assert code == 0
    assert "no group with id or name 'Nobody'" in out


def test_staged_then_approve_some_and_reject_the_rest(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, crm: None
) -> None:
    assert "no staged deprovisions" in hatchway(capsys, "job", "staged", "crm")[1]

    async def stage(store: Store) -> list[int]:
        cycle = await store.start_cycle("crm", CycleKind.RECONCILE)
        staged = tuple(
            StagedOperation(
                0, "crm", cycle.id, EntryKind.USER, f"u{i}", f"a{i}", "disable", "left",
                f"user{i}", 1.0,
            )
            for i in range(3)
        )  # fmt: skip
        await store.record_batch(CycleWrite(job="crm", staged=staged))
        return [s.id for s in await store.list_staged("crm")]

    ids = relay.run(stage(relay.store))
    code, out, _ = hatchway(capsys, "job", "staged", "crm")
    assert code == 0
    assert all(f"user{i}" in out for i in range(3)) and "disable" in out
    listed = json.loads(hatchway(capsys, "job", "staged", "crm", "--json")[1])
    assert [s["id"] for s in listed] == ids

    code, out, _ = hatchway(capsys, "job", "approve", "crm", "--id", str(ids[0]))
    assert (code, out) == (0, "1 staged deprovision(s) approved\n")
    code, out, _ = hatchway(capsys, "job", "reject", "crm")
    assert (code, out) == (0, "2 staged deprovision(s) rejected\n")
    decided = relay.run(relay.store.list_staged("crm"))
    assert [s.decision for s in decided] == [
        StagedDecision.APPROVED,
        StagedDecision.REJECTED,
        StagedDecision.REJECTED,
    ]


# Logs ---------------------------------------------------------------------------------------


async def write_logs(store: Store) -> None:
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
    await store.record_batch(CycleWrite(job="crm", logs=logs))


def test_logs_as_a_table_filtered(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, crm: None
) -> None:
    assert hatchway(capsys, "job", "logs", "crm")[1] == "no log entries of job 'crm' match\n"
    relay.run(write_logs(relay.store))

    code, out, _ = hatchway(capsys, "job", "logs", "crm")
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["AT", "(UTC)", "KIND"]  # no JOB column
    assert out.index("bob") < out.index("ada") < out.index("old")  # newest first
    assert "invalid_data: refused" in out

    out = hatchway(capsys, "job", "logs", "crm", "--since", "2d")[1]
    assert "ada" in out and "bob" in out and "old" not in out
    out = hatchway(capsys, "job", "logs", "crm", "--status", "failure")[1]
    assert "bob" in out and "ada" not in out
    out = hatchway(capsys, "job", "logs", "crm", "--user", "ada")[1]
    assert "ada" in out and "bob" not in out
    out = hatchway(capsys, "job", "logs", "crm", "--limit", "1")[1]
    assert "bob" in out and "ada" not in out


def test_logs_export_as_csv_jsonl_and_json(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, crm: None
) -> None:
    relay.run(write_logs(relay.store))

    code, out, _ = hatchway(capsys, "job", "logs", "crm", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["source_name"] for r in rows] == ["bob", "ada", "old"]
    assert json.loads(rows[1]["changes"]) == {"title": [None, "Engineer"]}

    code, out, _ = hatchway(capsys, "job", "logs", "crm", "--format", "jsonl", "--action", "update")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(e["source_name"], e["action"], e["status"]) for e in lines] == [
        ("bob", "update", "failure")
    ]
    assert [
        e["source_name"] for e in json.loads(hatchway(capsys, "job", "logs", "crm", "--json")[1])
    ] == [
        "bob",
        "ada",
        "old",
    ]


# What the engine answers -------------------------------------------------------------------


def test_provision_dry_run_and_reconcile(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, crm: None, scim_server: ScimServer
) -> None:
    [ada] = users(relay, 1)
    name = ada.resource["userName"]

    code, out, err = hatchway(capsys, "job", "dry-run", "crm")
    assert code == 0, err
    assert "a cycle now would do" in out
    assert ada.id in out
    plan = json.loads(hatchway(capsys, "job", "dry-run", "crm", "--limit", "1", "--json")[1])
    assert plan["total"] >= 1 and len(plan["planned"]) == 1

    code, out, err = hatchway(capsys, "job", "provision", "crm", name)
    assert code == 0, err
    assert out.startswith(f"user {name} (id {ada.id}): create success")
    found = scim_server.request("GET", f"/Users?filter=userName%20eq%20%22{name}%22")
    assert [r["userName"] for r in found["Resources"]] == [name]
    outcome = json.loads(hatchway(capsys, "job", "provision", "crm", name, "--json")[1])
    assert (outcome["entry_id"], outcome["action"]) == (ada.id, "none")

    code, out, err = hatchway(capsys, "job", "reconcile", "crm")
    assert (code, out) == (1, "")
    one_line_error(err, "conflict")
    assert "job 'crm' is not running in this relay" in err
    assert hatchway(capsys, "job", "start", "crm", "--wait")[0] == 0
    code, out, err = hatchway(capsys, "job", "reconcile", "crm")
    assert code == 0, err
    assert "reconcile of job 'crm' requested" in out
    assert json.loads(hatchway(capsys, "job", "reconcile", "crm", "--json")[1]) == {
        "requested": True
    }


def test_a_request_the_api_refuses_is_one_line(
    capsys: pytest.CaptureFixture[str], relay: ThreadRelay, crm: None
) -> None:
    code, out, err = hatchway(capsys, "job", "dry-run", "crm", "--limit", "0")
    assert (code, out) == (1, "")
    one_line_error(err, "invalid_request")
    assert "limit" in err
    code, out, err = hatchway(capsys, "job", "provision", "crm", "nobody-at-all")
    assert (code, out) == (1, "")
    assert "nobody-at-all" in err and err.count("\n") == 1
