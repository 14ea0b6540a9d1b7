"""The engine inside a real relay: a job provisions a SQL database through an agent process
(SQLite over ODBC, and PostgreSQL), follows changes, and stages a mass deletion until it is
approved. And the engine's own duties: resuming an interrupted initial cycle in a new
engine, telling which initial and reconcile cycles run now (for the metrics), and
quarantining a job whose target refuses it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pyodbc
import pytest

from relay.engine.initial import run_initial
from relay.engine.settings import EngineSettings
from relay.exceptions import NotFound
from relay.settings import RelaySettings
from relay.store.base import EntryKind, EntryWrite, MemberChange, Store
from relay.store.engine_records import (
    CycleKind,
    CycleState,
    JobState,
    StagedDecision,
)
from shared.connector import USER, Action, Operation, OperationError, OperationResult
from shared.exceptions import ErrorClass
from tests.e2e.harness import AgentProcess, RelayHarness, registered_agent
from tests.relay.engine.cycle_helpers import MemoryEngine, add_users, eventually, job_run, spec
from tests.relay.engine.memory_target import MemoryTarget
from tests.servers.ports import free_port

TABLES = {
    "sqlite": (
        "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, user_name TEXT UNIQUE NOT"
        " NULL, email TEXT, display_name TEXT, department TEXT, active INTEGER,"
        " external_id TEXT)",
        "CREATE TABLE groups (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL)",
        "CREATE TABLE group_members (group_id INTEGER NOT NULL REFERENCES groups (id),"
        " user_id INTEGER NOT NULL REFERENCES users (id), PRIMARY KEY (group_id, user_id))",
    ),
    "postgresql": (
        "CREATE TABLE users (id SERIAL PRIMARY KEY, user_name TEXT UNIQUE NOT NULL, email TEXT,"
        " display_name TEXT, department TEXT, active BOOLEAN, external_id TEXT)",
        "CREATE TABLE groups (id SERIAL PRIMARY KEY, name TEXT UNIQUE NOT NULL)",
        "CREATE TABLE group_members (group_id INTEGER NOT NULL REFERENCES groups (id),"
        " user_id INTEGER NOT NULL REFERENCES users (id), PRIMARY KEY (group_id, user_id))",
    ),
}
#: Seconds the relay and agent processes get for each step of a test.
RELAY_TIMEOUT = 60.0
FIXTURES = {"sqlite": "sqlite_odbc_database", "postgresql": "postgres_database"}

JOB = """
target = "sql"
scope = "assigned"

[connection]
agent = "sql-agent"
connector = "hr"

[deprovision]
users = "delete"

