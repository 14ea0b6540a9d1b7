"""What tests of the commands over the admin API share: a real relay served from a thread
with its own event loop (``main()`` runs ``asyncio.run`` itself, so the relay cannot share
the test's loop), and running ``main(argv)`` with its output captured.

``main()`` configures logging for the stream it is given; :func:`saved_logging` undoes
that, so nothing logs to a stream pytest has closed. The commands run with
``--log-level error``: the relay thread logs through the same configuration, and its
ordinary lines (every change through the API is logged) would mix with the command's
error line in the captured stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import structlog
from aiohttp import web

from relay.app import start
from relay.cli import main
from relay.keys import STORE
from relay.settings import RelaySettings
from relay.store.base import ApiRole, Store
from shared import logs

T = TypeVar("T")

#: Seconds the relay may take to start or stop, and any store call of a test to finish.
RELAY_TIMEOUT = 30.0


@contextlib.contextmanager
def saved_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)


def hatchway(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``hatchway ARGV...``: exit status, stdout, stderr."""
    code = main(["--log-level", "error", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@dataclass
class ThreadRelay:
    """A relay served by another thread, with an admin and a viewer API token."""

    url: str
    app: web.Application
    loop: asyncio.AbstractEventLoop
    admin_token: str = ""
    viewer_token: str = ""

    @property
    def store(self) -> Store:
        return self.app[STORE]

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` (a call on the relay's store, say) on the relay's loop."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(RELAY_TIMEOUT)


@contextlib.contextmanager
def relay_thread(settings: RelaySettings, data_dir: Path) -> Iterator[ThreadRelay]:
    """Serve a relay from a thread until the block ends. Its log lines below errors are
    dropped: they would land in the output the tests read."""
    with saved_logging():
        logs.configure(level="error")
        with _served(settings, data_dir) as relay:
            yield relay


@contextlib.contextmanager
def _served(settings: RelaySettings, data_dir: Path) -> Iterator[ThreadRelay]:
    ready = threading.Event()
    failure: list[BaseException] = []
    served: list[tuple[ThreadRelay, asyncio.Event]] = []

    async def serve() -> None:
        stop = asyncio.Event()
        runner = await start(settings, data_dir)
        host, port = settings.host_port
        scheme = "https" if settings.tls_certificate else "http"
        relay = ThreadRelay(f"{scheme}://{host}:{port}", runner.app, asyncio.get_running_loop())
        served.append((relay, stop))
        ready.set()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="relay")
    thread.start()
    assert ready.wait(RELAY_TIMEOUT) and not failure, failure
    relay, stop = served[0]
    try:
        _, relay.admin_token = relay.run(relay.store.create_api_token("admin", ApiRole.ADMIN))
        _, relay.viewer_token = relay.run(relay.store.create_api_token("viewer", ApiRole.VIEWER))
        yield relay
    finally:
        relay.loop.call_soon_threadsafe(stop.set)
        thread.join(RELAY_TIMEOUT)
    assert not failure, failure


def point_at(monkeypatch: pytest.MonkeyPatch, relay: ThreadRelay, config_dir: Path) -> None:
    """Have the commands call ``relay`` with its admin token, and read ``cli.toml`` (none,
    unless a test writes one) from ``config_dir`` rather than the user's folder."""
    config_dir.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HATCHWAY_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("HATCHWAY_URL", relay.url)
    monkeypatch.setenv("HATCHWAY_TOKEN", relay.admin_token)
