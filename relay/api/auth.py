"""Who is calling the admin API: API tokens and their roles.

Only API tokens (``hwa_...``) open the API. An agent has no token at all (it signs with its
key on the websocket); a SCIM client's token or a registration token sent here is refused
with a message that says which token it is, so nobody mistakes a 401 for a typo.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from relay.api.exceptions import Forbidden, Unauthenticated
from relay.bearer import TokenCache, bearer, token_pattern
from relay.store.base import (
    API_TOKEN_PREFIX,
    REGISTRATION_TOKEN_PREFIX,
    SCIM_TOKEN_PREFIX,
    ApiRole,
    ApiToken,
    Store,
)

_TOKEN_TEXT = token_pattern(API_TOKEN_PREFIX)

_OTHER_TOKENS = {
    SCIM_TOKEN_PREFIX: "a SCIM client token only opens /scim/v2",
    REGISTRATION_TOKEN_PREFIX: "a registration token only registers an agent",
}


class ApiTokenVerifier:
    """Finds the API token of a request; verified tokens are remembered for
    ``cache_seconds`` (default 5 s, see :class:`~relay.bearer.TokenCache`)."""

    def __init__(
        self,
        store: Store,
        *,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.cache: TokenCache[ApiToken] = TokenCache(cache_seconds=cache_seconds, clock=clock)

    async def token(self, authorization: str | None) -> ApiToken:
        """The token of an ``Authorization`` header; raises :class:`Unauthenticated`."""
        try:
            secret = bearer(authorization)
        except ValueError as exc:
            raise Unauthenticated(f"{exc} (an API token)") from exc
        for prefix, what in _OTHER_TOKENS.items():
            if secret.startswith(prefix):
                raise Unauthenticated(
                    f"{what}; the admin API needs an API token (hatchway relay api-token create)"
                )
        if not _TOKEN_TEXT.fullmatch(secret):
            raise Unauthenticated("the API token is not valid (not an API token)")
        found = await self.cache.verified(secret, self.store.verify_api_token)
        if found is None:
            raise Unauthenticated("the API token is not valid (unknown or revoked)")
        return found

    def forget(self) -> None:
        """Drop every remembered token (after a revocation through the API)."""
        self.cache.forget()


def require(token: ApiToken, role: ApiRole) -> None:
    """Raise :class:`Forbidden` unless ``token`` may act with ``role``."""
    if role is ApiRole.ADMIN and token.role is not ApiRole.ADMIN:
        raise Forbidden(f"API token {token.name!r} is a viewer token; this needs an admin token")
