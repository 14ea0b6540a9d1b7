"""A client of the admin API, for the ``hatchway`` CLI and for scripts written in Python.

It speaks the API's conventions so its callers need not: the bearer token on every call,
JSON in and out, lists read page by page through their ``next`` cursor, and every failure
turned into one :class:`~relay.api.exceptions.ApiCallError` whose text is one readable
line: ``cannot reach the relay at URL: ...`` when nothing answered, ``<code>: <message>``
when the relay answered with an error. A redirect is not followed but reported with the
address it leads to: following it would drop the token on the way to another origin (the
relay would answer that no token was given) and turn a POST into a GET. Use it as an
async context manager::

    async with ApiClient("http://127.0.0.1:8080", token) as api:
        jobs = await api.get("/jobs")
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from relay.api.exceptions import ApiCallError
from relay.api.routes import MAX_LIMIT, PREFIX
from shared import __version__

#: Seconds a call may take by default, from sending the request to the last byte of the
#: answer: the API answers from the store, so this only runs out when something is wrong.
DEFAULT_TIMEOUT = 30.0
#: Seconds for calls in which the relay does a target's work while the caller waits
#: (provisioning on demand, a dry run over the whole directory).
LONG_TIMEOUT = 300.0

Params = Mapping[str, str | int | float | None]


def api_path(*segments: str) -> str:
    """A path below ``/api/v1`` from its segments, each quoted (a name may hold any
    character the API accepts, ``/`` included)."""
    return "".join("/" + quote(segment, safe="") for segment in segments)


class ApiClient:
    """Calls the admin API of the relay at ``url`` (``http(s)://host:port``, without the
    ``/api/v1`` path) with the API token ``token``. ``timeout`` is the default of every
    call (:data:`DEFAULT_TIMEOUT`); ``ca_file`` verifies an ``https`` relay against that
    CA instead of the system's."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ca_file: Path | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.ca_file = ca_file
        self._token = token
        self._session: aiohttp.ClientSession | None = None
        self._tls: ssl.SSLContext | bool = True

    async def __aenter__(self) -> ApiClient:
        if self.ca_file is not None:
            try:
                self._tls = ssl.create_default_context(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ApiCallError(
                    "tls", f"cannot load CA certificates from {self.ca_file}: {exc}"
                ) from exc
        headers = {"User-Agent": f"hatchway-cli/{__version__}", "Accept": "application/json"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        self._session = aiohttp.ClientSession(headers=headers)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, path: str, params: Params | None = None, **options: Any) -> Any:
        return await self.call("GET", path, params=params, **options)

    async def post(self, path: str, body: Any = None, **options: Any) -> Any:
        return await self.call("POST", path, body=body, **options)

    async def put(self, path: str, body: Any = None, **options: Any) -> Any:
        return await self.call("PUT", path, body=body, **options)

    async def delete(self, path: str, **options: Any) -> Any:
        return await self.call("DELETE", path, **options)

    async def items(
        self, path: str, params: Params | None = None, *, cursor: str, limit: int = 0
    ) -> list[dict[str, Any]]:
        """The items of a list answer, up to ``limit`` (0: all), reading page after page:
        each answer's ``next`` is sent back as the query parameter ``cursor``."""
        out: list[dict[str, Any]] = []
        query = dict(params or {})
        while True:
            want = MAX_LIMIT if limit == 0 else min(MAX_LIMIT, limit - len(out))
            page = await self.get(path, {**query, "limit": want})
            items = page["items"]
            out.extend(items)
            after = page.get("next")
            if after is None or not items or (limit and len(out) >= limit):
                return out
            query[cursor] = after

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> Any:
        """The decoded JSON answer (None for 204 No Content). ``path`` is below
        ``/api/v1``; ``timeout`` overrides the client's default for this call."""
        if self._session is None:
            raise RuntimeError("ApiClient is used outside 'async with'")
        url = f"{self.url}{PREFIX}{path}"
        seconds = self.timeout if timeout is None else timeout
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self._session.request(
                method,
                url,
                params=query,
                json=body,
                ssl=self._tls,
                timeout=aiohttp.ClientTimeout(total=seconds),
                allow_redirects=False,
            ) as response:
                data = await response.read()
                status, reason = response.status, response.reason or ""
                location = response.headers.get("Location")
        except TimeoutError as exc:
            raise ApiCallError(
                "timeout", f"the relay at {self.url} did not answer within {seconds:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise ApiCallError(
                "unreachable", f"cannot reach the relay at {self.url}: {exc or type(exc).__name__}"
            ) from exc
        if status == 204:
            return None
        if 300 <= status < 400:
            raise ApiCallError(
                "redirected", _redirect_text(self.url, status, reason, location), http_status=status
            )
        try:
            answer = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            answer = None
        if status >= 400:
            error = answer.get("error") if isinstance(answer, dict) else None
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                code = str(error.get("code") or "error")
                raise ApiCallError(code, _one_line(error["message"]), http_status=status)
            raise ApiCallError(
                "unexpected_answer",
                f"{method} {url} answered HTTP {status} {reason} without an API error",
                http_status=status,
            )
        if answer is None:
            raise ApiCallError(
                "unexpected_answer",
                f"{method} {url} answered HTTP {status} without a JSON body",
                http_status=status,
            )
        return answer


def _redirect_text(url: str, status: int, reason: str, location: str | None) -> str:
    """Where a redirect leads, and the URL to give instead (``https://host:port``)."""
    if not location:
        return f"the relay at {url} answered HTTP {status} {reason}, a redirect without a Location"
    parts = urlsplit(location)
    instead = f" (use {parts.scheme}://{parts.netloc} as the relay's URL)" if parts.netloc else ""
    return (
        f"the relay at {url} answered HTTP {status} {reason}, a redirect to"
        f" {_one_line(location)}{instead}"
    )


def _one_line(text: str) -> str:
    """A message on one line (a job file's TOML error may span several)."""
    return " ".join(text.split())
