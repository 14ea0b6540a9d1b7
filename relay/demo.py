"""``hatchway demo``: the whole provisioning story on one machine, with the real parts.

A relay serves on a free loopback port with its SQLite store in the work folder and its
provisioning engine running; an agent registers with a one-time token and runs as its own
process, dialling out to the relay. A sample directory (1,000 people across departments,
50 groups) is loaded into the relay, and a job provisions it through the agent's SQL
connector into a SQLite database (over the SQLite3 ODBC driver) and, when OpenLDAP's
``slapd`` is installed, a second job into a throwaway slapd through the LDAP connector.

Then the story an administrator cares about: a user moved to another department through
the relay's SCIM endpoint, as an identity provider would, arriving in the targets within
seconds; and 600 people deleted from the directory at once, which the deletion guard holds
back until someone approves. Every number printed is measured, none is scripted.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agent.registration import register
from agent.settings import CONFIG_FILE
from relay.app import STORE_FILE, start
from relay.demo_ldap import GROUPS, PEOPLE, DemoSlapd, find_slapd
from relay.directory import sample
from relay.directory.server import CONTENT_TYPE
from relay.directory.server import PREFIX as SCIM_PREFIX
from relay.engine.jobfile import toml_literal
from relay.engine.settings import EngineSettings
from relay.engine.status import job_status
from relay.exceptions import DemoError
from relay.keys import ENGINE, HUB, STORE
from relay.settings import RelaySettings
from relay.store.base import ApiRole, Entry, EntryKind, EntryWrite, Store
from relay.store.engine_records import (
    CycleKind,
    CycleRecord,
    CycleState,
    JobState,
    StagedDecision,
    StagedOperation,
)
from shared.exceptions import HatchwayError

AGENT = "demo-agent"
#: The name of the admin API token the demo makes (``hatchway relay api-token list``).
API_TOKEN_NAME = "demo"  # noqa: S105 - a token's name, not a secret
USERS = 1000
GROUPS_IN_DIRECTORY = 50
#: Project teams assigned to the jobs besides the department groups: the other teams stay
#: out of scope, which the summary shows.
ASSIGNED_PROJECTS = 12
#: People deleted at once: more than the guard's threshold, so the guard holds them.
DELETED = 600
THRESHOLD = 500
#: The sample person moved to another department (an ordinary employee, not a manager, and
#: not among the people deleted later).
MOVED = 42
NEW_DEPARTMENT = "Research"
#: The file that marks a work folder as the demo's, so a rerun may clear it.
MARKER = ".hatchway-demo"
#: The work folder's entries the demo owns (and clears before it starts again there).
OWN = ("relay", "agent-config", "agent-data", "ldap", "target.db", "demo.toml", "demo-ldap.toml")
#: Seconds each wait of the story may take before the demo gives up with DemoError.
REGISTER_TIMEOUT = 30.0
CONNECT_TIMEOUT = 30.0
INITIAL_TIMEOUT = 120.0
CHANGE_TIMEOUT = 30.0
STAGE_TIMEOUT = 60.0
SCIM_TIMEOUT = 10.0
AGENT_STOP_TIMEOUT = 15.0
#: Seconds between looks at progress and at the targets while waiting.
POLL_INTERVAL = 0.05
PROGRESS_INTERVAL = 0.2
#: Counts of a cycle in the order the summary prints them.
COUNT_ORDER = ("created", "linked", "updated", "unchanged", "skipped", "staged", "failed")

SQL_TABLES = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, user_name TEXT NOT NULL UNIQUE,"
    " email TEXT, display_name TEXT, given_name TEXT, family_name TEXT, department TEXT,"
    " title TEXT, active INTEGER NOT NULL DEFAULT 1, external_id TEXT)",
    "CREATE TABLE groups (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE)",
    "CREATE TABLE group_members (group_id INTEGER NOT NULL REFERENCES groups (id)"
    " ON DELETE CASCADE, user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
    " PRIMARY KEY (group_id, user_id))",
)

_COUNTS = {
    table: f"SELECT COUNT(*) FROM {table}"  # noqa: S608 (the demo's own table names)
    for table in ("users", "groups", "group_members")
}


def _say(text: str = "") -> None:
    print(text, flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class DemoJob:
    """One of the demo's jobs and how to look into its target."""

    name: str
    connector: str
    #: What the summary calls the target.
    label: str
    file: Path


