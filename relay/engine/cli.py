"""``hatchway job ...``: define provisioning jobs, steer them and see what they did.

The commands work on the relay's store directly (SQLite beside a serving relay, or the
configured PostgreSQL database): they write a job's settings and state, and the running
relay's engine notices within ``engine.control_interval``. What only the engine can do
(provision one user now, a dry run) is left in the store as a request that the relay
answers; the command waits for the answer, and says plainly when no relay is serving.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from rich import box
from rich.console import Console
from rich.table import Table

from relay.engine import job as jobs
from relay.engine.exceptions import RequestFailed
from relay.engine.status import JobStatus, Whereabouts, job_status, where
from relay.exceptions import Conflict
from relay.settings import RelaySettings
from relay.store.base import EntryKind, Store
from relay.store.configured import run_on_store
from relay.store.engine_records import (
    CycleState,
    JobRecord,
    JobState,
    LogAction,
    LogEntry,
    LogQuery,
    LogStatus,
    Request,
    StagedDecision,
)
from shared.cli import add_folder_options, paths_from, when
from shared.exceptions import SettingsError
from shared.settings import parse_duration

T = TypeVar("T")

#: Seconds ``provision`` and ``dry-run`` wait for the relay's answer by default.
DEFAULT_REQUEST_TIMEOUT = 60.0
#: Seconds between looks at a request's answer.
REQUEST_POLL_INTERVAL = 0.2
NO_RELAY = "no relay answered: is `hatchway relay serve` running on this store?"
#: Log entries read per store query while exporting.
LOG_PAGE = 1000
CSV_COLUMNS = (
    "id",
    "at",
    "job",
    "cycle",
    "kind",
    "entry_id",
    "source_name",
    "anchor",
    "action",
    "status",
    "reason",
    "error_class",
    "changes",
    "duration_ms",
)


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``job`` command group."""
    group = subparsers.add_parser("job", help="provisioning jobs: define, steer, inspect")
    sub = group.add_subparsers(dest="job_command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, handler: Callable[[argparse.Namespace], int]) -> Any:
        parser = add_folder_options(sub.add_parser(name, help=summary), "relay.toml")
        parser.set_defaults(handler=handler)
        return parser

    create = command("create", "define a job from a job file (not started yet)", _create)
    create.add_argument("file", type=Path)
    create.add_argument("--name", help="the job's name (default: the file's name key)")
    update = command("update", "replace a job's settings with a job file", _update)
    update.add_argument("name")
    update.add_argument("file", type=Path)
    command("list", "list jobs with their state", _list)
    show = command("show", "print a job's settings as stored", _show)
    show.add_argument("name")
    delete = command("delete", "delete a job (the target is left as it is)", _delete)
    delete.add_argument("name")
    for name, summary in (
        ("start", "start a job: an initial cycle, then following changes"),
        ("pause", "pause a job; it resumes where it stopped"),
        ("resume", "resume a paused or quarantined job"),
        ("restart", "start over with a fresh initial cycle (links are kept)"),
    ):
        command(name, summary, _steer).add_argument("name")
    status = command("status", "a job's state, progress and last cycle", _status)
    status.add_argument("name")
    status.add_argument("--json", action="store_true", help="print JSON")
    located = command("where", "where a user or group stands in a job, and why", _where)
    located.add_argument("name")
    located.add_argument("entry", metavar="USER_OR_GROUP", help="id, userName or displayName")
    located.add_argument("--group", action="store_true", help="ENTRY is a group")
    located.add_argument("--json", action="store_true", help="print JSON")
    staged = command("staged", "deprovisions held by the deletion guard", _staged)
    staged.add_argument("name")
    for name, summary in (
        ("approve", "carry out staged deprovisions"),
        ("reject", "drop staged deprovisions; the accounts stay as they are"),
    ):
        decide = command(name, summary, _decide)
        decide.add_argument("name")
        decide.add_argument(
            "--id", type=int, nargs="+", dest="ids", metavar="N", help="only these (default: all)"
        )
    logs = command("logs", "a job's provisioning logs, newest first", _logs)
    logs.add_argument("name")
    logs.add_argument("--user", help="a user or group: id, userName or displayName")
    logs.add_argument("--cycle", help="a cycle id")
    logs.add_argument("--action", choices=[a.value for a in LogAction])
    logs.add_argument("--status", choices=[s.value for s in LogStatus])
    logs.add_argument("--since", type=moment, help="ISO 8601 time, or a duration ago (2h, 7d)")
    logs.add_argument("--until", type=moment, help="ISO 8601 time, or a duration ago")
    logs.add_argument(
        "--limit", type=_count, default=100, help="entries at most (default 100; 0: all)"
    )
    logs.add_argument("--format", choices=["table", "jsonl", "csv"], default="table")
    provision = command("provision", "provision one user or group now and show each step", _ask)
    provision.add_argument("name")
    provision.add_argument("entry", metavar="USER_OR_GROUP", help="id, userName or displayName")
    provision.add_argument("--group", action="store_true", help="ENTRY is a group")
    provision.add_argument("--json", action="store_true", help="print the answer as JSON")
    provision.add_argument(
        "--timeout", type=_seconds, default=DEFAULT_REQUEST_TIMEOUT, help="seconds (default 60)"
    )
    provision.set_defaults(request="provision")
    dry = command("dry-run", "what a full cycle would do now, writing nothing", _ask)
    dry.add_argument("name")
    dry.add_argument("--limit", type=_count, default=100, help="planned actions listed (100)")
    dry.add_argument("--json", action="store_true", help="print the answer as JSON")
    dry.add_argument(
        "--timeout", type=_seconds, default=DEFAULT_REQUEST_TIMEOUT, help="seconds (default 60)"
    )
    dry.set_defaults(request="dry_run")
    reconcile = command("reconcile", "compare the target with the shadows now, repair drift", _ask)
    reconcile.add_argument("name")
    reconcile.add_argument("--json", action="store_true", help="print the answer as JSON")
    reconcile.add_argument(
        "--timeout", type=_seconds, default=DEFAULT_REQUEST_TIMEOUT, help="seconds (default 60)"
    )
    reconcile.set_defaults(request="reconcile")


def moment(text: str, *, now: Callable[[], float] = time.time) -> float:
    """An ISO 8601 time (UTC when it names no zone) or a duration ago ("2h") as epoch
    seconds, for ``--since`` and ``--until``."""
    try:
        return now() - parse_duration(text)
    except ValueError:
        pass  # not a duration: try it as a time
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an ISO 8601 time (2024-05-01T08:00:00Z) nor a duration"
            " ago (30m, 2h, 7d)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 0 or more")
    return int(text)


