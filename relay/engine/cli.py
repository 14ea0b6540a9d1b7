"""``hatchway job ...``: define provisioning jobs, steer them and see what they did.

Every command calls the relay's admin API (:mod:`relay.api.cli_settings` says how the
command finds the relay and its token), so the commands work from any machine that
reaches the relay, and what only the engine can do (provision one user now, a dry run, a
reconcile) is answered by the relay at once. A job file is checked here before it is sent,
so its mistakes name the file and the key as they do on the relay's machine.
``start --wait`` and ``restart --wait`` follow the initial cycle with a progress bar.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from relay.api.cli import (
    add_log_filters,
    console,
    log_query,
    print_json,
    print_lines,
    print_logs,
    printable,
    read_logs,
    run_api,
    shown,
    table,
)
from relay.api.cli_settings import add_api_options
from relay.api.client import LONG_TIMEOUT, ApiClient, api_path
from relay.engine import job as jobs

#: Seconds between looks at a job's status while ``--wait`` follows its initial cycle.
WAIT_POLL_INTERVAL = 0.5
#: Planned actions a dry run lists when ``--limit`` is not given.
DRY_RUN_LIMIT = 100


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``job`` command group."""
    group = subparsers.add_parser("job", help="provisioning jobs: define, steer, inspect")
    sub = group.add_subparsers(dest="job_command", required=True, metavar="COMMAND")

    def command(
        name: str,
        summary: str,
        handler: Callable[[argparse.Namespace], int],
        *,
        timeout: float | None = None,
        json_help: str | None = None,
    ) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=summary)
        if timeout is None:
            add_api_options(parser)
        else:
            add_api_options(parser, timeout=timeout)
        if json_help is not None:
            parser.add_argument("--json", action="store_true", help=json_help)
        parser.set_defaults(handler=handler)
        return parser

    create = command("create", "define a job from a job file (not started yet)", _create)
    create.add_argument("file", type=Path)
    create.add_argument("--name", help="the job's name (default: the file's name key)")
    update = command("update", "replace a job's settings with a job file", _update)
    update.add_argument("name")
    update.add_argument("file", type=Path)
    command("list", "list jobs with their state", _list, json_help="print JSON")
    show = command("show", "print a job's file as stored", _show, json_help="print the job as JSON")
    show.add_argument("name")
    delete = command("delete", "delete a job (the target is left as it is)", _delete)
    delete.add_argument("name")
    for name, summary in (
        ("start", "start a job: an initial cycle, then following changes"),
        ("pause", "pause a job; it resumes where it stopped"),
        ("resume", "resume a paused or quarantined job"),
        ("restart", "start over with a fresh initial cycle (links are kept)"),
    ):
        steer = command(name, summary, _steer)
        steer.add_argument("name")
        if name in ("start", "restart"):
            steer.add_argument(
                "--wait",
                action="store_true",
                help="show the initial cycle's progress until it is done (exit 1 if the job"
                " stops or is quarantined first)",
            )
    status = command(
        "status", "a job's state, progress and last cycle", _status, json_help="print JSON"
    )
    status.add_argument("name")
    located = command(
        "where", "where a user or group stands in a job, and why", _where, json_help="print JSON"
    )
    located.add_argument("name")
    located.add_argument("entry", metavar="USER_OR_GROUP", help="id, userName or displayName")
    located.add_argument("--group", action="store_true", help="ENTRY is a group")
    staged = command(
        "staged", "deprovisions held by the deletion guard", _staged, json_help="print JSON"
    )
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
    add_log_filters(logs)
    provision = command(
        "provision",
        "provision one user or group now and show each step",
        _provision,
        timeout=LONG_TIMEOUT,
        json_help="print the answer as JSON",
    )
    provision.add_argument("name")
    provision.add_argument("entry", metavar="USER_OR_GROUP", help="id, userName or displayName")
    provision.add_argument("--group", action="store_true", help="ENTRY is a group")
    dry = command(
        "dry-run",
        "what a full cycle would do now, writing nothing",
        _dry_run,
        timeout=LONG_TIMEOUT,
        json_help="print the answer as JSON",
    )
    dry.add_argument("name")
    dry.add_argument(
        "--limit",
        type=int,
        default=DRY_RUN_LIMIT,
        help=f"planned actions listed (1 to 1000, default {DRY_RUN_LIMIT})",
    )
    reconcile = command(
        "reconcile",
        "compare the target with the shadows now, repair drift",
        _reconcile,
        json_help="print the answer as JSON",
    )
    reconcile.add_argument("name")


