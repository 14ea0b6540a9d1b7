"""A throwaway MariaDB server in its own data folder.

Every tool gets `--no-defaults` first, so nothing from /etc/mysql (port 3306, the system
socket, /var/lib/mysql) leaks into the throwaway server or the client calls made to it.
"""

import contextlib
import os
import subprocess
import tempfile
from pathlib import Path

import pyodbc

from .databases import checked_identifier
from .ports import LOOPBACK, free_port
from .process import ServerError, ThrowawayServer, program, run, running, start_server, wait_until

START_TIMEOUT = 60.0
ODBC_DRIVER_NAMES = ("MariaDB Unicode", "MariaDB")


def odbc_driver() -> str:
    """Debian 12 registers the driver as "MariaDB Unicode"; other packagings say "MariaDB"."""
    installed = set(pyodbc.drivers())
    for name in ODBC_DRIVER_NAMES:
        if name in installed:
            return name
    raise ServerError("no MariaDB ODBC driver registered; run scripts/setup.sh")


class MariaDbServer(ThrowawayServer):
    host = LOOPBACK
    user = "root"
    password = ""

    def __init__(self, root: Path, port: int) -> None:
        super().__init__(root, port)
        self.data_dir = root / "data"
        self.socket = root / "mariadb.sock"
        self.log_path = root / "mariadb.log"

    @classmethod
    def create(cls) -> "MariaDbServer":
        """Initialise system tables in a fresh temporary folder, not yet started."""
        root = Path(tempfile.mkdtemp(prefix="hatchway-mariadb-"))
        server = cls(root, free_port())
        try:
            run(
                [
                    program("mariadb-install-db"),
                    "--no-defaults",
                    f"--datadir={server.data_dir}",
                    *server._user_option(),
                    # root with an empty password, reachable over TCP as well as the socket.
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                ],
                timeout=120,
            )
        except BaseException:
            server.remove()
            raise
        return server

    @staticmethod
    def _user_option() -> list[str]:
        # mariadbd refuses to run as root unless told to; as anyone else it ignores --user.
        return ["--user=root"] if os.geteuid() == 0 else []

    def start(self) -> None:
        """Start on the same port and data folder; return once it answers a ping."""
        if self.running:
            return
        cmd = [
            program("mariadbd"),
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--socket={self.socket}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            f"--pid-file={self.root / 'mariadb.pid'}",
            *self._user_option(),
            "--skip-name-resolve",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            # Durability and native AIO are pointless here, and io_uring can fail in containers.
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            "--innodb-use-native-aio=0",
        ]
        self._process = start_server(cmd, log=self.log_path)
        wait_until(
            self._answers_ping,
            what=f"mariadbd on port {self.port}",
            timeout=START_TIMEOUT,
            log=self.log_path,
            process=self._process,
        )

    def _answers_ping(self) -> bool:
        result = subprocess.run(
            [
                program("mariadb-admin"),
                "--no-defaults",
                f"--host={self.host}",
                f"--port={self.port}",
                f"--user={self.user}",
                "--connect-timeout=1",
                "ping",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
            check=False,
        )
        return result.returncode == 0

    def sql(self, statement: str) -> str:
        """Run statements as root through the private socket."""
        return run(
            [
                program("mariadb"),
                "--no-defaults",
                f"--socket={self.socket}",
                f"--user={self.user}",
                "--batch",
                "--skip-column-names",
                f"--execute={statement}",
            ],
            timeout=60,
            log=self.log_path,
        )

    def create_database(self, name: str) -> None:
        self.sql(f"CREATE DATABASE `{checked_identifier(name)}`")

    def drop_database(self, name: str) -> None:
        name = checked_identifier(name)
        # A failed test keeps its connections alive through the traceback, and their open
        # transactions would block the DROP on metadata locks; end them first.
        leaked = self.sql(f"SELECT id FROM information_schema.processlist WHERE db = '{name}'")
        for connection_id in leaked.split():
            with contextlib.suppress(ServerError):  # it may have ended on its own meanwhile
                self.sql(f"KILL CONNECTION {int(connection_id)}")
        self.sql(f"DROP DATABASE IF EXISTS `{name}`")

    def odbc_connection_string(self, database: str) -> str:
        return (
            f"Driver={{{odbc_driver()}}};Server={self.host};Port={self.port};"
            f"Database={database};Uid={self.user};Pwd={self.password}"
        )


def running_mariadb() -> contextlib.AbstractContextManager[MariaDbServer]:
    """A started server that is stopped and deleted however the block ends."""
    return running(MariaDbServer.create())
