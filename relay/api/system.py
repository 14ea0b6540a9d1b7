"""The relay at a glance: who is calling, an overview for the dashboard's first page, and
the throughput of the last minutes.

The overview reads counts the store already keeps (agents, jobs, staged deprovisions,
directory totals) and the live throughput from the relay's metrics, so it costs a handful
of small queries however big the directory is.
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from relay.api.routes import Param, Route, iso, json_response, query_int, ref
from relay.directory.query import Query
from relay.keys import API_TOKEN, METRICS, STORE
from relay.store.base import EntryKind
from relay.store.engine_records import JobState, StagedDecision
from shared import __version__

#: Seconds the overview's ``operations_per_second`` averages over.
RATE_WINDOW = 60.0
#: Points a throughput series aims at; the step is the window divided by this, rounded up
#: to whole buckets of the throughput counter.
SERIES_POINTS = 60
MAX_MINUTES = 1440


async def _whoami(request: web.Request) -> web.Response:
    token = request[API_TOKEN]
    return json_response({"name": token.name, "role": token.role.value})


async def _overview(request: web.Request) -> web.Response:
    store = request.config_dict[STORE]
    agents = await store.list_agents()
    agent_states = [a.state for a in agents]
    jobs = await store.list_jobs()
    staged = await store.staged_counts(StagedDecision.PENDING)
    by_state = {state.value: 0 for state in JobState}
    waiting = 0
    for job in jobs:
        by_state[job.state.value] += 1
        # As the job's summary says it: a paused job waits for nobody.
        if job.state is not JobState.PAUSED and staged.get(job.name):
            waiting += 1
    _, users = await store.query_entries(EntryKind.USER, Query(count=0))
    _, groups = await store.query_entries(EntryKind.GROUP, Query(count=0))
    throughput = request.config_dict[METRICS].throughput
    return json_response(
        {
            "version": __version__,
            "agents": {
                "connected": agent_states.count("connected"),
                "registered": len(agents) - agent_states.count("revoked"),
                "revoked": agent_states.count("revoked"),
            },
            "jobs": {
                "total": len(jobs),
                "by_state": by_state,
                "waiting_for_approval": waiting,
                "quarantined": by_state[JobState.QUARANTINED.value],
            },
            "operations_per_second": throughput.rate(RATE_WINDOW),
            "directory": {"users": users, "groups": groups},
        }
    )


async def _throughput(request: web.Request) -> web.Response:
    minutes = query_int(request, "minutes", default=60, minimum=1, maximum=MAX_MINUTES)
    throughput = request.config_dict[METRICS].throughput
    buckets = math.ceil(minutes * 60 / SERIES_POINTS / throughput.resolution)
    step = int(buckets * throughput.resolution)
    series = throughput.series(minutes * 60.0, float(step))
    points = [
        {"at": iso(at), "succeeded": succeeded, "failed": failed}
        for at, succeeded, failed in series
    ]
    return json_response({"step_seconds": step, "points": points})


_COUNT = {"type": "integer", "minimum": 0}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Whoami": {
        "type": "object",
        "required": ["name", "role"],
        "properties": {
            "name": {"type": "string", "description": "the API token's name"},
            "role": {"type": "string", "enum": ["viewer", "admin"]},
        },
    },
    "Overview": {
        "type": "object",
        "required": ["version", "agents", "jobs", "operations_per_second", "directory"],
        "properties": {
            "version": {"type": "string", "description": "the relay's Hatchway version"},
            "agents": {
                "type": "object",
                "required": ["connected", "registered", "revoked"],
                "description": "registered counts every agent not revoked, connected or not",
                "properties": {"connected": _COUNT, "registered": _COUNT, "revoked": _COUNT},
            },
            "jobs": {
                "type": "object",
                "required": ["total", "by_state", "waiting_for_approval", "quarantined"],
                "properties": {
                    "total": _COUNT,
                    "by_state": {
                        "type": "object",
                        "description": "jobs in each state, every state named",
                        "additionalProperties": _COUNT,
                    },
                    "waiting_for_approval": {
                        **_COUNT,
                        "description": "jobs, not paused, with deprovisions staged",
                    },
                    "quarantined": _COUNT,
                },
            },
            "operations_per_second": {
                "type": "number",
                "minimum": 0,
                "description": f"operations finished per second over the last {RATE_WINDOW:g} s",
            },
            "directory": {
                "type": "object",
                "required": ["users", "groups"],
                "properties": {"users": _COUNT, "groups": _COUNT},
            },
        },
    },
    "Throughput": {
        "type": "object",
        "required": ["step_seconds", "points"],
        "properties": {
            "step_seconds": {"type": "integer", "minimum": 1},
            "points": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["at", "succeeded", "failed"],
                    "properties": {
                        "at": {"type": "string", "format": "date-time"},
                        "succeeded": _COUNT,
                        "failed": _COUNT,
                    },
                },
            },
        },
    },
}

ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/whoami",
        _whoami,
        "The name and role of the calling API token",
        "system",
        response=ref("Whoami"),
    ),
    Route(
        "GET",
        "/overview",
        _overview,
        "Counts of agents, jobs and directory entries, and the current throughput",
        "system",
        response=ref("Overview"),
    ),
    Route(
        "GET",
        "/throughput",
        _throughput,
        "Operations succeeded and failed per step over the last minutes",
        "system",
        params=(
            Param(
                "minutes",
                "query",
                {"type": "integer", "minimum": 1, "maximum": MAX_MINUTES, "default": 60},
                f"how far back (1 to {MAX_MINUTES} minutes, default 60)",
            ),
        ),
        response=ref("Throughput"),
    ),
)
