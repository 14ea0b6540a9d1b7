"""The store the relay's ``store`` setting names: the SQLite file or a PostgreSQL database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from relay.settings import RelaySettings
from relay.store.base import Store
from relay.store.postgresql import PostgresStore
from relay.store.sqlite import SqliteStore
from shared.paths import Paths

T = TypeVar("T")

#: The SQLite store's file in the relay's data folder.
STORE_FILE = "relay.sqlite3"


def configured_store(setting: str, sqlite_path: Path) -> Store:
    """A store, not yet opened, for ``setting`` (``"sqlite"`` or a PostgreSQL URL, as
    :func:`relay.settings.store_problem` accepts)."""
    if setting == "sqlite":
        return SqliteStore(sqlite_path)
    return PostgresStore(setting)


def store_for_paths(paths: Paths) -> Store:
    """The store a relay with these folders uses (``relay.toml``'s ``store``), for commands
    that work on it directly beside a serving relay."""
    settings = RelaySettings.load(paths.config_dir / "relay.toml")
    return configured_store(settings.store, paths.data_dir / STORE_FILE)


def run_on_store(paths: Paths, work: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store of a relay with these folders, run ``work`` on it and close it: for
    commands that work on the store directly, beside a serving relay (SQLite's WAL lets
    them write while it runs)."""

    async def run() -> T:
        store = store_for_paths(paths)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())
