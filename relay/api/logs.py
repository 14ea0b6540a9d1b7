"""Provisioning logs: one entry per action on one object, newest first, filtered and paged.

Pages go back in time by id: a page with older entries after it has its last entry's id as
``next``, passed back as ``before``, so entries written while someone reads do not shift
the pages.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from relay.api.exceptions import InvalidRequest
from relay.api.routes import (
    Param,
    Route,
    iso,
    json_response,
    limit_param,
    page_of,
    path_param,
    query_enum,
    query_int,
    query_limit,
    query_text,
    query_time,
    ref,
)
from relay.keys import STORE
from relay.store.engine_records import LogAction, LogEntry, LogQuery, LogStatus

#: The largest log id ``before`` may name (the stores' ids are 64-bit).
MAX_LOG_ID = 2**63 - 1


def log_json(entry: LogEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso(entry.at),
        "job": entry.job,
        "cycle": entry.cycle,
        "kind": entry.kind.value,
        "entry_id": entry.entry_id,
        "source_name": entry.source_name,
        "anchor": entry.anchor,
        "action": entry.action.value,
        "status": entry.status.value,
        "reason": entry.reason,
        "error_class": entry.error_class,
        "changes": entry.changes,
        "steps": entry.steps,
        "duration_ms": entry.duration_ms,
    }


def _query(request: web.Request, job: str | None) -> LogQuery:
    """The filters of a logs request; 400 for a value that is not one."""
    since = query_time(request, "since")
    until = query_time(request, "until")
    if since is not None and until is not None and since > until:
        raise InvalidRequest("query parameter 'since' is after 'until'")
    before = (
        query_int(request, "before", default=0, minimum=1, maximum=MAX_LOG_ID)
        if "before" in request.query
        else None
    )
    return LogQuery(
        job=job,
        entry=query_text(request, "entry"),
        cycle=query_text(request, "cycle"),
        action=query_enum(request, "action", LogAction),
        status=query_enum(request, "status", LogStatus),
        since=since,
        until=until,
        before_id=before,
        limit=query_limit(request),
    )


async def _page(request: web.Request, query: LogQuery) -> web.Response:
    # One entry more than the page tells whether there is a next page: a page that ends
    # with the last entry has no next, rather than one that leads to an empty page.
    found = await request.config_dict[STORE].query_logs(replace(query, limit=query.limit + 1))
    entries = found[: query.limit]
    more = len(found) > query.limit and entries[-1].id is not None
    return json_response(
        {
            "items": [log_json(e) for e in entries],
            "next": str(entries[-1].id) if more else None,
        }
    )


async def _list_logs(request: web.Request) -> web.Response:
    return await _page(request, _query(request, query_text(request, "job")))


async def _list_job_logs(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    await request.config_dict[STORE].get_job(name)
    return await _page(request, _query(request, name))


_TEXT = {"type": "string", "minLength": 1, "maxLength": 1000}
_STAMP = {"type": "string", "format": "date-time"}
FILTERS = (
    Param(
        "entry",
        "query",
        _TEXT,
        "a user or group: its id, or its userName / displayName (exact, any case)",
    ),
    Param("cycle", "query", _TEXT, "a cycle id"),
    Param("action", "query", {"type": "string", "enum": [a.value for a in LogAction]}, "action"),
    Param("status", "query", {"type": "string", "enum": [s.value for s in LogStatus]}, "status"),
    Param("since", "query", _STAMP, "entries at or after this ISO 8601 time"),
    Param("until", "query", _STAMP, "entries before this ISO 8601 time (not after since)"),
    Param(
        "before",
        "query",
        {"type": "integer", "minimum": 1, "maximum": MAX_LOG_ID},
        "entries with an id below this one: the previous page's next",
    ),
    limit_param(),
)

SCHEMAS: dict[str, dict[str, Any]] = {
    "LogEntry": {
        "type": "object",
        "required": [
            "id",
            "at",
            "job",
            "cycle",
            "kind",
            "entry_id",
            "source_name",
            "anchor",
            "action",
            "status",
            "reason",
            "error_class",
            "changes",
            "steps",
            "duration_ms",
        ],
        "properties": {
            "id": {"type": "integer"},
            "at": _STAMP,
            "job": {"type": "string"},
            "cycle": {"type": "string", "description": "the cycle's id"},
            "kind": {"type": "string", "enum": ["user", "group"]},
            "entry_id": {
                "type": "string",
                "description": "the directory entry's id; empty for a target object no"
                " entry matched (reconcile)",
            },
            "source_name": {"type": "string", "description": "userName / displayName"},
            "anchor": {"type": ["string", "null"], "description": "the target's own id"},
            "action": {"type": "string", "enum": [a.value for a in LogAction]},
            "status": {"type": "string", "enum": [s.value for s in LogStatus]},
            "reason": {"type": ["string", "null"]},
            "error_class": {
                "type": ["string", "null"],
                "description": "the class of a failure (retryable, invalid_data...)",
            },
            "changes": {
                "type": "object",
                "description": "each written target attribute: [old, new]",
                "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2},
            },
            "steps": {"type": "array", "items": {"$ref": "#/components/schemas/Step"}},
            "duration_ms": {"type": "number"},
        },
    },
    "Step": {
        "type": "object",
        "description": "one step the engine took for an object (provisioning on demand)",
        "required": ["step", "outcome"],
        "properties": {
            "step": {"type": "string"},
            "outcome": {"type": "string"},
            "detail": {"description": "what the step found (text or JSON)"},
        },
    },
}

ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/logs",
        _list_logs,
        "Provisioning logs of every job, newest first",
        "logs",
        params=(Param("job", "query", _TEXT, "a job's name"), *FILTERS),
        response=page_of(ref("LogEntry"), "the id to pass as before"),
    ),
    Route(
        "GET",
        "/jobs/{name}/logs",
        _list_job_logs,
        "A job's provisioning logs, newest first",
        "logs",
        params=(path_param("name", "the job's name"), *FILTERS),
        response=page_of(ref("LogEntry"), "the id to pass as before"),
    ),
)
