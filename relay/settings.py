"""The relay's settings, read from ``relay.toml`` in its configuration folder.

Every key is optional; a missing file means all defaults. Example::

    listen = "0.0.0.0:8443"
    handshake_timeout = 10.0
    store = "postgresql://hatchway@db.example.org/hatchway"   # default "sqlite"

    [limits]
    window = 8
    max_batch_operations = 1000

    [engine]                      # provisioning jobs (relay.engine.settings)
    batch_size = 500

    [api]                         # admin API, dashboard, metrics (relay.api.settings)
    public_metrics = false

    [connectors.slack]            # a cloud app served by the built-in agent,
    type = "scim"                 # in agent.toml's format
    base_url = "https://api.slack.com/scim/v2"
    token = "xoxp-..."
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import conninfo

from agent.settings import ConnectorSettings, read_connectors
from relay.api.settings import ApiSettings
from relay.directory.settings import ScimSettings
from relay.engine.settings import EngineSettings
from shared.protocol.messages import Limits
from shared.settings import Table, read_toml


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) into its parts; :class:`ValueError` if bad."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port_text)


@dataclass(frozen=True, slots=True)
class RelaySettings:
    #: Address the HTTP and websocket server binds to.
    listen: str = "127.0.0.1:8080"
    #: Seconds an agent has to finish the handshake before it is disconnected.
    handshake_timeout: float = 10.0
    #: Seconds between websocket pings to each agent; a missing pong closes the socket.
    heartbeat: float = 20.0
    #: Seconds between checks for agents revoked by another process (the CLI).
    revocation_check_interval: float = 5.0
    #: Seconds shutdown waits for connections to close.
    shutdown_timeout: float = 10.0
    #: PEM certificate chain to serve HTTPS/WSS with; plain HTTP when unset (loopback only,
    #: or behind a reverse proxy that terminates TLS).
    tls_certificate: str | None = None
    #: PEM private key of ``tls_certificate``.
    tls_private_key: str | None = None
    #: Frame, batch and window limits announced to agents.
    limits: Limits = field(default_factory=Limits)
    #: Where the relay keeps agents and the directory: ``"sqlite"`` (a file in the data
    #: folder) or a PostgreSQL URL ``postgresql://user[:password]@host[:port]/database``.
    store: str = "sqlite"
    #: The inbound SCIM endpoint's limits (the ``[scim]`` table).
    scim: ScimSettings = field(default_factory=ScimSettings)
    #: How provisioning jobs run (the ``[engine]`` table).
    engine: EngineSettings = field(default_factory=EngineSettings)
    #: The admin API, dashboard and metrics (the ``[api]`` table).
    api: ApiSettings = field(default_factory=ApiSettings)
    #: The built-in agent's connectors, for cloud apps (``[connectors.NAME]`` tables, as in
    #: ``agent.toml``); none by default.
    connectors: tuple[ConnectorSettings, ...] = ()
    #: The file these settings were read from, named in errors found later (a connector
    #: table is checked when the built-in agent builds it).
    source: str = field(default="relay.toml", compare=False)

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.tls_certificate is None or self.tls_private_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.tls_certificate, self.tls_private_key)
        return context

    @property
    def host_port(self) -> tuple[str, int]:
        return parse_listen(self.listen)

    @classmethod
    def load(cls, path: Path) -> RelaySettings:
        if not path.exists():
            return cls()
        table = Table(read_toml(path), source=str(path))
        defaults = cls()
        listen = table.string("listen", defaults.listen)
        try:
            parse_listen(listen)
        except ValueError as exc:
            raise table.error("listen", str(exc)) from exc
        lim_table = table.table("limits")
        lim = Limits()
        limits = Limits(
            max_frame_bytes=lim_table.integer(
                "max_frame_bytes", lim.max_frame_bytes, minimum=65536
            ),
            max_batch_operations=lim_table.integer(
                "max_batch_operations", lim.max_batch_operations, minimum=1, maximum=10_000
            ),
            max_value_chars=lim_table.integer("max_value_chars", lim.max_value_chars, minimum=1024),
            window=lim_table.integer("window", lim.window, minimum=1, maximum=1024),
            batch_ttl=lim_table.number("batch_ttl", lim.batch_ttl, minimum=5),
        )
        lim_table.reject_unknown()
        store = table.string("store", defaults.store)
        problem = store_problem(store)
        if problem is not None:
            raise table.error("store", problem)
        certificate = table.optional_string("tls_certificate")
        private_key = table.optional_string("tls_private_key")
        if (certificate is None) != (private_key is None):
            raise table.error(
                "tls_certificate" if certificate is None else "tls_private_key",
                "tls_certificate and tls_private_key go together",
            )
        if certificate is not None and private_key is not None:
            _check_tls(table, certificate, private_key)
        settings = cls(
            listen=listen,
            handshake_timeout=table.number(
                "handshake_timeout", defaults.handshake_timeout, minimum=1
            ),
            heartbeat=table.number("heartbeat", defaults.heartbeat, minimum=1),
            revocation_check_interval=table.number(
                "revocation_check_interval", defaults.revocation_check_interval, minimum=0.1
            ),
            shutdown_timeout=table.number("shutdown_timeout", defaults.shutdown_timeout, minimum=0),
            tls_certificate=certificate,
            tls_private_key=private_key,
            limits=limits,
            store=store,
            scim=ScimSettings.load(table.table("scim")),
            engine=EngineSettings.load(
                table.table("engine"), max_batch_operations=limits.max_batch_operations
            ),
            api=ApiSettings.load(table.table("api")),
            connectors=tuple(read_connectors(table)),
            source=str(path),
        )
        table.reject_unknown()
        return settings


def store_problem(store: str) -> str | None:
    """What is wrong with a ``store`` setting, or None."""
    if store == "sqlite":
        return None
    if not store.startswith(("postgresql://", "postgres://")):
        return f'must be "sqlite" or a postgresql:// URL, not {store.split(":", 1)[0]!r}'
    try:
        conninfo.conninfo_to_dict(store)
    except psycopg.ProgrammingError as exc:
        return f"is not a valid PostgreSQL URL: {str(exc).splitlines()[0]}"
    return None


def _check_tls(table: Table, certificate: str, private_key: str) -> None:
    """Load the pair once at start-up, so a wrong path or a key that does not match the
    certificate is reported against the settings file, not as a crash on first connect."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certificate, private_key)
    except FileNotFoundError as exc:
        # ssl's error names no file: say which of the two is missing.
        missing = certificate if not Path(certificate).exists() else private_key
        key = "tls_certificate" if missing == certificate else "tls_private_key"
        raise table.error(key, f"no such file: {missing}") from exc
    except (ssl.SSLError, OSError) as exc:
        raise table.error("tls_certificate", f"cannot load the certificate and key: {exc}") from exc
