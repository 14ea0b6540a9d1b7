"""What the relay's two kinds of bearer tokens have in common: reading the
``Authorization`` header and remembering verified tokens for a while.

SCIM clients (``/scim/v2``) and the admin API each check their own tokens and answer a
refusal in their own error format, so this module raises nothing of theirs: it tells
what is wrong and leaves the answer to the caller.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from relay.store.base import hash_token

T = TypeVar("T")

#: Most verified tokens remembered at once; the cache starts over when full.
MAX_CACHED_TOKENS = 1024


def bearer(authorization: str | None) -> str:
    """The token of a ``Bearer`` header. Raises :class:`ValueError` saying what is wrong
    with the header (absent, another scheme, no token)."""
    if not authorization:
        raise ValueError("send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ValueError("the Authorization header must be 'Bearer <token>'")
    return token


def token_pattern(prefix: str) -> re.Pattern[str]:
    """What every token with ``prefix`` the store issues looks like. Checked before a
    token is hashed: header bytes that are not UTF-8 could not even be hashed."""
    return re.compile(re.escape(prefix) + r"[A-Za-z0-9_-]{1,200}")


class TokenCache(Generic[T]):
    """Verified tokens, remembered by hash (as the store keeps them) for ``cache_seconds``
    (default 5 s), so busy clients do not cost a store lookup per request. A revoked
    token works at most that long, or not at all after :meth:`forget`; unknown tokens
    are never remembered, so a new token works at once."""

    def __init__(
        self, *, cache_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._known: dict[str, tuple[T, float]] = {}
        #: Grows with every :meth:`forget`: a token read from the store before a
        #: revocation and answered after it is not remembered.
        self._forgotten = 0

    async def verified(self, token: str, look_up: Callable[[str], Awaitable[T | None]]) -> T | None:
        """What the token stands for (a remembered answer, or ``look_up``'s), None when
        the store does not know it."""
        now = self.clock()
        key = hash_token(token)
        cached = self._known.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        forgotten = self._forgotten
        found = await look_up(token)
        if found is None:
            self._known.pop(key, None)
            return None
        if forgotten == self._forgotten:
            if len(self._known) >= MAX_CACHED_TOKENS:
                self._known.clear()
            self._known[key] = (found, now + self.cache_seconds)
        return found

    def forget(self) -> None:
        """Drop every remembered token (after a revocation)."""
        self._known.clear()
        self._forgotten += 1
