"""HTTP to a SCIM service: one keep-alive session, a bounded number of requests in flight,
a timeout on every request, Retry-After honoured, and every failure classified.

A request waits for one of ``max_in_flight`` slots before its timeout starts, so a burst of
thousands of operations queues here instead of timing out in the connection pool. Answers
429 and 503 are retried up to ``max_retries`` times after their Retry-After (or a short
backoff without one) when that is at most ``max_retry_wait``; otherwise the error goes back
with ``retry_after`` so the engine schedules the retry. Nothing else is retried here:
repeating a write whose answer was lost could apply it twice. (aiohttp itself repeats an
idempotent request once when a kept-alive connection turns out to be closed; never a POST.)
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from agent.connectors.scim_auth import Credentials
from agent.connectors.scim_errors import classify
from agent.connectors.scim_settings import ScimSettings
from shared.exceptions import ConnectorError, OperationTimeoutError, UnavailableError

SCIM_JSON = "application/scim+json"
#: First backoff when a 429 or 503 carries no Retry-After; it doubles per retry.
BACKOFF = 0.5


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: Any


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP date (RFC 9110 10.2.3)."""
    text = headers.get("Retry-After")
    if text is None:
        return None
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def reached_server(exc: ConnectorError) -> bool:
    """Whether a failed request may have been received: False only when no connection was
    made, so a create that failed otherwise may have been applied."""
    return not isinstance(exc.__cause__, aiohttp.ClientConnectorError)


class ScimClient:
    def __init__(self, settings: ScimSettings, credentials: Credentials) -> None:
        self.settings = settings
        self.credentials = credentials
        self.base_url = settings.base_url
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            context = ssl.create_default_context(cafile=self.settings.ca_file)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.settings.max_in_flight, ssl=context),
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
                headers={"Accept": f"{SCIM_JSON}, application/json"},
                raise_for_status=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        accept: Iterable[int] = (),
        attributes: Iterable[str] = (),
    ) -> Answer:
        """Send a request and return the answer; an error status not in ``accept`` raises
        its classified error, naming one of ``attributes`` when the service's detail does."""
        session = self._open()
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        url = f"{self.base_url}{path}"
        retries = 0
        refreshed = False
        while True:
            sent = dict(headers or {})
            authorization = await self.credentials.authorization(session)
            if authorization is not None:
                sent["Authorization"] = authorization
            if payload is not None:
                sent["Content-Type"] = SCIM_JSON
            async with self._slots:
                answer = await self._attempt(session, method, url, payload, params, sent, what)
            status = answer.status
            if status == 401 and not refreshed and self.credentials.refused():
                refreshed = True
                continue
            if status in (429, 503):
                wait = retry_after(answer.headers)
                pause = wait if wait is not None else BACKOFF * 2**retries * random.uniform(1, 1.5)
                if retries < self.settings.max_retries and pause <= self.settings.max_retry_wait:
                    retries += 1
                    await asyncio.sleep(pause)
                    continue
                raise classify(status, answer.body, what=what, retry_after=wait or pause)
            if 300 <= status < 400:
                # Not followed: credentials must not travel to an address nobody configured.
                raise UnavailableError(
                    f"{what}: the service redirects to {answer.headers.get('Location')!r};"
                    " set base_url to the address it redirects to"
                )
            if status >= 400 and status not in accept:
                raise classify(
                    status,
                    answer.body,
                    what=what,
                    attributes=attributes,
                    auth_hint=self.credentials.hint,
                )
            if 200 <= status < 300 and answer.body is _MALFORMED:
                raise UnavailableError(
                    f"{what}: the service answered {status} with a body that is not JSON"
                )
            return answer

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        payload: bytes | None,
        params: Mapping[str, str] | None,
        headers: dict[str, str],
        what: str,
    ) -> Answer:
        try:
            async with session.request(
                method, url, data=payload, params=params, headers=headers, allow_redirects=False
            ) as response:
                raw = await response.read()
                return Answer(response.status, response.headers, _decode(raw))
        except TimeoutError as exc:
            raise OperationTimeoutError(
                f"{what}: no answer from {url} within {self.settings.timeout} s"
            ) from exc
        except aiohttp.ClientConnectorCertificateError as exc:
            raise UnavailableError(
                f"{what}: the certificate of {url} is not trusted ({exc.certificate_error});"
                " set ca_file to the CA that signed it"
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise UnavailableError(f"{what}: cannot connect to {url}: {exc.os_error}") from exc
        except aiohttp.ClientError as exc:
            raise UnavailableError(
                f"{what}: the connection to {url} failed before the answer arrived: {exc!r}"
            ) from exc


#: What a body that is not JSON decodes to; only a success status makes it an error.
_MALFORMED = object()


def _decode(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _MALFORMED