def _job(name: str, *more: str) -> str:
    return api_path("jobs", name, *more)


# Defining jobs -------------------------------------------------------------------------------


def _read(path: Path, name: str | None) -> str:
    """The job file's text, checked here so a mistake names the file and the key."""
    jobs.load(path, name=name)
    return path.read_text(encoding="utf-8")


def _create(args: argparse.Namespace) -> int:
    body = {"spec": _read(args.file, args.name), "name": args.name}
    job = run_api(args, lambda api: api.post("/jobs", body))
    print(f"job {job['name']!r} created; start it with: hatchway job start {job['name']}")
    return 0


def _update(args: argparse.Namespace) -> int:
    body = {"spec": _read(args.file, args.name)}
    job = run_api(args, lambda api: api.put(_job(args.name), body))
    print(f"job {job['name']!r} updated (version {job['version']})")
    return 0


def _list(args: argparse.Namespace) -> int:
    found = run_api(args, lambda api: api.items("/jobs", cursor="after"))
    if args.json:
        print_json(found)
        return 0
    if not found:
        print("no jobs yet: hatchway job create FILE defines one")
        return 0
    out = table("NAME", "STATE", "CONNECTION", "INITIAL", "PROGRESS", "UPDATED (UTC)")
    for j in found:
        out.add_row(
            j["name"],
            j.get("summary") or j["state"],
            j.get("connection") or "-",
            "done" if j.get("initial_done") else "-",
            _progress_text(j.get("progress")) or "-",
            shown(j.get("updated_at")),
        )
    console().print(out)
    return 0


def _show(args: argparse.Namespace) -> int:
    job = run_api(args, lambda api: api.get(_job(args.name)))
    if args.json:
        print_json(job)
        return 0
    spec: str = job["spec"]
    sys.stdout.write(spec if spec.endswith("\n") else spec + "\n")
    return 0


def _delete(args: argparse.Namespace) -> int:
    run_api(args, lambda api: api.delete(_job(args.name)))
    print(f"job {args.name!r} deleted; the accounts it made in the target are left as they are")
    return 0


# Steering ------------------------------------------------------------------------------------


def _steer(args: argparse.Namespace) -> int:
    wait: bool = getattr(args, "wait", False)

    async def steer(api: ApiClient) -> str | None:
        answer = await api.post(_job(args.name, args.job_command))
        print(answer["message"], flush=True)
        if not wait:
            return None
        return await wait_for_initial_cycle(api, args.name, console())

    stopped = run_api(args, steer)
    if stopped is not None:
        print(f"hatchway: error: {printable(stopped)}", file=sys.stderr)
        return 1
    return 0


