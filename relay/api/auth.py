"""Who is calling the admin API: API tokens and their roles.

Only API tokens (``hwa_...``) open the API. An agent has no token at all (it signs with its
key on the websocket); a SCIM client's token or a registration token sent here is refused
with a message that says which token it is, so nobody mistakes a 401 for a typo.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from relay.api.exceptions import Forbidden, Unauthenticated
from relay.store.base import (
    API_TOKEN_PREFIX,
    REGISTRATION_TOKEN_PREFIX,
    SCIM_TOKEN_PREFIX,
    ApiRole,
    ApiToken,
    Store,
    hash_token,
)

#: Most verified tokens remembered at once; the cache starts over when full.
MAX_CACHED_TOKENS = 1024

#: What an API token looks like: the prefix and URL-safe base64.
_TOKEN_TEXT = re.compile(re.escape(API_TOKEN_PREFIX) + r"[A-Za-z0-9_-]{1,200}")

_OTHER_TOKENS = {
    SCIM_TOKEN_PREFIX: "a SCIM client token only opens /scim/v2",
    REGISTRATION_TOKEN_PREFIX: "a registration token only registers an agent",
}


class ApiTokenVerifier:
    """Finds the API token of a request. A verified token is remembered for
    ``cache_seconds`` (default 5 s), so a revoked token stops working within that time;
    unknown tokens are never remembered, so a new token works at once."""

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
        self._known: dict[str, tuple[ApiToken, float]] = {}
        #: Grows with every :meth:`forget`: a token read from the store before a
        #: revocation and answered after it is not remembered.
        self._forgotten = 0

    async def token(self, authorization: str | None) -> ApiToken:
        """The token of an ``Authorization`` header; raises :class:`Unauthenticated`."""
        if not authorization:
            raise Unauthenticated("send 'Authorization: Bearer <API token>'")
        scheme, _, secret = authorization.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise Unauthenticated("the Authorization header must be 'Bearer <API token>'")
        for prefix, what in _OTHER_TOKENS.items():
            if secret.startswith(prefix):
                raise Unauthenticated(
                    f"{what}; the admin API needs an API token (hatchway relay api-token create)"
                )
        if not _TOKEN_TEXT.fullmatch(secret):
            # Checked before hashing: a header's bytes that are not UTF-8 cannot be hashed.
            raise Unauthenticated("the API token is not valid (not an API token)")
        now = self.clock()
        key = hash_token(secret)
        cached = self._known.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        forgotten = self._forgotten
        found = await self.store.verify_api_token(secret)
        if found is None:
            self._known.pop(key, None)
            raise Unauthenticated("the API token is not valid (unknown or revoked)")
        if forgotten == self._forgotten:
            if len(self._known) >= MAX_CACHED_TOKENS:
                self._known.clear()
            self._known[key] = (found, now + self.cache_seconds)
        return found

    def forget(self) -> None:
        """Drop every remembered token (after a revocation through the API)."""
        self._known.clear()
        self._forgotten += 1


def require(token: ApiToken, role: ApiRole) -> None:
    """Raise :class:`Forbidden` unless ``token`` may act with ``role``."""
    if role is ApiRole.ADMIN and token.role is not ApiRole.ADMIN:
        raise Forbidden(f"API token {token.name!r} is a viewer token; this needs an admin token")
