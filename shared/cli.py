"""What the ``hatchway relay`` and ``hatchway agent`` commands have in common."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from shared.paths import Paths


def add_folder_options(
    parser: argparse.ArgumentParser, settings_file: str, *, default: str | None = None
) -> argparse.ArgumentParser:
    """``--config-dir`` and ``--data-dir``, which override the platform folders so several
    relays and agents can share one machine. ``default=argparse.SUPPRESS`` on a nested
    command keeps it from resetting values its parent command already read."""
    parser.add_argument(
        "--config-dir", default=default, help=f"folder of {settings_file} (default: platform's)"
    )
    parser.add_argument(
        "--data-dir", default=default, help="folder of keys and state (default: platform's)"
    )
    return parser


def paths_from(args: argparse.Namespace, *, create: bool = True) -> Paths:
    """The folders for a command; ``create=False`` for commands that only read."""
    paths = Paths.resolve(config_dir=args.config_dir, data_dir=args.data_dir)
    if create:
        paths.ensure()
    return paths


def when(timestamp: float | None) -> str:
    """A moment for a table column, in UTC; "-" for none."""
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")
