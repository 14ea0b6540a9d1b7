"""Jobs through the admin API of a real relay whose engine is off: defining, steering, staged
deprovisions, cycles, status and whereabouts as the store has them, roles and errors.
(A relay that runs the jobs against a real target: ``test_jobs_engine.py``.)"""

from __future__ import annotations

from typing import Any

import pytest

from relay.settings import RelaySettings
from relay.store.base import EntryKind, Store
from relay.store.engine_records import (
    CycleKind,
    CycleState,
    CycleWrite,
    JobState,
    Shadow,
    StagedOperation,
)
from tests.relay.api.conftest import Api, ApiRelay
from tests.relay.api.job_helpers import JOB, conforms, engine_off, page


@pytest.fixture
def relay_settings() -> RelaySettings:
    return engine_off()


@pytest.fixture
async def crm(api: Api) -> dict[str, Any]:
    status, body = await api("POST", "/jobs", json={"spec": JOB})
    assert status == 201, body
    job: dict[str, Any] = body
    return job


def message(body: Any) -> str:
    text: str = conforms("Error", body)["error"]["message"]
    return text


# Defining jobs ---------------------------------------------------------------------------------


async def test_a_job_is_created_read_listed_updated_and_deleted(api: Api) -> None:
    status, created = await api("POST", "/jobs", json={"spec": JOB})
    assert status == 201
    conforms("JobDetail", created)
    assert created["name"] == "crm" and created["spec"] == JOB
    assert (created["state"], created["summary"], created["version"]) == ("created", "created", 1)
    assert created["connection"] == "built-in / crm"
    assert (created["staged"], created["progress"], created["initial_done"]) == (0, None, False)

    status, body = await api("GET", "/jobs")
    assert status == 200
    [listed] = page("Job", body)
    assert body["next"] is None
    assert listed["name"] == "crm" and "spec" not in listed

    status, body = await api("GET", "/jobs/crm")
    assert (status, conforms("JobDetail", body)) == (200, created)

    changed = JOB.replace('scope = "all"', 'scope = "assigned"')
    status, body = await api("PUT", "/jobs/crm", json={"spec": changed})
    assert status == 200
    assert (conforms("JobDetail", body)["spec"], body["version"]) == (changed, 2)
    assert (await api("GET", "/jobs/crm"))[1]["spec"] == changed

    answer = await api.raw("DELETE", "/jobs/crm")
    assert (answer.status, answer.body) == (204, None)
    status, body = await api("GET", "/jobs/crm")
    assert status == 404
    assert "crm" in message(body)
    assert (await api("GET", "/jobs"))[1]["items"] == []


async def test_the_name_in_the_body_wins_over_the_files(api: Api) -> None:
    status, body = await api("POST", "/jobs", json={"spec": JOB, "name": "crm-eu"})
    assert (status, body["name"]) == (201, "crm-eu")
    # The file's name is free still.
    assert (await api("POST", "/jobs", json={"spec": JOB}))[0] == 201


async def test_a_second_job_of_a_name_is_a_conflict(api: Api, crm: dict[str, Any]) -> None:
    status, body = await api("POST", "/jobs", json={"spec": JOB})
    assert status == 409
    assert conforms("Error", body)["error"]["code"] == "conflict"
    assert "crm" in message(body)


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ('name = "crm"\ntarget = \n', "is not valid TOML"),
        (JOB.replace('connector = "crm"', 'connector = ""'), "connection.connector"),
        (JOB.replace('scope = "all"', 'scope = "some"'), "scope"),
        (JOB + "\n[guard]\nthreshold = -1\n", "guard.threshold"),
        (JOB + "\n[connection.extra]\n", "connection.extra"),
    ],
)
async def test_a_bad_job_file_is_refused_naming_the_key(api: Api, spec: str, named: str) -> None:
    status, body = await api("POST", "/jobs", json={"spec": spec})
    assert status == 400
    assert conforms("Error", body)["error"]["code"] == "invalid_request"
    assert message(body).startswith("job file:")
    assert named in message(body)
    assert (await api("GET", "/jobs"))[1]["items"] == []


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "'spec'"),
        ({"spec": ""}, "'spec'"),
        ({"spec": 7}, "'spec'"),
        ({"spec": JOB, "name": 7}, "'name'"),
        ({"spec": JOB, "name": "no spaces"}, "name"),
        ([JOB], "JSON object"),
    ],
)
async def test_a_bad_create_body_is_refused(api: Api, body: Any, named: str) -> None:
    status, answer = await api("POST", "/jobs", json=body)
    assert status == 400
    assert named in message(answer)


