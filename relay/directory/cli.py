"""``hatchway directory ...``: import files, list and show users and groups, assign them to
jobs. The commands work on the relay's store directly (SQLite beside a serving relay, or
the configured PostgreSQL database)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from relay.directory.import_plan import Plan, import_file
from relay.directory.import_rows import Format, ParsedFile, load_mapping_file, parse_mapping
from relay.directory.query import AttributePath, Compare, CompareOp, Query
from relay.directory.resources import timestamp
from relay.exceptions import NotFound
from relay.store.base import Entry, EntryKind, Store
from relay.store.configured import run_on_store
from shared.cli import add_folder_options, paths_from
from shared.exceptions import SettingsError

T = TypeVar("T")
#: Names listed per kind of change in a dry run's report.
SHOWN = 20


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    directory = subparsers.add_parser("directory", help="the relay's users, groups, assignments")
    commands = directory.add_subparsers(dest="directory_command", required=True, metavar="COMMAND")

    def with_dirs(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return add_folder_options(parser, "relay.toml")

    imp = with_dirs(commands.add_parser("import", help="import users and groups from a file"))
    imp.add_argument("file", type=Path, help="a .csv, .json or .ldif file")
    imp.add_argument("--format", choices=[f.value for f in Format], help="default: by extension")
    imp.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=PATH",
        help='where a CSV column or LDIF attribute goes, e.g. mail=\'emails[type eq "work"]'
        ".value'; PATH '-' ignores it (repeatable)",
    )
    imp.add_argument("--mapping", type=Path, help="a TOML file with a [columns] table")
    imp.add_argument(
        "--dry-run", action="store_true", help="report what would change, write nothing"
    )
    imp.add_argument(
        "--delete-missing", action="store_true", help="delete users that are not in the file"
    )
    imp.add_argument(
        "--max-deletes",
        type=int,
        default=10,
        metavar="N",
        help="refuse to delete more than N users (default 10)",
    )
    imp.set_defaults(handler=_import)

    for kind, plural in ((EntryKind.USER, "users"), (EntryKind.GROUP, "groups")):
        listing = with_dirs(commands.add_parser(plural, help=f"list or show {plural}"))
        listing.set_defaults(handler=_list, kind=kind)
        actions = listing.add_subparsers(dest=f"{plural}_command", metavar="COMMAND")
        listed = add_folder_options(
            actions.add_parser("list", help=f"list {plural}"),
            "relay.toml",
            default=argparse.SUPPRESS,
        )
        listed.set_defaults(handler=_list, kind=kind)
        show = add_folder_options(
            actions.add_parser("show", help="show one, by id or name"),
            "relay.toml",
            default=argparse.SUPPRESS,
        )
        show.add_argument("entry", metavar="ID")
        show.set_defaults(handler=_show, kind=kind)

    for name, handler, summary in (
        ("assign", _assign, "assign a user or group to a job"),
        ("unassign", _unassign, "take a user or group off a job"),
    ):
        parser = with_dirs(commands.add_parser(name, help=summary))
        parser.add_argument("job")
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--user", help="id or userName")
        who.add_argument("--group", help="id or displayName")
        if name == "assign":
            parser.add_argument("--role", help="the role the job gives them in the app")
        parser.set_defaults(handler=handler)
    assignments = with_dirs(commands.add_parser("assignments", help="list a job's assignments"))
    assignments.add_argument("job")
    assignments.set_defaults(handler=_assignments)


def _on_store(args: argparse.Namespace, work: Callable[[Store], Awaitable[T]]) -> T:
    return run_on_store(paths_from(args), work)


# Import ------------------------------------------------------------------------------------


def _import(args: argparse.Namespace) -> int:
    try:
        mapping = load_mapping_file(args.mapping) if args.mapping else {}
        mapping.update(parse_mapping(args.map))
    except ValueError as exc:
        raise SettingsError("--map", None, str(exc)) from exc
    if args.max_deletes < 0:
        raise SettingsError("--max-deletes", None, "must be 0 or more")
    file_format = Format(args.format) if args.format else None
    bar = _ProgressBar() if sys.stderr.isatty() else None

    async def run(store: Store) -> tuple[ParsedFile, Plan]:
        try:
            return await import_file(
                store,
                args.file,
                file_format=file_format,
                mapping=mapping,
                dry_run=args.dry_run,
                delete_missing=args.delete_missing,
                max_deletes=args.max_deletes,
                progress=bar.start if bar is not None else None,
            )
        finally:
            if bar is not None:
                bar.stop()

    parsed, plan = _on_store(args, run)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    _report(plan, dry_run=args.dry_run, skipped=len(parsed.skipped))
    return 0


class _ProgressBar:
    """rich's progress bar on stderr, for imports run in a terminal."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self._progress = Progress(console=Console(stderr=True), transient=True)

    def start(self, plan: Plan) -> Callable[[int], None]:
        task = self._progress.add_task("importing", total=plan.writes)
        self._progress.start()
        self._progress.refresh()
        return lambda done: self._progress.update(task, completed=done)

    def stop(self) -> None:
        self._progress.stop()


