"""The ``hatchway relay api-token create|list|revoke`` commands: admin API tokens.

They work on the store directly, as ``hatchway relay scim-token`` does, because the first
admin token has to come from somewhere the API cannot be: the relay's own machine. A token
is named, so it can be revoked on its own, and has a role: ``viewer`` reads, ``admin`` also
changes. The secret is printed once; the store keeps only its hash.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from relay.store.base import ApiRole, Store
from relay.store.configured import run_on_store
from shared.cli import add_folder_options, paths_from, when
from shared.exceptions import SettingsError
from shared.protocol.messages import valid_name

T = TypeVar("T")


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``api-token`` under ``hatchway relay``."""
    group = subparsers.add_parser("api-token", help="tokens of the admin API and dashboard")
    commands = group.add_subparsers(dest="api_token_command", required=True, metavar="COMMAND")

    def with_dirs(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return add_folder_options(parser, "relay.toml")

    create = with_dirs(commands.add_parser("create", help="issue an API token"))
    create.add_argument("--name", required=True, help="the token's name, e.g. dashboard")
    create.add_argument(
        "--role",
        required=True,
        choices=[role.value for role in ApiRole],
        help="viewer reads; admin also changes",
    )
    create.set_defaults(handler=_create)
    with_dirs(commands.add_parser("list", help="list API tokens")).set_defaults(handler=_list)
    revoke = with_dirs(commands.add_parser("revoke", help="revoke an API token"))
    revoke.add_argument("--name", required=True, help="the token's name")
    revoke.set_defaults(handler=_revoke)


def _on_store(args: argparse.Namespace, work: Callable[[Store], Awaitable[T]]) -> T:
    return run_on_store(paths_from(args), work)


def _create(args: argparse.Namespace) -> int:
    if not valid_name(args.name):
        raise SettingsError(
            "--name", None, "a token name is 1 to 100 letters, digits, '.', '_' or '-'"
        )
    role = ApiRole(args.role)
    record, token = _on_store(args, lambda store: store.create_api_token(args.name, role))
    print(token)
    print(
        f"API token {record.name!r} ({record.role.value}): shown once, keep it secret",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    tokens = _on_store(args, lambda store: store.list_api_tokens())
    print(f"{'NAME':<24}{'ROLE':<8}{'CREATED (UTC)':<22}REVOKED (UTC)")
    for t in tokens:
        print(f"{t.name:<24}{t.role.value:<8}{when(t.created_at):<22}{when(t.revoked_at)}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    _on_store(args, lambda store: store.revoke_api_token(args.name))
    print(f"revoked API token {args.name!r}")
    return 0
