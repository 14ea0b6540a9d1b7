"""The SCIM operations on users and groups, over the store and without HTTP.

The aiohttp handlers and Bulk both call these, so a Bulk operation behaves exactly as the
same request sent alone. Store errors are translated here into RFC 7644 errors. Group
members are read from the store only when the answer includes them, so
``excludedAttributes=members`` costs nothing on a group of any size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from relay.directory.errors import (
    ScimError,
    invalid_filter,
    invalid_value,
    not_found,
    precondition_failed,
    uniqueness,
)
from relay.directory.filter_parser import parse_filter, resolve_path
from relay.directory.patch import apply_patch, needs_members, parse_operations
from relay.directory.query import Query
from relay.directory.resources import Projection, normalise, render
from relay.directory.schemas import LIST_RESPONSE_SCHEMA, ResourceType
from relay.directory.settings import ScimSettings
from relay.exceptions import (
    Conflict,
    InvalidEntry,
    InvalidQuery,
    NotFound,
    PreconditionFailed,
    UnknownMember,
)
from relay.store.base import Entry, EntryKind, MemberChange, Store

#: Times a PATCH without If-Match is retried when another write changed the entry between
#: its read and its write (each retry re-reads and re-applies the operations).
PATCH_ATTEMPTS = 5

_KINDS = {"User": EntryKind.USER, "Group": EntryKind.GROUP}


@dataclass(frozen=True, slots=True)
class Outcome:
    """A resource answer: the rendered body (projected) and the entry's version."""

    status: int
    body: dict[str, Any]
    version: int
    location: str


@dataclass(frozen=True, slots=True)
class SearchRequest:
    filter: str | None = None
    sort_by: str | None = None
    sort_order: str | None = None
    start_index: int | None = None
    count: int | None = None
    attributes: str | None = None
    excluded_attributes: str | None = None


