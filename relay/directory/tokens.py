"""Bearer tokens of SCIM clients: checking them on requests, and the
``hatchway relay scim-token create|list|revoke`` commands that manage them.

Each identity provider that pushes to ``/scim/v2`` is a client with its own tokens, so one
can be revoked without touching the others. The store keeps only a hash of each token.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from relay.directory.errors import unauthorized
from relay.store.base import SCIM_TOKEN_PREFIX, Store, hash_token
from relay.store.configured import run_on_store
from shared.cli import add_folder_options, paths_from, when
from shared.exceptions import SettingsError
from shared.protocol.messages import valid_name

T = TypeVar("T")

#: Most verified tokens remembered at once; the cache starts over when full.
MAX_CACHED_TOKENS = 1024
#: What every SCIM token the store issues looks like.
_TOKEN_TEXT = re.compile(re.escape(SCIM_TOKEN_PREFIX) + r"[A-Za-z0-9_-]{1,200}")


class TokenVerifier:
    """Finds the client of a request's bearer token. A verified token is remembered for
    ``cache_seconds`` so busy clients do not cost a store lookup per request; unknown
    tokens are never remembered, so a token works as soon as it is created. Tokens are
    remembered by their hash (:func:`~relay.store.base.hash_token`), as the store keeps them."""

    def __init__(
        self,
        store: Store,
        *,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._known: dict[str, tuple[str, float]] = {}

    async def client(self, authorization: str | None) -> str:
        """The client name; raises a 401 :class:`~relay.directory.errors.ScimError`."""
        if not authorization:
            raise unauthorized("send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("the Authorization header must be 'Bearer <token>'")
        if not _TOKEN_TEXT.fullmatch(token):
            # Not one of ours; and a header that is not UTF-8 could not even be hashed.
            raise unauthorized("the bearer token is not valid")
        now = self.clock()
        key = hash_token(token)
        cached = self._known.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        client = await self.store.verify_scim_token(token)
        if client is None:
            raise unauthorized("the bearer token is not valid")
        if len(self._known) >= MAX_CACHED_TOKENS:
            self._known.clear()
        self._known[key] = (client, now + self.cache_seconds)
        return client


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
