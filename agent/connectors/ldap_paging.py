"""Paged searches (RFC 2696, Simple Paged Results) that outlive one call.

A directory ties a paged search's cookie to the connection that started it (OpenLDAP keeps
one per connection and forgets it when another paged search starts there), while the pool's
connections serve whichever operation comes next. So each paged search gets a connection of
its own, kept until its last page or until it has been idle for ``timeout`` seconds; the
contract's cookie names that search and carries the server's cookie.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException

from agent.connectors.ldap_pool import ConnectionPool, unbind_quietly
from shared.exceptions import ConnectorError, InvalidDataError

PAGED_RESULTS = "1.2.840.113556.1.4.319"

#: One search request: base, filter, scope and attributes; the same on every page.
Request = tuple[str, str, str, tuple[str, ...]]
#: Entries of one page as ldap3 answers them.
Entries = list[dict[str, Any]]
#: Translates an error of the search at a base DN.
Classify = Callable[[LDAPException, str], ConnectorError]


@dataclass
class _Search:
    request: Request
    size: int
    connection: ldap3.Connection
    last_used: float = field(default_factory=time.monotonic)


class PagedSearches:
    """The paged searches in progress, at most ``limit`` at once (the oldest idle one is
    closed to make room). A search is taken out while a page of it runs, so a cookie used
    twice at once finds it gone the second time."""

    def __init__(
        self, pool: ConnectionPool, *, timeout: float, limit: int, classify: Classify
    ) -> None:
        self._pool = pool
        self._timeout = timeout
        self._limit = limit
        self._classify = classify
        self._searches: dict[str, _Search] = {}
        self._lock = threading.Lock()

    async def page(
        self, request: Request, size: int, cookie: str | None
    ) -> tuple[Entries, str | None]:
        """One page of ``request`` and the cookie of the next, ``None`` after the last."""
        return await self._pool.run_alone(lambda: self._page(request, size, cookie))

    async def close(self) -> None:
        with self._lock:
            searches, self._searches = list(self._searches.values()), {}
        for search in searches:
            await self._pool.run_alone(partial(unbind_quietly, search.connection))

    def _page(self, request: Request, size: int, cookie: str | None) -> tuple[Entries, str | None]:
        self._expire()
        if cookie is None:
            search_id = secrets.token_urlsafe(12)
            search = _Search(request, size, self._pool.open_connection())
            server_cookie = b""
        else:
            search_id, server_cookie = _parse(cookie)
            with self._lock:
                found = self._searches.pop(search_id, None)
            if found is None:
                raise InvalidDataError(
                    "this paged search expired or is unknown (an agent restart, or idle longer"
                    " than page_timeout); start it again without a cookie"
                )
            if found.request != request or found.size != size:
                unbind_quietly(found.connection)
                raise InvalidDataError("a cookie must be used with the same search and page size")
            search = found
        entries, next_cookie = self._run(search, server_cookie)
        if next_cookie:
            search.last_used = time.monotonic()
            with self._lock:
                self._searches[search_id] = search
            return entries, _format(search_id, next_cookie)
        unbind_quietly(search.connection)
        return entries, None

    def _run(self, search: _Search, server_cookie: bytes) -> tuple[Entries, bytes]:
        base, flt, scope, attributes = search.request
        conn = search.connection
        try:
            conn.search(
                base,
                flt,
                scope,
                attributes=list(attributes),
                paged_size=search.size,
                paged_cookie=server_cookie or None,
            )
        except LDAPException as exc:
            unbind_quietly(conn)
            raise self._classify(exc, base) from exc
        entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
        control = (conn.result.get("controls") or {}).get(PAGED_RESULTS, {})
        next_cookie = control.get("value", {}).get("cookie") or b""
        return entries, bytes(next_cookie)

    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            stale = [k for k, s in self._searches.items() if now - s.last_used > self._timeout]
            if len(self._searches) - len(stale) >= self._limit:
                oldest = min(
                    (k for k in self._searches if k not in stale),
                    key=lambda k: self._searches[k].last_used,
                )
                stale.append(oldest)
            closing = [self._searches.pop(k) for k in stale]
        for search in closing:
            unbind_quietly(search.connection)


def _format(search_id: str, server_cookie: bytes) -> str:
    return f"{search_id}.{base64.urlsafe_b64encode(server_cookie).decode('ascii')}"


def _parse(cookie: str) -> tuple[str, bytes]:
    search_id, dot, encoded = cookie.partition(".")
    try:
        if not dot:
            raise ValueError("no separator")
        return search_id, base64.urlsafe_b64decode(encoded.encode("ascii"))
    except (ValueError, binascii.Error) as exc:
        raise InvalidDataError("this page cookie was not made by this connector") from exc
