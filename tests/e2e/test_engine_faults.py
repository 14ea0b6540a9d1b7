"""An initial cycle of 20,000 users survives its parts dying under it, one at a time.

The relay runs as its own ``hatchway relay serve`` process so it can be SIGKILLed; the test
drives its SQLite store directly beside it (WAL lets a second process read and write) to
load the directory, create the job and follow the cycle's progress. The agent is a
``hatchway agent run`` process with a SQL connector on a throwaway PostgreSQL database.
Mid-cycle the agent is SIGKILLed (and kept down until batches fail), then the relay is
SIGKILLed and restarted, then PostgreSQL is stopped in ``immediate`` mode (a crash, no
checkpoint) until the job is quarantined, and started again, and last the relay is
SIGKILLed once more while the groups are being created. A table lock held by the test
times the agent's and the relay's deaths to land while a batch is inside the target. In
the end the target holds exactly the directory: every user once, every group once with
exactly its members, each entry linked by a shadow, and the provisioning logs show every
object's success.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pyodbc
import pytest

from agent.registration import register
from agent.settings import CONFIG_FILE
from relay.directory import sample
from relay.store.base import EntryKind
from relay.store.configured import STORE_FILE
from relay.store.engine_records import (
    CycleKind,
    CycleRecord,
    CycleState,
    JobState,
    LogAction,
    LogEntry,
    LogQuery,
    LogStatus,
    Shadow,
)
from relay.store.sqlite import SqliteStore
from tests.e2e.harness import REPO, AgentProcess
from tests.servers.databases import Database
from tests.servers.ports import free_port
from tests.servers.postgres import PostgresServer

USERS = 20_000
#: Eight department groups of 2,500 members each, and project teams of 10 to 40.
GROUPS = 40
JOB = "hr-sync"
AGENT = "onprem"

#: Small batches so the cycle has many of them to die in the middle of; short retry and
#: quarantine schedules so recovery takes seconds. A batch the agent does not answer
#: within ``send_timeout`` fails with retries for its objects.
RELAY_TOML = """
listen = "127.0.0.1:{port}"
shutdown_timeout = 2

[engine]
batch_size = 100
batches_in_flight = 2
control_interval = 0.2
send_timeout = 6

[engine.retry]
base = 0.5
factor = 2.0
maximum = 3.0

[engine.quarantine]
schedule = [1.0, 2.0, 3.0]
"""

JOB_SPEC = f"""
target = "sql"
scope = "all"

[connection]
agent = "{AGENT}"
connector = "hr"

[deprovision]
users = "delete"
"""

#: The SQL connector's default tables and columns, and the columns the SQL default
#: mappings write (relay/engine/defaults.py). Names are not UNIQUE here, so a duplicate
#: account would be the engine's doing rather than refused by the database. (The agent
#: needs the constraint to recover a create it ran but died before journaling; this test
#: kills the agent before its creates commit.)
TABLES = (
    "CREATE TABLE users (id SERIAL PRIMARY KEY, user_name TEXT NOT NULL, email TEXT,"
    " display_name TEXT, given_name TEXT, family_name TEXT, department TEXT, title TEXT,"
    " active BOOLEAN, external_id TEXT)",
    "CREATE TABLE groups (id SERIAL PRIMARY KEY, name TEXT NOT NULL)",
    "CREATE TABLE group_members (group_id INTEGER NOT NULL REFERENCES groups (id),"
    " user_id INTEGER NOT NULL REFERENCES users (id), PRIMARY KEY (group_id, user_id))",
)

#: What the agent logs when the relay it was working for is gone before the results.
KEPT = "results kept in the journal for redelivery"

Check = Callable[[], Awaitable[Any]]


async def eventually(
    check: Check, *, what: str, timeout: float = 60.0, detail: Callable[[], str] | None = None
) -> Any:
    """Poll ``check`` until it returns something truthy, which is returned; ``detail``
    says what was still wrong when time ran out."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            why = f": {detail()}" if detail is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{why}")
        await asyncio.sleep(0.05)