async def test_an_update_with_a_bad_file_changes_nothing(api: Api, crm: dict[str, Any]) -> None:
    bad = JOB.replace('connector = "crm"', 'connector = ""')
    status, body = await api("PUT", "/jobs/crm", json={"spec": bad})
    assert status == 400
    assert "connection.connector" in message(body)
    assert (await api("GET", "/jobs/crm"))[1] == crm
    status, body = await api("PUT", "/jobs/nope", json={"spec": JOB})
    assert status == 404
    assert "nope" in message(body)


# Steering -------------------------------------------------------------------------------------


async def steer(api: Api, command: str) -> dict[str, Any]:
    status, body = await api("POST", f"/jobs/crm/{command}")
    assert status == 200, body
    answer: dict[str, Any] = conforms("JobSteered", body)
    return answer


async def test_start_pause_resume(api: Api, crm: dict[str, Any]) -> None:
    started = await steer(api, "start")
    assert started["changed"] is True
    assert started["message"] == "job 'crm' started (state running)"
    assert (started["job"]["state"], started["job"]["version"]) == ("running", 2)

    again = await steer(api, "start")
    assert (again["changed"], again["message"]) == (False, "job 'crm' is already running")
    assert again["job"]["version"] == 2

    paused = await steer(api, "pause")
    assert (paused["changed"], paused["job"]["state"]) == (True, "paused")
    assert (await steer(api, "resume"))["job"]["state"] == "running"
    resumed = await steer(api, "resume")
    assert (resumed["changed"], resumed["message"]) == (False, "job 'crm' is already running")


async def test_resume_clears_a_quarantine(api: Api, relay: ApiRelay, crm: dict[str, Any]) -> None:
    await relay.store.update_job(
        "crm",
        state=JobState.QUARANTINED,
        quarantine_reason="the target refused the token",
        next_attempt_at=5.0,
        quarantine_count=3,
    )
    body = (await api("GET", "/jobs/crm"))[1]
    assert body["quarantine_reason"] == "the target refused the token"
    assert body["next_attempt_at"] == "1970-01-01T00:00:05.000Z"

    resumed = await steer(api, "resume")
    assert resumed["changed"] is True
    job = resumed["job"]
    assert (job["state"], job["quarantine_reason"], job["next_attempt_at"]) == (
        "running",
        None,
        None,
    )


async def test_restart_stops_running_cycles_and_asks_for_a_fresh_initial_cycle(
    api: Api, relay: ApiRelay, crm: dict[str, Any]
) -> None:
    store = relay.store
    await store.update_job("crm", state=JobState.PAUSED, initial_done=True, cursor=7)
    cycle = await store.start_cycle("crm", CycleKind.INCREMENTAL)

    restarted = await steer(api, "restart")

    assert restarted["changed"] is True
    assert "fresh initial cycle" in restarted["message"]
    job = restarted["job"]
    assert (job["state"], job["initial_done"], job["cursor"]) == ("running", False, 7)
    assert (await store.get_cycle(cycle.id)).state is CycleState.STOPPED


async def test_reconcile_is_refused_while_the_job_does_not_run_here(
    api: Api, crm: dict[str, Any]
) -> None:
    await steer(api, "start")  # in the store; this relay's engine is off
    status, body = await api("POST", "/jobs/crm/reconcile")
    assert status == 409
    assert message(body) == "job 'crm' is not running in this relay"