[guard]
threshold = 500
settle = 0.5
"""


class Database:
    def __init__(self, connection_string: str) -> None:
        self.connection_string = connection_string

    def execute(self, *statements: str) -> None:
        with pyodbc.connect(self.connection_string, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with pyodbc.connect(self.connection_string, autocommit=True) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]

    def users(self) -> dict[str, tuple[Any, ...]]:
        """user_name -> (display_name, department)."""
        rows = self.rows("SELECT user_name, display_name, department FROM users")
        return {r[0]: (r[1], r[2]) for r in rows}

    def members(self) -> dict[str, list[str]]:
        """group name -> sorted user names."""
        out: dict[str, list[str]] = {n: [] for (n,) in self.rows("SELECT name FROM groups")}
        for group, user in self.rows(
            "SELECT g.name, u.user_name FROM group_members m JOIN groups g ON g.id = m.group_id"
            " JOIN users u ON u.id = m.user_id"
        ):
            out[group].append(user)
        return {g: sorted(u) for g, u in out.items()}


def user(name: str, department: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{name}@example.com",
        "displayName": name.replace(".", " ").title(),
        "active": True,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": department},
    }


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RelayHarness]:
    settings = RelaySettings(
        listen=f"127.0.0.1:{free_port()}",
        shutdown_timeout=2,
        engine=EngineSettings(control_interval=0.1),
    )
    harness = RelayHarness(tmp_path / "relay", settings)
    await harness.start()
    yield harness
    await harness.stop()


@pytest.fixture
async def agent(relay: RelayHarness, tmp_path: Path) -> AsyncIterator[AgentProcess]:
    made = await registered_agent(relay, tmp_path / "agents", "sql-agent")
    yield made
    if made.proc is not None and made.proc.returncode is None:
        await made.kill()


@pytest.mark.server
# Six waits of up to RELAY_TIMEOUT each: a loaded CI machine must not hit the suite's
# default 120 s before one of them has said what it waited for.
@pytest.mark.timeout(400)
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_a_job_provisions_follows_changes_and_guards_deletions(
    dialect: str, relay: RelayHarness, agent: AgentProcess, request: pytest.FixtureRequest
) -> None:
    database = Database(request.getfixturevalue(FIXTURES[dialect]).odbc_connection_string)
    database.execute(*TABLES[dialect])
    agent.add_connector(
        "hr",
        type="sql",
        dialect=dialect,
        connection_string=database.connection_string,
        groups_table="groups",
    )
    await agent.start()
    await asyncio.wait_for(relay.hub.link("sql-agent").connected.wait(), 30)
    store = relay.store

    # The directory: engineers in an assigned group, one user assigned directly, and
    # salespeople the job must not see.
    engineers = [
        await store.create_entry(EntryKind.USER, user(f"eng.{i}", "R&D")) for i in range(6)
    ]
    sales = [
        await store.create_entry(EntryKind.USER, user(f"sales.{i}", "Sales")) for i in range(3)
    ]
    boss = await store.create_entry(EntryKind.USER, user("the.boss", "Board"))
    group = await store.create_entry(
        EntryKind.GROUP,
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering"},
        members=[e.id for e in engineers],
    )
    await store.create_entry(
        EntryKind.GROUP,
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales"},
        members=[e.id for e in sales],
    )
    await store.assign("crm", EntryKind.GROUP, group.id)
    await store.assign("crm", EntryKind.USER, boss.id)
    await store.create_job("crm", JOB)
    await store.update_job("crm", state=JobState.RUNNING)

    expected = {f"eng.{i}@example.com": (f"Eng {i}", "R&D") for i in range(6)}
    expected["the.boss@example.com"] = ("The Boss", "Board")
    engineering = sorted(f"eng.{i}@example.com" for i in range(6))
    await eventually(
        lambda: database.users() == expected and database.members() == {"Engineering": engineering},
        timeout=RELAY_TIMEOUT,
        what="the initial cycle's result",
    )

    async def initial_done() -> bool:
        return (await store.get_job("crm")).initial_done

    await eventually(initial_done, timeout=RELAY_TIMEOUT, what="the initial cycle's end")
    [initial] = [c for c in await store.list_cycles("crm") if c.kind is CycleKind.INITIAL]
    assert initial.state is CycleState.DONE

    # Changes flow: a rename, an unassignment, a new member of the assigned group.
    renamed = {**engineers[2].resource, "displayName": "Eng Two"}
    await store.update_entry(EntryKind.USER, engineers[2].id, resource=renamed)
    await store.unassign("crm", EntryKind.USER, boss.id)
    await store.update_entry(EntryKind.GROUP, group.id, members=MemberChange(add=(sales[0].id,)))
    expected["eng.2@example.com"] = ("Eng Two", "R&D")
    del expected["the.boss@example.com"]
    expected["sales.0@example.com"] = ("Sales 0", "Sales")
    engineering = sorted([*engineering, "sales.0@example.com"])
    await eventually(
        lambda: database.users() == expected and database.members() == {"Engineering": engineering},
        timeout=RELAY_TIMEOUT,
        what="incremental changes",
    )

    # 650 more engineers arrive; then 600 of them leave at once: more than the threshold.
    writes = [EntryWrite(EntryKind.USER, resource=user(f"temp.{i:03d}", "R&D")) for i in range(650)]
    temps = [e for e in await store.write_entries(writes) if e is not None]
    await store.update_entry(
        EntryKind.GROUP, group.id, members=MemberChange(add=tuple(e.id for e in temps))
    )
    await eventually(
        lambda: len(database.users()) == len(expected) + 650,
        timeout=RELAY_TIMEOUT,
        what="650 creates",
    )
    await store.write_entries([EntryWrite(EntryKind.USER, t.id, delete=True) for t in temps[:600]])

    async def staged() -> bool:
        return len(await store.list_staged("crm", decision=StagedDecision.PENDING)) == 600

    await eventually(staged, timeout=RELAY_TIMEOUT, what="600 staged deletions")
    assert len(database.users()) == len(expected) + 650  # nothing deleted yet

    assert await store.decide_staged("crm", StagedDecision.APPROVED) == 600
    await eventually(
        lambda: len(database.users()) == len(expected) + 50,
        timeout=RELAY_TIMEOUT,
        what="approved deletes",
    )
    remaining = {u for u in database.users() if u.startswith("temp.")}
    assert remaining == {f"temp.{i:03d}@example.com" for i in range(600, 650)}

    async def unstaged() -> bool:
        return await store.list_staged("crm") == []

    await eventually(unstaged, timeout=RELAY_TIMEOUT, what="the stage emptied")


SETTINGS = EngineSettings(control_interval=0.05, batch_size=5, batches_in_flight=1)


async def test_a_new_engine_resumes_an_interrupted_initial_cycle(store: Store) -> None:
    await add_users(store, 20)
    target = MemoryTarget()
    target.hold_after = 10
    await store.create_job("mem", spec())
    await store.update_job("mem", state=JobState.RUNNING)
    first = MemoryEngine(store, target, SETTINGS)
    await first.start()
    await asyncio.wait_for(target.holding.wait(), 10)
    progress = await first.progress("mem")
    assert progress is not None
    assert progress.kind is CycleKind.INITIAL
    assert progress.done == 10
    assert progress.total == 20
    await first.stop()
    [running] = await store.list_cycles("mem", state=CycleState.RUNNING)
    assert running.checkpoint["after"]

    target.hold_after = None
    second = MemoryEngine(store, target, SETTINGS)
    await second.start()
    try:

        async def done() -> bool:
            return (await store.get_job("mem")).initial_done

        await eventually(done, timeout=10, what="the resumed initial cycle")
    finally:
        await second.stop()
    assert len(target.by_name(USER)) == len(target.objects[USER]) == 20
    assert target.writes == 20
    assert (await store.get_cycle(running.id)).state is CycleState.DONE


async def test_provisioning_on_demand_leaves_the_initial_cycles_progress_alone(
    store: Store,
) -> None:
    await add_users(store, 20)
    target = MemoryTarget()
    target.hold_after = 10
    await store.create_job("mem", spec())
    await store.update_job("mem", state=JobState.RUNNING)
    engine = MemoryEngine(store, target, SETTINGS)
    await engine.start()
    try:
        await asyncio.wait_for(target.holding.wait(), 10)
        # A user the initial cycle has done already: nothing to write, so nothing held.
        [done] = await store.shadows_page("mem", EntryKind.USER, limit=1)
        result = await engine.provision("mem", EntryKind.USER, done.entry_id)
        progress = await engine.progress("mem")
    finally:
        await engine.stop()
    assert result["action"] == "none"
    assert progress is not None and (progress.done, progress.total) == (10, 20)


def hold_writes(target: MemoryTarget) -> None:
    """Hold the target's next write until ``target.released`` is set."""
    target.holding, target.released = asyncio.Event(), asyncio.Event()
    target.hold_after = target.writes


