"""Fixtures for admin API tests: a real relay on a free loopback port, and a client.

- ``relay_settings``: the :class:`RelaySettings` the relay starts with. A test module that
  needs others (a built-in connector, say) overrides this fixture.
- ``relay``: a started relay (:class:`ApiRelay`, an e2e :class:`RelayHarness`, so
  ``tests.e2e.harness.registered_agent(relay, ...)`` works on it) with ``.url``, ``.app``,
  ``.store``, ``.hub``, ``.data_dir`` and two API tokens made in its store:
  ``.admin_token`` (named "admin") and ``.viewer_token`` (named "viewer"); ``relay[KEY]``
  is a resource of the running application (``relay[METRICS]``).
- ``api``: ``await api(method, path, token=..., json=...) -> (status, body)``; ``path`` is
  below ``/api/v1`` (``"/agents"``), ``token`` defaults to the admin token (None sends no
  ``Authorization`` header), ``body`` is the parsed JSON (None when there is none, the text
  when it is not JSON). ``await api.raw(...)`` answers an :class:`Answer` with the headers.
- every test here gets the logging set-up back as it was: the CLI's ``main()`` configures
  structlog and the root logger for the stream it is given.
"""

from __future__ import annotations

import enum
import json as jsonlib
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web

from relay.api.routes import PREFIX
from relay.settings import RelaySettings
from relay.store.base import ApiRole
from tests.e2e.harness import RelayHarness
from tests.relay.api.cli_relay import saved_logging
from tests.servers.ports import free_port

T = TypeVar("T")

#: Seconds any one API call of a test may take.
CALL_TIMEOUT = 30.0


@dataclass
class ApiRelay(RelayHarness):
    """A relay with an admin and a viewer API token."""

    admin_token: str = ""
    viewer_token: str = ""

    @property
    def api_url(self) -> str:
        return self.url + PREFIX

    def __getitem__(self, key: web.AppKey[T]) -> T:
        """A resource of the running relay: ``relay[METRICS]``."""
        assert self.app is not None, "the relay is not running"
        return self.app[key]


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]


class _Default(enum.Enum):
    ADMIN = enum.auto()


class Api:
    """Calls the relay's API over HTTP, as a script would."""

    def __init__(self, session: aiohttp.ClientSession, relay: ApiRelay) -> None:
        self.session = session
        self.relay = relay

    async def raw(
        self,
        method: str,
        path: str,
        *,
        token: str | _Default | None = _Default.ADMIN,
        json: Any = None,
        data: bytes | str | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if token is _Default.ADMIN:
            token = self.relay.admin_token
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        async with self.session.request(
            method,
            self.relay.api_url + path,
            json=json,
            data=data,
            params=params,
            headers=sent,
            timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT),
        ) as response:
            text = await response.text()
            body: Any = None
            if text:
                try:
                    body = jsonlib.loads(text)
                except ValueError:
                    body = text
            return Answer(response.status, body, response.headers)

    async def __call__(
        self,
        method: str,
        path: str,
        *,
        token: str | _Default | None = _Default.ADMIN,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        answer = await self.raw(method, path, token=token, json=json, params=params)
        return answer.status, answer.body


@pytest.fixture
def relay_settings() -> RelaySettings:
    return RelaySettings(
        listen=f"127.0.0.1:{free_port()}", revocation_check_interval=0.2, shutdown_timeout=2
    )


@pytest.fixture
async def relay(tmp_path: Path, relay_settings: RelaySettings) -> AsyncIterator[ApiRelay]:
    harness = ApiRelay(tmp_path / "relay", relay_settings)
    await harness.start()
    try:
        _, harness.admin_token = await harness.store.create_api_token("admin", ApiRole.ADMIN)
        _, harness.viewer_token = await harness.store.create_api_token("viewer", ApiRole.VIEWER)
        yield harness
    finally:
        await harness.stop()


@pytest.fixture
async def api(relay: ApiRelay) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, relay)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    with saved_logging():
        yield
