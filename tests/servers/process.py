"""Helpers shared by the throwaway servers: running tools, waiting and stopping.

Every failure raises ServerError carrying the tail of the server's log, because a bare
"did not start" is useless when debugging a CI run after the fact.
"""

import abc
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

POLL_INTERVAL = 0.05

Command = Sequence[str | os.PathLike[str]]


class ServerError(RuntimeError):
    """A throwaway server could not be set up, started or stopped."""


def program(name: str) -> str:
    """Find a server tool; Debian keeps several in /usr/sbin, which is not on a user's PATH."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise ServerError(f"{name} is not installed; run scripts/setup.sh")
    return found


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"(log {path} is empty)"


def fail(message: str, log: Path | None) -> ServerError:
    if log is None or not log.exists():
        return ServerError(message)
    return ServerError(f"{message}\n--- last lines of {log} ---\n{log_tail(log)}")


def _ids(user: str | None) -> tuple[int | None, int | None, list[int] | None]:
    """uid, gid and supplementary groups to switch to; only root can, and only root must."""
    if user is None or os.geteuid() != 0:
        return None, None, None
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid, []


def _kill_group(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run(
    cmd: Command,
    *,
    timeout: float,
    log: Path | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> str:
    """Run a set-up tool and return its output, raising with the output when it fails."""
    uid, gid, groups = _ids(user)
    args = [os.fspath(part) for part in cmd]
    with subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        user=uid,
        group=gid,
        extra_groups=groups,
        # Killing a tool alone can leave its children running (initdb's and
        # mariadb-install-db's bootstrap servers), so it gets a process group to kill.
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            _kill_group(process)
            raise fail(f"{args[0]} timed out after {timeout}s", log) from exc
        except BaseException:  # an interrupt: leave nothing behind
            _kill_group(process)
            raise
    if process.returncode != 0:
        output = (stdout + stderr).strip()
        raise fail(f"{' '.join(args)} exited {process.returncode}:\n{output}", log)
    return stdout


def start_server(
    cmd: Command, *, log: Path, cwd: Path | None = None, user: str | None = None
) -> subprocess.Popen[bytes]:
    """Start a server in the foreground, its output appended to its log."""
    uid, gid, groups = _ids(user)
    with log.open("ab") as log_file:
        return subprocess.Popen(
            [os.fspath(part) for part in cmd],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            user=uid,
            group=gid,
            extra_groups=groups,
            # Its own session: a Ctrl-C aimed at pytest must not kill it before teardown.
            start_new_session=True,
        )


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    log: Path,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Poll until ready() is true, failing early when the server process has died."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process is not None and process.poll() is not None:
            raise fail(f"{what} exited with code {process.returncode} while starting", log)
        if time.monotonic() > deadline:
            raise fail(f"{what} was not ready after {timeout}s", log)
        time.sleep(POLL_INTERVAL)


def terminate(
    process: subprocess.Popen[bytes],
    *,
    sig: signal.Signals = signal.SIGTERM,
    timeout: float = 30.0,
) -> None:
    """Stop a server gracefully with sig, killing its process group if it ignores that."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
    # Helpers a server forked (PostgreSQL's backends) must not outlive it either.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


class ThrowawayServer(abc.ABC):
    """A server process the tests own, in a temporary folder deleted at the end."""

    #: Seconds a stop waits for the server to exit before killing it.
    stop_timeout = 60.0

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @abc.abstractmethod
    def start(self) -> None:
        """Start on the same port and folder; return once the server answers."""

    def stop(self) -> None:
        self._terminate(signal.SIGTERM)

    def _terminate(self, sig: signal.Signals) -> None:
        if self._process is not None:
            terminate(self._process, sig=sig, timeout=self.stop_timeout)
            self._process = None

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


Server = TypeVar("Server", bound=ThrowawayServer)


@contextlib.contextmanager
def running(server: Server, stop: Callable[[], None] | None = None) -> Iterator[Server]:
    """The server, started; stopped (with ``stop``, if given) and deleted however the
    block ends."""
    try:
        server.start()
        yield server
    finally:
        try:
            (stop or server.stop)()
        finally:
            server.remove()
