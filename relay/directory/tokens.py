"""Bearer tokens of SCIM clients: checking them on requests, and the
``hatchway relay scim-token create|list|revoke`` commands that manage them.

Each identity provider that pushes to ``/scim/v2`` is a client with its own tokens, so one
can be revoked without touching the others. The store keeps only a hash of each token.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from relay.bearer import TokenCache, bearer, token_pattern
from relay.directory.errors import unauthorized
from relay.store.base import SCIM_TOKEN_PREFIX, Store
from relay.store.configured import run_on_store
from shared.cli import add_folder_options, paths_from, when
from shared.exceptions import SettingsError
from shared.protocol.messages import valid_name

T = TypeVar("T")

_TOKEN_TEXT = token_pattern(SCIM_TOKEN_PREFIX)


class TokenVerifier:
    """Finds the client of a request's bearer token; verified tokens are remembered for
    ``cache_seconds`` (default 5 s, see :class:`~relay.bearer.TokenCache`)."""

    def __init__(
        self,
        store: Store,
        *,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.cache: TokenCache[str] = TokenCache(cache_seconds=cache_seconds, clock=clock)

    async def client(self, authorization: str | None) -> str:
        """The client name; raises a 401 :class:`~relay.directory.errors.ScimError`."""
        try:
            token = bearer(authorization)
        except ValueError as exc:
            raise unauthorized(str(exc)) from exc
        if not _TOKEN_TEXT.fullmatch(token):
            raise unauthorized("the bearer token is not valid")
        client = await self.cache.verified(token, self.store.verify_scim_token)
        if client is None:
            raise unauthorized("the bearer token is not valid")
        return client

    def forget(self) -> None:
        """Drop every remembered token (after a revocation through the admin API)."""
        self.cache.forget()


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``scim-token`` under ``hatchway relay``."""
    group = subparsers.add_parser("scim-token", help="bearer tokens of SCIM clients")
    commands = group.add_subparsers(dest="scim_token_command", required=True, metavar="COMMAND")

    def with_dirs(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return add_folder_options(parser, "relay.toml")

    create = with_dirs(commands.add_parser("create", help="issue a token for a SCIM client"))
    create.add_argument("--client", required=True, help="the client's name, e.g. entra")
    create.set_defaults(handler=_create)
    with_dirs(commands.add_parser("list", help="list SCIM tokens")).set_defaults(handler=_list)
    revoke = with_dirs(commands.add_parser("revoke", help="revoke every token of a client"))
    revoke.add_argument("--client", required=True, help="the client's name")
    revoke.set_defaults(handler=_revoke)


def _on_store(args: argparse.Namespace, work: Callable[[Store], Awaitable[T]]) -> T:
    return run_on_store(paths_from(args), work)


def _create(args: argparse.Namespace) -> int:
    if not valid_name(args.client):
        raise SettingsError(
            "--client", None, "a client name is 1 to 100 letters, digits, '.', '_' or '-'"
        )
    record, token = _on_store(args, lambda store: store.create_scim_client(args.client))
    print(token)
    print(
        f"SCIM bearer token {record.id} for client {args.client!r}: shown once, keep it secret",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    tokens = _on_store(args, lambda store: store.list_scim_clients())
    print(f"{'ID':<14}{'CLIENT':<24}{'CREATED (UTC)':<22}REVOKED (UTC)")
    for t in tokens:
        print(f"{t.id:<14}{t.client:<24}{when(t.created_at):<22}{when(t.revoked_at)}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    count = _on_store(args, lambda store: store.revoke_scim_client(args.client))
    print(f"revoked {count} token(s) of SCIM client {args.client!r}")
    return 0
