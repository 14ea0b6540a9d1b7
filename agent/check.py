"""``hatchway agent check``: is ``agent.toml`` right, and does every connector reach its app?

Meant for the moment after an administrator edits ``agent.toml`` or installs the service:
settings errors name the file, the key and the problem (they come from the same loaders
the running agent uses), and each connector gets a verdict of its own, so one unreachable
app does not hide the state of the others.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from agent.runner import build_connector
from agent.settings import ConnectorSettings

#: Seconds one connector's ``test()`` may take before its verdict is FAILED.
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Verdict:
    connector: str
    type: str
    #: ``None`` when the connector reached its app; otherwise the error's class and message.
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        name = f"{self.connector} ({self.type})"
        if self.error is None:
            return f"{name:<32} OK      {self.seconds:.2f} s"
        return f"{name:<32} FAILED  {self.error}"


async def check_connectors(
    connectors: tuple[ConnectorSettings, ...], source: Path, *, timeout: float = DEFAULT_TIMEOUT
) -> list[Verdict]:
    """Build and test every connector at once; one verdict each, in the file's order.
    ``timeout`` bounds each connector's test, in seconds."""
    return list(
        await asyncio.gather(*(_check(item, source, timeout=timeout) for item in connectors))
    )


async def _check(item: ConnectorSettings, source: Path, *, timeout: float) -> Verdict:
    started = time.monotonic()

    def verdict(error: str | None) -> Verdict:
        return Verdict(item.name, item.type, error, time.monotonic() - started)

    try:
        connector = build_connector(item, source)
    except Exception as exc:  # noqa: BLE001 - a plug-in that cannot be built fails its verdict
        return verdict(f"{type(exc).__name__}: {exc}")
    try:
        async with asyncio.timeout(timeout):
            await connector.test()
    except TimeoutError:
        return verdict(f"TimeoutError: no answer within {timeout:g} s")
    except Exception as exc:  # noqa: BLE001 - a plug-in's own failure is this connector's verdict
        return verdict(f"{type(exc).__name__}: {exc}")
    finally:
        await connector.close()
    return verdict(None)