async def test_the_running_initial_and_reconcile_cycles_are_known_at_once(store: Store) -> None:
    await add_users(store, 10)
    target = MemoryTarget()
    target.hold_after = 5
    await store.create_job("mem", spec())
    await store.update_job("mem", state=JobState.RUNNING)
    engine = MemoryEngine(store, target, SETTINGS)
    await engine.start()
    try:
        await asyncio.wait_for(target.holding.wait(), 10)
        [initial] = engine.running_cycles()
        [stored] = await store.list_cycles("mem", state=CycleState.RUNNING)
        assert (initial.id, initial.job, initial.kind) == (stored.id, "mem", CycleKind.INITIAL)
        assert initial.started_at == stored.started_at

        target.hold_after = None
        target.released.set()
        await eventually(lambda: not engine.running_cycles(), what="the initial cycle's end")
        assert (await store.get_job("mem")).initial_done

        # Incremental work runs in a cycle record of its own, which is left out.
        [user] = await store.entries_page(EntryKind.USER, limit=1)
        hold_writes(target)
        await store.update_entry(
            EntryKind.USER, user.id, resource={**user.resource, "displayName": "Renamed"}
        )
        await asyncio.wait_for(target.holding.wait(), 10)
        [incremental] = await store.list_cycles("mem", state=CycleState.RUNNING)
        assert incremental.kind is CycleKind.INCREMENTAL
        assert engine.running_cycles() == []
        target.hold_after = None
        target.released.set()
        renamed = user.resource["userName"]
        await eventually(
            lambda: target.by_name(USER)[renamed]["display_name"] == "Renamed",
            what="the rename in the target",
        )

        # A reconcile recreating an object deleted behind the job's back, held there.
        [gone, *_] = [a for a, o in target.objects[USER].items() if o["user_name"] != renamed]
        del target.objects[USER][gone]
        hold_writes(target)
        engine.reconcile_now("mem")
        await asyncio.wait_for(target.holding.wait(), 10)
        [reconcile] = engine.running_cycles()
        assert (reconcile.job, reconcile.kind) == ("mem", CycleKind.RECONCILE)
        assert (await store.get_cycle(reconcile.id)).state is CycleState.RUNNING
        target.hold_after = None
        target.released.set()
        await eventually(lambda: not engine.running_cycles(), what="the reconcile's end")
        assert (await store.get_cycle(reconcile.id)).state is CycleState.DONE
        # The job's task is back to its incremental cycle, still running and left out.
        running = await store.list_cycles("mem", state=CycleState.RUNNING)
        assert [c.id for c in running] == [incremental.id]
    finally:
        await engine.stop()
    assert engine.running_cycles() == []


