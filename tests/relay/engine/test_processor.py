"""The processor against a real SQLite store and a real target: the SQL connector on a
SQLite database through ODBC, run by the relay's built-in agent (executor and journal)."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from relay.engine import job as jobs
from relay.engine.exceptions import Quarantine
from relay.engine.processor import Deprovisions, MatchIndex, Outcome, Processor
from relay.engine.retry import QuarantinePolicy
from relay.engine.settings import EngineSettings
from relay.engine.target import BuiltinTarget
from relay.store.base import EntryKind
from relay.store.engine_records import (
    CycleKind,
    CycleRecord,
    LogAction,
    LogQuery,
    LogStatus,
    ShadowState,
    StagedDecision,
)
from relay.store.sqlite import SqliteStore
from shared.connector import (
    Action,
    ConnectorObject,
    Equals,
    ObjectClassInfo,
    Operation,
    OperationError,
)
from shared.exceptions import ErrorClass
from tests.relay.engine.sql_target import Recording, sql_agent
from tests.servers.sqlite import SqliteOdbcDatabase

USER, GROUP = EntryKind.USER, EntryKind.GROUP
STAGE = Deprovisions.STAGE
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
TABLES = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, user_name TEXT UNIQUE NOT NULL,"
    " display_name TEXT, email TEXT CHECK (email IS NULL OR email LIKE '%@%'),"
    " department TEXT, active BOOLEAN, manager TEXT)",
    "CREATE TABLE groups (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL)",
    "CREATE TABLE group_members (group_id INTEGER NOT NULL, user_id INTEGER NOT NULL,"
    " PRIMARY KEY (group_id, user_id))",
)
SPEC = """
name = "hr"
target = "sql"
scope = "assigned"

[connection]
connector = "hr"

[[users.mappings]]
target = "manager"
source = "manager"
reference = true

