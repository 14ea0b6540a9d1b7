"""A headless Chromium for end-to-end tests, driven over the Chrome DevTools Protocol.

Debian's ``chromium`` runs as a child process with ``--remote-debugging-port=0``; it writes
the port it chose and its browser websocket path to ``DevToolsActivePort`` in its profile
folder. One websocket (the ``websockets`` library) carries every command; a page is a
target attached in flat mode, so its commands carry a session id. Tests act on a page the
way a person would, through the DOM: :meth:`Page.click` and :meth:`Page.fill` run a few
lines of JavaScript in the page, and :meth:`Page.wait_for` polls an expression until it is
truthy or its timeout passes. Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

CHROMIUM = "/usr/bin/chromium"
#: Seconds Chromium has to start and write its DevTools port.
START_TIMEOUT = 30.0
#: Seconds a DevTools command may take.
COMMAND_TIMEOUT = 30.0
#: Seconds :meth:`Page.wait_for` waits by default.
WAIT_TIMEOUT = 10.0
#: Seconds between two looks at a condition.
POLL_INTERVAL = 0.05
#: The window the dashboard is drawn in (and its screenshots taken at).
WINDOW = (1280, 860)


class BrowserError(Exception):
    """Chromium failed, a DevTools command failed, or a wait ran out of time."""


@dataclass
class _Connection:
    """The DevTools websocket: commands matched to answers by id, page events recorded."""

    socket: ClientConnection
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.reader = asyncio.create_task(self._read(), name="devtools-reader")

    async def _read(self) -> None:
        try:
            async for raw in self.socket:
                message = json.loads(raw)
                future = self.pending.pop(message.get("id", -1), None)
                if future is not None and not future.done():
                    future.set_result(message)
                elif "method" in message:
                    self.events.append(message)
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(BrowserError("the DevTools connection closed"))

    async def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = COMMAND_TIMEOUT,
    ) -> dict[str, Any]:
        """Run a DevTools command and return its result; raises :class:`BrowserError`
        with the protocol's message when it fails or takes over ``timeout`` seconds."""
        command_id = next(self.ids)
        message: dict[str, Any] = {"id": command_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[command_id] = future
        await self.socket.send(json.dumps(message))
        try:
            answer = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise BrowserError(f"{method} got no answer within {timeout} s") from None
        finally:
            self.pending.pop(command_id, None)
        if "error" in answer:
            raise BrowserError(f"{method} failed: {answer['error'].get('message')}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def close(self) -> None:
        await self.socket.close()
        if self.reader is not None:
            with contextlib.suppress(BrowserError):
                await self.reader


class Page:
    """One browser tab."""

    def __init__(self, connection: _Connection, session: str) -> None:
        self._connection = connection
        self._session = session

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._connection.send(method, params, session=self._session)

    async def goto(self, url: str, *, timeout: float = WAIT_TIMEOUT) -> None:
        """Open ``url`` and wait until its document has loaded."""
        answer = await self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise BrowserError(f"{url}: {answer['errorText']}")
        await self.wait_for("document.readyState === 'complete'", timeout=timeout)

    async def reload(self, *, timeout: float = WAIT_TIMEOUT) -> None:
        """Reload the page and wait until the new document has loaded. The old document is
        marked first: until the reload has begun, it would answer for the new one."""
        await self.evaluate("window.hatchwayReloading = true; location.reload()")
        await self.wait_for(
            "!window.hatchwayReloading && document.readyState === 'complete'",
            timeout=timeout,
            what="the reloaded page",
        )

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited if a promise);
        a thrown exception is raised as :class:`BrowserError`."""
        answer = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"{expression!r} threw: {text}")
        return answer["result"].get("value")

    async def wait_for(
        self, expression: str, *, timeout: float = WAIT_TIMEOUT, what: str | None = None
    ) -> Any:
        """The first truthy value of ``expression`` (true for an element), looked at every
        :data:`POLL_INTERVAL` seconds; :class:`BrowserError` after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # An element found is true (as a value it would come back as an empty object).
        probe = (
            f"(() => {{ const found = ({expression}); return found instanceof Node || found; }})()"
        )
        while True:
            value = await self.evaluate(probe)
            if value:
                return value
            if loop.time() > deadline:
                raise BrowserError(
                    f"waited {timeout} s for {what or expression!r}; the page shows:\n"
                    + str(await self.text("body"))
                )
            await asyncio.sleep(POLL_INTERVAL)

    async def click(self, selector: str, *, timeout: float = WAIT_TIMEOUT) -> None:
        """Click the first element matching ``selector`` once there is one."""
        await self.wait_for(f"document.querySelector({json.dumps(selector)})", timeout=timeout)
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    async def fill(self, selector: str, value: str, *, timeout: float = WAIT_TIMEOUT) -> None:
        """Type ``value`` into a form field, as if typed (an ``input`` event is sent)."""
        await self.wait_for(f"document.querySelector({json.dumps(selector)})", timeout=timeout)
        await self.evaluate(
            f"(() => {{ const field = document.querySelector({json.dumps(selector)});"
            f" field.value = {json.dumps(value)};"
            " field.dispatchEvent(new Event('input', {bubbles: true}));"
            " field.dispatchEvent(new Event('change', {bubbles: true})); })()"
        )

    async def text(self, selector: str) -> str | None:
        """The visible text of the first element matching ``selector`` (None: none)."""
        value = await self.evaluate(
            f"document.querySelector({json.dumps(selector)})?.innerText ?? null"
        )
        return None if value is None else str(value)

    async def count(self, selector: str) -> int:
        return int(await self.evaluate(f"document.querySelectorAll({json.dumps(selector)}).length"))

    async def screenshot(self, path: Path) -> None:
        """Save the whole page as a PNG."""
        metrics = await self.send("Page.getLayoutMetrics")
        height = max(WINDOW[1], int(metrics["cssContentSize"]["height"]))
        answer = await self.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": WINDOW[0], "height": height, "scale": 1},
            },
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(answer["data"]))

    def dialogs(self) -> list[str]:
        """The messages of the alert, confirm and prompt dialogs the page opened."""
        return [
            e["params"]["message"]
            for e in self._connection.events
            if e.get("sessionId") == self._session and e["method"] == "Page.javascriptDialogOpening"
        ]

    def problems(self) -> list[str]:
        """Uncaught exceptions, console errors and refused resources (a CSP violation is
        one) the page has reported so far; failed HTTP answers are not among them."""
        found = []
        for event in self._connection.events:
            if event.get("sessionId") != self._session:
                continue
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description") or details["text"])
            elif event["method"] == "Log.entryAdded":
                entry = params["entry"]
                # An API call answered 401 or 403 is reported as a failed load; the
                # page handles those, so only other errors count.
                if entry["level"] == "error" and entry.get("source") != "network":
                    found.append(entry["text"])
            elif event["method"] == "Runtime.consoleAPICalled" and params["type"] == "error":
                found.append(" ".join(str(a.get("value", "")) for a in params["args"]))
        return found


