"""``hatchway agent run``: load settings, build connectors, open the journal, serve."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import structlog

from agent.connectors import registry
from agent.exceptions import ConnectorLoadError, JournalError
from agent.executor import Executor
from agent.journal import Journal
from agent.session import AgentSession
from agent.settings import (
    CONFIG_FILE,
    JOURNAL_FILE,
    KEY_FILE,
    STATE_FILE,
    AgentSettings,
    ConnectorSettings,
)
from shared import keyfile
from shared.connector import Connector
from shared.protocol.events import ConnectorInfo

log = structlog.get_logger("agent")


def build_connectors(settings: AgentSettings, source: Path) -> dict[str, Connector]:
    """Instantiate every configured connector; a bad one stops the agent before it
    connects, with an error naming the file and key."""
    return {item.name: build_connector(item, source) for item in settings.connectors}


def build_connector(item: ConnectorSettings, source: Path) -> Connector:
    """One ``[connectors.NAME]`` table's connector; errors name the file and the key."""
    try:
        cls = registry.load(item.type)
    except ConnectorLoadError as exc:
        raise ConnectorLoadError(f"{source}: connectors.{item.name}.type: {exc}") from exc
    return cls.from_settings(item.name, item.table, source=str(source))


async def run(
    config_dir: Path,
    data_dir: Path,
    *,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
) -> None:
    """Serve until ``stop`` is set, or SIGTERM/SIGINT with ``handle_signals``. A Windows
    service passes ``handle_signals=False``: its loop runs outside the main thread, where
    signal handlers cannot be installed, and the service manager stops it through ``stop``.
    """
    config_path = config_dir / CONFIG_FILE
    settings = AgentSettings.load(config_path)
    key = keyfile.load_key_file(data_dir / KEY_FILE)
    connectors = build_connectors(settings, config_path)
    journal = Journal(data_dir / JOURNAL_FILE)
    journal.open()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    structlog.contextvars.bind_contextvars(agent=settings.name)
    retention = settings.journal_retention_days * 86400
    pruner = asyncio.create_task(prune_forever(journal, retention), name="journal-prune")
    try:
        log.info("agent starting", connectors=sorted(connectors), relay=settings.relay)
        session = AgentSession(
            settings,
            key,
            Executor(
                connectors,
                journal,
                concurrency=settings.concurrency,
                operation_timeout=settings.operation_timeout,
            ),
            [ConnectorInfo(name, c.type_name) for name, c in connectors.items()],
            state_path=data_dir / STATE_FILE,
        )
        await session.run(stop)
    finally:
        pruner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pruner
        for sig in signals:
            loop.remove_signal_handler(sig)
        for connector in connectors.values():
            await connector.close()
        journal.close()
        log.info("agent stopped")


#: Seconds between journal clean-ups while the agent runs.
JOURNAL_PRUNE_INTERVAL = 3600.0


async def prune_forever(journal: Journal, retention: float) -> None:
    """Forget journal entries older than the retention, at start and then hourly, so a
    long-running agent's journal stays the size of its recent work."""
    while True:
        try:
            pruned = await journal.prune(retention)
        except JournalError as exc:
            # The journal still answers; a missed clean-up only costs disk until the next.
            log.warning("journal clean-up failed", error=str(exc))
        else:
            if pruned:
                log.info("journal pruned", entries=pruned)
        await asyncio.sleep(JOURNAL_PRUNE_INTERVAL)
