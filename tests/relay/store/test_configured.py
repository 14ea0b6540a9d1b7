"""The relay opens the store its ``store`` setting names."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import aiohttp
from structlog.testing import capture_logs

from relay.app import start
from relay.keys import STORE
from relay.settings import RelaySettings
from relay.store.configured import configured_store
from relay.store.postgresql import PostgresStore
from relay.store.sqlite import SqliteStore
from tests.relay.store.conftest import PostgresBackend
from tests.servers.ports import free_port


def test_sqlite_by_default_and_postgresql_for_a_url(tmp_path: Path) -> None:
    assert isinstance(configured_store("sqlite", tmp_path / "relay.sqlite3"), SqliteStore)
    store = configured_store("postgresql://h/db", tmp_path / "relay.sqlite3")
    assert isinstance(store, PostgresStore)
    assert store.url == "postgresql://h/db"


async def test_a_relay_configured_for_postgresql_serves_from_it(
    postgres_backend: PostgresBackend, tmp_path: Path
) -> None:
    port = free_port()
    settings = replace(RelaySettings(), listen=f"127.0.0.1:{port}", store=postgres_backend.url)
    with capture_logs() as logs:
        runner = await start(settings, tmp_path / "data")
    assert any(entry["event"] == "relay listening" for entry in logs)
    try:
        assert isinstance(runner.app[STORE], PostgresStore)
        async with aiohttp.ClientSession() as http:
            response = await http.get(f"http://127.0.0.1:{port}/healthz")
            assert response.status == 200
        await runner.app[STORE].create_token("branch", 60)
    finally:
        await runner.cleanup()
    assert postgres_backend.rows("SELECT agent_name FROM registration_tokens") == [("branch",)]
    assert not (tmp_path / "data" / "relay.sqlite3").exists()