async def wait_for_initial_cycle(
    api: ApiClient, name: str, out: Console, *, interval: float = WAIT_POLL_INTERVAL
) -> str | None:
    """Show the job's initial cycle as a progress bar (done of total, rate, time left)
    until it is done; None then, or why the job stopped first (paused, quarantined,
    deleted: the relay's error). Looks at the job's status every ``interval`` seconds.
    An attempt that failed (its agent is not connected, its target cannot be reached) is
    printed above the bar with its error, once, while the relay tries again."""
    columns = (
        TextColumn(f"initial cycle {name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[eta]}"),
    )
    told: set[str] = set()
    with Progress(*columns, console=out) as bar:
        task = bar.add_task("initial", total=None, rate="", eta="")
        while True:
            status = await api.get(_job(name, "status"))
            failure = _attempt_failure(status)
            if failure is not None and failure not in told:
                told.add(failure)
                bar.console.print(
                    f"an attempt of the initial cycle failed: {printable(failure)}",
                    markup=False,
                    highlight=False,
                )
            if status["initial_done"]:
                last = status.get("last") or {}
                if last.get("kind") == "initial":
                    done = last.get("done", 0)
                    bar.update(task, completed=done, total=last.get("total") or done, eta="")
                break
            if status["state"] == "quarantined":
                return (
                    f"job {name!r} was quarantined before its initial cycle finished:"
                    f" {status.get('quarantine_reason')}"
                )
            if status["state"] != "running":
                return f"job {name!r} is {status['state']}; its initial cycle did not finish"
            progress = _current(status)
            if progress is not None and progress.get("kind") == "initial":
                rate, eta = _rate_eta(progress)
                bar.update(
                    task,
                    completed=progress.get("done", 0),
                    total=progress.get("total"),
                    rate=rate,
                    eta=eta,
                )
            await asyncio.sleep(interval)
    last = status.get("last") or {}
    if last.get("kind") == "initial":
        print(f"initial cycle of job {name!r} done: {_counts(last.get('counts') or {})}")
    else:
        print(f"job {name!r} has done its initial cycle")
    return None


def _attempt_failure(status: dict[str, Any]) -> str | None:
    """Why the last attempt at the initial cycle failed, while the relay tries again (the
    agent is not connected, the target cannot be reached): the running initial cycle's
    error (it resumes from its checkpoint), or that of the last cycle when it is an initial
    one that failed and none runs now. None when nothing failed."""
    if status["initial_done"]:
        return None
    current: dict[str, Any] | None = status.get("current")
    cycle = current if current is not None else status.get("last")
    if cycle is None or cycle.get("kind") != "initial" or cycle.get("state") == "done":
        return None
    error: str | None = cycle.get("error")
    return error


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


def _current(status: dict[str, Any]) -> dict[str, Any] | None:
    """The running cycle's progress: the engine's live figures when the job runs in the
    relay that answered, else the store's."""
    progress: dict[str, Any] | None = status.get("progress") or status.get("current")
    return progress


def _rate_eta(progress: dict[str, Any]) -> tuple[str, str]:
    rate = progress.get("rate")
    eta = progress.get("eta_seconds", progress.get("eta"))
    return (
        f"{rate:.1f}/s" if rate is not None else "",
        f"about {_duration_text(eta)} left" if eta is not None else "",
    )


def _progress_text(progress: dict[str, Any] | None) -> str:
    if not progress:
        return ""
    total = f"/{progress['total']}" if progress.get("total") is not None else ""
    rate, eta = _rate_eta(progress)
    text = f"{progress.get('kind', '')} {progress.get('done', 0)}{total}"
    return ", ".join(part for part in (text, rate, eta) if part)


def _status(args: argparse.Namespace) -> int:
    status = run_api(args, lambda api: api.get(_job(args.name, "status")))
    if args.json:
        print_json(status)
    else:
        print_lines(status_lines(status), 13)
    return 0