class Directory:
    def __init__(
        self, store: Store, settings: ScimSettings, resource_types: Sequence[ResourceType]
    ) -> None:
        self.store = store
        self.settings = settings
        self.resource_types = tuple(resource_types)

    async def create(
        self, resource_type: ResourceType, body: Any, base_url: str, projection: Projection
    ) -> Outcome:
        written = normalise(resource_type, body)
        kind = _KINDS[resource_type.name]
        try:
            entry = await self.store.create_entry(
                kind, written.resource, members=written.members or ()
            )
        except Conflict as exc:
            raise uniqueness(_conflict_detail(written.resource)) from exc
        except UnknownMember as exc:
            raise invalid_value(f"a member does not exist: {exc}") from exc
        except InvalidEntry as exc:
            raise invalid_value(str(exc)) from exc
        return await self._outcome(resource_type, entry, base_url, projection, status=201)

    async def get(
        self, resource_type: ResourceType, entry_id: str, base_url: str, projection: Projection
    ) -> Outcome:
        entry = await self._entry(resource_type, entry_id)
        return await self._outcome(resource_type, entry, base_url, projection)

    async def replace(
        self,
        resource_type: ResourceType,
        entry_id: str,
        body: Any,
        base_url: str,
        projection: Projection,
        *,
        if_version: int | None = None,
    ) -> Outcome:
        written = normalise(resource_type, body)
        members = None if written.members is None else MemberChange(replace=written.members)
        entry = await self._update(
            resource_type, entry_id, written.resource, members, if_version=if_version
        )
        return await self._outcome(resource_type, entry, base_url, projection)

    async def patch(
        self,
        resource_type: ResourceType,
        entry_id: str,
        body: Any,
        base_url: str,
        projection: Projection,
        *,
        if_version: int | None = None,
    ) -> Outcome:
        operations = parse_operations(resource_type, body)
        for attempt in range(PATCH_ATTEMPTS):
            entry = await self._entry(resource_type, entry_id)
            if if_version is not None and entry.version != if_version:
                raise precondition_failed(
                    f"the {resource_type.name} is at version {entry.version}, not {if_version}"
                )
            current = None
            if needs_members(operations):
                current = [
                    {"value": m.id, "display": m.display, "type": m.kind.value.capitalize()}
                    for m in await self.store.group_members(entry_id)
                ]
            patched = apply_patch(
                resource_type,
                entry.resource,
                operations,
                entry_id=entry_id,
                current_members=current,
            )
            try:
                updated = await self._update(
                    resource_type,
                    entry_id,
                    patched.resource,
                    patched.members,
                    if_version=entry.version,
                )
            except ScimError as exc:
                if exc.status != 412 or if_version is not None or attempt == PATCH_ATTEMPTS - 1:
                    raise
                continue
            return await self._outcome(resource_type, updated, base_url, projection)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def delete(
        self, resource_type: ResourceType, entry_id: str, *, if_version: int | None = None
    ) -> None:
        try:
            await self.store.delete_entry(
                _KINDS[resource_type.name], entry_id, if_version=if_version
            )
        except NotFound as exc:
            raise not_found(f"no {resource_type.name} with id {entry_id!r}") from exc
        except PreconditionFailed as exc:
            raise precondition_failed(str(exc)) from exc

    async def search(
        self,
        resource_type: ResourceType,
        query: Query,
        base_url: str,
        request: SearchRequest,
    ) -> dict[str, Any]:
        """A ListResponse for ``query`` (see :meth:`query`), projected as ``request``
        asks."""
        projection = Projection.parse(
            resource_type, request.attributes, request.excluded_attributes
        )
        try:
            entries, total = await self.store.query_entries(_KINDS[resource_type.name], query)
        except InvalidQuery as exc:
            raise invalid_filter(str(exc)) from exc
        resources = [
            (await self._outcome(resource_type, entry, base_url, projection, listed=True)).body
            for entry in entries
        ]
        body: dict[str, Any] = {
            "schemas": [LIST_RESPONSE_SCHEMA],
            "totalResults": total,
            "itemsPerPage": len(resources),
            "startIndex": query.start_index,
        }
        if query.count != 0:
            body["Resources"] = resources
        return body

    async def search_all(
        self, resource_types: Sequence[ResourceType], request: SearchRequest, base_url: str
    ) -> dict[str, Any]:
        """``POST /.search`` at the root: every resource type the filter applies to, users
        before groups (``sortBy`` orders within each type). A filter naming an attribute
        one type lacks matches nothing of that type."""
        queries: list[tuple[ResourceType, Query]] = []
        first_error: ScimError | None = None
        for resource_type in resource_types:
            try:
                queries.append((resource_type, self.query(resource_type, request)))
            except ScimError as exc:
                first_error = first_error or exc
        if not queries:
            assert first_error is not None
            raise first_error
        start, count = queries[0][1].start_index, queries[0][1].count or 0
        skip, total = start - 1, 0
        resources: list[dict[str, Any]] = []
        for resource_type, query in queries:
            wanted = count - len(resources)
            page = replace(query, start_index=max(1, skip - total + 1), count=wanted)
            body = await self.search(resource_type, page, base_url, request)
            total += body["totalResults"]
            resources.extend(body.get("Resources", []))
        result: dict[str, Any] = {
            "schemas": [LIST_RESPONSE_SCHEMA],
            "totalResults": total,
            "itemsPerPage": len(resources),
            "startIndex": start,
        }
        if count:
            result["Resources"] = resources
        return result

    def query(self, resource_type: ResourceType, request: SearchRequest) -> Query:
        parsed_filter = (
            None if request.filter is None else parse_filter(request.filter, resource_type)
        )
        sort_by = None
        if request.sort_by:
            try:
                sort_by = resolve_path(request.sort_by, resource_type)[0]
            except ValueError as exc:
                raise invalid_value(f"sortBy: {exc}") from exc
        order = (request.sort_order or "ascending").lower()
        if order not in ("ascending", "descending"):
            raise invalid_value("sortOrder must be ascending or descending")
        start = max(1, request.start_index or 1)
        count = self.settings.default_page_size if request.count is None else request.count
        count = min(max(0, count), self.settings.max_page_size)
        return Query(parsed_filter, sort_by, order == "descending", start, count)

    async def _entry(self, resource_type: ResourceType, entry_id: str) -> Entry:
        try:
            return await self.store.get_entry(_KINDS[resource_type.name], entry_id)
        except NotFound as exc:
            raise not_found(f"no {resource_type.name} with id {entry_id!r}") from exc

    async def _update(
        self,
        resource_type: ResourceType,
        entry_id: str,
        resource: dict[str, Any],
        members: MemberChange | None,
        *,
        if_version: int | None,
    ) -> Entry:
        kind = _KINDS[resource_type.name]
        try:
            return await self.store.update_entry(
                kind, entry_id, resource=resource, members=members, if_version=if_version
            )
        except PreconditionFailed as exc:
            raise precondition_failed(str(exc)) from exc
        except Conflict as exc:
            raise uniqueness(_conflict_detail(resource)) from exc
        except UnknownMember as exc:
            raise invalid_value(f"a member does not exist: {exc}") from exc
        except NotFound as exc:
            raise not_found(f"no {resource_type.name} with id {entry_id!r}") from exc
        except InvalidEntry as exc:
            raise invalid_value(str(exc)) from exc

    async def _outcome(
        self,
        resource_type: ResourceType,
        entry: Entry,
        base_url: str,
        projection: Projection,
        *,
        status: int = 200,
        listed: bool = False,
    ) -> Outcome:
        """The answer for ``entry``. A user's ``groups`` costs a store query per user, so
        lists carry it only when ``attributes`` names it (a new user has none)."""
        members = groups = None
        if resource_type.name == "Group" and projection.wants("members"):
            members = await self.store.group_members(entry.id)
        wants_groups = projection.names("groups") if listed else projection.wants("groups")
        if resource_type.name == "User" and status != 201 and wants_groups:
            groups = await self.store.member_groups(entry.id)
        full = render(resource_type, entry, base_url, members=members, groups=groups)
        return Outcome(
            status,
            projection.apply(resource_type, full),
            entry.version,
            full["meta"]["location"],
        )


def _conflict_detail(resource: dict[str, Any]) -> str:
    name = resource.get("userName")
    return f"userName {name!r} is taken" if name else "a unique value is taken"
