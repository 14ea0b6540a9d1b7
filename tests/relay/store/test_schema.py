"""Versioned migrations in both stores: from an empty database, from every earlier version,
and a newer schema refused."""

from __future__ import annotations

from pathlib import Path

import pytest

import relay.store
from relay.exceptions import StoreError
from relay.store.base import ApiRole, EntryKind
from relay.store.schema import migrations
from tests.relay.store.conftest import Backend, OpenStore, user


def newest_migration(dialect: str) -> int:
    folder = Path(relay.store.__file__).parent / "migrations" / dialect
    return max(int(p.name.split("_", 1)[0]) for p in folder.glob("*.sql"))


def schema_version(backend: Backend) -> int:
    if backend.name == "sqlite":
        return int(backend.rows("PRAGMA user_version")[0][0])
    return int(backend.rows("SELECT MAX(version) FROM hatchway_schema")[0][0])


async def test_migrations_bring_an_empty_database_to_the_newest_version(
    backend: Backend, open_store: OpenStore
) -> None:
    store = await open_store()
    assert schema_version(backend) == newest_migration(backend.name)
    await store.create_entry(EntryKind.USER, user("a"))


@pytest.mark.parametrize("version", range(1, newest_migration("sqlite")))
async def test_a_database_of_an_earlier_version_upgrades_and_keeps_its_data(
    backend: Backend, open_store: OpenStore, version: int
) -> None:
    # The previous version (newest - 1) and every one before it, as a relay of that version
    # left it: its scripts run, its version recorded, an agent registered.
    scripts = migrations(backend.name)
    assert len(scripts) == newest_migration(backend.name) == newest_migration("sqlite")
    earlier = "\n".join(script for number, script in scripts if number <= version)
    if backend.name == "sqlite":
        Path(backend.path).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[attr-defined]
        backend.execute(f"BEGIN; {earlier} PRAGMA user_version = {version}; COMMIT;")
    else:
        backend.execute(
            f"{earlier} CREATE TABLE hatchway_schema (version INTEGER NOT NULL);"
            f" INSERT INTO hatchway_schema VALUES ({version});"
        )
    backend.execute(
        "INSERT INTO agents (name, public_key, registered_at) VALUES ('branch', 'pk', 1.0)"
    )

    store = await open_store()
    assert schema_version(backend) == newest_migration(backend.name)
    agent = await store.get_agent("branch")
    assert agent is not None and agent.public_key == "pk"
    await store.create_entry(EntryKind.USER, user("a"))
    _, token = await store.create_scim_client("entra")
    assert await store.verify_scim_token(token) == "entra"
    record, secret = await store.create_api_token("ops", ApiRole.ADMIN)
    assert await store.verify_api_token(secret) == record


async def test_a_newer_schema_is_refused(backend: Backend, open_store: OpenStore) -> None:
    await (await open_store()).close()
    newest = newest_migration(backend.name)
    if backend.name == "sqlite":
        backend.execute(f"PRAGMA user_version = {newest + 1}")
    else:
        backend.execute(f"UPDATE hatchway_schema SET version = {newest + 1}")
    with pytest.raises(StoreError, match=f"{newest + 1} is newer"):
        await open_store()
    assert schema_version(backend) == newest + 1