class SqlTarget:
    """The SQLite database the SQL connector writes, read behind the connector's back."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def create(self) -> None:
        with contextlib.closing(sqlite3.connect(self.path)) as db:
            for statement in SQL_TABLES:
                db.execute(statement)
            db.commit()

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self._rows, sql, params)

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            with contextlib.closing(sqlite3.connect(self.path, timeout=5)) as db:
                return db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise DemoError(f"could not read the target database {self.path}: {exc}") from exc

    async def count(self, table: str) -> int:
        [(count,)] = await self.rows(_COUNTS[table])
        return int(count)


async def run(*, once: bool, workdir: str | None = None) -> int:
    with contextlib.ExitStack() as stack:
        base = (
            Path(workdir) if workdir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        base.mkdir(parents=True, exist_ok=True)
        return await Demo(base, once=once, temporary=workdir is None).run()


class Demo:
    def __init__(self, base: Path, *, once: bool, temporary: bool = False) -> None:
        self.base = base
        self.once = once
        #: The work folder goes when the demo ends.
        self.temporary = temporary
        self.relay_dir = base / "relay"
        self.agent_config = base / "agent-config"
        self.agent_data = base / "agent-data"
        self.sql = SqlTarget(base / "target.db")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runner: web.AppRunner | None = None
        self.agent: asyncio.subprocess.Process | None = None
        self.slapd: DemoSlapd | None = None
        self.jobs: list[DemoJob] = []
        self.directory: sample.SampleDirectory | None = None
        #: The admin API token the demo makes for the dashboard and the CLI.
        self.api_token = ""

    @property
    def app(self) -> web.Application:
        assert self.runner is not None
        return self.runner.app

    @property
    def store(self) -> Store:
        return self.app[STORE]

    async def run(self) -> int:
        try:
            await self._prepare_targets()
            await self._relay_up()
            await self._agent_up()
            await self._load_directory()
            await self._create_jobs()
            await self._initial_cycles()
            await self._summaries()
            await self._move_a_user()
            await self._delete_many()
            self._next_steps()
            if not self.once:
                await self._keep_running()
            return 0
        finally:
            await self._stop()

    # Setting up --------------------------------------------------------------------------

    async def _prepare_targets(self) -> None:
        marker = self.base / MARKER
        if not marker.exists():
            if any(self.base.iterdir()):
                raise DemoError(
                    f"{self.base} is not empty and was not made by `hatchway demo`;"
                    " give --workdir a new or empty folder"
                )
            marker.write_text("hatchway demo's work folder: rerunning the demo clears it\n")
        for name in OWN:
            path = self.base / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        for folder in (self.relay_dir, self.agent_config, self.agent_data):
            folder.mkdir(parents=True, mode=0o700)
        self.sql.create()
        program = find_slapd()
        if program is not None:
            self.slapd = DemoSlapd(program, self.base / "ldap", _free_port())
            await self.slapd.start()

    async def _relay_up(self) -> None:
        settings = RelaySettings(
            listen=f"127.0.0.1:{self.port}",
            shutdown_timeout=2,
            engine=EngineSettings(control_interval=0.2),
        )
        self.runner = await start(settings, self.relay_dir)
        _, self.api_token = await self.store.create_api_token(API_TOKEN_NAME, ApiRole.ADMIN)
        _say(
            f"1. relay up on {self.url}: SQLite store {self.relay_dir / STORE_FILE},"
            " provisioning engine running"
        )
        targets = f"SQLite database {self.sql.path} (tables users, groups, group_members)"
        if self.slapd is not None:
            targets += f" and OpenLDAP slapd on {self.slapd.url} ({self.slapd.base_dn})"
        else:
            targets += "; slapd is not installed, so no LDAP target this time"
        _say(f"   targets: {targets}")

    async def _agent_up(self) -> None:
        _, token = await self.store.create_token(AGENT, 600)
        try:
            done = await register(
                self.url,
                token,
                config_dir=self.agent_config,
                data_dir=self.agent_data,
                timeout=REGISTER_TIMEOUT,
            )
        except HatchwayError as exc:
            raise DemoError(f"the agent could not register: {exc}") from exc
        connectors = {
            "hr-db": {
                "type": "sql",
                "dialect": "sqlite",
                "connection_string": f"Driver=SQLite3;Database={self.sql.path}",
                "groups_table": "groups",
            }
        }
        if self.slapd is not None:
            connectors["directory"] = self.slapd.connector_settings()
        with (self.agent_config / CONFIG_FILE).open("a", encoding="utf-8") as fh:
            for name, table in connectors.items():
                fh.write(f"\n[connectors.{name}]\n")
                fh.writelines(f"{key} = {toml_literal(value)}\n" for key, value in table.items())
        self.agent = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "relay.cli",
            "--log-level",
            "warning",
            "agent",
            "run",
            "--config-dir",
            str(self.agent_config),
            "--data-dir",
            str(self.agent_data),
        )
        link = self.app[HUB].link(AGENT)
        try:
            await asyncio.wait_for(link.connected.wait(), CONNECT_TIMEOUT)
        except TimeoutError as exc:
            raise DemoError(
                f"the agent did not connect within {CONNECT_TIMEOUT:.0f} s"
                f" (its settings: {self.agent_config / CONFIG_FILE})"
            ) from exc
        names = ", ".join(f"{n} ({t['type']})" for n, t in connectors.items())
        _say(
            f"2. agent {done.name!r} registered with a one-time token (relay key pinned,"
            f" {done.relay_key_fingerprint}) and connected: process {self.agent.pid},"
            f" connectors {names}"
        )

    async def _load_directory(self) -> None:
        began = time.monotonic()
        self.directory = await sample.load(self.store, users=USERS, groups=GROUPS_IN_DIRECTORY)
        took = time.monotonic() - began
        users, groups = self.directory.users, self.directory.groups
        departments = sum(g.resource["displayName"].startswith("Dept ") for g in groups)
        _say(
            f"3. directory loaded: {len(users):,} users across {len(sample.DEPARTMENTS)}"
            f" departments, {len(groups)} groups ({departments} departments,"
            f" {len(groups) - departments} project teams) in {took:.1f} s"
        )

    async def _create_jobs(self) -> None:
        assert self.directory is not None
        groups = self.directory.groups
        departments = [g for g in groups if g.resource["displayName"].startswith("Dept ")]
        projects = [g for g in groups if g not in departments]
        assigned = departments + projects[:ASSIGNED_PROJECTS]
        self.jobs = [DemoJob("demo", "hr-db", "SQL", self.base / "demo.toml")]
        if self.slapd is not None:
            self.jobs.append(
                DemoJob("demo-ldap", "directory", "LDAP", self.base / "demo-ldap.toml")
            )
        for job in self.jobs:
            text = _job_file(job)
            job.file.write_text(text, encoding="utf-8")
            await self.store.create_job(job.name, text)
            for group in assigned:
                await self.store.assign(job.name, EntryKind.GROUP, group.id)
            await self.store.update_job(job.name, state=JobState.RUNNING)
            _say(
                f"4. job {job.name!r} created from {job.file} and started: {job.label} connector"
                f" {job.connector!r} on agent {AGENT!r}, scope assigned ({len(assigned)} groups:"
                f" the {len(departments)} departments, so all {USERS:,} users, and"
                f" {ASSIGNED_PROJECTS} of {len(projects)} project teams), deletion guard"
                f" threshold {THRESHOLD}"
            )

    # The initial cycles ----------------------------------------------------------------------

    async def _initial_cycles(self) -> None:
        engine = self.app[ENGINE]
        began = time.monotonic()
        names = " and ".join(repr(job.name) for job in self.jobs)
        _say(f"5. initial cycle of {names}: match, create, link members (users before groups)")
        console = Console()
        columns = (
            TextColumn("   {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as bar:
            tasks = {
                job.name: bar.add_task(f"initial cycle {job.name:<10}", total=None, rate="")
                for job in self.jobs
            }
            pending = {job.name for job in self.jobs}
            while pending:
                for name in sorted(pending):
                    record = await self.store.get_job(name)
                    if record.state is JobState.QUARANTINED:
                        raise DemoError(f"job {name!r} was quarantined: {record.quarantine_reason}")
                    if record.initial_done:
                        cycle = await self._initial_cycle(name)
                        bar.update(tasks[name], total=cycle.total, completed=cycle.done)
                        pending.discard(name)
                        continue
                    progress = await engine.progress(name)
                    if progress is not None and progress.kind is CycleKind.INITIAL:
                        # The engine counts a second pass (references resolved once their
                        # targets exist) in ``done`` before it raises ``total``.
                        total = max(progress.total or 0, progress.done) or None
                        bar.update(
                            tasks[name],
                            total=total,
                            completed=progress.done,
                            rate=f"{progress.rate:,.0f}/s" if progress.rate else "",
                        )
                if time.monotonic() - began > INITIAL_TIMEOUT:
                    raise DemoError(
                        f"the initial cycles did not finish within {INITIAL_TIMEOUT:.0f} s:"
                        f" {await self._why(sorted(pending))}"
                    )
                await asyncio.sleep(PROGRESS_INTERVAL)

    async def _initial_cycle(self, job: str) -> CycleRecord:
        cycles = await self.store.list_cycles(job, state=CycleState.DONE, limit=50)
        found = next((c for c in cycles if c.kind is CycleKind.INITIAL), None)
        if found is None:
            raise DemoError(f"job {job!r} says its initial cycle is done, but none is recorded")
        return found

    async def _why(self, jobs: Sequence[str]) -> str:
        """Each job's state and last error, for a failure message."""
        parts = []
        for name in jobs:
            status = await job_status(self.store, name)
            cycles = await self.store.list_cycles(name, limit=1)
            error = cycles[0].error if cycles and cycles[0].error else "no error recorded"
            parts.append(f"job {name!r} is {status.summary} ({error})")
        return "; ".join(parts)

    async def _summaries(self) -> None:
        for job in self.jobs:
            cycle = await self._initial_cycle(job.name)
            took = (cycle.finished_at or cycle.started_at) - cycle.started_at
            counts = ", ".join(
                f"{cycle.counts[key]:,} {key}"
                for key in (*COUNT_ORDER, *sorted(set(cycle.counts) - set(COUNT_ORDER)))
                if cycle.counts.get(key)
            )
            _say(
                f"6. {job.name} ({job.label}): initial cycle done in {took:.1f} s:"
                f" {counts or 'nothing to do'}"
            )
            if job.label == "SQL":
                await self._show_sql()
            else:
                await self._show_ldap()

    async def _show_sql(self) -> None:
        users, groups = await self.sql.count("users"), await self.sql.count("groups")
        members = await self.sql.count("group_members")
        _say(
            f"   {self.sql.path}: {users:,} users, {groups} groups,"
            f" {members:,} memberships; the first 5 users:"
        )
        rows = await self.sql.rows(
            "SELECT id, user_name, display_name, department, active FROM users ORDER BY id LIMIT 5"
        )
        _say(f"     {'ID':<5}{'USER_NAME':<36}{'DISPLAY_NAME':<22}{'DEPARTMENT':<13}ACTIVE")
        for row in rows:
            _say(f"     {row[0]:<5}{row[1]:<36}{row[2]:<22}{row[3] or '-':<13}{row[4]}")

    async def _show_ldap(self) -> None:
        assert self.slapd is not None
        people = await self.slapd.search(PEOPLE, "(objectClass=inetOrgPerson)", ["uid"])
        groups = await self.slapd.search(GROUPS, "(objectClass=groupOfNames)", ["cn"])
        _say(f"   {self.slapd.url}: {len(people):,} people, {len(groups)} groups; 3 of the people:")
        shown = await self.slapd.search(
            PEOPLE, "(objectClass=inetOrgPerson)", ["cn", "mail", "departmentNumber"], limit=3
        )
        for entry in shown:
            attrs = entry.attributes
            _say(
                f"     {entry.dn}  cn={_first(attrs, 'cn')}  mail={_first(attrs, 'mail')}"
                f"  departmentNumber={_first(attrs, 'departmentNumber')}"
            )

    # The change ----------------------------------------------------------------------------

    async def _move_a_user(self) -> None:
        assert self.directory is not None
        person = self.directory.users[MOVED]
        name = str(person.resource["displayName"])
        login = str(person.resource["userName"])
        old = person.resource[sample.ENTERPRISE]["department"]
        _, token = await self.store.create_scim_client("demo-identity-provider")
        began = time.monotonic()
        await self._scim_patch(person, token)
        arrivals = [f"in the SQL target after {await self._sql_shows(login, began):.2f} s"]
        if self.slapd is not None:
            arrivals.append(f"in LDAP after {await self._ldap_shows(login, began):.2f} s")
        _say(
            f"7. {name} moved from {old} to {NEW_DEPARTMENT} through the relay's SCIM endpoint"
            f" (PATCH {SCIM_PREFIX}/Users/{person.id} with a SCIM token, as an identity"
            f" provider would): the change arrived {' and '.join(arrivals)}"
        )

    async def _scim_patch(self, person: Entry, token: str) -> None:
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {
                    "op": "replace",
                    "path": f"{sample.ENTERPRISE}:department",
                    "value": NEW_DEPARTMENT,
                }
            ],
        }
        headers = {"Authorization": f"Bearer {token}", "Content-Type": CONTENT_TYPE}
        url = f"{self.url}{SCIM_PREFIX}/Users/{person.id}"
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SCIM_TIMEOUT)) as http,
                http.patch(url, json=body, headers=headers) as response,
            ):
                if response.status != 200:
                    text = await response.text()
                    raise DemoError(f"SCIM PATCH {url} answered {response.status}: {text}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DemoError(f"SCIM PATCH {url} failed: {exc!r}") from exc

    async def _sql_shows(self, login: str, began: float) -> float:
        async def arrived() -> bool:
            rows = await self.sql.rows("SELECT department FROM users WHERE user_name = ?", login)
            return bool(rows) and rows[0][0] == NEW_DEPARTMENT

        return await _measure(arrived, began, f"the move of {login} in the SQL target")

    async def _ldap_shows(self, login: str, began: float) -> float:
        assert self.slapd is not None
        slapd = self.slapd
        uid = login.split("@", 1)[0]

        async def arrived() -> bool:
            found = await slapd.search(PEOPLE, f"(uid={uid})", ["departmentNumber"])
            return bool(found) and _first(found[0].attributes, "departmentNumber") == NEW_DEPARTMENT

        return await _measure(arrived, began, f"the move of {login} in LDAP")

    # The mass deletion -----------------------------------------------------------------------

    async def _delete_many(self) -> None:
        assert self.directory is not None
        leaving = self.directory.users[-DELETED:]
        before = {job.name: await self._target_users(job) for job in self.jobs}
        await self.store.write_entries(
            [EntryWrite(EntryKind.USER, entry_id=e.id, delete=True) for e in leaving]
        )
        for job in self.jobs:
            staged = await self._staged(job.name)
            status = await job_status(self.store, job.name)
            held = await self._target_users(job)
            names = ", ".join(s.display for s in staged[:3])
            _say(
                f"8. {DELETED} users deleted from the directory: job {job.name!r} is"
                f" {status.summary!r} with {len(staged)} staged deletions ({names}, ...);"
                f" its {job.label} target still holds {held:,} users ({before[job.name]:,}"
                " before)"
            )
        _say(
            "   to let them go: hatchway job approve demo"
            + "".join(f" (and {job.name})" for job in self.jobs[1:])
            + "; to keep the accounts: hatchway job reject ..."
        )

    async def _staged(self, job: str) -> list[StagedOperation]:
        """The job's pending staged operations once the guard has stopped the burst."""
        deadline = time.monotonic() + STAGE_TIMEOUT
        while True:
            staged = await self.store.list_staged(job, decision=StagedDecision.PENDING)
            if len(staged) >= DELETED:
                return staged
            if time.monotonic() > deadline:
                raise DemoError(
                    f"the deletion guard of job {job!r} staged {len(staged)} deletions within"
                    f" {STAGE_TIMEOUT:.0f} s, not {DELETED}: {await self._why([job])}"
                )
            await asyncio.sleep(PROGRESS_INTERVAL)

    async def _target_users(self, job: DemoJob) -> int:
        if job.label == "SQL":
            return await self.sql.count("users")
        assert self.slapd is not None
        return len(await self.slapd.search(PEOPLE, "(objectClass=inetOrgPerson)", ["uid"]))

    # The end -----------------------------------------------------------------------------------

    def _next_steps(self) -> None:
        first = self.directory.users[0].resource["userName"] if self.directory else "USER"
        _say("9. where to look next:")
        if self.temporary and self.once:
            _say(
                "   (this work folder is removed at the end: run `hatchway demo --once --workdir"
                " DIR` to keep it, or leave out --once to keep the relay running)"
            )
        _say("   docs/provisioning.md: jobs, scope, cycles, the deletion guard, logs")
        _say(f"   the job files: {', '.join(str(job.file) for job in self.jobs)}")
        if self.once:
            _say(
                "   while the relay runs (leave out --once to keep it running), the dashboard"
                " and the commands below work:"
            )
        _say(f"   the dashboard: {self.url}/dashboard/ with the admin API token {self.api_token}")
        _say(f"   the CLI: export HATCHWAY_URL={self.url} HATCHWAY_TOKEN={self.api_token}")
        for command in (
            "job status demo",
            "job staged demo",
            f"job where demo {first}",
            f"job logs demo --user {first}",
            "agents list",
        ):
            _say(f"     hatchway {command}")

    async def _keep_running(self) -> None:
        _say(
            f"Relay running at {self.url} with the agent connected: open the dashboard or use"
            " the commands above. Press Ctrl-C to stop."
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()

    async def _stop(self) -> None:
        stopped = []
        if self.agent is not None and self.agent.returncode is None:
            self.agent.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.agent.wait(), AGENT_STOP_TIMEOUT)
            except TimeoutError:
                self.agent.kill()
                await self.agent.wait()
            stopped.append("the agent")
        if self.runner is not None:
            await self.runner.cleanup()
            stopped.append("the relay")
        if self.slapd is not None:
            await self.slapd.stop()
            stopped.append("slapd")
        if stopped:
            where = "removed" if self.temporary else "kept"
            _say(f"Stopped {_and(stopped)}; the work folder {self.base} is {where}.")


def _job_file(job: DemoJob) -> str:
    target = "sql" if job.label == "SQL" else "ldap"
    return f"""\
# hatchway demo's {job.label} job: the default {target} mappings (docs/mappings.md), for the
# users and groups assigned to the job. See docs/provisioning.md for every setting.
name = "{job.name}"
target = "{target}"
scope = "assigned"

[connection]
agent = "{AGENT}"
connector = "{job.connector}"

[deprovision]
users = "delete"

[guard]
threshold = {THRESHOLD}
"""


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _first(attributes: dict[str, list[str]], name: str) -> str:
    values = attributes.get(name) or ["-"]
    return values[0]


async def _measure(arrived: Callable[[], Awaitable[bool]], began: float, what: str) -> float:
    """Seconds from ``began`` until ``arrived()`` is true, polled with a deadline."""
    while not await arrived():
        if time.monotonic() - began > CHANGE_TIMEOUT:
            raise DemoError(f"{what} did not arrive within {CHANGE_TIMEOUT:.0f} s")
        await asyncio.sleep(POLL_INTERVAL)
    return time.monotonic() - began
