"""The directory as the relay holds it: users and groups, read only (identity providers
write them through SCIM or an import; assignments to jobs are in
:mod:`relay.api.assignments`).

Lists page by id (``after`` is the last id of the previous page), so a page costs the same
however deep into the directory it is, and an entry added meanwhile is never skipped or
shown twice. ``filter`` takes the SCIM filter syntax of ``/scim/v2`` with the same
attribute names, so a filter tried in the one works in the other.
"""

from __future__ import annotations

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
    query_limit,
    query_text,
    ref,
)
from relay.directory.errors import ScimError
from relay.directory.filter_parser import MAX_FILTER_LENGTH, parse_filter
from relay.directory.query import And, AttributePath, Compare, CompareOp, Filter, Query
from relay.directory.schemas import ResourceType
from relay.keys import SCIM_DIRECTORY, STORE
from relay.store.base import Entry, EntryKind

_NAMES = {EntryKind.USER: "userName", EntryKind.GROUP: "displayName"}
_TYPES = {EntryKind.USER: "User", EntryKind.GROUP: "Group"}


def entry_json(entry: Entry) -> dict[str, Any]:
    active = entry.resource.get("active")
    return {
        "id": entry.id,
        "kind": entry.kind.value,
        "name": entry.resource.get(_NAMES[entry.kind]),
        "external_id": entry.resource.get("externalId"),
        "active": active if isinstance(active, bool) else None,
        "version": entry.version,
        "created_at": iso(entry.created_at),
        "updated_at": iso(entry.modified_at),
        "resource": entry.resource,
    }


def _resource_type(request: web.Request, kind: EntryKind) -> ResourceType:
    types = request.config_dict[SCIM_DIRECTORY].resource_types
    return next(t for t in types if t.name == _TYPES[kind])


async def _entries(request: web.Request, kind: EntryKind) -> web.Response:
    limit = query_limit(request)
    text = query_text(request, "filter", max_length=MAX_FILTER_LENGTH)
    after = query_text(request, "after")
    clauses: list[Filter] = []
    if text is not None:
        try:
            clauses.append(parse_filter(text, _resource_type(request, kind)))
        except ScimError as exc:
            raise InvalidRequest(f"the filter is not valid: {exc.detail}") from exc
    if after is not None:
        clauses.append(Compare(AttributePath("id"), CompareOp.GT, after))
    condition: Filter | None = None
    for clause in clauses:
        condition = clause if condition is None else And(condition, clause)
    query = Query(filter=condition, sort_by=AttributePath("id"), count=limit)
    page, total = await request.config_dict[STORE].query_entries(kind, query)
    more = total > len(page)
    return json_response(
        {"items": [entry_json(e) for e in page], "next": page[-1].id if more else None}
    )


async def _list_users(request: web.Request) -> web.Response:
    return await _entries(request, EntryKind.USER)


async def _list_groups(request: web.Request) -> web.Response:
    return await _entries(request, EntryKind.GROUP)


async def _get_user(request: web.Request) -> web.Response:
    entry = await request.config_dict[STORE].get_entry(EntryKind.USER, request.match_info["id"])
    return json_response(entry_json(entry))


async def _get_group(request: web.Request) -> web.Response:
    store = request.config_dict[STORE]
    entry = await store.get_entry(EntryKind.GROUP, request.match_info["id"])
    members = await store.group_members(entry.id)
    return json_response(
        {**entry_json(entry), "members": [{"id": m.id, "kind": m.kind.value} for m in members]}
    )


_ENTRY: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "kind",
        "name",
        "external_id",
        "active",
        "version",
        "created_at",
        "updated_at",
        "resource",
    ],
    "properties": {
        "id": {"type": "string"},
        "kind": {"type": "string", "enum": ["user", "group"]},
        "name": {
            "type": ["string", "null"],
            "description": "the userName of a user, the displayName of a group",
        },
        "external_id": {"type": ["string", "null"]},
        "active": {"type": ["boolean", "null"], "description": "null when not given"},
        "version": {"type": "integer", "minimum": 1},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "resource": {
            "type": "object",
            "description": "the SCIM resource as stored, without id, meta and members",
        },
    },
}
_KIND = {"type": "string", "enum": ["user", "group"]}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Entry": _ENTRY,
    "GroupEntry": {
        **_ENTRY,
        "required": [*_ENTRY["required"], "members"],
        "properties": {
            **_ENTRY["properties"],
            "members": {
                "type": "array",
                "description": "the group's direct members",
                "items": {
                    "type": "object",
                    "required": ["id", "kind"],
                    "properties": {"id": {"type": "string"}, "kind": _KIND},
                },
            },
        },
    },
}

_LIST_PARAMS = (
    Param(
        "filter",
        "query",
        {"type": "string", "minLength": 1, "maxLength": MAX_FILTER_LENGTH},
        'a SCIM filter, e.g. userName sw "a" and active eq true',
    ),
    Param(
        "after",
        "query",
        {"type": "string", "minLength": 1, "maxLength": 1000},
        "the next cursor of the previous page (the last id it showed)",
    ),
    limit_param(),
)
_ID = path_param("id", "the entry's id")

ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/directory/users",
        _list_users,
        "Directory users by id, optionally filtered",
        "directory",
        params=_LIST_PARAMS,
        response=page_of(ref("Entry"), "the last id"),
    ),
    Route(
        "GET",
        "/directory/users/{id}",
        _get_user,
        "One directory user",
        "directory",
        params=(_ID,),
        response=ref("Entry"),
    ),
    Route(
        "GET",
        "/directory/groups",
        _list_groups,
        "Directory groups by id, optionally filtered",
        "directory",
        params=_LIST_PARAMS,
        response=page_of(ref("Entry"), "the last id"),
    ),
    Route(
        "GET",
        "/directory/groups/{id}",
        _get_group,
        "One directory group with its direct members",
        "directory",
        params=(_ID,),
        response=ref("GroupEntry"),
    ),
)
