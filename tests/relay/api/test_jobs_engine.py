"""Jobs through the admin API of a relay that runs them: its built-in agent provisions a real
SCIM service (scim2-server). Started, paused, resumed and restarted jobs, the deletion guard's
staged deprovisions decided through the API, provisioning on demand, dry runs and reconciles.

The engine's control round comes every 120 s here: what happens within seconds of a change
through the API happened because the API told the engine (``Engine.notice``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from relay.engine.settings import EngineSettings
from relay.settings import RelaySettings
from relay.store.base import EntryKind, Store
from tests.relay.api.conftest import Api, ApiRelay
from tests.relay.api.job_helpers import JOB, conforms, page
from tests.relay.engine.test_builtin import scim_connector
from tests.servers.ports import free_port
from tests.servers.scim import ScimServer

pytestmark = pytest.mark.server

T = TypeVar("T")

#: Seconds a test waits for the engine to act on a change.
WAIT = 30.0
GUARDED = JOB + "\n[guard]\nthreshold = 1\nsettle = 0.2\n"


@pytest.fixture
def relay_settings(scim_server: ScimServer) -> RelaySettings:
    """One operation per batch, so that an initial cycle of a few hundred users takes long
    enough to be watched."""
    return RelaySettings(
        listen=f"127.0.0.1:{free_port()}",
        engine=EngineSettings(control_interval=120.0, batch_size=1, batches_in_flight=1),
        connectors=(scim_connector(scim_server, "crm"),),
        shutdown_timeout=2,
    )


@pytest.fixture
def prefix() -> str:
    """userNames unique to the test: the SCIM service is shared by the session."""
    return f"u{uuid.uuid4().hex[:8]}-"


async def add_users(store: Store, prefix: str, count: int) -> list[str]:
    return [
        (await store.create_entry(EntryKind.USER, {"userName": f"{prefix}{i:03d}"})).id
        for i in range(count)
    ]


async def until(check: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll ``check`` until it answers something truthy, for at most :data:`WAIT` s."""
    deadline = time.monotonic() + WAIT
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def scim_users(server: ScimServer, user_name: str) -> list[dict[str, Any]]:
    answer = await asyncio.to_thread(
        server.request, "GET", f"/Users?filter=userName%20eq%20%22{user_name}%22"
    )
    found: list[dict[str, Any]] = answer.get("Resources", [])
    return found


async def post(api: Api, path: str, json: Any = None, status: int = 200) -> Any:
    answer, body = await api("POST", path, json=json)
    assert answer == status, body
    return body


async def initial_done(api: Api) -> dict[str, Any] | None:
    status: dict[str, Any] = (await api("GET", "/jobs/crm/status"))[1]
    return status if status["initial_done"] else None


async def test_a_started_job_shows_its_initial_cycle_until_it_is_done(
    api: Api, relay: ApiRelay, scim_server: ScimServer, prefix: str
) -> None:
    count = 200
    await add_users(relay.store, prefix, count)
    await post(api, "/jobs", {"spec": JOB}, status=201)
    started = await post(api, "/jobs/crm/start")
    assert started["changed"] is True

    seen: list[dict[str, Any]] = []

    async def done() -> dict[str, Any] | None:
        status = conforms("JobStatus", (await api("GET", "/jobs/crm/status"))[1])
        if status["progress"] is not None and status["progress"]["kind"] == "initial":
            seen.append(status["progress"])
        return status if status["initial_done"] else None

    status = await until(done, "the initial cycle")
    midway = [p for p in seen if 0 < p["done"] < count]
    assert midway, seen
    assert all(p["total"] == count for p in midway)
    assert midway[0]["rate"] > 0 and midway[0]["eta_seconds"] > 0
    last = status["last"]
    assert (last["kind"], last["state"], last["done"], last["total"]) == (
        "initial",
        "done",
        count,
        count,
    )
    assert last["counts"] == {"created": count}
    assert status["shadows"] == count
    [initial] = page("Cycle", (await api("GET", "/jobs/crm/cycles?state=done"))[1])
    assert initial["id"] == last["id"]

    assert [u["userName"] for u in await scim_users(scim_server, f"{prefix}007")] == [
        f"{prefix}007"
    ]
    created = (await api("GET", "/jobs/crm/logs", params={"action": "create", "limit": "1000"}))[1]
    assert len(page("LogEntry", created)) == count
    found = conforms("Whereabouts", (await api("GET", f"/jobs/crm/where?entry={prefix}007"))[1])
    assert (found["state"], found["in_scope"], found["pending"]) == ("linked", True, 0)


