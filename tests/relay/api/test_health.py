"""``/healthz`` and ``/readyz``: the process answers, and the relay can do its work only
while its store answers; a failing store turns the relay not ready (and the metrics say
so) without taking the liveness check or the scrape down."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from relay.api.metrics import STORE_TIMEOUT
from relay.api.settings import ApiSettings
from relay.engine.settings import EngineSettings
from relay.settings import RelaySettings
from tests.e2e.harness import RelayHarness
from tests.relay.api.conftest import ApiRelay
from tests.servers.databases import unique_database_name
from tests.servers.ports import free_port
from tests.servers.postgres import PostgresServer


async def get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body if body is not None else await response.text()


async def test_healthz_says_the_relay_answers(relay: ApiRelay) -> None:
    assert await get(f"{relay.url}/healthz") == (200, {"status": "ok", "agents_connected": 0})


async def test_readyz_says_ready_while_the_store_answers(relay: ApiRelay) -> None:
    assert await get(f"{relay.url}/readyz") == (
        200,
        {"status": "ready", "store": "ok", "engine": "running"},
    )


@pytest.fixture
async def postgres_relay(
    postgres_server: PostgresServer, tmp_path: Path
) -> AsyncIterator[tuple[RelayHarness, str]]:
    """A relay on a PostgreSQL store, with public metrics and no engine (whose retries
    would only add noise while the database is down); and the store's URL."""
    postgres_server.start()
    database = unique_database_name()
    postgres_server.create_database(database)
    url = postgres_server.url(database)
    settings = RelaySettings(
        listen=f"127.0.0.1:{free_port()}",
        shutdown_timeout=2,
        store=url,
        engine=EngineSettings(enabled=False),
        api=ApiSettings(public_metrics=True),
    )
    relay = RelayHarness(tmp_path / "relay", settings)
    await relay.start()
    try:
        yield relay, url
    finally:
        await relay.stop()
        postgres_server.start()  # a session server: later tests need it running
        postgres_server.drop_database(database)


def store_up(text: str) -> float:
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "hatchway_store_up"]
    return float(family.samples[0].value)


@pytest.mark.server
async def test_readyz_fails_while_the_store_does_not_answer_in_time(
    postgres_relay: tuple[RelayHarness, str],
) -> None:
    relay, url = postgres_relay
    ready = {"status": "ready", "store": "ok", "engine": "disabled"}
    assert await get(f"{relay.url}/readyz") == (200, ready)

    # Another session holds the change log locked: the store's query waits.
    async with await psycopg.AsyncConnection.connect(url) as locker:
        await locker.execute("LOCK TABLE directory_changes IN ACCESS EXCLUSIVE MODE")
        status, body = await get(f"{relay.url}/readyz")
        assert status == 503
        assert body == {
            "status": "not ready",
            "store": f"no answer within {STORE_TIMEOUT:g} s",
            "engine": "disabled",
        }
        await locker.rollback()

    assert await get(f"{relay.url}/readyz") == (200, ready)


@pytest.mark.server
async def test_readyz_fails_and_metrics_say_so_while_the_database_is_down(
    postgres_relay: tuple[RelayHarness, str], postgres_server: PostgresServer
) -> None:
    relay, _ = postgres_relay
    await relay.store.create_job("hr", 'target = "scim"\n')
    status, text = await get(f"{relay.url}/metrics")
    assert status == 200
    assert store_up(text) == 1
    assert "hatchway_jobs{" in text
    assert 'hatchway_staged_deprovisions{job_name="hr"} 0.0' in text

    postgres_server.stop()
    status, body = await get(f"{relay.url}/readyz")
    assert status == 503
    assert body["status"] == "not ready"
    # Public: it says the store fails, not where the store is nor what it answered.
    assert body["store"] == "failing; the relay's log says why"
    assert "postgresql" not in json.dumps(body)
    assert body["engine"] == "disabled"

    status, text = await get(f"{relay.url}/metrics")
    assert status == 200
    assert store_up(text) == 0
    assert "hatchway_jobs{" not in text
    assert "hatchway_staged_deprovisions{" not in text
    assert "hatchway_agents_connected 0.0" in text
    assert await get(f"{relay.url}/healthz") == (200, {"status": "ok", "agents_connected": 0})
