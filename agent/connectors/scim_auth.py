"""The ways a SCIM connector proves who it is: none, a bearer token, HTTP basic, or an
OAuth 2.0 client credentials grant (RFC 6749 section 4.4) whose token is cached and
fetched again before it expires.

Each kind gives the ``Authorization`` header of the next request, and a ``hint`` that
tells an administrator which setting to fix when the service refuses the credentials.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import aiohttp

from agent.connectors.scim_settings import AuthKind, ClientAuth, ScimSettings
from shared.exceptions import (
    AuthenticationError,
    OperationTimeoutError,
    UnavailableError,
)

#: A token is fetched again this long before it expires, at most (and at 90 % of its life
#: for short-lived tokens), so a request never leaves with a token about to lapse.
REFRESH_MARGIN = 60.0


class Credentials:
    """What a request carries to authenticate; this base class carries nothing, for
    ``auth = "none"`` (a service on loopback or behind a trusted proxy)."""

    hint = 'the connector sends no credentials (auth = "none"); set auth and its keys'

    async def authorization(self, session: aiohttp.ClientSession) -> str | None:
        return None

    def refused(self) -> bool:
        """Forget credentials the service refused; True if fresh ones are worth a retry."""
        return False


class BearerToken(Credentials):
    hint = "check the bearer token in the connector's token setting"

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    async def authorization(self, session: aiohttp.ClientSession) -> str | None:
        return self._header


class BasicCredentials(Credentials):
    hint = "check the connector's username and password settings"

    def __init__(self, username: str, password: str) -> None:
        pair = f"{username}:{password}".encode()
        self._header = f"Basic {base64.b64encode(pair).decode('ascii')}"

    async def authorization(self, session: aiohttp.ClientSession) -> str | None:
        return self._header


class ClientCredentials(Credentials):
    """An OAuth 2.0 access token from a token endpoint, shared by concurrent requests."""

    hint = "check client_id, client_secret and scope, and that the token endpoint trusts them"

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None,
        client_auth: ClientAuth,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._client_auth = client_auth
        self._timeout = timeout
        #: The time source; tests replace it to see a token refreshed without waiting.
        self.clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        #: Tokens fetched so far, for status and tests.
        self.fetched = 0

    async def authorization(self, session: aiohttp.ClientSession) -> str | None:
        if self._token is None or self.clock() >= self._refresh_at:
            async with self._lock:
                if self._token is None or self.clock() >= self._refresh_at:
                    await self._fetch(session)
        return f"Bearer {self._token}"

    def refused(self) -> bool:
        had = self._token is not None
        self._token = None
        return had

    async def _fetch(self, session: aiohttp.ClientSession) -> None:
        form = {"grant_type": "client_credentials"}
        headers = {"Accept": "application/json"}
        if self._scope:
            form["scope"] = self._scope
        if self._client_auth is ClientAuth.BASIC:
            pair = f"{_form_quote(self._client_id)}:{_form_quote(self._client_secret)}"
            headers["Authorization"] = f"Basic {base64.b64encode(pair.encode()).decode()}"
        else:
            form["client_id"] = self._client_id
            form["client_secret"] = self._client_secret
        what = f"fetching an OAuth token from {self.token_url}"
        started = self.clock()
        try:
            async with session.post(
                self.token_url,
                data=form,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                status = response.status
                raw = await response.read()
        except TimeoutError as exc:
            raise OperationTimeoutError(f"{what}: no answer within {self._timeout} s") from exc
        except aiohttp.ClientError as exc:
            raise UnavailableError(f"{what}: {exc}") from exc
        body = _json(raw)
        if status in (400, 401, 403):
            error = body.get("error") if isinstance(body, dict) else None
            raise AuthenticationError(
                f"{what}: the token endpoint refused the client (HTTP {status}"
                f"{', ' + error if isinstance(error, str) else ''}); {self.hint}"
            )
        if status != 200 or not isinstance(body, dict):
            raise UnavailableError(f"{what}: unexpected answer (HTTP {status})")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise UnavailableError(f"{what}: the answer has no access_token")
        self._token = token
        self.fetched += 1
        lifetime = body.get("expires_in")
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
            self._refresh_at = started + max(lifetime - REFRESH_MARGIN, lifetime * 0.9)
        else:
            self._refresh_at = float("inf")  # kept until the service refuses it


def _form_quote(text: str) -> str:
    """RFC 6749 section 2.3.1: id and secret are form-encoded before basic encoding."""
    return quote_plus(text)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def credentials(settings: ScimSettings) -> Credentials:
    """The credentials the settings describe; their secrets are revealed only here."""
    match settings.auth:
        case AuthKind.BEARER:
            assert settings.token is not None
            return BearerToken(settings.token.reveal())
        case AuthKind.BASIC:
            assert settings.username is not None
            assert settings.password is not None
            return BasicCredentials(settings.username, settings.password.reveal())
        case AuthKind.OAUTH2:
            assert settings.token_url is not None
            assert settings.client_id is not None
            assert settings.client_secret is not None
            return ClientCredentials(
                settings.token_url,
                settings.client_id,
                settings.client_secret.reveal(),
                scope=settings.scope,
                client_auth=settings.client_auth,
                timeout=settings.timeout,
            )
    return Credentials()