async def test_pause_resume_and_restart_reach_the_running_job(
    api: Api, relay: ApiRelay, scim_server: ScimServer, prefix: str
) -> None:
    await add_users(relay.store, prefix, 2)
    await post(api, "/jobs", {"spec": JOB}, status=201)
    await post(api, "/jobs/crm/start")
    await until(lambda: initial_done(api), "the initial cycle")

    paused = await post(api, "/jobs/crm/pause")
    assert paused["job"]["state"] == "paused"

    async def no_running_cycle() -> bool:
        cycles = (await api("GET", "/jobs/crm/cycles", params={"state": "running"}))[1]
        return not cycles["items"]

    await until(no_running_cycle, "the paused job's cycles to end")

    # Made while paused, provisioned once resumed.
    await relay.store.create_entry(EntryKind.USER, {"userName": f"{prefix}late"})
    resumed = await post(api, "/jobs/crm/resume")
    assert (resumed["changed"], resumed["job"]["state"]) == (True, "running")
    await until(lambda: scim_users(scim_server, f"{prefix}late"), "the late user")

    restarted = await post(api, "/jobs/crm/restart")
    assert restarted["job"]["initial_done"] is False

    async def two_initial_cycles() -> bool:
        body = (await api("GET", "/jobs/crm/cycles", params={"state": "done"}))[1]
        initial = [c for c in page("Cycle", body) if c["kind"] == "initial"]
        return len(initial) == 2 and bool(await initial_done(api))

    await until(two_initial_cycles, "the second initial cycle")
    # Links are kept: the second initial cycle created nobody again.
    assert len(await scim_users(scim_server, f"{prefix}000")) == 1


async def test_staged_deprovisions_are_approved_and_rejected(
    api: Api, relay: ApiRelay, scim_server: ScimServer, prefix: str
) -> None:
    users = await add_users(relay.store, prefix, 4)
    await post(api, "/jobs", {"spec": GUARDED}, status=201)
    await post(api, "/jobs/crm/start")
    await until(lambda: initial_done(api), "the initial cycle")

    for user in users[:3]:
        await relay.store.delete_entry(EntryKind.USER, user)

    async def staged() -> list[dict[str, Any]]:
        return page("StagedDeprovision", (await api("GET", "/jobs/crm/staged"))[1])

    async def three_staged() -> list[dict[str, Any]] | None:
        found = await staged()
        return found if len(found) == 3 else None

    held = await until(three_staged, "three staged deprovisions")
    assert {s["entry_id"] for s in held} == set(users[:3])
    assert {s["action"] for s in held} == {"disable"}
    job = (await api("GET", "/jobs/crm"))[1]
    assert (job["staged"], job["summary"]) == (3, "running, waiting for approval")
    gone = (await api("GET", "/jobs/crm/where", params={"entry": users[0]}))[1]
    assert (gone["in_directory"], gone["staged"]["id"]) == (False, held[0]["id"])

    first = held[0]
    assert await post(api, "/jobs/crm/staged/approve", {"ids": [first["id"]]}) == {"count": 1}

    async def disabled() -> bool:
        [account] = await scim_users(scim_server, first["display"])
        return account.get("active") is False

    await until(disabled, "the approved deprovision")
    logs = (await api("GET", "/jobs/crm/logs", params={"entry": users[0]}))[1]
    assert [(e["action"], e["status"]) for e in page("LogEntry", logs)][:2] == [
        ("disable", "success"),
        ("disable", "staged"),
    ]

    assert await post(api, "/jobs/crm/staged/reject", {"ids": None}) == {"count": 2}
    assert await staged() == []

    async def held_back() -> bool:
        where = (await api("GET", "/jobs/crm/where", params={"entry": users[1]}))[1]
        return bool(where["state"] == "held")

    await until(held_back, "the rejected deprovisions to be held")
    rejected = (await api("GET", "/jobs/crm/staged", params={"decision": "rejected"}))[1]
    assert rejected["items"] == []  # held: off the stage
    [account] = await scim_users(scim_server, held[1]["display"])
    assert account.get("active", True) is True


