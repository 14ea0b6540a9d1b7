"""Provisioning jobs: define them, steer them, and see how far they are and why.

Changes go through :mod:`relay.engine.control` (the same rules whoever asks) and then
:meth:`~relay.engine.engine.Engine.notice`, so this relay's engine acts on them at once.
What only a running engine can do (provision one object now, a dry run, a reconcile) is
asked of this relay's engine directly; a call that takes longer than
:data:`ENGINE_TIMEOUT` is cancelled and answered with 503.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar, cast

from aiohttp import web

from relay.api import job_json as views
from relay.api.exceptions import Conflict, InvalidRequest, Unavailable
from relay.api.routes import (
    Handler,
    Param,
    Route,
    field_enum,
    field_text,
    json_response,
    limit_param,
    page_of,
    path_param,
    query_enum,
    query_limit,
    query_text,
    read_json,
    ref,
)
from relay.engine import control
from relay.engine import engine as engines
from relay.engine import status as statuses
from relay.engine.exceptions import EngineError, TargetUnavailable
from relay.exceptions import NotFound as StoreNotFound
from relay.keys import ENGINE, STORE
from relay.store.base import ApiRole, EntryKind, Store
from relay.store.engine_records import CycleState, JobRecord, JobState, StagedDecision

T = TypeVar("T")

#: Seconds provisioning on demand and a dry run may take before they are cancelled and
#: the API answers 503 (a dry run reads the whole directory and the job's shadows).
ENGINE_TIMEOUT = 60.0
#: Planned actions a dry run lists when the body names no ``limit``.
DRY_RUN_LIMIT = engines.DRY_RUN_LIMIT

_STEERED = {
    control.Steer.START: "started",
    control.Steer.PAUSE: "paused",
    control.Steer.RESUME: "resumed",
    control.Steer.RESTART: "restarted: a fresh initial cycle runs, reusing existing links",
}


# Reading requests ---------------------------------------------------------------------------


def _name(request: web.Request) -> str:
    return request.match_info["name"]


async def _job(request: web.Request, record: JobRecord) -> dict[str, Any]:
    return await views.job_json(
        request.config_dict[STORE], request.config_dict[ENGINE], record, detail=True
    )


#: Staged deprovision ids are the store's 64-bit row ids.
MAX_ID = 2**63 - 1


def _ids(body: Mapping[str, Any]) -> list[int] | None:
    ids = body.get("ids")
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= MAX_ID for i in ids
    ):
        raise InvalidRequest(
            f"'ids' must be null or a list of staged deprovision ids (integers 1 to {MAX_ID})"
        )
    return ids


def _whole_number(body: Mapping[str, Any], name: str, *, default: int, maximum: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidRequest(f"{name!r} must be a whole number from 1 to {maximum}")
    return value


async def _engine_call(work: Awaitable[T], what: str) -> T:
    """Wait for the engine, translating what it cannot do into the API's errors: a target
    that cannot be reached or a wait past :data:`ENGINE_TIMEOUT` is 503, anything else the
    engine refuses is 409 with its message."""
    try:
        return await asyncio.wait_for(work, ENGINE_TIMEOUT)
    except TimeoutError as exc:
        raise Unavailable(f"the engine did not {what} within {ENGINE_TIMEOUT:g} s") from exc
    except TargetUnavailable as exc:
        raise Unavailable(str(exc)) from exc
    except EngineError as exc:
        raise Conflict(str(exc)) from exc


# Defining jobs ------------------------------------------------------------------------------


async def _list_jobs(request: web.Request) -> web.Response:
    store, engine = request.config_dict[STORE], request.config_dict[ENGINE]
    staged = await store.staged_counts(StagedDecision.PENDING)
    items = [
        await views.job_json(store, engine, r, detail=False, staged=staged.get(r.name, 0))
        for r in await store.list_jobs()
    ]
    return json_response({"items": items, "next": None})


async def _create_job(request: web.Request) -> web.Response:
    body = await read_json(request)
    spec = cast(str, field_text(body, "spec"))
    record = await control.create(
        request.config_dict[STORE], spec, field_text(body, "name", required=False)
    )
    return json_response(await _job(request, record), status=201)


async def _get_job(request: web.Request) -> web.Response:
    record = await request.config_dict[STORE].get_job(_name(request))
    return json_response(await _job(request, record))


async def _update_job(request: web.Request) -> web.Response:
    name = _name(request)
    body = await read_json(request)
    spec = cast(str, field_text(body, "spec"))
    record = await control.update(request.config_dict[STORE], name, spec)
    request.config_dict[ENGINE].notice(name)
    return json_response(await _job(request, record))


async def _delete_job(request: web.Request) -> web.Response:
    await control.delete(request.config_dict[STORE], _name(request))
    request.config_dict[ENGINE].notice()
    return web.Response(status=204)


def _steering(command: control.Steer) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        name = _name(request)
        before, record = await control.steer(request.config_dict[STORE], name, command)
        unchanged = command in (control.Steer.START, control.Steer.RESUME) and (
            before is JobState.RUNNING
        )
        if unchanged:
            message = f"job {name!r} is already running"
        else:
            request.config_dict[ENGINE].notice(name)
            message = f"job {name!r} {_STEERED[command]} (state {record.state.value})"
        return json_response(
            {
                "job": await _job(request, record),
                "changed": not unchanged,
                "message": message,
            }
        )

    handler.__name__ = handler.__qualname__ = f"_{command.value}_job"
    return handler


# Status ---------------------------------------------------------------------------------------


async def _job_status(request: web.Request) -> web.Response:
    name = _name(request)
    status = await statuses.job_status(request.config_dict[STORE], name)
    live = await request.config_dict[ENGINE].progress(name)
    return json_response(views.status_json(status, live, time.time()))


async def _list_cycles(request: web.Request) -> web.Response:
    name = _name(request)
    store: Store = request.config_dict[STORE]
    state = query_enum(request, "state", CycleState)
    limit = query_limit(request)
    before = query_text(request, "before")
    await store.get_job(name)
    try:
        # One more than the page: whether a next page has anything on it.
        found = await store.list_cycles(name, state=state, limit=limit + 1, before=before)
    except StoreNotFound as exc:
        raise InvalidRequest(f"query parameter 'before': {exc}") from exc
    cycles = found[:limit]
    now = time.time()
    return json_response(
        {
            "items": [views.cycle_json(c, now) for c in cycles],
            "next": cycles[-1].id if len(found) > limit else None,
        }
    )


async def _where(request: web.Request) -> web.Response:
    name = _name(request)
    entry = query_text(request, "entry")
    if entry is None:
        raise InvalidRequest("query parameter 'entry' (an id, userName or displayName) is needed")
    kind = query_enum(request, "kind", EntryKind) or EntryKind.USER
    found = await statuses.where(
        request.config_dict[STORE],
        name,
        kind,
        entry,
        in_flight=request.config_dict[ENGINE].in_flight_since,
    )
    return json_response(views.where_json(found))


# Staged deprovisions --------------------------------------------------------------------------


async def _list_staged(request: web.Request) -> web.Response:
    name = _name(request)
    decision = query_enum(request, "decision", StagedDecision) or StagedDecision.PENDING
    limit = query_limit(request)
    after_text = query_text(request, "after", max_length=20)
    try:
        after = int(after_text) if after_text is not None else 0
    except ValueError:
        raise InvalidRequest(f"query parameter 'after' must be an id, not {after_text!r}") from None
    store: Store = request.config_dict[STORE]
    await store.get_job(name)
    # One more than asked for: ``next`` only when something follows the page.
    staged = await store.list_staged(name, decision=decision, after_id=after, limit=limit + 1)
    page = staged[:limit]
    return json_response(
        {
            "items": [views.staged_json(s) for s in page],
            "next": str(page[-1].id) if len(staged) > limit else None,
        }
    )


def _deciding(decision: StagedDecision) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        name = _name(request)
        ids = _ids(await read_json(request))
        count = await control.decide(request.config_dict[STORE], name, decision, ids)
        request.config_dict[ENGINE].notice(name)
        return json_response({"count": count})

    verb = "approve" if decision is StagedDecision.APPROVED else "reject"
    handler.__name__ = handler.__qualname__ = f"_{verb}_staged"
    return handler


# The engine -----------------------------------------------------------------------------------


async def _provision(request: web.Request) -> web.Response:
    name = _name(request)
    body = await read_json(request)
    kind = field_enum(body, "kind", EntryKind, default=EntryKind.USER)
    entry = cast(str, field_text(body, "entry"))
    await request.config_dict[STORE].get_job(name)
    outcome = await _engine_call(
        request.config_dict[ENGINE].provision(name, kind, entry), "provision it"
    )
    return json_response(outcome)


async def _dry_run(request: web.Request) -> web.Response:
    name = _name(request)
    limit = _whole_number(await read_json(request), "limit", default=DRY_RUN_LIMIT, maximum=1000)
    await request.config_dict[STORE].get_job(name)
    plan = await _engine_call(request.config_dict[ENGINE].dry_run(name, limit), "plan a cycle")
    return json_response(plan)


async def _reconcile(request: web.Request) -> web.Response:
    name = _name(request)
    await request.config_dict[STORE].get_job(name)
    try:
        request.config_dict[ENGINE].reconcile_now(name)
    except EngineError as exc:
        raise Conflict(str(exc)) from exc
    return json_response({"requested": True}, status=202)


SCHEMAS = views.SCHEMAS
_KIND = {"type": "string", "enum": [k.value for k in EntryKind]}

# Routes -------------------------------------------------------------------------------------

_NAME = path_param("name", "the job's name")
_SPEC = {"type": "string", "minLength": 1, "description": "a job file (TOML)"}


def _steer_route(command: control.Steer, summary: str) -> Route:
    return Route(
        "POST",
        f"/jobs/{{name}}/{command.value}",
        _steering(command),
        summary,
        "jobs",
        role=ApiRole.ADMIN,
        params=(_NAME,),
        response=ref("JobSteered"),
    )


def _decide_route(decision: StagedDecision, verb: str, summary: str) -> Route:
    return Route(
        "POST",
        f"/jobs/{{name}}/staged/{verb}",
        _deciding(decision),
        summary,
        "jobs",
        role=ApiRole.ADMIN,
        params=(_NAME,),
        body={
            "type": "object",
            "properties": {
                "ids": {
                    "type": ["array", "null"],
                    "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                    "description": "the staged deprovisions' ids; null or absent: all pending",
                }
            },
        },
        response=ref("StagedDecided"),
    )


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/jobs",
        _list_jobs,
        "Every job, by name (next is always null)",
        "jobs",
        response=page_of(ref("Job")),
    ),
    Route(
        "POST",
        "/jobs",
        _create_job,
        "Define a job from a job file; it does nothing until it is started",
        "jobs",
        role=ApiRole.ADMIN,
        body={
            "type": "object",
            "required": ["spec"],
            "properties": {
                "spec": _SPEC,
                "name": {
                    "type": "string",
                    "minLength": 1,
                    "description": "the job's name; wins over the file's",
                },
            },
        },
        response=ref("JobDetail"),
        status=201,
        errors=(409,),
    ),
    Route(
        "GET",
        "/jobs/{name}",
        _get_job,
        "One job with its file",
        "jobs",
        params=(_NAME,),
        response=ref("JobDetail"),
    ),
    Route(
        "PUT",
        "/jobs/{name}",
        _update_job,
        "Replace a job's file; a running job goes on with the new one",
        "jobs",
        role=ApiRole.ADMIN,
        params=(_NAME,),
        body={"type": "object", "required": ["spec"], "properties": {"spec": _SPEC}},
        response=ref("JobDetail"),
    ),
    Route(
        "DELETE",
        "/jobs/{name}",
        _delete_job,
        "Delete a job; the accounts it made in the target are left as they are",
        "jobs",
        role=ApiRole.ADMIN,
        params=(_NAME,),
        status=204,
    ),
    _steer_route(control.Steer.START, "Start a job: an initial cycle, then following changes"),
    _steer_route(control.Steer.PAUSE, "Pause a job; it resumes where it stopped"),
    _steer_route(control.Steer.RESUME, "Resume a paused or quarantined job"),
    _steer_route(control.Steer.RESTART, "Start over with a fresh initial cycle (links are kept)"),
    Route(
        "GET",
        "/jobs/{name}/status",
        _job_status,
        "A job's state, current and last cycle, backlog and failures",
        "jobs",
        params=(_NAME,),
        response=ref("JobStatus"),
    ),
    Route(
        "GET",
        "/jobs/{name}/cycles",
        _list_cycles,
        "A job's cycles, newest first",
        "jobs",
        params=(
            _NAME,
            Param(
                "state",
                "query",
                {"type": "string", "enum": [s.value for s in CycleState]},
                "only cycles in this state",
            ),
            Param(
                "before",
                "query",
                {"type": "string", "minLength": 1, "maxLength": 1000},
                "cycles started before this cycle id: the previous page's next",
            ),
            limit_param(),
        ),
        response=page_of(ref("Cycle"), "the cycle id to pass as before"),
    ),
    Route(
        "GET",
        "/jobs/{name}/where",
        _where,
        "Where one user or group stands in a job, and why",
        "jobs",
        params=(
            _NAME,
            Param(
                "entry",
                "query",
                {"type": "string", "minLength": 1, "maxLength": 1000},
                "the id, userName or displayName",
                required=True,
            ),
            Param("kind", "query", {**_KIND, "default": "user"}, "user (default) or group"),
        ),
        response=ref("Whereabouts"),
    ),
    Route(
        "GET",
        "/jobs/{name}/staged",
        _list_staged,
        "Deprovisions held by the deletion guard, oldest first",
        "jobs",
        params=(
            _NAME,
            Param(
                "decision",
                "query",
                {"type": "string", "enum": [d.value for d in StagedDecision], "default": "pending"},
                "pending (default), approved or rejected",
            ),
            Param(
                "after",
                "query",
                {"type": "integer", "minimum": 0},
                "ids above this one: the previous page's next",
            ),
            limit_param(),
        ),
        response=page_of(ref("StagedDeprovision"), "the id to pass as after"),
    ),
    _decide_route(StagedDecision.APPROVED, "approve", "Carry out staged deprovisions"),
    _decide_route(
        StagedDecision.REJECTED,
        "reject",
        "Drop staged deprovisions; the accounts stay as they are",
    ),
    Route(
        "POST",
        "/jobs/{name}/provision",
        _provision,
        "Provision one user or group now and explain each step",
        "jobs",
        role=ApiRole.ADMIN,
        params=(_NAME,),
        body={
            "type": "object",
            "required": ["entry"],
            "properties": {
                "kind": {**_KIND, "default": "user"},
                "entry": {
                    "type": "string",
                    "minLength": 1,
                    "description": "the id, userName or displayName",
                },
            },
        },
        response=ref("ProvisionOutcome"),
        errors=(409,),
    ),
    Route(
        "POST",
        "/jobs/{name}/dry-run",
        _dry_run,
        "What a full cycle would do now, writing nothing",
        "jobs",
        role=ApiRole.ADMIN,
        params=(_NAME,),
        body={
            "type": "object",
            "properties": {
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 1000,
                    "default": DRY_RUN_LIMIT,
                    "description": "planned changes listed",
                },
            },
        },
        response=ref("DryRun"),
        errors=(409,),
    ),
    Route(
        "POST",
        "/jobs/{name}/reconcile",
        _reconcile,
        "Compare the target with the shadows now and repair drift (runs in the job)",
        "jobs",
        role=ApiRole.ADMIN,
        params=(_NAME,),
        response=ref("ReconcileRequested"),
        status=202,
        errors=(409,),
    ),
)
