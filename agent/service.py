"""The agent as a Windows service, without the Windows calls.

Everything here runs and is tested on any platform: where the service keeps its files
under ProgramData, the ``icacls`` and ``sc.exe`` command lines that protect them and
restart the service, the service's own command line, the log stream that feeds both a
file and the event log, and :class:`ServiceRun`, which the service manager stops from its
own thread. The pywin32 calls live in :mod:`agent.windows_service` alone.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from agent import runner

SERVICE_NAME = "HatchwayAgent"
DISPLAY_NAME = "Hatchway agent"
DESCRIPTION = "Provisions local applications for a Hatchway relay; only ever dials out."
#: The service's virtual account: no password to manage, and rights only where granted.
DEFAULT_ACCOUNT = rf"NT SERVICE\{SERVICE_NAME}"
LOCAL_SYSTEM = "LocalSystem"
#: Well-known SIDs, so the ACL is right on Windows in any language.
SYSTEM_SID = "*S-1-5-18"
ADMINISTRATORS_SID = "*S-1-5-32-544"
#: The module the service's python.exe runs.
SERVICE_MODULE = "agent.windows_service"


@dataclass(frozen=True, slots=True)
class ServiceFolders:
    """``%ProgramData%\\Hatchway``: settings, keys and data, logs; one ACL over all three."""

    base: PureWindowsPath

    @classmethod
    def under(cls, program_data: str | PureWindowsPath) -> ServiceFolders:
        return cls(PureWindowsPath(program_data) / "Hatchway")

    @property
    def config_dir(self) -> PureWindowsPath:
        return self.base / "config"

    @property
    def data_dir(self) -> PureWindowsPath:
        return self.base / "data"

    @property
    def log_dir(self) -> PureWindowsPath:
        return self.base / "logs"


def acl_commands(folders: ServiceFolders, account: str) -> list[list[str]]:
    """``icacls`` lines that leave the folders to SYSTEM, Administrators and the service
    account only. Children are first reset to inherit, then the base stops inheriting from
    ProgramData (where every user may read), so files written later (agent.toml by
    registration, keys, logs) get the same ACL."""
    grants = [f"{SYSTEM_SID}:(OI)(CI)F", f"{ADMINISTRATORS_SID}:(OI)(CI)F"]
    if account != LOCAL_SYSTEM:
        grants.append(f"{account}:(OI)(CI)M")
    base = str(folders.base)
    return [
        ["icacls", base, "/reset", "/T", "/C", "/Q"],
        ["icacls", base, "/inheritance:r", "/grant:r", *grants, "/Q"],
    ]


def recovery_command() -> list[str]:
    """``sc.exe failure``: restart after a crash 10 s, 10 s, then 60 s later; the count
    resets after a day without one."""
    return [
        "sc.exe",
        "failure",
        SERVICE_NAME,
        "reset=",
        "86400",
        "actions=",
        "restart/10000/restart/10000/restart/60000",
    ]


def service_arguments(folders: ServiceFolders) -> list[str]:
    """What the service's python.exe is started with (after the interpreter's path)."""
    return ["-m", SERVICE_MODULE, *service_options(folders)]


def service_options(folders: ServiceFolders) -> list[str]:
    """The options :func:`parse_service_arguments` reads back in the service."""
    return [
        "--config-dir",
        str(folders.config_dir),
        "--data-dir",
        str(folders.data_dir),
        "--log-dir",
        str(folders.log_dir),
    ]


def command_line(arguments: Sequence[str]) -> str:
    """Arguments quoted the way Windows programs split them (paths with spaces)."""
    return subprocess.list2cmdline(arguments)


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    config_dir: Path
    data_dir: Path
    log_dir: Path
    log_level: str


def parse_service_arguments(argv: Sequence[str]) -> ServiceOptions:
    """The folders the service was installed with (see :func:`service_arguments`)."""
    parser = argparse.ArgumentParser(prog=SERVICE_MODULE)
    parser.add_argument("--config-dir", required=True, type=Path)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--log-dir", required=True, type=Path)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    return ServiceOptions(args.config_dir, args.data_dir, args.log_dir, args.log_level)


class ServiceRun:
    """Runs the agent in the calling thread's own event loop; :meth:`stop`, called from
    any thread (the service manager's), makes it drain and return as SIGTERM would."""

    def __init__(self, config_dir: Path, data_dir: Path) -> None:
        self.config_dir = config_dir
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = False
        #: Set once the agent's loop runs, so a caller can wait for it.
        self.started = threading.Event()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        stop = asyncio.Event()
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._stop = stop
            if self._stop_requested:
                stop.set()
        self.started.set()
        try:
            await runner.run(self.config_dir, self.data_dir, stop=stop, handle_signals=False)
        finally:
            with self._lock:
                self._loop = None

    def stop(self) -> None:
        with self._lock:
            self._stop_requested = True
            if self._loop is not None and self._stop is not None:
                self._loop.call_soon_threadsafe(self._stop.set)


#: Levels of log lines that also go to the Windows event log.
EVENT_LOG_LEVELS = ("warning", "error", "critical")


class ServiceLog(io.TextIOBase):
    """The service's log stream: JSON lines appended to ``path`` (rotated at ``max_bytes``,
    keeping ``backups`` old files), the warnings and errors among them also handed to
    ``forward(level, line)``, which writes them to the event log. Thread-safe, because
    structlog and the standard library's logging both write to it."""

    def __init__(
        self,
        path: Path,
        forward: Callable[[str, str], None],
        *,
        max_bytes: int = 10 * 1024 * 1024,
        backups: int = 5,
    ) -> None:
        super().__init__()
        self.path = path
        self.forward = forward
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._partial = ""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
            for line in lines:
                self._write_line(line)
        return len(text)

    def _write_line(self, line: str) -> None:
        if self._file.tell() + len(line) + 1 > self.max_bytes:
            self._rotate()
        self._file.write(line + "\n")
        self._file.flush()
        level = _level(line)
        if level in EVENT_LOG_LEVELS:
            self.forward(level, line)

    def _rotate(self) -> None:
        # Windows cannot rename an open file: close, shift agent.log.N up, reopen.
        self._file.close()
        for n in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
        if self.backups:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()
        self._file = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        with self._lock:
            if self._partial:
                self._write_line(self._partial)
                self._partial = ""
            self._file.close()
        super().close()


def _level(line: str) -> str | None:
    if not line.strip():
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return "error"  # not one of our JSON lines: a traceback or a library's own print
    level = event.get("level") if isinstance(event, dict) else None
    return level if isinstance(level, str) else None