async def test_provision_on_demand_dry_run_and_reconcile(
    api: Api, relay: ApiRelay, scim_server: ScimServer, prefix: str
) -> None:
    await add_users(relay.store, prefix, 2)
    await post(api, "/jobs", {"spec": JOB}, status=201)  # created: nothing runs

    plan = conforms("DryRun", await post(api, "/jobs/crm/dry-run", {"limit": 1}))
    assert (plan["total"], plan["counts"]) == (2, {"create:success": 2})
    assert [p["action"] for p in plan["planned"]] == ["create"]
    assert "guard" not in plan

    outcome = await post(api, "/jobs/crm/provision", {"entry": f"{prefix}001"})
    conforms("ProvisionOutcome", outcome)
    assert (outcome["kind"], outcome["action"], outcome["status"]) == ("user", "create", "success")
    assert outcome["anchor"] and outcome["steps"]
    assert [s["step"] for s in outcome["steps"]][:3] == ["directory", "scope", "link"]
    [account] = await scim_users(scim_server, f"{prefix}001")
    assert account["id"] == outcome["anchor"]
    again = await post(api, "/jobs/crm/provision", {"kind": "user", "entry": outcome["entry_id"]})
    assert again["action"] == "none"
    assert (await post(api, "/jobs/crm/dry-run", {}))["counts"] == {
        "create:success": 1,
        "none:success": 1,
    }

    status, body = await api("POST", "/jobs/crm/reconcile")
    assert (status, body["error"]["message"]) == (409, "job 'crm' is not running in this relay")
    await post(api, "/jobs/crm/start")

    async def requested() -> Any:
        status, body = await api("POST", "/jobs/crm/reconcile")
        return body if status == 202 else None

    assert conforms("ReconcileRequested", await until(requested, "the reconcile")) == {
        "requested": True
    }

    async def reconciled() -> bool:
        body = (await api("GET", "/jobs/crm/cycles", params={"state": "done"}))[1]
        return any(c["kind"] == "reconcile" for c in page("Cycle", body))

    await until(reconciled, "the reconcile cycle")
    assert (await api("GET", "/jobs/crm"))[1]["reconciled_at"] is not None


@pytest.mark.parametrize(
    ("path", "body", "status", "named"),
    [
        ("provision", {"entry": "nobody"}, 404, "no user 'nobody' in the directory"),
        ("provision", {"kind": "group", "entry": "nobody"}, 404, "no group 'nobody'"),
        ("provision", {"kind": "robot", "entry": "x"}, 400, "'kind'"),
        ("provision", {}, 400, "'entry'"),
        ("dry-run", {"limit": 0}, 400, "'limit'"),
        ("dry-run", {"limit": 1001}, 400, "'limit'"),
        ("dry-run", {"limit": "ten"}, 400, "'limit'"),
        ("dry-run", {"limit": True}, 400, "'limit'"),
    ],
)
async def test_what_the_engine_is_asked_wrongly_is_refused(
    api: Api, path: str, body: dict[str, Any], status: int, named: str
) -> None:
    await post(api, "/jobs", {"spec": JOB}, status=201)
    answer, error = await api("POST", f"/jobs/crm/{path}", json=body)
    assert answer == status, error
    assert named in conforms("Error", error)["error"]["message"]
