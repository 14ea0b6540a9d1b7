"""The endpoints a supervisor and Prometheus call: ``/healthz``, ``/readyz``, ``/metrics``.

``/healthz`` says the process answers (liveness: restart it when this fails). ``/readyz``
says it can do its work: the store answers a cheap query within ``STORE_TIMEOUT`` seconds
(a load balancer sends no traffic to a relay that is not ready, and restarting it would
not help). Both are public and tell nothing secret. ``/metrics`` names jobs and agents, so
it needs an API token of any role, unless ``[api] public_metrics = true``; its errors are
the admin API's JSON errors.
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from relay.api.auth import require
from relay.api.exceptions import ApiError, Unavailable
from relay.api.metrics import STORE_TIMEOUT
from relay.api.routes import json_response
from relay.exceptions import StoreError
from relay.keys import API_TOKENS, ENGINE, HUB, METRICS, SETTINGS, STORE
from relay.store.base import ApiRole

log = structlog.get_logger("relay.health")


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


async def healthz(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    return json_response({"status": "ok", "agents_connected": len(hub.connected_agents())})


async def readyz(request: web.Request) -> web.Response:
    engine = "running" if request.app[SETTINGS].engine.enabled else "disabled"
    try:
        async with asyncio.timeout(STORE_TIMEOUT):
            await request.app[STORE].latest_change()
    except TimeoutError:
        problem = f"no answer within {STORE_TIMEOUT:g} s"
        log.warning("not ready: the store does not answer", timeout=STORE_TIMEOUT)
    except StoreError as exc:
        # Public: the store's address and errors stay in the relay's log.
        problem = "failing; the relay's log says why"
        log.warning("not ready: the store fails", error=str(exc))
    else:
        return json_response({"status": "ready", "store": "ok", "engine": engine})
    return json_response({"status": "not ready", "store": problem, "engine": engine}, status=503)


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    if not app[SETTINGS].api.public_metrics:
        try:
            token = await app[API_TOKENS].token(request.headers.get("Authorization"))
            require(token, ApiRole.VIEWER)
        except ApiError as exc:
            return _error(exc)
        except StoreError as exc:
            log.warning("token check failed: the store fails", error=str(exc))
            return _error(Unavailable("the store failed; the relay's log says why"))
    body, content_type = await app[METRICS].scrape(
        app[STORE], app[ENGINE].running_cycles(), request.headers.get("Accept")
    )
    return web.Response(body=body, headers={"Content-Type": content_type})


def _error(error: ApiError) -> web.Response:
    response = json_response(error.body(), status=error.status)
    response.headers.update(error.headers)
    return response
