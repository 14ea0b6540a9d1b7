"""``hatchway gallery ...`` and ``hatchway job-file ...``: app templates and job files.

- ``gallery list`` prints the templates; ``gallery show NAME`` prints one template's file
  (mappings, matching attributes and the app's quirks with their sources).
- ``job-file check FILE`` loads a job file with its template and reports the first problem.
- ``job-file import-entra EXPORT.json`` converts an Entra ID synchronization schema (as
  Microsoft Graph exports it) into a job file, and lists on stderr what was not carried over.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from relay.engine import gallery, jobfile
from relay.engine.graph_import import load_export


def add_commands(subparsers: Any) -> None:
    """Register the ``gallery`` and ``job-file`` command groups."""
    group = subparsers.add_parser("gallery", help="app templates for jobs")
    sub = group.add_subparsers(dest="gallery_command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="list the templates").set_defaults(handler=_list)
    show = sub.add_parser("show", help="print a template")
    show.add_argument("name")
    show.set_defaults(handler=_show)

    files = subparsers.add_parser("job-file", help="job files: mappings and scoping filters")
    fsub = files.add_subparsers(dest="job_file_command", required=True, metavar="COMMAND")
    check = fsub.add_parser("check", help="load a job file and report the first problem")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=_check)
    entra = fsub.add_parser(
        "import-entra", help="convert an Entra ID synchronization schema (Graph JSON)"
    )
    entra.add_argument("export", type=Path, help="the schema as Graph returns it")
    entra.add_argument(
        "--target", choices=jobfile.TARGETS, default="scim", help="target type (default scim)"
    )
    entra.add_argument("--output", type=Path, help="write the job file here, not to stdout")
    entra.set_defaults(handler=_import_entra)


def _list(args: argparse.Namespace) -> int:
    templates = [gallery.load(name) for name in gallery.names()]
    width = max(len(t.name) for t in templates) + 2
    title_width = max(len(t.title) for t in templates) + 2
    print(f"{'NAME':<{width}}{'TITLE':<{title_width}}TARGET")
    for t in templates:
        print(f"{t.name:<{width}}{t.title:<{title_width}}{t.target}")
    return 0


def _show(args: argparse.Namespace) -> int:
    sys.stdout.write(gallery.load(args.name).text)
    return 0


def _check(args: argparse.Namespace) -> int:
    job = jobfile.load(args.file)
    for mapping in job.objects:
        state = "" if mapping.enabled else " (disabled)"
        print(
            f"{mapping.kind}s -> {mapping.object_class}{state}: {len(mapping.mappings)} mappings,"
            f" {len(mapping.filters)} scoping filters"
        )
    print(f"{args.file}: OK")
    return 0


def _import_entra(args: argparse.Namespace) -> int:
    result = load_export(args.export, target=args.target)
    text = jobfile.dump(result.job)
    if args.output is None:
        sys.stdout.write(text)
    else:
        # Written aside and renamed, so a failed write never leaves half a job file.
        partial = args.output.with_name(args.output.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, args.output)
    for line in result.report:
        print(f"not carried over: {line}", file=sys.stderr)
    return 0
