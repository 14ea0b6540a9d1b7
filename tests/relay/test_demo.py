"""``hatchway demo --once``, the README's first command, tells the whole provisioning story
with real numbers and leaves the targets, the store and the machine as it says."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import ldap3
import pytest
from ldap3.core.exceptions import LDAPSocketOpenError

from relay.demo_ldap import PEOPLE, find_slapd
from relay.engine import job as jobs
from relay.store.base import ApiRole, ApiToken
from relay.store.engine_records import StagedDecision
from relay.store.sqlite import SqliteStore

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One demo run for the whole module: its work folder and what it printed."""
    assert find_slapd() is not None, "slapd is not installed; run scripts/setup.sh"
    workdir = tmp_path_factory.mktemp("demo")
    done = subprocess.run(
        [sys.executable, "-m", "relay.cli", "demo", "--once", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return workdir, done.stdout


def line(out: str, pattern: str) -> re.Match[str]:
    found = re.search(pattern, out, re.MULTILINE)
    assert found is not None, f"no line matching {pattern!r} in:\n{out}"
    return found


def test_the_relay_the_agent_and_the_directory_come_up(demo: tuple[Path, str]) -> None:
    _, out = demo
    line(out, r"^1\. relay up on http://127\.0\.0\.1:\d+: SQLite store .*relay\.sqlite3")
    line(out, r"^   targets: SQLite database .* and OpenLDAP slapd on ldap://127\.0\.0\.1:\d+")
    line(
        out,
        r"^2\. agent 'demo-agent' registered .* connected: process \d+,"
        r" connectors hr-db \(sql\), directory \(ldap\)$",
    )
    line(out, r"^3\. directory loaded: 1,000 users across 8 departments, 50 groups")


def test_the_jobs_are_created_from_files_people_can_read(demo: tuple[Path, str]) -> None:
    workdir, out = demo
    for name, connector in (("demo", "hr-db"), ("demo-ldap", "directory")):
        path = workdir / f"{name}.toml"
        line(out, rf"^4\. job '{name}' created from {re.escape(str(path))} and started")
        settings = jobs.load(path)
        assert settings.name == name
        assert settings.connection.agent == "demo-agent"
        assert settings.connection.connector == connector
        assert settings.guard.threshold == 500


def test_the_initial_cycles_provision_the_assigned_users_and_groups(
    demo: tuple[Path, str],
) -> None:
    workdir, out = demo
    # 8 department groups (all 1,000 people) and 12 project teams are assigned: 1,020 are
    # created; the 30 other teams are out of scope.
    for name in ("demo", "demo-ldap"):
        found = line(out, rf"^6\. {name} \(\w+\): initial cycle done in [\d.]+ s: (.*)$")
        assert "1,020 created" in found.group(1)
        assert "30 skipped" in found.group(1)
        assert "failed" not in found.group(1)
    line(out, r"^   .*target\.db: 1,000 users, 20 groups, [\d,]+ memberships; the first 5 users")
    line(out, r"^   ldap://127\.0\.0\.1:\d+: 1,000 people, 20 groups; 3 of the people")
    assert len(re.findall(r"^     uid=[^,]+,ou=people,dc=example,dc=org  cn=", out, re.M)) == 3
    # The progress bar's last state: complete.
    bar = line(out, r"^   initial cycle demo-ldap .* (\d+)/(\d+) ")
    assert bar.group(1) == bar.group(2)
    with contextlib.closing(sqlite3.connect(workdir / "target.db")) as db:
        (groups,) = db.execute("SELECT COUNT(*) FROM groups").fetchone()
        (engineers,) = db.execute(
            "SELECT COUNT(*) FROM group_members m JOIN groups g ON g.id = m.group_id"
            " WHERE g.name = 'Dept Engineering'"
        ).fetchone()
    assert groups == 20
    assert engineers == 125 - 75  # 125 engineers; the 75 deleted left the group at once


def test_a_move_arrives_within_seconds(demo: tuple[Path, str]) -> None:
    workdir, out = demo
    found = line(
        out,
        r"^7\. (.+) moved from \w+ to Research through the relay's SCIM endpoint"
        r" \(PATCH /scim/v2/Users/\S+ .*\): the change arrived in the SQL target after"
        r" ([\d.]+) s and in LDAP after ([\d.]+) s$",
    )
    assert float(found.group(2)) < 30 and float(found.group(3)) < 30
    with contextlib.closing(sqlite3.connect(workdir / "target.db")) as db:
        rows = db.execute(
            "SELECT department FROM users WHERE display_name = ?", (found.group(1),)
        ).fetchall()
    assert rows == [("Research",)]


def test_the_deletion_guard_holds_600_deletions(demo: tuple[Path, str]) -> None:
    workdir, out = demo
    for name, label in (("demo", "SQL"), ("demo-ldap", "LDAP")):
        line(
            out,
            rf"^8\. 600 users deleted from the directory: job '{name}' is 'running, waiting for"
            rf" approval' with 600 staged deletions \(.+, \.\.\.\); its {label} target still"
            r" holds 1,000 users \(1,000 before\)$",
        )
    line(
        out,
        r"^   to let them go: hatchway job approve demo \(and demo-ldap\); to keep the accounts:"
        r" hatchway job reject \.\.\.$",
    )
    with contextlib.closing(sqlite3.connect(workdir / "target.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM users").fetchone() == (1000,)

    async def staged(job: str) -> int:
        store = SqliteStore(workdir / "relay" / "relay.sqlite3")
        await store.open()
        try:
            return len(await store.list_staged(job, decision=StagedDecision.PENDING))
        finally:
            await store.close()

    assert asyncio.run(staged("demo")) == 600
    assert asyncio.run(staged("demo-ldap")) == 600


def test_where_to_look_next_and_a_clean_stop(demo: tuple[Path, str]) -> None:
    workdir, out = demo
    line(out, r"^9\. where to look next:$")
    line(out, r"^   docs/provisioning\.md")
    line(out, r"^   while the relay runs \(leave out --once to keep it running\), the dashboard")
    relay = line(out, r"^1\. relay up on (http://127\.0\.0\.1:\d+):").group(1)
    dashboard = rf"^   the dashboard: {re.escape(relay)}/dashboard/ with the admin API token"
    token = line(out, dashboard + r" (hwa_\S+)$").group(1)
    line(out, rf"^   the CLI: export HATCHWAY_URL={re.escape(relay)} HATCHWAY_TOKEN={token}$")
    line(out, r"^     hatchway job status demo$")
    line(out, r"^     hatchway job logs demo --user \S+$")
    line(out, r"^     hatchway agents list$")
    assert "comes later" not in out

    async def admin(secret: str) -> ApiToken | None:
        store = SqliteStore(workdir / "relay" / "relay.sqlite3")
        await store.open()
        try:
            return await store.verify_api_token(secret)
        finally:
            await store.close()

    found = asyncio.run(admin(token))
    assert found is not None and found.role is ApiRole.ADMIN
    assert out.rstrip().endswith(
        f"Stopped the agent, the relay and slapd; the work folder {workdir} is kept."
    )
    agent_pid = int(line(out, r"connected: process (\d+),").group(1))
    with pytest.raises(ProcessLookupError):
        os.kill(agent_pid, 0)
    # slapd is gone too: nothing answers on its port any more.
    url = line(out, r"OpenLDAP slapd on (ldap://127\.0\.0\.1:\d+)").group(1)
    server = ldap3.Server(url, connect_timeout=1, get_info=ldap3.NONE)
    with pytest.raises(LDAPSocketOpenError):
        ldap3.Connection(server, auto_bind=True, receive_timeout=1).search(PEOPLE, "(uid=*)")


def test_a_folder_that_is_not_the_demos_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "relay").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    done = subprocess.run(
        [sys.executable, "-m", "relay.cli", "demo", "--once", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"hatchway: error: {tmp_path} is not empty and was not made by `hatchway demo`;"
        " give --workdir a new or empty folder"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "relay"]
