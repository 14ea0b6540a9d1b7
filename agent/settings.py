"""The agent's settings: ``agent.toml`` in its configuration folder.

``hatchway agent register`` writes the ``[agent]`` table; administrators add one
``[connectors.NAME]`` table per local app. Example::

    [agent]
    name = "branch-office"
    relay = "wss://relay.example.com"
    relay_public_key = "q2F...="        # pinned at registration
    concurrency = 4

    [connectors.hr]
    type = "sql"
    dialect = "postgresql"
    connection_string = "Driver=PostgreSQL Unicode;Server=db;Database=hr;Uid=hatchway;Pwd=..."
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agent.connectors import settings_checks
from shared.exceptions import SettingsError
from shared.protocol import signing
from shared.protocol.messages import valid_name
from shared.settings import Table, read_toml

CONFIG_FILE = "agent.toml"
KEY_FILE = "agent_key.pem"
JOURNAL_FILE = "journal.sqlite3"
STATE_FILE = "agent_state.json"

CONNECT_PATH = "/agent/v1/connect"
REGISTER_PATH = "/agent/v1/register"

_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def relay_urls(base: str) -> tuple[str, str]:
    """The websocket URL and the registration URL for a relay base URL given as
    ``http``, ``https``, ``ws`` or ``wss``; :class:`ValueError` for anything else."""
    parts = urlsplit(base.strip())
    if parts.scheme not in _SCHEMES or not parts.netloc:
        raise ValueError(f"{base!r} is not an http(s):// or ws(s):// URL")
    ws_scheme = _SCHEMES[parts.scheme]
    http_scheme = "https" if ws_scheme == "wss" else "http"
    path = parts.path.rstrip("/")
    ws = urlunsplit((ws_scheme, parts.netloc, path + CONNECT_PATH, "", ""))
    http = urlunsplit((http_scheme, parts.netloc, path + REGISTER_PATH, "", ""))
    return ws, http


def insecure_remote(base: str) -> bool:
    """True for a plain ``http``/``ws`` relay beyond loopback: the registration token and
    every batch would cross the network in the clear."""
    parts = urlsplit(base.strip())
    if parts.scheme not in ("http", "ws"):
        return False
    host = (parts.hostname or "").lower()
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


INSECURE_HINT = "use https:// or wss://, or allow plain connections with allow_insecure = true"


@dataclass(frozen=True, slots=True)
class ConnectorSettings:
    """One ``[connectors.NAME]`` table; the connector type reads the rest itself."""

    name: str
    type: str
    table: Mapping[str, Any]


@dataclass(frozen=True)
class AgentSettings:
    #: The agent's name, fixed by its registration token.
    name: str
    #: The relay's base URL.
    relay: str
    #: The relay's signing key, pinned at registration (base64 of the raw Ed25519 key).
    relay_public_key: str
    #: Batches executed at once; each connector bounds its own connections too.
    concurrency: int = 4
    #: Seconds a connector may take for one batch before its operations are answered with
    #: a retryable timeout error (a hung target must not hold the relay's window forever).
    operation_timeout: float = 300.0
    #: Seconds to wait for the relay's websocket to open.
    open_timeout: float = 10.0
    #: Seconds between websocket pings; a pong missing for as long closes the socket.
    ping_interval: float = 20.0
    #: Longest pause between reconnection attempts, in seconds (jittered, exponential).
    reconnect_max_delay: float = 60.0
    #: Seconds a shutdown waits for batches in flight before handing them back.
    drain_timeout: float = 30.0
    #: A PEM file of CA certificates to verify the relay's TLS certificate with, instead
    #: of the system's.
    ca_file: str | None = None
    #: Allow a plain http/ws relay beyond loopback (a test network; never across the internet).
    allow_insecure: bool = False
    #: Days a journal entry is kept to answer redelivered operations.
    journal_retention_days: float = 7.0
    connectors: tuple[ConnectorSettings, ...] = ()

    @classmethod
    def load(cls, path: Path) -> AgentSettings:
        if not path.exists():
            raise SettingsError(
                str(path), None, "does not exist; run 'hatchway agent register' first"
            )
        root = Table(read_toml(path), source=str(path))
        agent = root.table("agent")
        if not agent.data:
            raise SettingsError(str(path), "agent", "missing; run 'hatchway agent register' first")
        relay = agent.string("relay", required=True)
        try:
            relay_urls(relay)
        except ValueError as exc:
            raise agent.error("relay", str(exc)) from exc
        if insecure_remote(relay) and not agent.boolean("allow_insecure", False):
            raise agent.error("relay", f"{relay!r} is not encrypted; {INSECURE_HINT}")
        key = agent.string("relay_public_key", required=True)
        try:
            signing.public_key_from_text(key)
        except ValueError as exc:
            raise agent.error("relay_public_key", str(exc)) from exc
        name = agent.string("name", required=True)
        if not valid_name(name):
            raise agent.error("name", "an agent name is 1 to 100 letters, digits, '.', '_' or '-'")
        d = cls
        settings = cls(
            name=name,
            relay=relay,
            relay_public_key=key,
            concurrency=agent.integer("concurrency", d.concurrency, minimum=1, maximum=256),
            operation_timeout=agent.number("operation_timeout", d.operation_timeout, minimum=1),
            open_timeout=agent.number("open_timeout", d.open_timeout, minimum=0.1),
            ping_interval=agent.number("ping_interval", d.ping_interval, minimum=1),
            reconnect_max_delay=agent.number(
                "reconnect_max_delay", d.reconnect_max_delay, minimum=0.1
            ),
            drain_timeout=agent.number("drain_timeout", d.drain_timeout, minimum=0),
            ca_file=_ca_file(agent),
            allow_insecure=agent.boolean("allow_insecure", False),
            journal_retention_days=agent.number(
                "journal_retention_days", d.journal_retention_days, minimum=0.01
            ),
            connectors=tuple(read_connectors(root)),
        )
        agent.reject_unknown()
        root.reject_unknown()
        return settings


def _ca_file(agent: Table) -> str | None:
    path = settings_checks.ca_file(agent)
    return None if path is None else str(path)


def read_connectors(root: Table) -> list[ConnectorSettings]:
    """The ``[connectors.NAME]`` tables of ``root`` (agent.toml's, or relay.toml's for the
    built-in agent); each connector type checks the rest of its table when it is built."""
    out = []
    for name, table in root.tables("connectors"):
        if not valid_name(name):
            raise SettingsError(
                table.source, table.prefix, "a connector name uses letters, digits, '.', '_' or '-'"
            )
        out.append(ConnectorSettings(name, table.string("type", required=True), table.data))
    return out


_EXAMPLE = """
# Add one table per local application. Example (SQLite through its ODBC driver):
#
# [connectors.hr]
# type = "sql"
# dialect = "sqlite"
# connection_string = "Driver=SQLite3;Database=/var/lib/hatchway/hr.db"
"""


def write_registration(
    path: Path,
    *,
    name: str,
    relay: str,
    relay_public_key: str,
    ca_file: str | None = None,
    allow_insecure: bool = False,
) -> None:
    """Write the registration into the ``[agent]`` table. Every other setting of an
    existing file stays: the other keys of ``[agent]`` and every other table, comments
    included. Written to a temporary file and renamed, so a crash never leaves half a file.
    """
    previous: dict[str, Any] = {}
    rest = ""
    if path.exists():
        previous = read_toml(path).get("agent", {})
        old = path.read_text(encoding="utf-8")
        rest = re.sub(r"(?ms)^[ \t]*\[[ \t]*agent[ \t]*\][^\n]*\n.*?(?=^[ \t]*\[|\Z)", "", old)
    values: dict[str, Any] = {"name": name, "relay": relay, "relay_public_key": relay_public_key}
    ca = str(Path(ca_file).resolve()) if ca_file is not None else previous.get("ca_file")
    if ca is not None:
        values["ca_file"] = ca
    if allow_insecure:
        values["allow_insecure"] = True
    values.update((k, v) for k, v in previous.items() if k not in _REGISTRATION_KEYS)
    lines = ["[agent]"] + [f"{key} = {_toml_value(path, key, v)}" for key, v in values.items()]
    text = "\n".join(lines) + "\n" + ("\n" + rest.strip() + "\n" if rest.strip() else _EXAMPLE)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


_REGISTRATION_KEYS = ("name", "relay", "relay_public_key", "ca_file", "allow_insecure")


def _toml_value(path: Path, key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    raise SettingsError(str(path), f"agent.{key}", "must be a string, number or boolean")


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