[deprovision]
users = "{users}"
skip_out_of_scope_deletions = {skip}
{extra}"""
#: Only users of the Research department are in scope.
RESEARCH_ONLY = """
[[users.filters]]
name = "Research"
clauses = [{ attribute = "department", operator = "EQUALS", value = "Research" }]
"""


@dataclasses.dataclass
class World:
    store: SqliteStore
    target: Recording
    database: Path
    cycle: CycleRecord
    schemas: dict[str, ObjectClassInfo]
    #: The processor's clock, which the tests move by hand.
    clock: list[float] = dataclasses.field(default_factory=lambda: [1_000_000.0])

    def processor(
        self, *, users: str = "disable", skip: bool = False, extra: str = "", **engine: Any
    ) -> Processor:
        text = SPEC.format(users=users, skip=str(skip).lower(), extra=extra)
        settings = jobs.parse(text, source="test job")
        return Processor(
            self.store,
            settings,
            self.target,
            settings.definition.mappers(self.schemas),
            EngineSettings(**engine),
            clock=lambda: self.clock[0],
        )

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            return db.execute(sql, params).fetchall()

    def execute(self, sql: str, *params: Any) -> None:
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            db.execute(sql, params)
            db.commit()

    async def user(
        self, name: str, *, assigned: bool = True, extra: dict[str, Any] | None = None
    ) -> str:
        resource = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "userName": name,
            "displayName": name.split("@")[0].title(),
            "emails": [{"value": name, "type": "work", "primary": True}],
            "active": True,
            **(extra or {}),
        }
        entry = await self.store.create_entry(USER, resource)
        if assigned:
            await self.store.assign("hr", USER, entry.id)
        return entry.id

    async def group(self, name: str, members: list[str], *, assigned: bool = True) -> str:
        entry = await self.store.create_entry(
            GROUP,
            {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name},
            members=members,
        )
        if assigned:
            await self.store.assign("hr", GROUP, entry.id)
        return entry.id

    async def shadow(self, kind: EntryKind, entry_id: str) -> Any:
        return (await self.store.get_shadows("hr", kind, [entry_id])).get(entry_id)

    async def logs(self, **query: Any) -> list[Any]:
        return await self.store.query_logs(LogQuery(job="hr", **query))


@pytest.fixture
async def world(tmp_path: Path, sqlite_odbc_database: SqliteOdbcDatabase) -> AsyncIterator[World]:
    async with sql_agent(tmp_path, sqlite_odbc_database, TABLES, connector="hr") as agent:
        store = SqliteStore(tmp_path / "relay.sqlite3")
        await store.open()
        try:
            await store.create_job("hr", SPEC.format(users="disable", skip="false", extra=""))
            cycle = await store.start_cycle("hr", CycleKind.INITIAL)
            target = Recording(BuiltinTarget(agent, "hr"))
            [schema] = await target.inner.run([Operation("schema", Action.SCHEMA)])
            assert schema.schema is not None
            schemas = {c.name: c for c in schema.schema.object_classes}
            yield World(store, target, sqlite_odbc_database.path, cycle, schemas)
        finally:
            await store.close()


def by_action(outcomes: Sequence[Outcome]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for o in outcomes:
        out.setdefault(f"{o.action.value}/{o.status.value}", []).append(o.entry_id)
    return out


# -- creating, updating, linking ----------------------------------------------------------


async def test_creates_users_then_a_second_run_changes_nothing(world: World) -> None:
    ada = await world.user("ada@example.com", extra={ENTERPRISE: {"department": "Research"}})
    bob = await world.user("bob@example.com")
    processor = world.processor()

    outcomes = await processor.process([(USER, ada), (USER, bob)], cycle=world.cycle)

    assert by_action(outcomes) == {"create/success": [ada, bob]}
    assert world.rows("SELECT user_name, display_name, email, active FROM users ORDER BY id") == [
        ("ada@example.com", "Ada", "ada@example.com", 1),
        ("bob@example.com", "Bob", "bob@example.com", 1),
    ]
    shadow = await world.shadow(USER, ada)
    assert shadow.anchor == outcomes[0].anchor
    assert shadow.values["user_name"] == "ada@example.com"
    assert shadow.state is ShadowState.LINKED
    cycle = await world.store.get_cycle(world.cycle.id)
    assert (cycle.done, cycle.counts) == (2, {"created": 2})
    logs = await world.logs()
    assert {(log.action, log.status, log.source_name) for log in logs} == {
        (LogAction.CREATE, LogStatus.SUCCESS, "ada@example.com"),
        (LogAction.CREATE, LogStatus.SUCCESS, "bob@example.com"),
    }
    assert logs[0].changes["user_name"][0] is None

    world.target.sent.clear()
    again = await processor.process([(USER, ada), (USER, bob)], cycle=world.cycle)

    assert by_action(again) == {"none/success": [ada, bob]}
    assert world.target.sent == []
    assert len(await world.logs()) == 2
    assert (await world.store.get_cycle(world.cycle.id)).counts == {"created": 2, "unchanged": 2}


async def test_an_update_sends_only_the_changed_attributes(world: World) -> None:
    ada = await world.user("ada@example.com", extra={ENTERPRISE: {"department": "Research"}})
    processor = world.processor()
    await processor.process([(USER, ada)], cycle=world.cycle)
    entry = await world.store.get_entry(USER, ada)
    await world.store.update_entry(
        USER, ada, resource={**entry.resource, "displayName": "Countess Ada"}
    )
    world.target.sent.clear()

    [outcome] = await processor.process([(USER, ada)], cycle=world.cycle)

    assert (outcome.action, outcome.status) == (LogAction.UPDATE, LogStatus.SUCCESS)
    assert outcome.changes == {"display_name": ["Ada", "Countess Ada"]}
    [update] = world.target.sent
    assert [(d.attribute, d.kind.value, d.values) for d in update.deltas] == [
        ("display_name", "replace", ("Countess Ada",))
    ]
    assert world.rows("SELECT display_name, department FROM users") == [
        ("Countess Ada", "Research")
    ]
    assert (await world.shadow(USER, ada)).values["display_name"] == "Countess Ada"


async def test_an_existing_account_is_matched_and_linked_not_created(world: World) -> None:
    world.execute(
        "INSERT INTO users (user_name, display_name, active) VALUES ('ada@example.com', 'A.', 1)"
    )
    ada = await world.user("ada@example.com")

    [outcome] = await world.processor().process([(USER, ada)], cycle=world.cycle)

    assert (outcome.action, outcome.status) == (LogAction.LINK, LogStatus.SUCCESS)
    assert outcome.changes["display_name"] == ["A.", "Ada"]
    assert world.rows("SELECT id, user_name, display_name, email FROM users") == [
        (1, "ada@example.com", "Ada", "ada@example.com")
    ]
    assert (await world.shadow(USER, ada)).anchor == "1"
    assert [op.action for op in world.target.sent] == [Action.SEARCH, Action.UPDATE]


async def test_a_match_index_replaces_searches_and_ignores_case(world: World) -> None:
    world.execute("INSERT INTO users (user_name, display_name) VALUES ('ADA@Example.com', 'Ada')")
    ada = await world.user("ada@example.com")
    processor = world.processor()
    objects = [
        ConnectorObject("1", {"user_name": "ADA@Example.com", "display_name": "Ada"}),
        ConnectorObject("2", {"user_name": "other@example.com"}),
    ]
    probe = MatchIndex.from_objects(("user_name", "email"), objects)
    assert probe.claim([Equals("user_name", "nobody"), Equals("email", "x")]) is None
    assert probe.claim([Equals("email", "x"), Equals("user_name", "ada@EXAMPLE.com")]) is objects[0]
    assert probe.claim([Equals("user_name", "ada@example.com")]) is None  # taken once only
    index = MatchIndex.from_objects(("user_name", "email"), objects)

    [outcome] = await processor.process([(USER, ada)], cycle=world.cycle, index={USER: index})

    assert (outcome.action, outcome.anchor) == (LogAction.LINK, "1")
    assert all(op.action is not Action.SEARCH for op in world.target.sent)
    assert world.rows("SELECT count(*) FROM users") == [(1,)]


async def test_two_entries_sharing_a_matching_value_do_not_take_one_account(
    world: World,
) -> None:
    world.execute("INSERT INTO users (user_name, email) VALUES ('ada@example.com', 'a@x.org')")
    first = await world.user("ada@example.com")
    second = await world.user("ada.lovelace@example.com")
    objects = [ConnectorObject("1", {"user_name": "ada@example.com", "email": "a@x.org"})]
    # Matched on user_name, then email: both entries carry a@x.org.
    index = MatchIndex.from_objects(("email", "user_name"), objects)
    processor = world.processor(
        extra='[[users.mappings]]\ntarget = "email"\nexpression = \'"a@x.org"\'\nmatching = 2\n'
    )

    outcomes = await processor.process(
        [(USER, first), (USER, second)], cycle=world.cycle, index={USER: index}
    )

    linked = [o for o in outcomes if o.action is LogAction.LINK]
    assert [o.anchor for o in linked] == ["1"]
    assert len({o.anchor for o in outcomes}) == 2


async def test_a_searched_account_linked_to_another_entry_is_not_taken(world: World) -> None:
    shared = '[[users.mappings]]\ntarget = "email"\nexpression = \'"shared@x.org"\'\nmatching = 2\n'
    processor = world.processor(extra=shared)
    ada = await world.user("ada@example.com")
    [first] = await processor.process([(USER, ada)], cycle=world.cycle)
    bob = await world.user("bob@example.com")

    # No index: bob is matched by searching user_name, then email, which finds ada's.
    [second] = await processor.process([(USER, bob)], cycle=world.cycle)

    assert (second.action, second.status) == (LogAction.CREATE, LogStatus.SUCCESS)
    assert second.anchor != first.anchor
    assert (await world.shadow(USER, ada)).anchor == first.anchor
    assert world.rows("SELECT user_name, email FROM users ORDER BY id") == [
        ("ada@example.com", "shared@x.org"),
        ("bob@example.com", "shared@x.org"),
    ]


async def test_a_conflict_on_create_is_matched_and_linked(world: World) -> None:
    world.execute("INSERT INTO users (user_name, display_name) VALUES ('ada@example.com', 'A.')")
    ada = await world.user("ada@example.com")

    # A stale index (read before the account appeared) lets the create go out and fail.
    [outcome] = await world.processor().process(
        [(USER, ada)], cycle=world.cycle, index={USER: MatchIndex(("user_name",))}
    )

    assert (outcome.action, outcome.status, outcome.anchor) == (
        LogAction.LINK,
        LogStatus.SUCCESS,
        "1",
    )
    assert [op.action for op in world.target.sent] == [Action.CREATE, Action.SEARCH, Action.UPDATE]
    assert world.rows("SELECT display_name FROM users") == [("Ada",)]


# -- references -------------------------------------------------------------------------


async def test_group_members_are_the_linked_users_only(world: World) -> None:
    ada = await world.user("ada@example.com", extra={ENTERPRISE: {"department": "Research"}})
    bob = await world.user("bob@example.com", extra={ENTERPRISE: {"department": "Sales"}})
    research = await world.group("Research", [ada, bob])
    processor = world.processor(extra=RESEARCH_ONLY)

    outcomes = await processor.process(
        [(GROUP, research), (USER, bob), (USER, ada)], cycle=world.cycle
    )

    assert [(o.kind, o.action) for o in outcomes] == [
        (USER, LogAction.NONE),
        (USER, LogAction.CREATE),
        (GROUP, LogAction.CREATE),
    ]
    assert outcomes[0].status is LogStatus.SKIPPED
    ada_anchor = outcomes[1].anchor
    assert world.rows("SELECT name FROM groups") == [("Research",)]
    assert world.rows("SELECT user_id FROM group_members") == [(int(ada_anchor or 0),)]
    assert (await world.shadow(GROUP, research)).values["members"] == [ada_anchor]

    # Bob moves to Research and is provisioned: the group gains him with one ADD.
    entry = await world.store.get_entry(USER, bob)
    moved = {**entry.resource, ENTERPRISE: {"department": "Research"}}
    await world.store.update_entry(USER, bob, resource=moved)
    [bob_outcome] = await processor.process([(USER, bob)], cycle=world.cycle)
    world.target.sent.clear()
    [group] = await processor.process([(GROUP, research)], cycle=world.cycle)
    assert group.action is LogAction.UPDATE
    [update] = world.target.sent
    assert [(d.kind.value, d.values) for d in update.deltas] == [("add", (bob_outcome.anchor,))]
    assert sorted(r[0] for r in world.rows("SELECT user_id FROM group_members")) == sorted(
        [int(ada_anchor or 0), int(bob_outcome.anchor or 0)]
    )


async def test_a_manager_created_in_the_same_call_is_referenced(world: World) -> None:
    boss = await world.store.create_entry(
        USER, {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "boss@x.org"}
    )
    await world.store.assign("hr", USER, boss.id)
    ada = await world.user("ada@example.com", extra={ENTERPRISE: {"manager": {"value": boss.id}}})

    outcomes = await world.processor().process([(USER, ada), (USER, boss.id)], cycle=world.cycle)

    assert [(o.entry_id, o.action) for o in outcomes] == [
        (ada, LogAction.CREATE),
        (boss.id, LogAction.CREATE),
        (ada, LogAction.UPDATE),
    ]
    boss_anchor = outcomes[1].anchor
    assert world.rows("SELECT manager FROM users WHERE user_name = 'ada@example.com'") == [
        (boss_anchor,)
    ]
    assert (await world.shadow(USER, ada)).values["manager"] == boss_anchor
    # Progress counts each object once, the second look at ada included.
    assert (await world.store.get_cycle(world.cycle.id)).done == 2


# -- deprovisioning ---------------------------------------------------------------------


async def test_out_of_scope_users_are_disabled_and_enabled_again(world: World) -> None:
    ada = await world.user("ada@example.com")
    processor = world.processor()
    await processor.process([(USER, ada)], cycle=world.cycle)
    await world.store.unassign("hr", USER, ada)

    [outcome] = await processor.process([(USER, ada)], cycle=world.cycle)

    assert (outcome.action, outcome.status) == (LogAction.DISABLE, LogStatus.SUCCESS)
    assert outcome.reason == "out of scope: not assigned to the job"
    assert world.rows("SELECT active FROM users") == [(0,)]
    assert (await world.shadow(USER, ada)).state is ShadowState.DISABLED
    [again] = await processor.process([(USER, ada)], cycle=world.cycle)
    assert (again.action, again.status) == (LogAction.NONE, LogStatus.SUCCESS)

    await world.store.assign("hr", USER, ada)
    [back] = await processor.process([(USER, ada)], cycle=world.cycle)

    assert (back.action, back.changes) == (LogAction.UPDATE, {"active": [False, True]})
    assert world.rows("SELECT active FROM users") == [(1,)]
    assert (await world.shadow(USER, ada)).state is ShadowState.LINKED


async def test_out_of_scope_users_are_deleted_when_the_job_says_so(world: World) -> None:
    ada = await world.user("ada@example.com")
    processor = world.processor(users="delete")
    await processor.process([(USER, ada)], cycle=world.cycle)
    await world.store.unassign("hr", USER, ada)

    [outcome] = await processor.process([(USER, ada)], cycle=world.cycle)

    assert (outcome.action, outcome.status) == (LogAction.DELETE, LogStatus.SUCCESS)
    assert world.rows("SELECT count(*) FROM users") == [(0,)]
    assert await world.shadow(USER, ada) is None


async def test_skip_out_of_scope_deletions_unlinks_and_leaves_the_account(world: World) -> None:
    ada = await world.user("ada@example.com")
    processor = world.processor(skip=True)
    await processor.process([(USER, ada)], cycle=world.cycle)
    await world.store.unassign("hr", USER, ada)
    world.target.sent.clear()

    [outcome] = await processor.process([(USER, ada)], cycle=world.cycle)

    assert (outcome.action, outcome.status) == (LogAction.UNLINK, LogStatus.SUCCESS)
    assert world.target.sent == []
    assert world.rows("SELECT user_name, active FROM users") == [("ada@example.com", 1)]
    assert await world.shadow(USER, ada) is None


async def test_entries_deleted_from_the_directory_are_deprovisioned(world: World) -> None:
    ada = await world.user("ada@example.com")
    research = await world.group("Research", [ada])
    processor = world.processor()
    await processor.process([(USER, ada), (GROUP, research)], cycle=world.cycle)
    await world.store.delete_entry(GROUP, research)
    await world.store.delete_entry(USER, ada)

    outcomes = await processor.process([(USER, ada), (GROUP, research)], cycle=world.cycle)

    assert [(o.action, o.status, o.reason) for o in outcomes] == [
        (LogAction.DISABLE, LogStatus.SUCCESS, "deleted from the directory"),
        (LogAction.DELETE, LogStatus.SUCCESS, "deleted from the directory"),
    ]
    assert world.rows("SELECT active FROM users") == [(0,)]
    assert world.rows("SELECT count(*) FROM groups") == [(0,)]
    assert await world.shadow(GROUP, research) is None
    deleted = await world.logs(action=LogAction.DELETE)
    assert deleted[0].source_name == "Research"


async def test_deferred_deprovisions_are_returned_and_not_recorded(world: World) -> None:
    ada = await world.user("ada@example.com")
    bob = await world.user("bob@example.com")
    processor = world.processor()
    await processor.process([(USER, ada), (USER, bob)], cycle=world.cycle)
    await world.store.unassign("hr", USER, ada)
    before = await world.store.get_cycle(world.cycle.id)
    assert await processor.deprovision_candidates([(USER, ada), (USER, bob)]) == [(USER, ada)]

    outcomes = await processor.process(
        [(USER, ada), (USER, bob)], cycle=world.cycle, deprovisions=Deprovisions.DEFER
    )

    assert [(o.entry_id, o.action, o.deferred) for o in outcomes] == [
        (ada, LogAction.DISABLE, True),
        (bob, LogAction.NONE, False),
    ]
    assert world.rows("SELECT active FROM users") == [(1,), (1,)]
    assert (await world.shadow(USER, ada)).state is ShadowState.LINKED
    after = await world.store.get_cycle(world.cycle.id)
    assert after.done == before.done + 1
    assert len(await world.logs()) == 2


async def test_staged_deprovisions_wait_for_approval_or_rejection(world: World) -> None:
    ada = await world.user("ada@example.com")
    bob = await world.user("bob@example.com")
    processor = world.processor()
    await processor.process([(USER, ada), (USER, bob)], cycle=world.cycle)
    await world.store.unassign("hr", USER, ada)
    await world.store.unassign("hr", USER, bob)

    outcomes = await processor.process(
        [(USER, ada), (USER, bob)], cycle=world.cycle, deprovisions=Deprovisions.STAGE
    )
    again = await processor.process(
        [(USER, ada)], cycle=world.cycle, deprovisions=Deprovisions.STAGE
    )

    assert {o.status for o in outcomes} == {LogStatus.STAGED}
    assert again[0].status is LogStatus.SKIPPED
    staged = await world.store.list_staged("hr")
    assert [(s.entry_id, s.action, s.display) for s in staged] == [
        (ada, "disable", "ada@example.com"),
        (bob, "disable", "bob@example.com"),
    ]
    assert world.rows("SELECT active FROM users") == [(1,), (1,)]
    assert len(await world.logs(status=LogStatus.STAGED)) == 2

    await world.store.decide_staged("hr", StagedDecision.APPROVED, [staged[0].id])
    await world.store.decide_staged("hr", StagedDecision.REJECTED, [staged[1].id])
    [carried] = await processor.carry_out([staged[0]], cycle=world.cycle)
    await processor.hold([staged[1]])

    assert (carried.action, carried.status) == (LogAction.DISABLE, LogStatus.SUCCESS)
    assert world.rows("SELECT user_name, active FROM users ORDER BY id") == [
        ("ada@example.com", 0),
        ("bob@example.com", 1),
    ]
    assert await world.store.list_staged("hr", decision=StagedDecision.PENDING) == []
    assert (await world.shadow(USER, bob)).state is ShadowState.HELD
    world.target.sent.clear()
    [held] = await processor.process([(USER, bob)], cycle=world.cycle)
    assert (held.status, world.target.sent) == (LogStatus.SKIPPED, [])
    assert await processor.deprovision_candidates([(USER, bob)]) == []

    # A change to the entry lifts the hold.
    entry = await world.store.get_entry(USER, bob)
    await world.store.update_entry(USER, bob, resource={**entry.resource, "title": "Clerk"})
    [lifted] = await processor.process([(USER, bob)], cycle=world.cycle)
    assert lifted.action is LogAction.DISABLE


async def test_a_later_burst_does_not_go_past_a_staged_deprovision(world: World) -> None:
    ada = await world.user("ada@example.com")
    bob = await world.user("bob@example.com")
    processor = world.processor()
    await processor.process([(USER, ada), (USER, bob)], cycle=world.cycle)
    await world.store.unassign("hr", USER, ada)
    await world.store.unassign("hr", USER, bob)
    await processor.process([(USER, ada), (USER, bob)], cycle=world.cycle, deprovisions=STAGE)

    # A small burst later (under the threshold) sends: the staged ones still wait.
    [later] = await processor.process([(USER, ada)], cycle=world.cycle)

    assert later.status is LogStatus.SKIPPED
    assert world.rows("SELECT active FROM users") == [(1,), (1,)]
    assert len(await world.store.list_staged("hr", decision=StagedDecision.PENDING)) == 2

    # Provisioning on demand is the administrator acting: it goes ahead and unstages.
    [asked] = await processor.process([(USER, bob)], cycle=world.cycle, explain=True)

    assert (asked.action, asked.status) == (LogAction.DISABLE, LogStatus.SUCCESS)
    assert world.rows("SELECT user_name, active FROM users ORDER BY id") == [
        ("ada@example.com", 1),
        ("bob@example.com", 0),
    ]
    [left] = await world.store.list_staged("hr", decision=StagedDecision.PENDING)
    assert left.entry_id == ada


async def test_an_approved_stage_of_an_entry_back_in_scope_is_dropped(world: World) -> None:
    ada = await world.user("ada@example.com")
    processor = world.processor()
    await processor.process([(USER, ada)], cycle=world.cycle)
    await world.store.unassign("hr", USER, ada)
    await processor.process([(USER, ada)], cycle=world.cycle, deprovisions=Deprovisions.STAGE)
    await world.store.assign("hr", USER, ada)
    staged = await world.store.list_staged("hr")

    [outcome] = await processor.carry_out(staged, cycle=world.cycle)

    assert outcome.action is LogAction.NONE
    assert world.rows("SELECT active FROM users") == [(1,)]
    assert await world.store.list_staged("hr", decision=StagedDecision.PENDING) == []


# -- failures ---------------------------------------------------------------------------


async def test_an_unavailable_target_leaves_retries_with_backoff(world: World) -> None:
    ada = await world.user("ada@example.com")
    bob = await world.user("bob@example.com")
    processor = world.processor()
    world.target.down = True

    outcomes = await processor.process([(USER, ada), (USER, bob)], cycle=world.cycle)

    assert {(o.status, o.error_class) for o in outcomes} == {(LogStatus.FAILURE, "unavailable")}
    retries = await world.store.get_retries("hr", USER, [ada, bob])
    assert {r.attempts for r in retries.values()} == {1}
    now = world.clock[0]
    assert all(now + 4.5 <= (r.next_attempt_at or 0) <= now + 5.5 for r in retries.values())

    # Not due yet: nothing is tried, unless the caller runs retries.
    world.target.down = False
    skipped = await processor.process([(USER, ada)], cycle=world.cycle)
    assert (skipped[0].status, world.target.sent) == (LogStatus.SKIPPED, [])
    retried = await processor.process([(USER, ada)], cycle=world.cycle, retrying=True)
    assert retried[0].action is LogAction.CREATE
    assert retried[0].status is LogStatus.SUCCESS
    assert list(await world.store.get_retries("hr", USER, [ada, bob])) == [bob]


async def test_a_retryable_error_backs_off_further_each_time(world: World) -> None:
    ada = await world.user("ada@example.com")
    processor = world.processor()
    await processor.process([(USER, ada)], cycle=world.cycle)
    entry = await world.store.get_entry(USER, ada)
    await world.store.update_entry(USER, ada, resource={**entry.resource, "displayName": "A"})
    world.target.sent.clear()
    world.target.answer = lambda op: OperationError(
        ErrorClass.THROTTLED, "slow down", retry_after=30
    )

    await processor.process([(USER, ada)], cycle=world.cycle, retrying=True)
    await processor.process([(USER, ada)], cycle=world.cycle, retrying=True)

    retry = (await world.store.get_retries("hr", USER, [ada]))[ada]
    assert (retry.attempts, retry.error_class, retry.error) == (2, "throttled", "slow down")
    assert retry.next_attempt_at == pytest.approx(world.clock[0] + 30, abs=0.1)
    assert retry.first_failed_at == world.clock[0]
    keys = {op.key for op in world.target.sent}
    assert len(keys) == 1  # the same key again: the agent re-runs it tolerantly


async def test_invalid_data_is_skipped_until_the_entry_changes(world: World) -> None:
    ada = await world.user("ada@example.com", extra={"emails": [{"value": "not-an-address"}]})
    processor = world.processor()

    [failed] = await processor.process([(USER, ada)], cycle=world.cycle)

    assert (failed.status, failed.error_class) == (LogStatus.FAILURE, "invalid_data")
    retry = (await world.store.get_retries("hr", USER, [ada]))[ada]
    assert retry.next_attempt_at is None
    world.target.sent.clear()
    [skipped] = await processor.process([(USER, ada)], cycle=world.cycle, retrying=True)
    assert (skipped.status, world.target.sent) == (LogStatus.SKIPPED, [])
    assert len(await world.logs(status=LogStatus.FAILURE)) == 1

    entry = await world.store.get_entry(USER, ada)
    fixed = {**entry.resource, "emails": [{"value": "ada@example.com"}]}
    await world.store.update_entry(USER, ada, resource=fixed)
    [created] = await processor.process([(USER, ada)], cycle=world.cycle)
    assert (created.action, created.status) == (LogAction.CREATE, LogStatus.SUCCESS)
    assert await world.store.get_retries("hr", USER, [ada]) == {}


async def test_refused_credentials_quarantine_the_job_after_recording(world: World) -> None:
    ada = await world.user("ada@example.com")
    world.target.answer = lambda op: OperationError(ErrorClass.AUTHENTICATION, "bad password")

    with pytest.raises(Quarantine) as caught:
        await world.processor().process([(USER, ada)], cycle=world.cycle)

    assert "bad password" in caught.value.reason
    assert list(await world.store.get_retries("hr", USER, [ada])) == [ada]
    [log] = await world.logs()
    assert (log.status, log.error_class) == (LogStatus.FAILURE, "authentication")


async def test_most_operations_failing_quarantines_the_job(world: World) -> None:
    ids = [await world.user(f"user{i}@example.com") for i in range(4)]
    world.target.answer = lambda op: OperationError(ErrorClass.UNAVAILABLE, "database down")
    processor = world.processor(batch_size=2, quarantine=QuarantinePolicy(minimum_operations=4))

    with pytest.raises(Quarantine) as caught:
        await processor.process([(USER, i) for i in ids], cycle=world.cycle)

    assert "4 of 4 operations" in caught.value.reason
    assert len(await world.store.get_retries("hr", USER, ids)) == 4


# -- dry runs and explanations ------------------------------------------------------------


async def test_a_dry_run_writes_nothing(world: World) -> None:
    world.execute("INSERT INTO users (user_name) VALUES ('bob@example.com')")
    ada = await world.user("ada@example.com")
    bob = await world.user("bob@example.com")

    outcomes = await world.processor().process(
        [(USER, ada), (USER, bob)], cycle=world.cycle, dry_run=True
    )

    assert [(o.action, o.status) for o in outcomes] == [
        (LogAction.CREATE, LogStatus.SUCCESS),
        (LogAction.LINK, LogStatus.SUCCESS),
    ]
    assert outcomes[0].attributes is not None
    assert outcomes[0].attributes["user_name"] == "ada@example.com"
    assert {op.action for op in world.target.sent} == {Action.SEARCH}
    assert world.rows("SELECT user_name FROM users") == [("bob@example.com",)]
    assert await world.store.count_shadows("hr") == 0
    assert await world.logs() == []
    assert (await world.store.get_cycle(world.cycle.id)).done == 0


async def test_explained_runs_give_the_steps(world: World) -> None:
    ada = await world.user("ada@example.com")
    bob = await world.user("bob@example.com", assigned=False)

    outcomes = await world.processor().process(
        [(USER, ada), (USER, bob)], cycle=world.cycle, explain=True
    )

    steps = {o.entry_id: [(s["step"], s["outcome"]) for s in o.steps] for o in outcomes}
    assert steps[ada] == [
        ("directory", "found"),
        ("scope", "in scope"),
        ("link", "not linked"),
        ("match", "no match"),
        ("map", "create"),
        ("write", "done"),
    ]
    assert steps[bob][:2] == [("directory", "found"), ("scope", "out of scope")]
    assert outcomes[1].steps[1]["detail"] == "not assigned to the job"
    logs = await world.logs()
    assert {log.entry_id for log in logs} == {ada, bob}
    assert next(log for log in logs if log.entry_id == ada).steps[0]["step"] == "directory"


async def test_an_account_deleted_behind_the_jobs_back_is_created_again(world: World) -> None:
    ada = await world.user("ada@example.com")
    processor = world.processor()
    [created] = await processor.process([(USER, ada)], cycle=world.cycle)
    world.execute("DELETE FROM users")
    entry = await world.store.get_entry(USER, ada)
    await world.store.update_entry(USER, ada, resource={**entry.resource, "displayName": "A"})

    [outcome] = await processor.process([(USER, ada)], cycle=world.cycle)

    assert (outcome.action, outcome.status) == (LogAction.CREATE, LogStatus.SUCCESS)
    assert outcome.anchor != created.anchor
    assert world.rows("SELECT user_name, display_name FROM users") == [("ada@example.com", "A")]
    assert (await world.shadow(USER, ada)).anchor == outcome.anchor


async def test_deleting_an_account_that_is_already_gone_counts_as_done(world: World) -> None:
    ada = await world.user("ada@example.com")
    processor = world.processor(users="delete")
    await processor.process([(USER, ada)], cycle=world.cycle)
    world.execute("DELETE FROM users")
    await world.store.unassign("hr", USER, ada)

    [outcome] = await processor.process([(USER, ada)], cycle=world.cycle)

    assert (outcome.action, outcome.status) == (LogAction.DELETE, LogStatus.SUCCESS)
    assert await world.shadow(USER, ada) is None
    assert await world.store.get_retries("hr", USER, [ada]) == {}


async def test_a_group_deleted_then_assigned_again_is_created_again(world: World) -> None:
    # The same content at the same entry version: the agent's journal still answers the
    # first create's key with the anchor of the group the job deleted since.
    research = await world.group("Research", [])
    processor = world.processor()
    [created] = await processor.process([(GROUP, research)], cycle=world.cycle)
    await world.store.unassign("hr", GROUP, research)
    [deleted] = await processor.process([(GROUP, research)], cycle=world.cycle)
    assert (deleted.action, world.rows("SELECT count(*) FROM groups")) == (
        LogAction.DELETE,
        [(0,)],
    )
    await world.store.assign("hr", GROUP, research)

    [again] = await processor.process([(GROUP, research)], cycle=world.cycle)

    assert (again.action, again.status) == (LogAction.CREATE, LogStatus.SUCCESS)
    assert again.anchor != created.anchor
    assert world.rows("SELECT id, name FROM groups") == [(int(again.anchor or 0), "Research")]
    assert (await world.shadow(GROUP, research)).anchor == again.anchor


async def test_refused_data_does_not_keep_a_user_that_left_the_scope(world: World) -> None:
    ada = await world.user("ada@example.com")
    processor = world.processor()
    await processor.process([(USER, ada)], cycle=world.cycle)
    entry = await world.store.get_entry(USER, ada)
    broken = {**entry.resource, "emails": [{"value": "not-an-address"}]}
    await world.store.update_entry(USER, ada, resource=broken)
    [failed] = await processor.process([(USER, ada)], cycle=world.cycle)
    assert failed.error_class == "invalid_data"
    # Unassigning leaves the entry's version as it was.
    await world.store.unassign("hr", USER, ada)

    [outcome] = await processor.process([(USER, ada)], cycle=world.cycle)

    assert (outcome.action, outcome.status) == (LogAction.DISABLE, LogStatus.SUCCESS)
    assert world.rows("SELECT active FROM users") == [(0,)]
    assert await world.store.get_retries("hr", USER, [ada]) == {}


async def test_a_deprovision_approved_but_not_carried_out_is_not_staged_again(
    world: World,
) -> None:
    ada = await world.user("ada@example.com")
    processor = world.processor()
    await processor.process([(USER, ada)], cycle=world.cycle)
    await world.store.unassign("hr", USER, ada)
    await processor.process([(USER, ada)], cycle=world.cycle, deprovisions=Deprovisions.STAGE)
    await world.store.decide_staged("hr", StagedDecision.APPROVED)

    [again] = await processor.process(
        [(USER, ada)], cycle=world.cycle, deprovisions=Deprovisions.STAGE
    )

    assert again.status is LogStatus.SKIPPED
    [staged] = await world.store.list_staged("hr")
    assert staged.decision is StagedDecision.APPROVED


async def test_rejecting_a_deprovision_carried_out_meanwhile_keeps_it_disabled(
    world: World,
) -> None:
    ada = await world.user("ada@example.com")
    processor = world.processor()
    await processor.process([(USER, ada)], cycle=world.cycle)
    await world.store.unassign("hr", USER, ada)
    await processor.process([(USER, ada)], cycle=world.cycle, deprovisions=Deprovisions.STAGE)
    staged = await world.store.list_staged("hr")  # the list an administrator looks at
    # Meanwhile another administrator provisions ada on demand: she is disabled.
    [sent] = await processor.process([(USER, ada)], cycle=world.cycle, explain=True)
    assert sent.action is LogAction.DISABLE

    await processor.hold(staged)

    assert world.rows("SELECT active FROM users") == [(0,)]
    assert (await world.shadow(USER, ada)).state is ShadowState.DISABLED
    assert await world.store.list_staged("hr") == []