def _seconds(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be longer than zero")
    return seconds


def _on_store(args: argparse.Namespace, work: Callable[[Store], Awaitable[T]]) -> T:
    return run_on_store(paths_from(args), work)


def _console() -> Console:
    """Rich output; a wide page when not a terminal, so piped tables are not folded."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _table(*columns: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


# Defining jobs -------------------------------------------------------------------------------


def _read(path: Path, name: str | None) -> tuple[jobs.JobSettings, str]:
    settings = jobs.load(path, name=name)
    return settings, path.read_text(encoding="utf-8")


def _warn_unknown_connector(args: argparse.Namespace, settings: jobs.JobSettings) -> None:
    """A job for the built-in agent whose connector ``relay.toml`` lacks would only fail
    once started; say so now (the file may be completed before the job starts)."""
    if settings.connection.agent is not None:
        return
    config = paths_from(args).config_dir / "relay.toml"
    names = [c.name for c in RelaySettings.load(config).connectors]
    if settings.connection.connector not in names:
        print(
            f"warning: {config} has no [connectors.{settings.connection.connector}] table for"
            " the built-in agent; add it before starting the job",
            file=sys.stderr,
        )


def _create(args: argparse.Namespace) -> int:
    settings, text = _read(args.file, args.name)
    record = _on_store(args, lambda store: store.create_job(settings.name, text))
    _warn_unknown_connector(args, settings)
    print(f"job {record.name!r} created; start it with: hatchway job start {record.name}")
    return 0


def _update(args: argparse.Namespace) -> int:
    settings, text = _read(args.file, args.name)

    async def update(store: Store) -> JobRecord:
        await store.get_job(args.name)
        return await store.update_job(args.name, spec=text)

    record = _on_store(args, update)
    _warn_unknown_connector(args, settings)
    print(f"job {record.name!r} updated (version {record.version})")
    return 0


def _connection(record: JobRecord) -> str:
    try:
        settings = jobs.parse(record.spec, source=f"job {record.name}", name=record.name)
    except SettingsError as exc:
        return f"(invalid: {exc})"
    agent = settings.connection.agent or "built-in"
    return f"{agent} / {settings.connection.connector}"


def _list(args: argparse.Namespace) -> int:
    records = _on_store(args, lambda store: store.list_jobs())
    table = _table("NAME", "STATE", "CONNECTION", "INITIAL", "UPDATED (UTC)")
    for r in records:
        table.add_row(
            r.name,
            r.state.value,
            _connection(r),
            "done" if r.initial_done else "-",
            when(r.updated_at),
        )
    _console().print(table)
    return 0


def _show(args: argparse.Namespace) -> int:
    record = _on_store(args, lambda store: store.get_job(args.name))
    sys.stdout.write(record.spec if record.spec.endswith("\n") else record.spec + "\n")
    return 0


def _delete(args: argparse.Namespace) -> int:
    _on_store(args, lambda store: store.delete_job(args.name))
    print(f"job {args.name!r} deleted; the accounts it made in the target are left as they are")
    return 0


# Steering ------------------------------------------------------------------------------------

_CLEARED = {"quarantine_reason": None, "next_attempt_at": None, "quarantine_count": 0}


def _steer(args: argparse.Namespace) -> int:
    command: str = args.job_command

    async def steer(store: Store) -> tuple[JobState, JobRecord]:
        record = await store.get_job(args.name)
        if command in ("start", "resume"):
            if record.state is JobState.RUNNING:
                return record.state, record
            changed = await store.update_job(args.name, state=JobState.RUNNING, **_CLEARED)
        elif command == "pause":
            changed = await store.update_job(args.name, state=JobState.PAUSED)
        else:
            for cycle in await store.list_cycles(args.name, state=CycleState.RUNNING, limit=100):
                await store.update_cycle(cycle.id, state=CycleState.STOPPED)
            changed = await store.update_job(
                args.name, state=JobState.RUNNING, initial_done=False, **_CLEARED
            )
        return record.state, changed

    before, record = _on_store(args, steer)
    if command in ("start", "resume") and before is JobState.RUNNING:
        print(f"job {record.name!r} is already running")
        return 0
    done = {
        "start": "started",
        "pause": "paused",
        "resume": "resumed",
        "restart": "restarted: a fresh initial cycle runs, reusing existing links",
    }[command]
    print(f"job {record.name!r} {done} (state {record.state.value})")
    return 0


# Status --------------------------------------------------------------------------------------


def _duration_text(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items()) if n) or "nothing"


def _status(args: argparse.Namespace) -> int:
    status = _on_store(args, lambda store: job_status(store, args.name))
    if args.json:
        print(json.dumps(status.as_json(), indent=2))
        return 0
    for label, value in _status_lines(status):
        print(f"{label + ':':<13}{value}")
    return 0


def _status_lines(s: JobStatus) -> list[tuple[str, str]]:
    lines = [("job", s.name), ("state", s.summary)]
    if s.quarantine_reason is not None:
        lines.append(("quarantined", s.quarantine_reason))
        lines.append(("next attempt", f"{when(s.next_attempt_at)} UTC"))
    if s.current is not None:
        c = s.current
        total = f"/{c.total}" if c.total is not None else ""
        rate = f", {c.rate:.1f}/s" if c.rate is not None else ""
        eta = f", about {_duration_text(c.eta)} left" if c.eta is not None else ""
        lines.append(
            (
                "cycle",
                f"{c.kind.value} since {when(c.started_at)} UTC: {c.done}{total} done{rate}{eta}",
            )
        )
    elif not s.initial_done:
        lines.append(("cycle", "initial cycle not run yet"))
    if s.last is not None:
        last = s.last
        error = f" ({last.error})" if last.error else ""
        lines.append(
            (
                "last cycle",
                f"{last.kind.value} {last.state.value}{error} at {when(last.finished_at)} UTC:"
                f" {_counts(last.counts)}",
            )
        )
    lines.append(("changes", "up to date" if not s.behind else f"{s.behind} not applied yet"))
    lines.append(("linked", str(s.shadows)))
    retries = f"more than {s.retries}" if s.retries_more else str(s.retries)
    lines.append(("failing", retries))
    if s.staged:
        lines.append(
            (
                "staged",
                f"{s.staged} deprovision(s): hatchway job staged {s.name}, then approve or reject",
            )
        )
    return lines


def _where(args: argparse.Namespace) -> int:
    kind = EntryKind.GROUP if args.group else EntryKind.USER
    found = _on_store(args, lambda store: where(store, args.name, kind, args.entry))
    if args.json:
        print(json.dumps(found.as_json(), indent=2))
        return 0
    for label, value in _where_lines(found):
        print(f"{label + ':':<11}{value}")
    return 0


def _where_lines(w: Whereabouts) -> list[tuple[str, str]]:
    kind = w.kind.value
    if not w.in_directory and w.shadow is None:
        lines = [(kind, w.asked), ("directory", f"no {kind} with id or name {w.asked!r}")]
        return lines + _log_lines(w)
    who = f"{w.name} (id {w.entry_id})" if w.name else str(w.entry_id)
    lines = [(kind, f"{who} in job {w.job}")]
    lines.append(("directory", "found" if w.in_directory else "deleted from the directory"))
    if w.in_scope is not None:
        lines.append(("scope", "in scope" if w.in_scope else f"out of scope: {w.scope_reason}"))
    if not w.initial_done:
        lines.append(("pending", "the job's initial cycle has not finished"))
    elif w.pending is None:
        lines.append(("pending", "the job is far behind the directory; changes may be pending"))
    elif w.pending:
        lines.append(("pending", f"{w.pending} change(s) not applied yet"))
    else:
        lines.append(("pending", "nothing: the job has applied every change"))
    if w.in_flight_since is not None:
        lines.append(("in flight", f"with the target since {when(w.in_flight_since)} UTC"))
    if w.shadow is None:
        lines.append(("target", "not linked"))
    else:
        state = {"linked": "linked", "disabled": "disabled", "held": "held (deprovision rejected)"}
        lines.append(
            (
                "target",
                f"{state[w.shadow.state.value]} as {w.shadow.anchor}, since"
                f" {when(w.shadow.updated_at)} UTC",
            )
        )
    if w.staged is not None:
        lines.append(
            (
                "staged",
                f"{w.staged.action} staged {when(w.staged.staged_at)} UTC, waiting for approval"
                f" (id {w.staged.id}): {w.staged.reason}",
            )
        )
    if w.retry is not None:
        r = w.retry
        then = (
            f"next try at {when(r.next_attempt_at)} UTC"
            if r.next_attempt_at is not None
            else "waits for a change of the entry"
        )
        lines.append(("failing", f"{r.error_class}: {r.error} ({r.attempts} attempt(s)); {then}"))
    return lines + _log_lines(w)


def _log_lines(w: Whereabouts) -> list[tuple[str, str]]:
    return [
        (
            "log",
            f"{when(e.at)} UTC {e.action.value} {e.status.value}"
            + (f": {e.reason}" if e.reason else ""),
        )
        for e in w.logs
    ]


def _staged(args: argparse.Namespace) -> int:
    found = _on_store(
        args, lambda store: store.list_staged(args.name, decision=StagedDecision.PENDING)
    )
    if not found:
        print(f"job {args.name!r} has no staged deprovisions")
        return 0
    table = _table("ID", "KIND", "WHO", "ACTION", "REASON", "STAGED (UTC)")
    for s in found:
        table.add_row(str(s.id), s.kind.value, s.display, s.action, s.reason, when(s.staged_at))
    _console().print(table)
    return 0


def _decide(args: argparse.Namespace) -> int:
    decision = StagedDecision.APPROVED if args.job_command == "approve" else StagedDecision.REJECTED

    async def decide(store: Store) -> int:
        await store.get_job(args.name)
        return await store.decide_staged(args.name, decision, args.ids)

    count = _on_store(args, decide)
    print(f"{count} staged deprovision(s) {decision.value}")
    return 0


# Logs ----------------------------------------------------------------------------------------


def _logs(args: argparse.Namespace) -> int:
    if args.since is not None and args.until is not None and args.since > args.until:
        raise SettingsError("--since", None, "is after --until")
    query = LogQuery(
        job=args.name,
        entry=args.user,
        cycle=args.cycle,
        action=LogAction(args.action) if args.action else None,
        status=LogStatus(args.status) if args.status else None,
        since=args.since,
        until=args.until,
    )

    async def read(store: Store) -> list[LogEntry]:
        await store.get_job(args.name)
        return await read_logs(store, query, args.limit)

    entries = _on_store(args, read)
    if args.format == "jsonl":
        for e in entries:
            print(json.dumps(_log_json(e), ensure_ascii=False))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for e in entries:
            writer.writerow(_log_row(e))
    elif not entries:
        print(f"no log entries of job {args.name!r} match")
    else:
        table = _table("AT (UTC)", "KIND", "WHO", "ACTION", "STATUS", "DETAIL")
        for e in entries:
            detail = e.reason or ""
            if e.error_class:
                detail = f"{e.error_class}: {detail}"
            table.add_row(
                when(e.at),
                e.kind.value,
                e.source_name or e.entry_id,
                e.action.value,
                e.status.value,
                detail,
            )
        _console().print(table)
    return 0


async def read_logs(store: Store, query: LogQuery, limit: int) -> list[LogEntry]:
    """Up to ``limit`` entries (0: all), newest first, read in pages."""
    out: list[LogEntry] = []
    before: int | None = None
    while True:
        want = LOG_PAGE if limit == 0 else min(LOG_PAGE, limit - len(out))
        if want <= 0:
            return out
        page = await store.query_logs(
            LogQuery(**{**asdict(query), "before_id": before, "limit": want})
        )
        out.extend(page)
        if len(page) < want or page[-1].id is None:
            return out
        before = page[-1].id


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def _log_json(e: LogEntry) -> dict[str, Any]:
    out = asdict(e)
    out["at"] = _iso(e.at)
    out["kind"] = e.kind.value
    out["action"] = e.action.value
    out["status"] = e.status.value
    return out


def _log_row(e: LogEntry) -> list[Any]:
    return [
        e.id,
        _iso(e.at),
        e.job,
        e.cycle,
        e.kind.value,
        e.entry_id,
        e.source_name,
        e.anchor or "",
        e.action.value,
        e.status.value,
        e.reason or "",
        e.error_class or "",
        json.dumps(e.changes, ensure_ascii=False),
        e.duration_ms,
    ]


# Requests to the running relay ---------------------------------------------------------------


async def ask_relay(
    store: Store, job: str, kind: str, request_args: dict[str, Any], *, timeout: float
) -> Any:
    """Leave a request for the running relay and wait up to ``timeout`` seconds for its
    result. Unanswered, the request is closed with an error so that a relay started later
    does not act on a question nobody waits for any more."""
    await store.get_job(job)
    request = await store.create_request(job, kind, request_args)
    deadline = time.monotonic() + timeout
    answer: Request = request
    while answer.finished_at is None:
        if time.monotonic() >= deadline:
            try:
                await store.finish_request(
                    request.id, error=f"nobody answered within {timeout:g} s"
                )
            except Conflict:
                answer = await store.get_request(request.id)  # answered just now
                break
            raise RequestFailed(NO_RELAY)
        await asyncio.sleep(REQUEST_POLL_INTERVAL)
        answer = await store.get_request(request.id)
    if answer.error is not None:
        raise RequestFailed(
            f"the relay could not {kind.replace('_', ' ')} job {job!r}: {answer.error}"
        )
    return answer.result


def _ask(args: argparse.Namespace) -> int:
    if args.request == "provision":
        kind = EntryKind.GROUP if args.group else EntryKind.USER
        request_args: dict[str, Any] = {"kind": kind.value, "entry": args.entry}
    elif args.request == "dry_run":
        request_args = {"limit": args.limit}
    else:
        request_args = {}
    result = _on_store(
        args,
        lambda store: ask_relay(store, args.name, args.request, request_args, timeout=args.timeout),
    )
    if args.json or not isinstance(result, dict):
        print(json.dumps(result, indent=2, ensure_ascii=False))
    elif args.request == "provision":
        _print_outcome(result, args.entry)
    elif args.request == "reconcile":
        print(
            f"reconcile of job {args.name!r} requested; follow it with"
            f" 'hatchway job status {args.name}' and the logs of its cycle"
        )
    else:
        _print_plan(result)
    return 0


def _print_outcome(outcome: dict[str, Any], asked: str) -> None:
    """An on-demand run: what was done, then each step the engine took."""
    who = f"{asked} (id {outcome['entry_id']})" if outcome.get("entry_id") else asked
    head = (
        f"{outcome.get('kind', '')} {who}: {outcome.get('action', '')} {outcome.get('status', '')}"
    )
    print(head.strip())
    for key in ("anchor", "reason", "error"):
        if outcome.get(key):
            print(f"  {key}: {outcome[key]}")
    for step in outcome.get("steps") or []:
        detail = step.get("detail")
        if detail and not isinstance(detail, str):
            detail = json.dumps(detail, ensure_ascii=False)
        print(
            f"  - {step.get('step', '')}: {step.get('outcome', '')}"
            + (f" {detail}" if detail else "")
        )
    for attribute, (old, new) in (outcome.get("changes") or {}).items():
        print(f"  {attribute}: {json.dumps(old)} -> {json.dumps(new)}")


def _print_plan(plan: dict[str, Any]) -> None:
    """A dry run: counts by action and status, then the first planned actions."""
    counts: dict[str, int] = plan.get("counts") or {}
    print(f"{plan.get('total', sum(counts.values()))} object(s) looked at; a cycle now would do:")
    for key, count in counts.items():
        print(f"  {key.replace(':', ' ')}: {count}")
    if plan.get("guard"):
        print(f"deletion guard: {plan['guard']}")
    planned = plan.get("planned") or []
    if planned:
        table = _table("KIND", "ENTRY", "ACTION", "STATUS", "REASON")
        for item in planned:
            table.add_row(
                str(item.get("kind", "")),
                str(item.get("entry_id", "")),
                str(item.get("action", "")),
                str(item.get("status", "")),
                str(item.get("reason") or ""),
            )
        _console().print(table)