# Staged deprovisions ---------------------------------------------------------------------------


async def stage(store: Store, count: int) -> list[int]:
    cycle = await store.start_cycle("crm", CycleKind.INCREMENTAL)
    staged = tuple(
        StagedOperation(
            0,
            "crm",
            cycle.id,
            EntryKind.USER,
            f"u{i}",
            f"anchor-{i}",
            "disable",
            "deleted from the directory",
            f"user{i}",
            1.5,
        )
        for i in range(count)
    )
    await store.record_batch(CycleWrite(job="crm", staged=staged))
    return [s.id for s in await store.list_staged("crm")]


async def test_staged_deprovisions_are_listed_in_pages_and_decided(
    api: Api, relay: ApiRelay, crm: dict[str, Any]
) -> None:
    ids = await stage(relay.store, 5)
    status, body = await api("GET", "/jobs/crm/staged")
    assert status == 200
    items = page("StagedDeprovision", body)
    assert [s["id"] for s in items] == ids
    assert items[0]["display"] == "user0" and items[0]["staged_at"] == "1970-01-01T00:00:01.500Z"
    assert (items[0]["decision"], items[0]["decided_at"]) == ("pending", None)
    job = (await api("GET", "/jobs/crm"))[1]
    assert (job["staged"], job["summary"]) == (5, "created, waiting for approval")

    pages: list[list[int]] = []
    params = {"limit": "2"}
    while True:
        body = (await api("GET", "/jobs/crm/staged", params=params))[1]
        pages.append([s["id"] for s in page("StagedDeprovision", body)])
        if body["next"] is None:
            break
        params = {"limit": "2", "after": body["next"]}
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]

    status, body = await api("POST", "/jobs/crm/staged/approve", json={"ids": [ids[0], 999]})
    assert (status, conforms("StagedDecided", body)) == (200, {"count": 1})
    status, body = await api("POST", "/jobs/crm/staged/reject", json={"ids": ids[1:3]})
    assert body == {"count": 2}
    status, body = await api("POST", "/jobs/crm/staged/reject", json={})
    assert body == {"count": 2}  # all pending: the last two
    status, body = await api("POST", "/jobs/crm/staged/approve", json={"ids": None})
    assert body == {"count": 0}

    approved = (await api("GET", "/jobs/crm/staged", params={"decision": "approved"}))[1]
    assert [s["id"] for s in page("StagedDeprovision", approved)] == ids[:1]
    assert approved["items"][0]["decided_at"] is not None
    rejected = (await api("GET", "/jobs/crm/staged", params={"decision": "rejected"}))[1]
    assert [s["id"] for s in rejected["items"]] == ids[1:]
    assert (await api("GET", "/jobs/crm/staged"))[1]["items"] == []


@pytest.mark.parametrize("ids", [["1"], [True], "1", {"id": 1}, [1.5]])
async def test_staged_ids_must_be_a_list_of_integers(
    api: Api, crm: dict[str, Any], ids: Any
) -> None:
    status, body = await api("POST", "/jobs/crm/staged/approve", json={"ids": ids})
    assert status == 400
    assert "'ids'" in message(body)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"decision": "maybe"}, "'decision'"),
        ({"after": "x"}, "'after'"),
        ({"limit": "0"}, "'limit'"),
        ({"limit": "1001"}, "'limit'"),
    ],
)
async def test_bad_staged_filters_are_refused(
    api: Api, crm: dict[str, Any], params: dict[str, str], named: str
) -> None:
    status, body = await api("GET", "/jobs/crm/staged", params=params)
    assert status == 400
    assert named in message(body)


# Cycles and status ------------------------------------------------------------------------------


