"""A throwaway PostgreSQL cluster owned by the `postgres` user.

PostgreSQL refuses to run as root, so when the tests run as root initdb and the server run as
the `postgres` user on a folder that user owns. The server runs in the foreground as our own
child rather than through pg_ctl, so that an interrupted session can always stop it. Binaries
come from /usr/lib/postgresql/<version>/bin because Debian does not put them on PATH.
"""

import contextlib
import os
import pwd
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

from .databases import checked_identifier
from .ports import LOOPBACK, free_port
from .process import ServerError, ThrowawayServer, run, running, start_server, wait_until

SERVICE_USER = "postgres"
START_TIMEOUT = 60.0
StopMode = Literal["smart", "fast", "immediate"]
STOP_SIGNALS: dict[StopMode, signal.Signals] = {
    "smart": signal.SIGTERM,
    "fast": signal.SIGINT,
    "immediate": signal.SIGQUIT,
}


def find_bin_dir() -> Path:
    """Pick the newest installed major version, as Debian may have several side by side."""

    def version(bin_dir: Path) -> tuple[int, str]:
        name = bin_dir.parent.name
        return (int(name) if name.isdigit() else -1, name)

    candidates = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/postgres")]
    if not candidates:
        raise ServerError("no PostgreSQL under /usr/lib/postgresql; run scripts/setup.sh")
    return max(candidates, key=version)


class PostgresServer(ThrowawayServer):
    stop_timeout = START_TIMEOUT
    host = LOOPBACK
    user = "postgres"

    def __init__(self, root: Path, port: int, bin_dir: Path) -> None:
        super().__init__(root, port)
        self.bin_dir = bin_dir
        self.data_dir = root / "data"
        self.log_path = root / "postgres.log"

    @classmethod
    def create(cls) -> "PostgresServer":
        """Initialise a new cluster in a fresh temporary folder, not yet started."""
        root = Path(tempfile.mkdtemp(prefix="hatchway-postgres-"))
        server = cls(root, free_port(), find_bin_dir())
        try:
            server._initdb()
        except BaseException:
            server.remove()
            raise
        return server

    def _initdb(self) -> None:
        if os.geteuid() == 0:
            owner = pwd.getpwnam(SERVICE_USER)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        run(
            [
                self.bin_dir / "initdb",
                "--pgdata",
                self.data_dir,
                "--username",
                self.user,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
                "--no-sync",
                "--no-instructions",
            ],
            timeout=120,
            # cwd matters: the postgres user cannot enter root's working directory.
            cwd=self.root,
            user=SERVICE_USER,
        )
        settings = {
            "listen_addresses": f"'{self.host}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            # Durability is pointless for a cluster deleted at the end of the session.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        )

    def start(self) -> None:
        """Start on the same port and data folder; return once it accepts connections."""
        if self.running:
            return
        self._process = start_server(
            [self.bin_dir / "postgres", "-D", self.data_dir],
            log=self.log_path,
            cwd=self.root,
            user=SERVICE_USER,
        )
        wait_until(
            self._is_ready,
            what=f"PostgreSQL on port {self.port}",
            timeout=START_TIMEOUT,
            log=self.log_path,
            process=self._process,
        )

    def _is_ready(self) -> bool:
        result = subprocess.run(
            [
                self.bin_dir / "pg_isready",
                "--quiet",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--username",
                self.user,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
            check=False,
        )
        return result.returncode == 0

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server; "fast" disconnects clients, "immediate" skips the checkpoint."""
        self._terminate(STOP_SIGNALS[mode])

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run one statement as the superuser, outside any transaction."""
        return run(
            [
                self.bin_dir / "psql",
                "--no-psqlrc",
                "--quiet",
                "--tuples-only",
                "--no-align",
                "--set",
                "ON_ERROR_STOP=1",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--username",
                self.user,
                "--dbname",
                database,
                "--command",
                sql,
            ],
            timeout=60,
            log=self.log_path,
        )

    def create_database(self, name: str) -> None:
        self.psql(f'CREATE DATABASE "{checked_identifier(name)}"')

    def drop_database(self, name: str) -> None:
        # FORCE ends connections a test leaked, which would otherwise block the drop.
        self.psql(f'DROP DATABASE IF EXISTS "{checked_identifier(name)}" WITH (FORCE)')

    def url(self, database: str) -> str:
        """A libpq URL (for psycopg, and the relay's ``store`` setting)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}?sslmode=disable"

    def odbc_connection_string(self, database: str, driver: str = "PostgreSQL Unicode") -> str:
        # Debian's odbcinst.ini turns CommLog on, which litters /tmp with log files.
        return (
            f"Driver={{{driver}}};Server={self.host};Port={self.port};Database={database};"
            f"Uid={self.user};Pwd=;SSLmode=disable;CommLog=0;Debug=0"
        )


def running_postgres() -> contextlib.AbstractContextManager[PostgresServer]:
    """A started server that is stopped and deleted however the block ends."""
    server = PostgresServer.create()
    return running(server, stop=lambda: server.stop(mode="immediate"))