def status_lines(s: dict[str, Any]) -> list[tuple[str, str]]:
    lines = [("job", str(s["name"])), ("state", str(s.get("summary") or s["state"]))]
    if s.get("quarantine_reason") is not None:
        lines.append(("quarantined", s["quarantine_reason"]))
        lines.append(("next attempt", f"{shown(s.get('next_attempt_at'))} UTC"))
    current = _current(s)
    if current is not None:
        total = f"/{current['total']}" if current.get("total") is not None else ""
        rate, eta = _rate_eta(current)
        lines.append(
            (
                "cycle",
                f"{current['kind']} since {shown(current.get('started_at'))} UTC:"
                f" {current['done']}{total} done"
                + "".join(f", {part}" for part in (rate, eta) if part),
            )
        )
    elif not s.get("initial_done"):
        lines.append(("cycle", "initial cycle not run yet"))
    last = s.get("last")
    if last is not None:
        error = f" ({last['error']})" if last.get("error") else ""
        lines.append(
            (
                "last cycle",
                f"{last['kind']} {last['state']}{error} at {shown(last.get('finished_at'))} UTC:"
                f" {_counts(last.get('counts') or {})}",
            )
        )
    behind = s.get("behind") or 0
    lines.append(("changes", "up to date" if not behind else f"{behind} not applied yet"))
    lines.append(("linked", str(s.get("shadows", 0))))
    retries = s.get("retries", 0)
    lines.append(("failing", f"more than {retries}" if s.get("retries_more") else str(retries)))
    if s.get("staged"):
        lines.append(
            (
                "staged",
                f"{s['staged']} deprovision(s): hatchway job staged {s['name']},"
                " then approve or reject",
            )
        )
    return lines


def _where(args: argparse.Namespace) -> int:
    query = {"entry": args.entry, "kind": "group" if args.group else "user"}
    found = run_api(args, lambda api: api.get(_job(args.name, "where"), query))
    if args.json:
        print_json(found)
    else:
        print_lines(where_lines(found), 11)
    return 0


def where_lines(w: dict[str, Any]) -> list[tuple[str, str]]:
    kind = str(w["kind"])
    if not w.get("in_directory") and w.get("shadow") is None:
        lines = [
            (kind, str(w["asked"])),
            ("directory", f"no {kind} with id or name {w['asked']!r}"),
        ]
        return lines + _log_lines(w)
    who = f"{w['name']} (id {w['entry_id']})" if w.get("name") else str(w["entry_id"])
    lines = [(kind, f"{who} in job {w['job']}")]
    lines.append(("directory", "found" if w.get("in_directory") else "deleted from the directory"))
    if w.get("in_scope") is not None:
        lines.append(
            ("scope", "in scope" if w["in_scope"] else f"out of scope: {w['scope_reason']}")
        )
    if not w.get("initial_done"):
        lines.append(("pending", "the job's initial cycle has not finished"))
    elif w.get("pending") is None:
        lines.append(("pending", "the job is far behind the directory; changes may be pending"))
    elif w["pending"]:
        lines.append(("pending", f"{w['pending']} change(s) not applied yet"))
    else:
        lines.append(("pending", "nothing: the job has applied every change"))
    if w.get("in_flight_since") is not None:
        lines.append(("in flight", f"with the target since {shown(w['in_flight_since'])} UTC"))
    shadow = w.get("shadow")
    if shadow is None:
        lines.append(("target", "not linked"))
    else:
        state = {"linked": "linked", "disabled": "disabled", "held": "held (deprovision rejected)"}
        lines.append(
            (
                "target",
                f"{state.get(shadow['state'], shadow['state'])} as {shadow['anchor']}, since"
                f" {shown(shadow.get('updated_at'))} UTC",
            )
        )
    staged = w.get("staged")
    if staged is not None:
        lines.append(
            (
                "staged",
                f"{staged['action']} staged {shown(staged.get('staged_at'))} UTC, waiting for"
                f" approval (id {staged['id']}): {staged['reason']}",
            )
        )
    retry = w.get("retry")
    if retry is not None:
        then = (
            f"next try at {shown(retry['next_attempt_at'])} UTC"
            if retry.get("next_attempt_at") is not None
            else "waits for a change of the entry"
        )
        lines.append(
            (
                "failing",
                f"{retry['error_class']}: {retry['error']} ({retry['attempts']} attempt(s));"
                f" {then}",
            )
        )
    return lines + _log_lines(w)