async def test_cycles_are_listed_newest_first_in_pages(
    api: Api, relay: ApiRelay, crm: dict[str, Any]
) -> None:
    store = relay.store
    started = [await store.start_cycle("crm", CycleKind.INCREMENTAL, total=4) for _ in range(5)]
    await store.update_cycle(started[1].id, state=CycleState.FAILED, error="agent gone")
    newest_first = [c.id for c in reversed(started)]

    pages: list[list[str]] = []
    params = {"limit": "2"}
    while True:
        status, body = await api("GET", "/jobs/crm/cycles", params=params)
        assert status == 200
        pages.append([c["id"] for c in page("Cycle", body)])
        if body["next"] is None:
            break
        params = {"limit": "2", "before": body["next"]}
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]

    # A page that ends with the oldest cycle has no next (not one to an empty page).
    four = (await api("GET", "/jobs/crm/cycles", params={"limit": "4"}))[1]
    rest = (await api("GET", "/jobs/crm/cycles", params={"limit": "1", "before": four["next"]}))[1]
    assert [c["id"] for c in page("Cycle", rest)] == newest_first[4:5]
    assert rest["next"] is None
    every = (await api("GET", "/jobs/crm/cycles", params={"limit": "5"}))[1]
    assert (len(page("Cycle", every)), every["next"]) == (5, None)

    failed = (await api("GET", "/jobs/crm/cycles", params={"state": "failed"}))[1]
    [cycle] = page("Cycle", failed)
    assert (cycle["id"], cycle["state"], cycle["error"]) == (started[1].id, "failed", "agent gone")
    assert cycle["finished_at"] is not None and cycle["duration_seconds"] >= 0
    assert (cycle["kind"], cycle["total"], cycle["done"], cycle["counts"]) == (
        "incremental",
        4,
        0,
        {},
    )


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"state": "sleeping"}, "'state'"),
        ({"before": "no-such-cycle"}, "'before'"),
        ({"limit": "0"}, "'limit'"),
    ],
)
async def test_bad_cycle_filters_are_refused(
    api: Api, crm: dict[str, Any], params: dict[str, str], named: str
) -> None:
    status, body = await api("GET", "/jobs/crm/cycles", params=params)
    assert status == 400
    assert named in message(body)


async def linked_ada(store: Store) -> str:
    """A user linked by job crm, with its deletion staged, in an initial cycle at 4/10."""
    ada = await store.create_entry(EntryKind.USER, {"userName": "ada", "department": "Sales"})
    cycle = await store.start_cycle("crm", CycleKind.INITIAL, total=10)
    shadow = Shadow("crm", EntryKind.USER, ada.id, "anchor-ada", {"userName": "ada"}, ada.version)
    staged = StagedOperation(
        0, "crm", cycle.id, EntryKind.USER, ada.id, "anchor-ada", "delete", "gone", "ada", 1.0
    )
    await store.record_batch(
        CycleWrite(job="crm", cycle=cycle.id, done=4, shadows=(shadow,), staged=(staged,))
    )
    await store.update_job("crm", state=JobState.RUNNING)
    return ada.id


async def test_the_status_shows_progress_backlog_and_staged(
    api: Api, relay: ApiRelay, crm: dict[str, Any]
) -> None:
    await linked_ada(relay.store)
    status, body = await api("GET", "/jobs/crm/status")
    assert status == 200
    conforms("JobStatus", body)
    assert (body["state"], body["summary"], body["staged"]) == (
        "running",
        "running, waiting for approval",
        1,
    )
    current = body["current"]
    assert (current["kind"], current["done"], current["total"]) == ("initial", 4, 10)
    assert current["rate"] > 0 and current["eta_seconds"] > 0
    assert (body["last"], body["shadows"], body["behind"]) == (None, 1, 1)
    assert body["progress"] is None  # the engine runs nothing here


