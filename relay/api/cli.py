"""``hatchway logs`` and ``hatchway agents ...``: the provisioning logs of every job and
the relay's agents, read through the admin API; and what every command over the API shares
(running a call, tables, times, the log filters that ``hatchway job logs`` takes too).

The commands talk to a relay anywhere (see :mod:`relay.api.cli_settings` for how they find
it), so they need neither the store nor the relay's machine. ``hatchway relay agents``
stays the store's own command for the relay's machine, where no token is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import errno
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from rich import box
from rich.console import Console, RenderableType
from rich.style import StyleType
from rich.table import Table

from relay.api.cli_settings import add_api_options, client_from
from relay.api.client import ApiClient, api_path
from relay.api.routes import iso
from relay.store.engine_records import LogAction, LogStatus
from shared.cli import when
from shared.exceptions import SettingsError
from shared.protocol import messages
from shared.protocol.messages import VersionStatus
from shared.settings import parse_duration

T = TypeVar("T")

#: Log entries listed when ``--limit`` is not given.
DEFAULT_LOG_LIMIT = 100
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
    """Register ``logs`` and the ``agents`` group."""
    logs = add_api_options(
        subparsers.add_parser("logs", help="provisioning logs of every job, newest first")
    )
    logs.add_argument("--job", help="only this job's entries")
    add_log_filters(logs)
    logs.set_defaults(handler=_logs)

    group = subparsers.add_parser("agents", help="the relay's agents, through the admin API")
    sub = group.add_subparsers(dest="agents_command", required=True, metavar="COMMAND")
    listed = add_api_options(sub.add_parser("list", help="every agent with its state"))
    listed.add_argument("--json", action="store_true", help="print JSON")
    listed.set_defaults(handler=_agents_list)
    show = add_api_options(sub.add_parser("show", help="one agent in detail"))
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_agents_show)
    revoke = add_api_options(
        sub.add_parser("revoke", help="revoke an agent: disconnected now, cannot connect again")
    )
    revoke.add_argument("name")
    revoke.add_argument("--json", action="store_true", help="print the agent as JSON")
    revoke.set_defaults(handler=_agents_revoke)


# What commands over the API share -----------------------------------------------------------


def run_api(args: argparse.Namespace, work: Callable[[ApiClient], Awaitable[T]]) -> T:
    """Run ``work`` with a client for the relay the command's options name."""
    client = client_from(args)

    async def run() -> T:
        async with client as api:
            return await work(api)

    return asyncio.run(run())


class _Console(Console):
    """Rich output whose closed pipe is the same :class:`BrokenPipeError` as a ``print``'s,
    for ``hatchway``'s ``main`` to end the command quietly (rich would exit with 1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def console() -> Console:
    """Rich output; a wide page when not a terminal, so piped tables are not folded. Text
    is never read as rich markup: a userName like ``[/]admin`` or a reason like
    ``[Errno 111] ...`` is shown as written."""
    return _Console(highlight=False, markup=False, width=None if sys.stdout.isatty() else 200)


#: Control characters shown as escapes: all but tab and newline (C0, DEL, C1).
_CONTROL = {
    code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0)) if chr(code) not in "\t\n"
}


def printable(text: str) -> str:
    """``text`` safe for a terminal: a control character (an escape sequence in a
    displayName sent by an identity provider, a carriage return) is shown as ``\\x1b``
    rather than sent to the terminal, where it could rewrite what the operator reads."""
    return text.translate(_CONTROL)


class _Table(Table):
    """A table whose text cells are :func:`printable`."""

    def add_row(
        self,
        *renderables: RenderableType | None,
        style: StyleType | None = None,
        end_section: bool = False,
    ) -> None:
        cells = [printable(r) if isinstance(r, str) else r for r in renderables]
        super().add_row(*cells, style=style, end_section=end_section)


def table(*columns: str) -> Table:
    out = _Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in columns:
        out.add_column(column, overflow="fold")
    return out


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def print_lines(lines: list[tuple[str, str]], width: int) -> None:
    """``label: value`` lines with the values lined up at ``width`` (:func:`printable`)."""
    for label, value in lines:
        print(f"{label + ':':<{width}}{printable(value)}")


def shown(at: str | float | None) -> str:
    """A moment from the API (ISO 8601) for a column, in UTC; "-" for none."""
    if at is None or isinstance(at, int | float):
        return when(at)
    try:
        moment_at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return at
    if moment_at.tzinfo is None:
        moment_at = moment_at.replace(tzinfo=UTC)
    return when(moment_at.timestamp())


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


# Logs ----------------------------------------------------------------------------------------


def add_log_filters(parser: argparse.ArgumentParser) -> None:
    """The filters and formats of ``hatchway logs`` and ``hatchway job logs``."""
    parser.add_argument("--user", help="a user or group: id, userName or displayName")
    parser.add_argument("--cycle", help="a cycle id")
    parser.add_argument("--action", choices=[a.value for a in LogAction])
    parser.add_argument("--status", choices=[s.value for s in LogStatus])
    parser.add_argument("--since", type=moment, help="ISO 8601 time, or a duration ago (2h, 7d)")
    parser.add_argument("--until", type=moment, help="ISO 8601 time, or a duration ago")
    parser.add_argument(
        "--limit",
        type=_count,
        default=DEFAULT_LOG_LIMIT,
        help=f"entries at most (default {DEFAULT_LOG_LIMIT}; 0: all)",
    )
    parser.add_argument("--format", choices=["table", "jsonl", "csv"], default="table")
    parser.add_argument("--json", action="store_true", help="print one JSON array")


def log_query(args: argparse.Namespace) -> dict[str, str | None]:
    """The API's query parameters for the log filters of ``args``."""
    if args.since is not None and args.until is not None and args.since > args.until:
        raise SettingsError("--since", None, "is after --until")
    return {
        "entry": args.user,
        "cycle": args.cycle,
        "action": args.action,
        "status": args.status,
        "since": iso(args.since),
        "until": iso(args.until),
    }