@dataclass
class RelayProcess:
    """``hatchway relay serve`` as a child process, killable like a crashed server."""

    config_dir: Path
    data_dir: Path
    port: int
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, *, timeout: float = 30.0) -> None:
        self.starts += 1
        log_path = self.data_dir.parent / f"relay-{self.starts}.log"
        self.logs.append(log_path)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with log_path.open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "relay.cli",
                "--log-json",
                "relay",
                "serve",
                "--config-dir",
                str(self.config_dir),
                "--data-dir",
                str(self.data_dir),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
                env=env,
            )
        proc = self.proc

        async def healthy() -> bool:
            if proc.returncode is not None:
                raise AssertionError(f"the relay exited ({proc.returncode}):\n{self.output()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with (
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http,
                    http.get(f"{self.url}/healthz") as response,
                ):
                    return response.status == 200
            return False

        await eventually(healthy, what="the relay to serve", timeout=timeout)

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing, batches in flight lost with the process."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.kill()
        await asyncio.wait_for(self.proc.wait(), 30)

    async def terminate(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                await self.kill()

    def output(self, lines: int = 40) -> str:
        if not self.logs:
            return ""
        return "\n".join(self.logs[-1].read_text(errors="replace").splitlines()[-lines:])


class TargetDatabase:
    """The PostgreSQL database the job provisions, read through ODBC."""

    def __init__(self, connection_string: str) -> None:
        self.connection_string = connection_string

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with contextlib.closing(pyodbc.connect(self.connection_string, autocommit=True)) as db:
            return [tuple(r) for r in db.execute(sql).fetchall()]

    def execute(self, *statements: str) -> None:
        with contextlib.closing(pyodbc.connect(self.connection_string, autocommit=True)) as db:
            for statement in statements:
                db.execute(statement)

    @contextlib.contextmanager
    def locked(self, table: str) -> Iterator[None]:
        """Hold writes to ``table`` back (reads go on) until the block ends, so a fault
        can be timed to land while a batch of creates is inside the target."""
        with contextlib.closing(pyodbc.connect(self.connection_string, autocommit=False)) as db:
            db.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            try:
                yield
            finally:
                db.rollback()

    async def writes_waiting(self) -> bool:
        """Whether some session waits for a lock: the agent's creates behind ours."""
        [(count,)] = self.rows(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(count)


@pytest.fixture
async def relay_process(tmp_path: Path) -> AsyncIterator[RelayProcess]:
    config_dir, data_dir = tmp_path / "relay" / "config", tmp_path / "relay" / "data"
    config_dir.mkdir(parents=True)
    data_dir.mkdir(parents=True, mode=0o700)
    port = free_port()
    (config_dir / "relay.toml").write_text(RELAY_TOML.format(port=port))
    relay = RelayProcess(config_dir, data_dir, port)
    await relay.start()
    yield relay
    await relay.terminate()


@pytest.fixture
async def store(relay_process: RelayProcess) -> AsyncIterator[SqliteStore]:
    """The relay's own store file, opened beside the serving relay."""
    opened = SqliteStore(relay_process.data_dir / STORE_FILE)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
async def agent(
    relay_process: RelayProcess, store: SqliteStore, tmp_path: Path
) -> AsyncIterator[AgentProcess]:
    config_dir, data_dir = tmp_path / AGENT / "config", tmp_path / AGENT / "data"
    data_dir.mkdir(parents=True, mode=0o700)
    _, token = await store.create_token(AGENT, 600)
    await register(relay_process.url, token, config_dir=config_dir, data_dir=data_dir)
    # Back within a second of the relay's restart, not after the default backoff.
    path = config_dir / CONFIG_FILE
    text = path.read_text()
    assert "[agent]\n" in text
    path.write_text(text.replace("[agent]\n", "[agent]\nreconnect_max_delay = 1\n", 1))
    made = AgentProcess(AGENT, config_dir, data_dir)
    yield made
    if made.proc is not None and made.proc.returncode is None:
        await made.kill()


async def initial_cycle(store: SqliteStore) -> CycleRecord | None:
    cycles = await store.list_cycles(JOB, limit=50)
    return next((c for c in cycles if c.kind is CycleKind.INITIAL), None)


async def reach(store: SqliteStore, share: float, *, timeout: float = 90.0) -> CycleRecord:
    """Wait until the initial cycle has done ``share`` of its objects, and check it is
    still running: the fault that follows must land in its middle."""

    async def far_enough() -> CycleRecord | None:
        cycle = await initial_cycle(store)
        if cycle is None or not cycle.total:
            return None
        return cycle if cycle.done >= share * cycle.total else None

    cycle: CycleRecord = await eventually(
        far_enough, what=f"{share:.0%} of the initial cycle", timeout=timeout
    )
    assert cycle.state is CycleState.RUNNING, f"the cycle ended before {share:.0%}: {cycle}"
    assert cycle.total is not None and cycle.done < cycle.total, cycle
    return cycle


async def all_logs(store: SqliteStore) -> list[LogEntry]:
    """The job's provisioning logs, oldest first."""
    out: list[LogEntry] = []
    before: int | None = None
    while page := await store.query_logs(LogQuery(job=JOB, before_id=before, limit=5000)):
        out += page
        before = page[-1].id
    return out[::-1]


@pytest.mark.server
@pytest.mark.timeout(360)
async def test_initial_cycle_survives_agent_relay_and_target_dying_one_at_a_time(
    relay_process: RelayProcess,
    store: SqliteStore,
    agent: AgentProcess,
    postgres_server: PostgresServer,
    postgres_database: Database,
) -> None:
    target = TargetDatabase(postgres_database.odbc_connection_string)
    target.execute(*TABLES)
    # The throwaway server trades durability for speed; this database keeps what it
    # acknowledged across a crash, as any real target does.
    postgres_server.psql(f'ALTER DATABASE "{postgres_database.name}" SET synchronous_commit = on')
    directory = await sample.load(store, users=USERS, groups=GROUPS)
    agent.add_connector(
        "hr",
        type="sql",
        dialect="postgresql",
        connection_string=postgres_database.odbc_connection_string,
        groups_table="groups",
        timeout=10,
    )
    await agent.start()
    await agent.wait_for("connected")
    await store.create_job(JOB, JOB_SPEC)
    await store.update_job(JOB, state=JobState.RUNNING)

    # 1. The agent dies with a batch of creates inside the target, and stays dead until
    #    the batches sent to it have failed.
    await reach(store, 0.15)
    with target.locked("users"):
        await eventually(target.writes_waiting, what="creates waiting in the target")
        await agent.kill()

    async def retries() -> bool:
        return bool(await store.list_retries(JOB, limit=1))

    await eventually(retries, what="batches failing while the agent is down")
    await agent.restart()

    # 2. The relay dies while a batch of creates is inside the target: the agent finishes
    #    it for a relay that is gone, and a new relay process resumes the cycle.
    await reach(store, 0.4)
    kept = agent.count(KEPT)
    with target.locked("users"):
        await eventually(target.writes_waiting, what="creates waiting in the target")
        await relay_process.kill()
    await agent.wait_for(KEPT, count=kept + 1)
    await relay_process.start()

    # 3. The target crashes; the job is quarantined until the target is back.
    await reach(store, 0.65)
    postgres_server.stop(mode="immediate")
    try:

        async def quarantined() -> bool:
            return (await store.get_job(JOB)).state is JobState.QUARANTINED

        await eventually(quarantined, what="the job quarantined while the target is down")
    finally:
        postgres_server.start()

    # 4. The relay dies again, this time with groups inside the target: held back while
    #    the users end, they are created for a relay that is gone and linked by the next.
    kept = agent.count(KEPT)
    with target.locked("groups"):
        await eventually(target.writes_waiting, what="groups waiting in the target", timeout=120)
        await relay_process.kill()
    await agent.wait_for(KEPT, count=kept + 1)
    await relay_process.start()

    # The initial cycle ends, and every retry drains.
    async def finished() -> bool:
        job = await store.get_job(JOB)
        return (
            job.state is JobState.RUNNING
            and job.initial_done
            and not await store.list_retries(JOB, limit=1)
        )

    await eventually(finished, what="the initial cycle's end and no retries", timeout=180)
    cycle = await initial_cycle(store)
    assert cycle is not None
    assert cycle.state is CycleState.DONE

    # The target: every user exactly once, every group once with exactly its members.
    expected_users = {u.resource["userName"] for u in directory.users}
    plan = sample.group_plan(USERS, GROUPS)
    names = [u.resource["userName"] for u in directory.users]
    expected_groups = {group: {names[i] for i in members} for group, members in plan}

    def difference() -> str:
        """What the target has that it should not, or lacks; empty when it is right."""
        users = [r[0] for r in target.rows("SELECT user_name FROM users")]
        groups = [r[0] for r in target.rows("SELECT name FROM groups")]
        members: dict[str, set[str]] = {g: set() for g in groups}
        for group, user in target.rows(
            "SELECT g.name, u.user_name FROM group_members m"
            " JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id"
        ):
            members[group].add(user)
        problems = [
            f"{len(users) - len(set(users))} duplicate accounts",
            f"{len(groups) - len(set(groups))} duplicate groups",
            f"{len(expected_users - set(users))} users missing",
            f"{len(set(users) - expected_users)} users too many",
        ]
        for group, expected in expected_groups.items():
            found = members.get(group)
            if found is None:
                problems.append(f"group {group!r} missing")
            elif found != expected:
                problems.append(
                    f"group {group!r}: {len(expected - found)} members missing,"
                    f" {len(found - expected)} too many"
                )
        problems += [f"group {g!r} too many" for g in members if g not in expected_groups]
        return "; ".join(p for p in problems if not p.startswith("0 "))

    async def target_matches() -> bool:
        return not difference()

    # Memberships of users created by a retry follow in the incremental cycle.
    await eventually(
        target_matches, what="the target equal to the directory", timeout=60, detail=difference
    )

    # Every entry is linked, to the account that bears its name.
    anchors = {str(row[0]): row[1] for row in target.rows("SELECT id, user_name FROM users")}
    group_anchors = {str(row[0]): row[1] for row in target.rows("SELECT id, name FROM groups")}
    user_ids = [u.id for u in directory.users]
    shadows: dict[str, Shadow] = {}
    for start in range(0, len(user_ids), 1000):
        shadows.update(await store.get_shadows(JOB, EntryKind.USER, user_ids[start : start + 1000]))
    assert len(shadows) == USERS
    assert {anchors[s.anchor] for s in shadows.values()} == expected_users
    for user in directory.users:
        assert anchors[shadows[user.id].anchor] == user.resource["userName"]
    group_shadows = await store.get_shadows(JOB, EntryKind.GROUP, [g.id for g in directory.groups])
    assert sorted(group_anchors[s.anchor] for s in group_shadows.values()) == sorted(
        expected_groups
    )

    # The logs account for every object: each was created or linked, each ends with a
    # success whatever failed before, and none was created twice.
    history: dict[tuple[EntryKind, str], list[LogEntry]] = defaultdict(list)
    for entry in await all_logs(store):
        history[(entry.kind, entry.entry_id)].append(entry)
    everyone = {(EntryKind.USER, u.id) for u in directory.users} | {
        (EntryKind.GROUP, g.id) for g in directory.groups
    }
    assert set(history) == everyone
    success = LogStatus.SUCCESS
    provisioned = {
        ref
        for ref, entries in history.items()
        if any(
            e.status is success and e.action in (LogAction.CREATE, LogAction.LINK) for e in entries
        )
    }
    assert everyone - provisioned == set()
    unfinished = {ref for ref, entries in history.items() if entries[-1].status is not success}
    assert unfinished == set()
    twice = {
        ref: made
        for ref, entries in history.items()
        if len(
            made := {
                e.anchor for e in entries if e.status is success and e.action is LogAction.CREATE
            }
        )
        > 1
    }
    assert twice == {}
    # The faults did happen mid-cycle: batches failed (agent down, target down), and the
    # batch the dead relay never heard about was found in the target and linked.
    failed = {
        ref
        for ref, entries in history.items()
        if any(e.status is LogStatus.FAILURE for e in entries)
    }
    assert failed, "no failure was logged"
    linked = {
        ref
        for ref, entries in history.items()
        if any(e.status is success and e.action is LogAction.LINK for e in entries)
    }
    assert {kind for kind, _ in linked} == {EntryKind.USER, EntryKind.GROUP}, (
        "accounts created for a dead relay were not linked"
    )