async def test_where_a_user_stands(api: Api, relay: ApiRelay, crm: dict[str, Any]) -> None:
    ada = await linked_ada(relay.store)
    status, body = await api("GET", "/jobs/crm/where", params={"entry": "ada"})
    assert status == 200
    found = conforms("Whereabouts", body)
    assert (found["entry_id"], found["name"], found["in_scope"], found["state"]) == (
        ada,
        "ada",
        True,
        "linked",
    )
    assert found["shadow"]["anchor"] == "anchor-ada"
    assert found["staged"]["action"] == "delete"
    assert found["in_flight_since"] is None

    nobody = (await api("GET", "/jobs/crm/where", params={"entry": "Nobody", "kind": "group"}))[1]
    conforms("Whereabouts", nobody)
    assert (nobody["kind"], nobody["in_directory"], nobody["entry_id"]) == ("group", False, None)


async def test_where_says_why_a_user_is_out_of_scope(api: Api, relay: ApiRelay) -> None:
    sales_only = JOB + (
        '\n[[users.filters]]\nname = "Sales"\n'
        'clauses = [{ attribute = "department", operator = "EQUALS", value = "Sales" }]\n'
    )
    assert (await api("POST", "/jobs", json={"spec": sales_only}))[0] == 201
    await relay.store.create_entry(EntryKind.USER, {"userName": "bob", "department": "Support"})
    body = (await api("GET", "/jobs/crm/where", params={"entry": "bob"}))[1]
    assert conforms("Whereabouts", body)["in_scope"] is False
    assert "Sales" in body["scope_reason"]


@pytest.mark.parametrize(
    ("params", "named"), [({}, "'entry'"), ({"entry": "ada", "kind": "robot"}, "'kind'")]
)
async def test_where_needs_an_entry_and_a_kind(
    api: Api, crm: dict[str, Any], params: dict[str, str], named: str
) -> None:
    status, body = await api("GET", "/jobs/crm/where", params=params)
    assert status == 400
    assert named in message(body)


# Roles and unknown jobs ----------------------------------------------------------------------

CHANGES = [
    ("POST", "/jobs", {"spec": JOB.replace('"crm"\ntarget', '"other"\ntarget')}),
    ("PUT", "/jobs/crm", {"spec": JOB}),
    ("DELETE", "/jobs/crm", None),
    ("POST", "/jobs/crm/start", None),
    ("POST", "/jobs/crm/pause", None),
    ("POST", "/jobs/crm/resume", None),
    ("POST", "/jobs/crm/restart", None),
    ("POST", "/jobs/crm/staged/approve", {}),
    ("POST", "/jobs/crm/staged/reject", {}),
    ("POST", "/jobs/crm/provision", {"entry": "ada"}),
    ("POST", "/jobs/crm/dry-run", {}),
    ("POST", "/jobs/crm/reconcile", None),
]
READS = [
    "/jobs",
    "/jobs/crm",
    "/jobs/crm/status",
    "/jobs/crm/cycles",
    "/jobs/crm/staged",
    "/jobs/crm/where?entry=ada",
    "/jobs/crm/logs",
    "/logs",
]


async def test_a_viewer_reads_but_cannot_change(
    api: Api, relay: ApiRelay, crm: dict[str, Any]
) -> None:
    for path in READS:
        status, body = await api("GET", path, token=relay.viewer_token)
        assert status == 200, (path, body)
    for method, path, json in CHANGES:
        status, body = await api(method, path, token=relay.viewer_token, json=json)
        assert status == 403, (method, path, body)
        assert conforms("Error", body)["error"]["code"] == "forbidden"
    assert (await api("GET", "/jobs/crm"))[1] == crm
    assert len((await api("GET", "/jobs"))[1]["items"]) == 1


async def test_every_job_route_answers_404_for_an_unknown_job(api: Api) -> None:
    routes: list[tuple[str, str, dict[str, str] | None]] = [
        ("GET", path.replace("crm", "nope"), None) for path in READS if "crm" in path
    ]
    routes += [(m, p.replace("crm", "nope"), j) for m, p, j in CHANGES if "crm" in p]
    for method, path, json in routes:
        status, body = await api(method, path, json=json)
        assert status == 404, (method, path, body)
        assert "'nope'" in message(body), (method, path, body)
