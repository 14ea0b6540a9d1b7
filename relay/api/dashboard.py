"""Serves the dashboard: a few static files under ``/dashboard/`` that read the admin API.

The files are public (they hold no data); everything they show comes from ``/api/v1`` with
the API token the operator signs in with. Only the files shipped in ``relay/api/dashboard/``
are served, looked up by name in a table made when the relay starts, so no request path
can reach outside that folder. Every answer carries a Content-Security-Policy that allows
scripts, styles and requests from the relay alone, with no inline script or style, and
forbids framing: a name like ``<img onerror=...>`` shown by the dashboard stays text even
if a page ever slipped, and the dashboard cannot be clickjacked.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from relay.keys import SETTINGS

#: The folder of the dashboard's files.
FILES = Path(__file__).with_name("dashboard")
PATH = "/dashboard/"
INDEX = "index.html"

#: What a page may load and do: everything from the relay, nothing inline, no framing.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
#: Headers of every dashboard answer. The files change with the relay's version, so the
#: browser asks again each time (answered 304 through ETag / Last-Modified when unchanged).
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
#: The file types served, with their media types; other files in the folder are not.
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

DASHBOARD_FILES: web.AppKey[dict[str, Path]] = web.AppKey("dashboard_files")


def shipped_files(folder: Path = FILES) -> dict[str, Path]:
    """The servable files in ``folder`` by name. The folder is flat, as the package data
    that installs it (``api/dashboard/*``): files in a subfolder are not served."""
    return {
        path.name: path
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix in MEDIA_TYPES
    }


def setup(app: web.Application) -> None:
    """Serve the dashboard from ``app`` at ``/dashboard/``, and lead ``/`` there, unless
    relay.toml turns it off (``[api] dashboard = false``)."""
    if not app[SETTINGS].api.dashboard:
        return
    app[DASHBOARD_FILES] = shipped_files()
    app.router.add_get("/", _to_dashboard)
    app.router.add_get(PATH.rstrip("/"), _to_dashboard)
    app.router.add_get(PATH + "{name:.*}", _file)


async def _to_dashboard(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(PATH, headers=HEADERS)


async def _file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"] or INDEX
    path = request.app[DASHBOARD_FILES].get(name)
    if path is None:
        raise web.HTTPNotFound(text="no such dashboard file\n", headers=HEADERS)
    return web.FileResponse(path, headers={**HEADERS, "Content-Type": MEDIA_TYPES[path.suffix]})