class Browser:
    """A running headless Chromium; :func:`chromium` starts and stops one."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    async def new_page(self) -> Page:
        target = await self._connection.send("Target.createTarget", {"url": "about:blank"})
        attached = await self._connection.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self._connection, attached["sessionId"])
        for domain in ("Page", "Runtime", "Log"):
            await page.send(f"{domain}.enable")
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False},
        )
        return page


@contextlib.asynccontextmanager
async def chromium(
    *, executable: str = CHROMIUM, start_timeout: float = START_TIMEOUT
) -> AsyncIterator[Browser]:
    """Start a headless Chromium with a throwaway profile; it is closed on exit."""
    profile = Path(tempfile.mkdtemp(prefix="hatchway-chromium-"))
    log = (profile / "chromium.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        executable,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log,
    )
    connection: _Connection | None = None
    try:
        url = await _devtools_url(process, profile / "DevToolsActivePort", start_timeout)
        socket = await connect(url, max_size=64 * 1024 * 1024, open_timeout=start_timeout)
        connection = _Connection(socket)
        connection.start()
        yield Browser(connection)
    finally:
        if connection is not None:
            with contextlib.suppress(BrowserError):
                await connection.send("Browser.close", timeout=5)
            await connection.close()
        await _ended(process)
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


async def _devtools_url(
    process: asyncio.subprocess.Process, port_file: Path, timeout: float
) -> str:
    """The browser's websocket URL, once Chromium has written its port file."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        lines = port_file.read_text().split("\n") if port_file.exists() else []
        if len(lines) >= 2 and lines[0].isdigit() and lines[1]:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        if process.returncode is not None or loop.time() > deadline:
            output = port_file.with_name("chromium.log").read_text(errors="replace")
            raise BrowserError(
                f"chromium did not start within {timeout} s (exit code {process.returncode}):\n"
                + output[-2000:]
            )
        await asyncio.sleep(POLL_INTERVAL)


async def _ended(process: asyncio.subprocess.Process, timeout: float = 10.0) -> None:
    """Wait for Chromium to exit after Browser.close, killing it if it does not."""
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
