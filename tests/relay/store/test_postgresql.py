"""What only the PostgreSQL store has: connection errors, timeouts and the advisory lock."""

from __future__ import annotations

import psycopg
import pytest

from relay.exceptions import StoreError
from relay.store.base import EntryKind
from relay.store.postgresql import DIRECTORY_LOCK, PostgresStore
from tests.relay.store.conftest import PostgresBackend
from tests.servers.ports import free_port


async def test_an_unreachable_server_fails_quickly_without_showing_the_password() -> None:
    port = free_port()
    store = PostgresStore(f"postgresql://hatchway:s3cret@127.0.0.1:{port}/hr", connect_timeout=2)
    with pytest.raises(StoreError, match="cannot connect") as info:
        await store.open()
    assert "s3cret" not in str(info.value)
    assert str(info.value).startswith(f"postgresql://127.0.0.1:{port}/hr: ")


async def test_a_write_that_waits_too_long_for_the_lock_fails_and_writes_nothing(
    postgres_backend: PostgresBackend,
) -> None:
    store = PostgresStore(postgres_backend.url, statement_timeout=0.3)
    await store.open()
    try:
        # Another node holds the directory's write lock and does not let go.
        with psycopg.connect(postgres_backend.url) as other:
            other.execute("SELECT pg_advisory_xact_lock(%s)", (DIRECTORY_LOCK,))
            with pytest.raises(StoreError, match="statement timeout"):
                await store.create_entry(EntryKind.USER, {"userName": "alice"})
        assert await store.latest_change() == 0
        created = await store.create_entry(EntryKind.USER, {"userName": "alice"})
        assert created.version == 1
    finally:
        await store.close()
