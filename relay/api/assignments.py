"""Which directory users and groups are assigned to a provisioning job, with their app role.

A job with ``scope = "assigned"`` provisions only these (a group's members through it); the
engine follows assignments through the directory's change log, so one made here is acted on
in the job's next incremental cycle. An entry is given by id or by its userName /
displayName, as ``hatchway job where`` takes it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from relay.api.exceptions import InvalidRequest, NotFound
from relay.api.routes import (
    Param,
    Route,
    json_response,
    limit_param,
    page_of,
    path_param,
    query_limit,
    query_text,
    read_json,
    ref,
)
from relay.engine.status import find_entry
from relay.keys import STORE
from relay.store.base import ApiRole, Assignment, EntryKind

#: Longest role name an assignment takes.
MAX_ROLE_LENGTH = 200
_KINDS = tuple(kind.value for kind in EntryKind)


def _assignment_json(assignment: Assignment) -> dict[str, Any]:
    return {
        "job": assignment.job,
        "kind": assignment.kind.value,
        "entry_id": assignment.entry_id,
        "role": assignment.role,
    }


def _cursor(assignment: Assignment) -> str:
    return f"{assignment.kind.value}/{assignment.entry_id}"


async def _list_assignments(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    limit = query_limit(request)
    after = query_text(request, "after")
    store = request.config_dict[STORE]
    await store.get_job(name)
    ordered = sorted(await store.assignments(name), key=_cursor)
    if after is not None:
        ordered = [a for a in ordered if _cursor(a) > after]
    page = ordered[:limit]
    more = len(ordered) > limit
    return json_response(
        {
            "items": [_assignment_json(a) for a in page],
            "next": _cursor(page[-1]) if more else None,
        }
    )


async def _assign_entry(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    body = await read_json(request)
    kind_text = body.get("kind")
    if kind_text not in _KINDS:
        raise InvalidRequest("the body needs 'kind': user or group")
    kind = EntryKind(kind_text)
    asked = body.get("entry")
    if not isinstance(asked, str) or not asked:
        raise InvalidRequest("the body needs 'entry': the id or name of a user or group")
    role = body.get("role")
    if role is not None and (not isinstance(role, str) or not role or len(role) > MAX_ROLE_LENGTH):
        raise InvalidRequest(f"'role' must be null or 1 to {MAX_ROLE_LENGTH} characters")
    store = request.config_dict[STORE]
    await store.get_job(name)
    entry = await find_entry(store, kind, asked)
    if entry is None:
        raise NotFound(f"no {kind.value} with the id or name {asked!r}")
    await store.assign(name, kind, entry.id, role=role)
    assignment = Assignment(job=name, kind=kind, entry_id=entry.id, role=role)
    return json_response(_assignment_json(assignment), status=201)


async def _unassign_entry(request: web.Request) -> web.Response:
    kind_text = request.match_info["kind"]
    if kind_text not in _KINDS:
        raise InvalidRequest(f"the kind must be user or group, not {kind_text!r}")
    await request.config_dict[STORE].unassign(
        request.match_info["name"], EntryKind(kind_text), request.match_info["entry_id"]
    )
    return web.Response(status=204)


_KIND = {"type": "string", "enum": list(_KINDS)}
_JOB = path_param("name", "the job's name")

SCHEMAS: dict[str, dict[str, Any]] = {
    "Assignment": {
        "type": "object",
        "required": ["job", "kind", "entry_id", "role"],
        "properties": {
            "job": {"type": "string"},
            "kind": _KIND,
            "entry_id": {"type": "string"},
            "role": {"type": ["string", "null"], "description": "the app role, if any"},
        },
    },
}

ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/jobs/{name}/assignments",
        _list_assignments,
        "The users and groups assigned to a job, by kind and id",
        "directory",
        params=(
            _JOB,
            Param(
                "after",
                "query",
                {"type": "string", "minLength": 1, "maxLength": 1000},
                "the next cursor of the previous page",
            ),
            limit_param(),
        ),
        response=page_of(ref("Assignment")),
    ),
    Route(
        "POST",
        "/jobs/{name}/assignments",
        _assign_entry,
        "Assign a user or group to a job (again: change its role)",
        "directory",
        role=ApiRole.ADMIN,
        params=(_JOB,),
        body={
            "type": "object",
            "required": ["kind", "entry"],
            "properties": {
                "kind": _KIND,
                "entry": {
                    "type": "string",
                    "minLength": 1,
                    "description": "the id, userName (users) or displayName (groups)",
                },
                "role": {
                    "type": ["string", "null"],
                    "minLength": 1,
                    "maxLength": MAX_ROLE_LENGTH,
                },
            },
        },
        response=ref("Assignment"),
        status=201,
    ),
    Route(
        "DELETE",
        "/jobs/{name}/assignments/{kind}/{entry_id}",
        _unassign_entry,
        "Take a user or group off a job",
        "directory",
        role=ApiRole.ADMIN,
        params=(
            _JOB,
            Param("kind", "path", _KIND, "user or group", required=True),
            path_param("entry_id", "the entry's id"),
        ),
        status=204,
    ),
)
