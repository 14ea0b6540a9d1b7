"""installer/linux: install.sh and uninstall.sh, run for real into throwaway roots.

Needs root (useradd, chown, setpriv), as the README's test command runs. One root is
installed and registered once per module; tests that change it further use their own.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.installer.conftest import OLDER_VERSION, Dists
from tests.installer.linux_root import LINUX, REPO, Root, Service, run, unit_settings
from tests.servers.ports import free_port

UNITS = ("hatchway-agent.service", "hatchway-relay.service")
HATCHWAY = [sys.executable, "-m", "relay.cli"]


@dataclass
class LocalRelay:
    """A relay from the checkout (not from the installation), in its own process."""

    url: str
    config_dir: Path
    data_dir: Path
    proc: subprocess.Popen[str]

    def cli(self, *args: str) -> str:
        folders = ["--config-dir", str(self.config_dir), "--data-dir", str(self.data_dir)]
        done = subprocess.run(
            [*HATCHWAY, *args, *folders],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        return done.stdout

    def token(self, name: str) -> str:
        return self.cli("relay", "token", "create", "--name", name).strip()


@pytest.fixture(scope="module")
def test_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRelay]:
    assert os.geteuid() == 0, "the installer tests run as root, as scripts/check.sh does"
    folder = tmp_path_factory.mktemp("relay")
    port = free_port()
    proc = subprocess.Popen(
        [
            *HATCHWAY,
            *("--log-json", "relay", "serve", "--listen", f"127.0.0.1:{port}"),
            *("--config-dir", str(folder / "config"), "--data-dir", str(folder / "data")),
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if '"relay listening"' in line:
            break
    else:
        raise AssertionError(f"the test relay exited with {proc.wait()}")
    # Keep reading, so a full pipe never blocks the relay.
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    relay = LocalRelay(f"http://127.0.0.1:{port}", folder / "config", folder / "data", proc)
    yield relay
    proc.terminate()
    proc.wait(30)


@pytest.fixture(scope="module")
def installed(bundle: Path, older_wheel: Path, test_relay: LocalRelay) -> Iterator[Root]:
    """A root with the agent registered and installed, as version 0.0.1 (so there is
    something to upgrade from), with its dependencies from the offline bundle."""
    root = Root.make()
    token = test_relay.token("box")
    done = root.install(
        *("--from", str(older_wheel), "--offline", str(bundle)),
        *("--relay", test_relay.url, "--token", token),
    )
    assert done.returncode == 0, done.output
    yield root
    root.remove()


@pytest.fixture
def scratch_root() -> Iterator[Root]:
    root = Root.make()
    yield root
    root.remove()


def installed_version(root: Root) -> str:
    hatchway = root / "opt/hatchway/current/bin/hatchway"
    return run([str(hatchway), "--version"]).output.split()[1]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_system_user_without_a_shell_runs_the_services(installed: Root) -> None:
    uid, gid, home, shell = installed.user()
    assert uid < 1000, "a system account"
    assert (home, shell) == ("/var/lib/hatchway", "/usr/sbin/nologin")
    groups = (installed / "etc/group").read_text().splitlines()
    group = [g for g in groups if g.startswith("hatchway:")]
    assert len(group) == 1 and group[0].split(":")[2] == str(gid)


def test_folders_keys_and_settings_belong_to_the_service_user_only(installed: Root) -> None:
    uid, gid, _, _ = installed.user()
    for folder, mode in (("etc/hatchway", 0o750), ("var/lib/hatchway", 0o700)):
        st = (installed / folder).stat()
        assert (st.st_uid, st.st_gid, _mode(installed / folder)) == (uid, gid, mode), folder
    for file in ("etc/hatchway/agent.toml", "var/lib/hatchway/agent_key.pem"):
        st = (installed / file).stat()
        assert (st.st_uid, _mode(installed / file)) == (uid, 0o600), file
    assert 'name = "box"' in (installed / "etc/hatchway/agent.toml").read_text()


def test_the_software_is_owned_by_root_and_runs(installed: Root) -> None:
    current = installed / "opt/hatchway/current"
    assert installed.current().startswith("releases/") and current.is_dir()
    for path in current.resolve().rglob("*"):
        if path.is_symlink():
            continue  # a symlink's own mode means nothing
        st = path.lstat()
        assert st.st_uid == 0 and not st.st_mode & 0o022, f"{path} is writable by others"
    version = subprocess.run(
        [str(current / "bin" / "hatchway"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert re.fullmatch(r"hatchway \d+\.\d+\.\d+\S*\n", version)
    assert os.readlink(installed / "usr/local/bin/hatchway") == "/opt/hatchway/current/bin/hatchway"


@pytest.mark.parametrize("unit", UNITS)
def test_units_are_hardened_and_log_to_journald(installed: Root, unit: str) -> None:
    path = installed / f"etc/systemd/system/{unit}"
    assert _mode(path) == 0o644
    settings = unit_settings(path)
    expected = {
        "User": ["hatchway"],
        "NoNewPrivileges": ["yes"],
        "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"],
        "PrivateTmp": ["yes"],
        "ReadWritePaths": ["/var/lib/hatchway"],
        "CapabilityBoundingSet": [""],
        "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"],
        "SystemCallFilter": ["@system-service", "~@privileged @resources"],
        "UMask": ["0077"],
        "StandardOutput": ["journal"],
        "StandardError": ["journal"],
    }
    assert {key: settings.get(key) for key in expected} == expected
    (exec_start,) = settings["ExecStart"]
    assert exec_start.startswith("/opt/hatchway/current/bin/hatchway --log-json ")
    assert "--config-dir /etc/hatchway --data-dir /var/lib/hatchway" in exec_start
    assert settings["WantedBy"] == ["multi-user.target"]


def test_systemd_analyze_verifies_the_units(installed: Root) -> None:
    units = [f"/etc/systemd/system/{u}" for u in UNITS]
    done = run(["systemd-analyze", "verify", f"--root={installed.path}", "--man=no", *units])
    # verify exits 0 on unknown keys too, only warning: a clean run prints nothing.
    assert (done.returncode, done.output) == (0, "")
    for unit in units:
        security = run(
            ["systemd-analyze", "security", f"--root={installed.path}", "--offline=yes", unit]
        )
        exposure = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.output)
        assert exposure is not None, security.output
        assert float(exposure.group(1)) <= 1.5, security.output


PROBES = {
    "chown": "import os; os.chown('/var/lib/hatchway', os.getuid(), os.getgid())",
    "W+X memory": "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_WRITE | mmap.PROT_EXEC)",
    "netlink socket": "import socket; socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)",
    "setpriority": "import os; os.setpriority(os.PRIO_PROCESS, 0, 5)",
}


@pytest.mark.parametrize("probe", PROBES)
def test_the_units_restrictions_are_really_applied(installed: Root, probe: str) -> None:
    """What the service tests below run under refuses what the unit forbids, while the
    same user may do it without the restrictions: the emulation is not a no-op."""
    code = PROBES[probe].replace("/var/lib/hatchway", str(installed / "var/lib/hatchway"))
    argv = ["/usr/bin/python3", "-c", code]
    uid, gid, _, _ = installed.user()
    free = run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *argv])
    assert free.returncode == 0, free.output
    restricted = Service(installed, "hatchway-agent.service", argv, in_root=False)
    restricted.start()
    assert restricted.wait() != 0
    output = "\n".join(restricted.lines)
    assert re.search(r"(PermissionError|OSError): \[Errno (1|13)\]", output), output


def test_the_agent_service_connects_as_the_service_user(
    installed: Root, test_relay: LocalRelay
) -> None:
    agent = Service(installed, "hatchway-agent.service")
    agent.start()
    try:
        agent.wait_for("connected")
        listing = test_relay.cli("relay", "agents")
    finally:
        code = agent.stop()
    assert code == 0, "\n".join(agent.lines)
    (row,) = [line for line in listing.splitlines() if line.startswith("box ")]
    assert "connected" in row
    # The version pip installed (0.0.1 before the upgrade test), read from its metadata.
    assert f"hatchway-agent/{installed_version(installed)}" in row
    uid, _, _, _ = installed.user()
    for path in (installed / "var/lib/hatchway").iterdir():
        assert path.stat().st_uid == uid and not _mode(path) & 0o077, f"{path} (UMask=0077)"


def test_agent_check_reaches_a_database_under_the_agents_restrictions(installed: Root) -> None:
    """pyodbc, unixODBC and the SQLite driver load and connect under the agent unit's
    restrictions (MemoryDenyWriteExecute and the system call filter among them)."""
    uid, gid, _, _ = installed.user()
    database = installed / "var/lib/hatchway/hr.sqlite3"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, user_name TEXT UNIQUE)")
    os.chown(database, uid, gid)
    settings = installed / "etc/hatchway/agent.toml"
    original = settings.read_text()
    settings.write_text(
        original + '\n[connectors.hr]\ntype = "sql"\ndialect = "sqlite"\n'
        f'connection_string = "Driver=SQLite3;Database={database}"\n'
    )
    check = Service(
        installed,
        "hatchway-agent.service",
        argv=[
            *("/opt/hatchway/current/bin/hatchway", "agent", "check"),
            *("--config-dir", "/etc/hatchway", "--data-dir", "/var/lib/hatchway"),
        ],
    )
    check.start()
    try:
        code = check.wait(timeout=60)
    finally:
        settings.write_text(original)
        database.unlink()
    assert code == 0, "\n".join(check.lines)
    assert any(line.split()[:3] == ["hr", "(sql)", "OK"] for line in check.lines), check.lines


def test_the_relay_service_serves_as_the_service_user(installed: Root) -> None:
    port = free_port()
    relay_toml = installed / "etc/hatchway/relay.toml"
    relay_toml.write_text(f'listen = "127.0.0.1:{port}"\n')
    uid, gid, _, _ = installed.user()
    os.chown(relay_toml, uid, gid)
    relay = Service(installed, "hatchway-relay.service")
    relay.start()
    try:
        line = relay.wait_for("relay listening")
    finally:
        code = relay.stop()
        relay_toml.unlink()
    assert json.loads(line)["listen"] == f"127.0.0.1:{port}"
    assert code == 0, "\n".join(relay.lines)
    key = installed / "var/lib/hatchway/relay_signing_key.pem"
    assert key.stat().st_uid == uid and _mode(key) == 0o600


def test_an_upgrade_keeps_settings_and_keys_and_a_refused_one_changes_nothing(
    bundle: Path, dists: Dists, installed: Root, test_relay: LocalRelay
) -> None:
    with (installed / "etc/hatchway/agent.toml").open("a") as fh:
        fh.write("# edited by the administrator\n")
    stale = installed / "opt/hatchway/releases/stale"
    stale.mkdir()
    before = installed.snapshot("etc/hatchway", "var/lib/hatchway")
    releases, previous = installed.releases(), installed.current()

    refused = installed.install(
        "--offline", str(bundle), "--relay", test_relay.url, "--token", "hwt_not-a-token"
    )
    assert refused.returncode != 0
    assert "registration refused (invalid_token)" in refused.output
    assert "the previous installation is unchanged" in refused.output
    assert (installed.releases(), installed.current()) == (releases, previous)
    assert installed.snapshot("etc/hatchway", "var/lib/hatchway") == before

    assert installed_version(installed) == OLDER_VERSION
    done = installed.install("--offline", str(bundle))
    assert done.returncode == 0, done.output
    assert installed_version(installed) == dists.wheel.name.split("-")[1]
    assert installed.snapshot("etc/hatchway", "var/lib/hatchway") == before
    assert installed.current() != previous
    # The previous release stays for a rollback; older ones go.
    assert installed.releases() == {Path(previous).name, Path(installed.current()).name}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--relay", "http://127.0.0.1:1"], "--relay needs --token"),
        (["--services", "everything"], "--services takes agent, relay"),
        (["--offline", "/nonexistent"], "is not a folder"),
        (["--python", "/nonexistent/python3"], "not found"),
        (["--bogus"], "unknown option --bogus"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(
    scratch_root: Root, args: list[str], message: str
) -> None:
    done = scratch_root.install(*args)
    assert done.returncode != 0 and message in done.output, done.output
    assert not (scratch_root / "opt").exists() and not (scratch_root / "etc/hatchway").exists()


def test_uninstall_keeps_settings_and_keys_unless_purged(installed: Root) -> None:
    root = installed.copy()  # the module's root stays installed for the other tests
    try:
        key = (root / "var/lib/hatchway/agent_key.pem").read_bytes()
        done = root.uninstall()
        assert done.returncode == 0, done.output
        assert not (root / "opt/hatchway").exists()
        assert not (root / "usr/local/bin/hatchway").is_symlink()
        assert not [u for u in UNITS if (root / f"etc/systemd/system/{u}").exists()]
        assert (root / "var/lib/hatchway/agent_key.pem").read_bytes() == key
        assert (root / "etc/hatchway/agent.toml").is_file()
        root.user()  # still there: it owns the kept files
        done = root.uninstall("--purge")
        assert done.returncode == 0, done.output
        assert not (root / "etc/hatchway").exists() and not (root / "var/lib/hatchway").exists()
        assert "hatchway:" not in (root / "etc/passwd").read_text()
    finally:
        root.remove()


def test_the_scripts_pass_shellcheck() -> None:
    scripts = [LINUX / "install.sh", LINUX / "uninstall.sh", REPO / "installer" / "build-bundle.sh"]
    done = run(["shellcheck", *map(str, scripts)])
    assert (done.returncode, done.output) == (0, "")