def _name(resource: dict[str, Any]) -> str:
    return str(resource.get("userName", resource.get("displayName")))


def _report(plan: Plan, *, dry_run: bool, skipped: int) -> None:
    verb = "would be" if dry_run else "were"
    lines = [
        ("created", [f"{key[0]} {_name(resource)}" for key, resource in plan.creates]),
        ("updated", [f"{key[0]} {_name(wanted)}" for key, _, wanted in plan.updates]),
        ("deleted", [f"user {entry.resource.get('userName')}" for entry in plan.deletes]),
    ]
    for action, names in lines:
        print(f"{len(names)} {verb} {action}")
        if dry_run:
            for name in names[:SHOWN]:
                print(f"  {name}")
            if len(names) > SHOWN:
                print(f"  ... and {len(names) - SHOWN} more")
    print(f"{plan.membership_changes} group membership(s) {verb} changed")
    print(f"{plan.unchanged} unchanged")
    if skipped:
        print(f"{skipped} record(s) skipped (neither a user nor a group)")


# Users and groups --------------------------------------------------------------------------


async def _find(store: Store, kind: EntryKind, text: str) -> Entry:
    """An entry by id, or else by userName / displayName."""
    try:
        return await store.get_entry(kind, text)
    except NotFound:
        attribute = "userName" if kind is EntryKind.USER else "displayName"
        query = Query(filter=Compare(AttributePath(attribute), CompareOp.EQ, text), count=2)
        found, total = await store.query_entries(kind, query)
        if total == 1:
            return found[0]
        if total > 1:
            raise NotFound(f"{total} {kind}s are called {text!r}; give the id") from None
        raise NotFound(f"no {kind} with id or name {text!r}") from None


def _list(args: argparse.Namespace) -> int:
    kind: EntryKind = args.kind
    entries, _ = _on_store(args, lambda store: store.query_entries(kind, Query()))
    if kind is EntryKind.USER:
        print(f"{'ID':<38}{'USERNAME':<32}{'EXTERNAL ID':<20}ACTIVE")
        for e in entries:
            r = e.resource
            active = "-" if "active" not in r else ("yes" if r["active"] else "no")
            print(f"{e.id:<38}{r['userName']:<32}{r.get('externalId', '-'):<20}{active}")
    else:
        print(f"{'ID':<38}{'DISPLAY NAME':<32}EXTERNAL ID")
        for e in entries:
            r = e.resource
            print(f"{e.id:<38}{r['displayName']:<32}{r.get('externalId', '-')}")
    return 0


def _show(args: argparse.Namespace) -> int:
    kind: EntryKind = args.kind

    async def show(store: Store) -> dict[str, Any]:
        entry = await _find(store, kind, args.entry)
        document: dict[str, Any] = {"id": entry.id, **entry.resource}
        if kind is EntryKind.GROUP:
            members = await store.group_members(entry.id)
            document["members"] = [
                {"value": m.id, "display": m.display, "type": m.kind.title()} for m in members
            ]
        else:
            document["groups"] = [{"value": g} for g in await store.member_groups(entry.id)]
        document["meta"] = {
            "created": timestamp(entry.created_at),
            "lastModified": timestamp(entry.modified_at),
            "version": f'W/"{entry.version}"',
        }
        return document

    print(json.dumps(_on_store(args, show), indent=2, ensure_ascii=False))
    return 0


# Assignments -------------------------------------------------------------------------------


def _who(args: argparse.Namespace) -> tuple[EntryKind, str]:
    return (EntryKind.USER, args.user) if args.user else (EntryKind.GROUP, args.group)


def _assign(args: argparse.Namespace) -> int:
    kind, text = _who(args)

    async def assign(store: Store) -> Entry:
        entry = await _find(store, kind, text)
        await store.assign(args.job, kind, entry.id, role=args.role)
        return entry

    entry = _on_store(args, assign)
    role = f" with role {args.role!r}" if args.role else ""
    print(f"{kind} {entry.id} assigned to job {args.job!r}{role}")
    return 0


def _unassign(args: argparse.Namespace) -> int:
    kind, text = _who(args)

    async def unassign(store: Store) -> Entry:
        entry = await _find(store, kind, text)
        await store.unassign(args.job, kind, entry.id)
        return entry

    entry = _on_store(args, unassign)
    print(f"{kind} {entry.id} unassigned from job {args.job!r}")
    return 0


def _assignments(args: argparse.Namespace) -> int:
    found = _on_store(args, lambda store: store.assignments(args.job))
    print(f"{'KIND':<8}{'ID':<38}ROLE")
    for a in found:
        print(f"{a.kind.value:<8}{a.entry_id:<38}{a.role or '-'}")
    return 0
