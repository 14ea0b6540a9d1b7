"""A throwaway root for ``installer/linux/install.sh --root``, and running its units.

The root lives in a world-readable temporary folder (pytest's own are private to root),
so the service user can reach the virtualenv in it. Its /etc starts as a copy of the
host's account files, so the service user's id is one the host does not use either.
"""

from __future__ import annotations

import os
import selectors
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINUX = REPO / "installer" / "linux"
SANDBOX = Path(__file__).resolve().parent / "sandbox.py"
SYSTEM_PYTHON = "/usr/bin/python3"


@dataclass
class Root:
    path: Path

    @classmethod
    def make(cls) -> Root:
        path = Path(tempfile.mkdtemp(prefix="hatchway-root-", dir="/tmp"))
        try:
            path.chmod(0o755)
            (path / "etc").mkdir()
            for name in ("passwd", "group", "shadow", "gshadow"):
                shutil.copy2(Path("/etc") / name, path / "etc" / name)
            (path / "usr" / "sbin").mkdir(parents=True)
            shutil.copy2("/usr/sbin/nologin", path / "usr" / "sbin" / "nologin")
            # systemd-analyze --root looks for the targets the units name in the root.
            system = path / "usr/lib/systemd/system"
            shutil.copytree("/usr/lib/systemd/system", system, symlinks=True)
        except BaseException:
            shutil.rmtree(path)
            raise
        return cls(path)

    def copy(self) -> Root:
        """A copy to change freely (its virtualenv still names the original's paths)."""
        path = Path(tempfile.mkdtemp(prefix="hatchway-root-", dir="/tmp"))
        path.chmod(0o755)
        shutil.copytree(self.path, path, symlinks=True, dirs_exist_ok=True)
        return Root(path)

    def remove(self) -> None:
        shutil.rmtree(self.path)

    def __truediv__(self, inside: str) -> Path:
        return self.path / inside.lstrip("/")

    def install(self, *args: str, env: dict[str, str] | None = None) -> Run:
        return run([str(LINUX / "install.sh"), "--root", str(self.path), *args], env=env)

    def uninstall(self, *args: str) -> Run:
        return run([str(LINUX / "uninstall.sh"), "--root", str(self.path), *args])

    def user(self) -> tuple[int, int, str, str]:
        """uid, gid, home and shell of the hatchway user in the root's /etc/passwd."""
        for line in (self / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == "hatchway":
                return int(fields[2]), int(fields[3]), fields[5], fields[6]
        raise AssertionError("no hatchway user in the root's /etc/passwd")

    def releases(self) -> set[str]:
        return {p.name for p in (self / "opt/hatchway/releases").iterdir()}

    def current(self) -> str:
        return os.readlink(self / "opt/hatchway/current")

    def snapshot(self, *folders: str) -> dict[str, tuple[bytes, int, int]]:
        """Every file under ``folders``: contents, mode and owner."""
        out = {}
        for folder in folders:
            for path in sorted((self / folder).rglob("*")):
                if path.is_file():
                    st = path.stat()
                    out[str(path)] = (path.read_bytes(), st.st_mode, st.st_uid)
        return out


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str


def run(argv: list[str], *, env: dict[str, str] | None = None) -> Run:
    done = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return Run(done.returncode, done.stdout)


def unit_settings(path: Path) -> dict[str, list[str]]:
    """A unit file's settings, each key with every value it is given, in order."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def _expand_filter(group: str, seen: set[str]) -> set[str]:
    """The system calls of a SystemCallFilter group, nested groups included."""
    seen.add(group)
    out = subprocess.run(
        ["systemd-analyze", "syscall-filter", group], capture_output=True, text=True, check=True
    ).stdout
    calls: set[str] = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        if item.startswith("@"):
            if item not in seen:
                calls |= _expand_filter(item, seen)
        else:
            calls.add(item)
    return calls


def allowed_syscalls(settings: dict[str, list[str]]) -> set[str]:
    """What a unit's SystemCallFilter lines allow: allow lists added, ``~`` lists removed."""
    allowed: set[str] = set()
    for value in settings["SystemCallFilter"]:
        deny = value.startswith("~")
        items = value.lstrip("~").split()
        calls: set[str] = set()
        for item in items:
            calls |= _expand_filter(item, set()) if item.startswith("@") else {item}
        allowed = allowed - calls if deny else allowed | calls
    return allowed


class Service:
    """A unit's ExecStart, run from the root as the service user under the unit's
    restrictions (see ``sandbox.py``), with its JSON log lines collected."""

    def __init__(
        self, root: Root, unit: str, argv: list[str] | None = None, *, in_root: bool = True
    ) -> None:
        """``argv`` replaces the unit's ExecStart, to run another command the same way;
        its absolute paths name places in the root unless ``in_root`` is false."""
        self.root = root
        workdir = root / "sandbox"  # pytest's folders are private to root
        workdir.mkdir(exist_ok=True)
        settings = unit_settings(root / f"etc/systemd/system/{unit}")
        self.settings = settings
        (exec_start,) = settings["ExecStart"]
        # Absolute paths in the unit name places inside the root.
        command = shlex.split(exec_start) if argv is None else argv
        self.argv = [str(root / a) if in_root and a.startswith("/") else a for a in command]
        uid, gid, _, _ = root.user()
        (user,) = settings["User"]
        assert user == "hatchway"
        syscalls = workdir / f"{unit}.syscalls"
        syscalls.write_text("\n".join(sorted(allowed_syscalls(settings))) + "\n")
        syscalls.chmod(0o644)
        workdir.chmod(0o755)
        sandbox = workdir / SANDBOX.name
        shutil.copy(SANDBOX, sandbox)
        sandbox.chmod(0o644)
        (families,) = settings["RestrictAddressFamilies"]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(root / "var/lib/hatchway")}
        for assignment in settings.get("Environment", []):
            for item in shlex.split(assignment):
                name, _, value = item.partition("=")
                env[name] = str(root / value) if value.startswith("/") else value
        self.env = env
        self.command = [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={gid}",
            "--clear-groups",
            "--no-new-privs",
            "--bounding-set=-all",
            "--inh-caps=-all",
            "--",
            SYSTEM_PYTHON,
            str(sandbox),
            "--syscalls",
            str(syscalls),
            "--families",
            ",".join(families.split()),
            "--umask",
            settings["UMask"][0],
            *(["--mdwe"] if settings.get("MemoryDenyWriteExecute") == ["yes"] else []),
            "--",
            *self.argv,
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: list[str] = []
        self._pending = b""

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._pending = b""

    def _lines(self, timeout: float) -> Iterator[str]:
        """Lines as they come, read unbuffered: a buffered reader could hold a line that
        select() would then never report."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not sel.select(left):
                    return
                chunk = os.read(fd, 65536)
                if not chunk:
                    return
                *complete, self._pending = (self._pending + chunk).split(b"\n")
                for raw in complete:
                    self.lines.append(raw.decode(errors="replace"))
                    yield self.lines[-1]

    def wait_for(self, event: str, timeout: float = 30) -> str:
        """The first log line whose event is ``event``; fails with the output otherwise."""
        needle = f'"event": "{event}"'
        for line in self._lines(timeout):
            if needle in line:
                return line
        raise AssertionError(f"{self.argv[0]} never logged {event!r}:\n" + "\n".join(self.lines))

    def wait(self, timeout: float = 30) -> int:
        """The exit status, once the output has ended."""
        assert self.proc is not None
        for _ in self._lines(timeout):
            pass
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as systemctl stop sends, and the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)