def _log_lines(w: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            "log",
            f"{shown(e.get('at'))} UTC {e['action']} {e['status']}"
            + (f": {e['reason']}" if e.get("reason") else ""),
        )
        for e in w.get("logs") or []
    ]


def _staged(args: argparse.Namespace) -> int:
    found = run_api(
        args,
        lambda api: api.items(_job(args.name, "staged"), {"decision": "pending"}, cursor="after"),
    )
    if args.json:
        print_json(found)
        return 0
    if not found:
        print(f"job {args.name!r} has no staged deprovisions")
        return 0
    out = table("ID", "KIND", "WHO", "ACTION", "REASON", "STAGED (UTC)")
    for s in found:
        out.add_row(
            str(s["id"]),
            str(s["kind"]),
            str(s.get("display") or s.get("entry_id") or ""),
            str(s["action"]),
            str(s.get("reason") or ""),
            shown(s.get("staged_at")),
        )
    console().print(out)
    return 0


def _decide(args: argparse.Namespace) -> int:
    command: str = args.job_command
    answer = run_api(
        args, lambda api: api.post(_job(args.name, "staged", command), {"ids": args.ids})
    )
    done = "approved" if command == "approve" else "rejected"
    print(f"{answer['count']} staged deprovision(s) {done}")
    return 0


# Logs ----------------------------------------------------------------------------------------


def _logs(args: argparse.Namespace) -> int:
    query = log_query(args)
    entries = run_api(args, lambda api: read_logs(api, _job(args.name, "logs"), query, args.limit))
    print_logs(entries, args, f"no log entries of job {args.name!r} match", with_job=False)
    return 0


# What the engine answers ---------------------------------------------------------------------


def _provision(args: argparse.Namespace) -> int:
    body = {"kind": "group" if args.group else "user", "entry": args.entry}
    outcome = run_api(args, lambda api: api.post(_job(args.name, "provision"), body))
    if args.json:
        print_json(outcome)
    else:
        _print_outcome(outcome, args.entry)
    return 0


def _dry_run(args: argparse.Namespace) -> int:
    plan = run_api(args, lambda api: api.post(_job(args.name, "dry-run"), {"limit": args.limit}))
    if args.json:
        print_json(plan)
    else:
        _print_plan(plan)
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    answer = run_api(args, lambda api: api.post(_job(args.name, "reconcile")))
    if args.json:
        print_json(answer)
    else:
        print(
            f"reconcile of job {args.name!r} requested; follow it with"
            f" 'hatchway job status {args.name}' and the logs of its cycle"
        )
    return 0


def _print_outcome(outcome: dict[str, Any], asked: str) -> None:
    """An on-demand run: what was done, then each step the engine took."""
    who = f"{asked} (id {outcome['entry_id']})" if outcome.get("entry_id") else asked
    head = (
        f"{outcome.get('kind', '')} {who}: {outcome.get('action', '')} {outcome.get('status', '')}"
    )
    print(printable(head.strip()))
    for key in ("anchor", "reason", "error"):
        if outcome.get(key):
            print(f"  {key}: {printable(str(outcome[key]))}")
    for step in outcome.get("steps") or []:
        detail = step.get("detail")
        if detail and not isinstance(detail, str):
            detail = json.dumps(detail, ensure_ascii=False)
        line = f"  - {step.get('step', '')}: {step.get('outcome', '')}"
        print(printable(line + (f" {detail}" if detail else "")))
    for attribute, (old, new) in (outcome.get("changes") or {}).items():
        print(printable(f"  {attribute}: {json.dumps(old)} -> {json.dumps(new)}"))


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
        out = table("KIND", "ENTRY", "ACTION", "STATUS", "REASON")
        for item in planned:
            out.add_row(
                str(item.get("kind", "")),
                str(item.get("entry_id", "")),
                str(item.get("action", "")),
                str(item.get("status", "")),
                str(item.get("reason") or ""),
            )
        console().print(out)