async def read_logs(
    api: ApiClient, path: str, query: dict[str, str | None], limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` entries (0: all), newest first, read in pages."""
    return await api.items(path, query, cursor="before", limit=limit)


def print_logs(
    entries: list[dict[str, Any]], args: argparse.Namespace, nothing: str, *, with_job: bool
) -> None:
    """The entries as ``args`` asks: a table (``nothing`` when there are none; a JOB
    column ``with_job``), JSON lines, CSV or one JSON array."""
    if args.json:
        print_json(entries)
    elif args.format == "jsonl":
        for e in entries:
            print(json.dumps(e, ensure_ascii=False))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for e in entries:
            writer.writerow(_log_row(e))
    elif not entries:
        print(nothing)
    else:
        columns = ("AT (UTC)", "JOB", "KIND", "WHO", "ACTION", "STATUS", "DETAIL")
        out = table(*(c for c in columns if with_job or c != "JOB"))
        for e in entries:
            detail = e.get("reason") or ""
            if e.get("error_class"):
                detail = f"{e['error_class']}: {detail}"
            row = [
                shown(e.get("at")),
                str(e.get("job", "")),
                str(e.get("kind", "")),
                str(e.get("source_name") or e.get("entry_id") or ""),
                str(e.get("action", "")),
                str(e.get("status", "")),
                detail,
            ]
            if not with_job:
                del row[1]
            out.add_row(*row)
        console().print(out)


def _log_row(e: dict[str, Any]) -> list[Any]:
    row = []
    for column in CSV_COLUMNS:
        value = e.get(column)
        if column == "changes":
            value = json.dumps(value or {}, ensure_ascii=False)
        row.append("" if value is None else value)
    return row


def _logs(args: argparse.Namespace) -> int:
    query = {"job": args.job, **log_query(args)}
    entries = run_api(args, lambda api: read_logs(api, "/logs", query, args.limit))
    print_logs(entries, args, "no log entries match", with_job=True)
    return 0


# Agents --------------------------------------------------------------------------------------


def protocol_text(version: int | None) -> str:
    """The protocol version an agent last negotiated, flagged when this relay is about to
    drop it (deprecated) or no longer speaks it (unsupported); "-" if it never connected."""
    if version is None:
        return "-"
    status = messages.version_status(version)
    return str(version) if status is VersionStatus.CURRENT else f"{version} ({status})"


def _since(agent: dict[str, Any]) -> str | None:
    at: str | None = {
        "connected": agent.get("connected_since"),
        "disconnected": agent.get("disconnected_at"),
        "revoked": agent.get("revoked_at"),
    }.get(agent["state"], agent.get("registered_at"))
    return at


def _connectors(agent: dict[str, Any]) -> str:
    return ", ".join(f"{c['name']} ({c['type']})" for c in agent.get("connectors") or []) or "-"


def _agents_list(args: argparse.Namespace) -> int:
    agents = run_api(args, lambda api: api.items("/agents", cursor="after"))
    if args.json:
        print_json(agents)
        return 0
    if not agents:
        print("no agents registered: hatchway relay token create --name NAME makes a token")
        return 0
    out = table("NAME", "STATE", "SINCE (UTC)", "SOFTWARE", "PROTOCOL", "CONNECTORS", "OPERATIONS")
    for a in agents:
        out.add_row(
            a["name"],
            a["state"],
            shown(_since(a)),
            a.get("software") or "-",
            protocol_text(a.get("protocol_version")),
            _connectors(a),
            f"{a.get('operations_in_flight', 0)} in flight, {a.get('operations_queued', 0)} queued",
        )
    console().print(out)
    return 0


def agent_lines(a: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("agent", a["name"]),
        ("state", f"{a['state']} since {shown(_since(a))} UTC"),
        ("software", a.get("software") or "-"),
        ("protocol", protocol_text(a.get("protocol_version"))),
        ("connectors", _connectors(a)),
        ("registered", f"{shown(a.get('registered_at'))} UTC"),
        ("last heard", f"{shown(a.get('last_heartbeat'))} UTC"),
        (
            "operations",
            f"{a.get('operations_in_flight', 0)} in flight ({a.get('in_flight', 0)} batches)"
            f" sent and not answered, {a.get('operations_queued', 0)} waiting"
            f" ({a.get('queued', 0)} batches)",
        ),
    ]


def _agents_show(args: argparse.Namespace) -> int:
    agent = run_api(args, lambda api: api.get(api_path("agents", args.name)))
    if args.json:
        print_json(agent)
    else:
        print_lines(agent_lines(agent), 12)
    return 0


def _agents_revoke(args: argparse.Namespace) -> int:
    agent = run_api(args, lambda api: api.post(api_path("agents", args.name, "revoke")))
    if args.json:
        print_json(agent)
    else:
        print(f"agent {agent['name']!r} revoked at {shown(agent.get('revoked_at'))} UTC")
    return 0