class RefusingTarget(MemoryTarget):
    async def run(
        self, operations: Sequence[Operation], *, timeout: float | None = 120.0
    ) -> list[OperationResult]:
        error = OperationError(ErrorClass.AUTHENTICATION, "invalid credentials")
        return [OperationResult(op.key, error=error) for op in operations]


async def test_a_target_refusing_the_credentials_quarantines_the_job(store: Store) -> None:
    await store.create_job("mem", spec())
    await store.update_job("mem", state=JobState.RUNNING)
    engine = MemoryEngine(store, RefusingTarget(), SETTINGS)
    await engine.start()
    try:

        async def quarantined() -> bool:
            return (await store.get_job("mem")).state is JobState.QUARANTINED

        await eventually(quarantined, timeout=10, what="quarantine")
    finally:
        await engine.stop()
    job = await store.get_job("mem")
    assert job.quarantine_reason is not None
    assert "invalid credentials" in job.quarantine_reason
    assert job.next_attempt_at is not None
    assert job.next_attempt_at >= job.updated_at + SETTINGS.quarantine.schedule[0] - 1


class WriteRefusingTarget(RefusingTarget):
    """Answers reads (the schema, the objects to link) and refuses every write."""

    async def run(
        self, operations: Sequence[Operation], *, timeout: float | None = 120.0
    ) -> list[OperationResult]:
        if all(op.action in (Action.SCHEMA, Action.SEARCH) for op in operations):
            return await MemoryTarget.run(self, operations, timeout=timeout)
        return await super().run(operations, timeout=timeout)


async def test_a_quarantined_jobs_unfinished_initial_cycle_is_not_running(store: Store) -> None:
    await add_users(store, 3)
    await store.create_job("mem", spec())
    await store.update_job("mem", state=JobState.RUNNING)
    engine = MemoryEngine(store, WriteRefusingTarget(), SETTINGS)
    await engine.start()
    try:

        async def quarantined() -> bool:
            return (await store.get_job("mem")).state is JobState.QUARANTINED

        await eventually(quarantined, timeout=10, what="quarantine")
        # Kept in the store to resume from its checkpoint, but nothing runs it now.
        [initial] = await store.list_cycles("mem", state=CycleState.RUNNING)
        assert initial.kind is CycleKind.INITIAL
        assert engine.running_cycles() == []
    finally:
        await engine.stop()


async def test_provision_on_demand_and_dry_run_of_a_job_not_running(store: Store) -> None:
    [alice, bob] = await add_users(store, 2)
    target = MemoryTarget()
    await store.create_job("mem", spec())  # created, not running: nothing happens by itself
    engine = MemoryEngine(store, target, SETTINGS)
    await engine.start()
    try:
        plan = await engine.dry_run("mem", 1)
        result = await engine.provision("mem", EntryKind.USER, "user001@example.com")
        with pytest.raises(NotFound, match="no user 'nobody' in the directory"):
            await engine.provision("mem", EntryKind.USER, "nobody")
    finally:
        await engine.stop()
    assert plan["counts"] == {"create:success": 2}
    assert len(plan["planned"]) == 1
    assert result["entry_id"] == bob
    assert result["action"] == "create"
    assert result["steps"]
    assert sorted(target.by_name(USER)) == ["user001@example.com"]
    assert await store.get_shadows("mem", EntryKind.USER, [alice]) == {}


async def test_a_dry_run_shows_deprovisions_the_guard_would_stage(store: Store) -> None:
    users = await add_users(store, 4)
    target = MemoryTarget()
    await store.create_job("mem", spec(threshold=1))
    await run_initial(await job_run(store, target))
    for user in users[:2]:
        await store.delete_entry(EntryKind.USER, user)
    engine = MemoryEngine(store, target, SETTINGS)
    plan = await engine.dry_run("mem")
    assert plan["counts"] == {"delete:staged": 2, "none:success": 2}
    assert {p["status"] for p in plan["planned"]} == {"staged"}
    assert "2 deprovisions of 4 linked objects exceed the deletion guard" in plan["guard"]
    assert len(target.objects[USER]) == 4
