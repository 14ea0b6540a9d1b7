"""The dashboard's files as a browser gets them, without a browser: what is served, with
which headers, what is refused, and that the files themselves load nothing from elsewhere
and never turn data into HTML."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDict
from yarl import URL

from relay.api.dashboard import FILES, shipped_files
from relay.api.settings import ApiSettings
from relay.settings import RelaySettings
from tests.e2e.harness import RelayHarness
from tests.relay.api.conftest import ApiRelay
from tests.servers.ports import free_port

TIMEOUT = aiohttp.ClientTimeout(total=30)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


async def fetch(
    http: aiohttp.ClientSession, url: str, **headers: str
) -> tuple[int, CIMultiDict[str], bytes]:
    """GET ``url`` exactly as written (no path normalising), without following redirects."""
    async with http.get(URL(url, encoded=True), allow_redirects=False, headers=headers) as answer:
        return answer.status, CIMultiDict(answer.headers), await answer.read()


def assert_guarded(headers: CIMultiDict[str]) -> None:
    policy = headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-cache"


async def test_the_page_is_served_with_a_strict_content_security_policy(
    relay: ApiRelay, http: aiohttp.ClientSession
) -> None:
    status, headers, body = await fetch(http, relay.url + "/dashboard/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert_guarded(headers)
    assert b"<title>Hatchway</title>" in body


async def test_every_shipped_file_is_served_with_its_media_type(
    relay: ApiRelay, http: aiohttp.ClientSession
) -> None:
    files = shipped_files()
    assert {"index.html", "app.js", "api.js", "dom.js", "style.css", "jobs.js"} <= set(files)
    media = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
    media[".svg"] = "image/svg+xml"
    for name, path in files.items():
        status, headers, body = await fetch(http, f"{relay.url}/dashboard/{name}")
        assert status == 200, name
        assert headers["Content-Type"].split(";")[0] == media[path.suffix], name
        assert_guarded(headers)
        assert body == path.read_bytes()


async def test_an_unchanged_file_is_answered_not_modified(
    relay: ApiRelay, http: aiohttp.ClientSession
) -> None:
    _, headers, _ = await fetch(http, relay.url + "/dashboard/app.js")
    status, _, body = await fetch(
        http, relay.url + "/dashboard/app.js", **{"If-None-Match": headers["ETag"]}
    )
    assert (status, body) == (304, b"")


@pytest.mark.parametrize("path", ["/dashboard", "/"])
async def test_the_dashboard_is_found_from_the_relay_root(
    relay: ApiRelay, http: aiohttp.ClientSession, path: str
) -> None:
    status, headers, _ = await fetch(http, relay.url + path)
    assert status == 302
    assert headers["Location"] == "/dashboard/"


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/../relay/app.py",
        "/dashboard/%2e%2e/dashboard.py",
        "/dashboard/..%2fdashboard.py",
        "/dashboard/x/../../dashboard.py",
        "/dashboard/%2e%2e%2f%2e%2e%2fsettings.py",
        "/dashboard//etc/passwd",
        "/dashboard/%2Fetc%2Fpasswd",
        "/dashboard/..%5cdashboard.py",
        "/dashboard/nothing-here.js",
        "/dashboard/x/",
    ],
)
async def test_nothing_outside_the_shipped_files_is_served(
    relay: ApiRelay, http: aiohttp.ClientSession, path: str
) -> None:
    status, headers, body = await fetch(http, relay.url + path)
    assert status in (400, 404), (path, status)
    assert b"import" not in body and b"root:" not in body
    if status == 404 and path.startswith("/dashboard/"):
        assert_guarded(headers)


def test_only_pages_scripts_styles_and_images_are_shipped(tmp_path: Path) -> None:
    for name in ("index.html", "app.js", "style.css", "icon.svg", "notes.md", "tool.py"):
        (tmp_path / name).write_text("x")
    # A subfolder is not installed with the package, so it is not served either.
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "jobs.js").write_text("x")
    assert sorted(shipped_files(tmp_path)) == ["app.js", "icon.svg", "index.html", "style.css"]


async def test_a_relay_with_the_dashboard_turned_off_serves_none(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    settings = RelaySettings(
        listen=f"127.0.0.1:{free_port()}", shutdown_timeout=2, api=ApiSettings(dashboard=False)
    )
    relay = RelayHarness(tmp_path / "relay", settings)
    await relay.start()
    try:
        for path in ("/dashboard/", "/dashboard/app.js", "/"):
            status, _, _ = await fetch(http, relay.url + path)
            assert status == 404, path
    finally:
        await relay.stop()


class _Page(HTMLParser):
    """What index.html loads and whether anything in it is inline."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.loads += [v for k, v in attrs if k in ("src", "href") and v is not None]
        self.inline += [f"{tag} {k}" for k, _ in attrs if k == "style" or k.startswith("on")]
        if tag == "style":
            self.inline.append("style element")
        self._in_script = tag == "script"
        if tag == "script" and "src" not in found:
            self.inline.append("script without src")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("script text")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def test_the_page_loads_only_its_own_files_and_has_nothing_inline() -> None:
    page = _Page()
    page.feed((FILES / "index.html").read_text(encoding="utf-8"))
    assert page.inline == []
    files = shipped_files()
    for url in page.loads:
        if url.startswith("#"):
            continue
        assert url in files, f"index.html loads {url}, which is not a shipped file"


#: What would parse data as HTML or code, or fetch from elsewhere.
_UNSAFE = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
    r"setAttribute\(\s*[\"']on|@import|url\(\s*[\"']?(https?:)?//|import\s*\(|https?://(?!www\.w3\.org/2000/svg)"
)


def test_no_script_or_style_turns_data_into_html_or_fetches_from_elsewhere() -> None:
    for name, path in shipped_files().items():
        if path.suffix not in (".js", ".css"):
            continue
        text = path.read_text(encoding="utf-8")
        found = _UNSAFE.search(text)
        assert found is None, f"{name}: {found.group(0) if found else ''}"
        for module in re.findall(r"from\s+\"([^\"]+)\"", text):
            assert module.startswith("./"), f"{name} imports {module} from elsewhere"
            assert module[2:] in shipped_files(), f"{name} imports {module}, not shipped"
