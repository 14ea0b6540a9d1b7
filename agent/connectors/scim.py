"""The SCIM connector: users and groups of a SCIM 2.0 service (RFC 7643, RFC 7644), over
aiohttp.

What the service supports comes from its discovery endpoints (``scim_discovery``): PATCH
where it is supported, otherwise GET and a full PUT with ``If-Match`` when it offers ETags;
Bulk for runs of creates where it is supported (``scim_bulk``). Contract attribute names
are SCIM attribute paths (``scim_paths``), resources are read and written as flat
attributes (``scim_resources``), deltas become PATCH operations (``scim_patch``), filters
become SCIM filters (``scim_filters``), and every request goes through one client with a
bounded number of requests in flight, timeouts and Retry-After (``scim_client``), which
authenticates as ``scim_auth`` says and classifies errors with ``scim_errors``.

A create whose answer is lost (the connection dropped, the answer timed out or was not
JSON) is never sent again here. The connector looks the object up by its naming attribute:
found, it is reported as a conflict so the engine matches it; not found, the original,
retryable error goes back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Self
from urllib.parse import quote as url_quote

from agent.connectors.scim_auth import Credentials, credentials
from agent.connectors.scim_bulk import (
    BulkCreate,
    bulk_body,
    bulk_create,
    chunks,
    fits_alone,
    outcomes,
)
from agent.connectors.scim_client import Answer, ScimClient, reached_server
from agent.connectors.scim_discovery import ServiceProvider, discover
from agent.connectors.scim_errors import classify, error_detail
from agent.connectors.scim_filters import filter_text
from agent.connectors.scim_patch import Change, needs_current, patch_body
from agent.connectors.scim_paths import NAMING, Catalogue, Shape, quote
from agent.connectors.scim_resources import anchor_in, flatten, version_of, write
from agent.connectors.scim_settings import ScimSettings
from shared.connector import (
    GROUP,
    USER,
    Action,
    Attributes,
    Connector,
    ConnectorObject,
    Delta,
    DeltaKind,
    Filter,
    Operation,
    OperationError,
    OperationResult,
    Page,
    Schema,
    SearchResult,
    failed,
    run_operation,
)
from shared.exceptions import (
    ConflictError,
    ConnectorError,
    InvalidDataError,
    OperationTimeoutError,
    UnavailableError,
)
from shared.settings import Table


class ScimConnector(Connector):
    """Users and groups of a SCIM 2.0 service."""

    type_name = "scim"

    def __init__(self, name: str, settings: ScimSettings) -> None:
        self.name = name
        self.settings = settings
        self._client = ScimClient(settings, credentials(settings))
        self._provider: ServiceProvider | None = None
        self._catalogues: dict[str, Catalogue] = {}
        self._discovery = asyncio.Lock()

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any], *, source: str) -> Self:
        return cls(
            name, ScimSettings.load(Table(settings, source=source, prefix=f"connectors.{name}"))
        )

    @property
    def credentials(self) -> Credentials:
        return self._client.credentials

    async def test(self) -> None:
        await self._service(refresh=True)
        catalogue = await self._catalogue(USER)
        await self._client.send(
            "GET",
            catalogue.resource_type.endpoint,
            params={"startIndex": "1", "count": "1"},
            what="checking access to users",
        )

    async def schema(self) -> Schema:
        await self._service(refresh=True)
        return Schema(tuple(c.describe() for c in self._catalogues.values()))

    async def create(self, object_class: str, attributes: Attributes) -> str:
        catalogue = await self._catalogue(object_class)
        document = self._document(catalogue, attributes)
        what = self._creating(object_class, document)
        try:
            answer = await self._client.send(
                "POST",
                catalogue.resource_type.endpoint,
                body=document,
                what=what,
                attributes=attributes,
            )
            anchor = anchor_in(answer.body, answer.headers.get("Location"))
        except ConflictError as exc:
            raise _naming_unique(exc, catalogue, attributes) from exc
        except (UnavailableError, OperationTimeoutError) as exc:
            if not reached_server(exc):
                raise
            raise await self._in_doubt(catalogue, document, exc) from exc
        if anchor is None:
            lost = UnavailableError(f"{what}: the answer names no id for the new object")
            raise await self._in_doubt(catalogue, document, lost)
        return anchor

    async def update(self, object_class: str, anchor: str, deltas: Sequence[Delta]) -> str:
        catalogue = await self._catalogue(object_class)
        provider = await self._service()
        changes = [(catalogue.resolve(d.attribute), d) for d in deltas]
        url = self._url(catalogue, anchor)
        what = f"updating {object_class} {anchor}"
        if not changes:
            await self._client.send("GET", url, params={"attributes": "id"}, what=what)
        elif not provider.patch:
            await self._replace(catalogue, url, changes, what)
        else:
            await self._patch(catalogue, url, changes, what)
        return anchor

    async def delete(self, object_class: str, anchor: str) -> None:
        catalogue = await self._catalogue(object_class)
        url = self._url(catalogue, anchor)
        await self._client.send("DELETE", url, what=f"deleting {object_class} {anchor}")

    async def get(self, object_class: str, anchor: str) -> ConnectorObject:
        catalogue = await self._catalogue(object_class)
        answer = await self._client.send(
            "GET", self._url(catalogue, anchor), what=f"reading {object_class} {anchor}"
        )
        resource = _resource(answer, f"reading {object_class} {anchor}")
        return ConnectorObject(str(resource.get("id") or anchor), flatten(resource))

    async def search(self, object_class: str, flt: Filter | None, page: Page) -> SearchResult:
        catalogue = await self._catalogue(object_class)
        provider = await self._service()
        if page.size < 1:
            raise InvalidDataError(f"a page holds at least one object, not {page.size}")
        start = _start_index(page.cookie)
        count = page.size
        if provider.filter_max_results:
            count = min(count, provider.filter_max_results)
        params = {"startIndex": str(start), "count": str(count)}
        if flt is not None:
            params["filter"] = filter_text(flt, catalogue.resolve)
        what = f"searching {object_class}s"
        answer = await self._client.send(
            "GET", catalogue.resource_type.endpoint, params=params, what=what
        )
        body = answer.body if isinstance(answer.body, dict) else None
        if body is None:
            raise UnavailableError(f"{what}: the answer is not a SCIM list response")
        listed = body.get("Resources")
        listed = listed[:count] if isinstance(listed, list) else []
        objects = [
            ConnectorObject(str(r["id"]), flatten(r))
            for r in listed
            if isinstance(r, dict) and r.get("id")
        ]
        total = body.get("totalResults")
        following = start + len(listed)
        more = listed and isinstance(total, int) and following <= total
        return SearchResult(objects, str(following) if more else None)

    async def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        """Runs of creates go in Bulk requests (or concurrent POSTs); other operations run
        concurrently as long as none of them touches an anchor an earlier one does."""
        try:
            provider = await self._service()
        except ConnectorError as exc:
            return failed(operations, OperationError.from_exception(exc))
        results: list[OperationResult] = []
        for run in _runs(operations):
            bulk = self.settings.bulk and provider.bulk and len(run) > 1
            if bulk and run[0].action is Action.CREATE:
                results.extend(await self._bulk_creates(provider, run))
            else:
                results.extend(await asyncio.gather(*(run_operation(self, op) for op in run)))
        return results

    async def close(self) -> None:
        await self._client.close()

    # Discovery ----------------------------------------------------------------------------

    async def _service(self, *, refresh: bool = False) -> ServiceProvider:
        if self._provider is None or refresh:
            async with self._discovery:
                if self._provider is None or refresh:
                    provider = await discover(self._client)
                    names = {
                        USER: self.settings.user_resource_type,
                        GROUP: self.settings.group_resource_type,
                    }
                    self._catalogues = {
                        object_class: Catalogue(
                            object_class, provider.resource_types[name], provider.schemas
                        )
                        for object_class, name in names.items()
                        if name in provider.resource_types
                    }
                    self._provider = provider
        return self._provider

    async def _catalogue(self, object_class: str) -> Catalogue:
        await self._service()
        catalogue = self._catalogues.get(object_class)
        if catalogue is None:
            served = ", ".join(sorted(self._catalogues)) or "none"
            raise InvalidDataError(
                f"object class {object_class!r} is not served by this SCIM service"
                f" (served: {served})"
            )
        return catalogue

    # Writing ------------------------------------------------------------------------------

    def _document(self, catalogue: Catalogue, attributes: Attributes) -> dict[str, Any]:
        document: dict[str, Any] = {"schemas": [catalogue.resource_type.schema]}
        for name, value in attributes.items():
            values = tuple(value) if isinstance(value, list) else (value,)
            if any(v is not None for v in values):
                write(document, catalogue.resolve(name), DeltaKind.REPLACE, values)
        return document

    def _creating(self, object_class: str, document: Mapping[str, Any]) -> str:
        named = document.get(NAMING.get(object_class, ""))
        return f"creating {object_class} {named!r}" if named else f"creating a {object_class}"

    async def _in_doubt(
        self, catalogue: Catalogue, document: Mapping[str, Any], exc: ConnectorError
    ) -> ConnectorError:
        """The error of a create whose answer was lost, after looking for what it made."""
        naming = NAMING.get(catalogue.object_class)
        value = document.get(naming or "")
        if naming is None or not isinstance(value, str):
            return exc
        try:
            answer = await self._client.send(
                "GET",
                catalogue.resource_type.endpoint,
                params={"filter": f"{naming} eq {quote(value)}", "count": "1"},
                what=f"looking for {catalogue.object_class} {value!r} after a lost answer",
            )
        except ConnectorError:
            return exc
        total = answer.body.get("totalResults") if isinstance(answer.body, dict) else None
        if not isinstance(total, int) or total < 1:
            return exc
        return ConflictError(
            f"{exc.message}; the service now has a {catalogue.object_class} with {naming}"
            f" {value!r}, perhaps made by this request, so it is to be matched, not created"
            " again",
            attribute=naming,
        )

    async def _patch(
        self, catalogue: Catalogue, url: str, changes: list[Change], what: str
    ) -> None:
        current = None
        if needs_current(changes):
            current = _resource(await self._client.send("GET", url, what=what), what)
        body = patch_body(changes, current)
        if not body["Operations"]:
            return
        names = [path.name for path, _ in changes]
        answer = await self._client.send(
            "PATCH", url, body=body, what=what, accept=(400,), attributes=names
        )
        if answer.status != 400:
            return
        scim_type, _ = error_detail(answer.body)
        if scim_type == "noTarget" and any(p.shape is Shape.TYPED for p, _ in changes):
            # A typed path such as emails[type eq "work"].value had no element to replace
            # (RFC 7644 3.5.2.3): the whole resource is rewritten with it instead.
            await self._replace(catalogue, url, changes, what)
            return
        raise classify(
            400, answer.body, what=what, attributes=names, auth_hint=self._client.credentials.hint
        )

    async def _replace(
        self, catalogue: Catalogue, url: str, changes: list[Change], what: str
    ) -> None:
        """GET, change, PUT with If-Match; a resource changed meanwhile is read once more."""
        provider = await self._service()
        names = [path.name for path, _ in changes]
        for _ in range(2):
            read = await self._client.send("GET", url, what=what)
            resource = _resource(read, what)
            version = read.headers.get("ETag") or version_of(resource)
            for path, delta in changes:
                write(resource, path, delta.kind, delta.values)
            resource.pop("meta", None)
            headers = {"If-Match": version} if provider.etag and version else {}
            answer = await self._client.send(
                "PUT", url, body=resource, headers=headers, what=what, accept=(412,),
                attributes=names,
            )  # fmt: skip
            if answer.status != 412:
                return
        raise UnavailableError(
            f"{what}: the {catalogue.object_class} changed on the service while it was being"
            " updated, twice in a row; the update will be tried again"
        )

    async def _bulk_creates(
        self, provider: ServiceProvider, run: Sequence[Operation]
    ) -> list[OperationResult]:
        results: dict[str, OperationResult] = {}
        creates: list[BulkCreate] = []
        alone: list[Operation] = []
        limit = provider.bulk_max_payload
        for op in run:
            try:
                catalogue = await self._catalogue(op.object_class)
                document = self._document(catalogue, op.attributes or {})
            except ConnectorError as exc:
                results[op.key] = OperationResult(op.key, error=OperationError.from_exception(exc))
                continue
            create = bulk_create(op, catalogue.resource_type.endpoint, document)
            if fits_alone(create, limit):
                creates.append(create)
            else:
                alone.append(op)
        most = min(self.settings.bulk_max_operations, provider.bulk_max_operations or 1_000_000)
        for result in await asyncio.gather(*(run_operation(self, op) for op in alone)):
            results[result.key] = result
        # One Bulk request at a time: services run a Bulk's operations in turn, so
        # concurrent ones only queue there, and a queued one can outlast its timeout.
        for chunk in chunks(creates, most, limit):
            for result in await self._send_bulk(chunk):
                results[result.key] = result
        return [results[op.key] for op in run]

    async def _send_bulk(self, chunk: list[BulkCreate]) -> list[OperationResult]:
        what = f"sending {len(chunk)} creates in a Bulk request"
        try:
            answer = await self._client.send(
                "POST", "/Bulk", body=bulk_body(chunk), what=what, accept=(413, 501)
            )
        except (UnavailableError, OperationTimeoutError) as exc:
            if not reached_server(exc):
                return failed((c.operation for c in chunk), OperationError.from_exception(exc))
            return [await self._bulk_in_doubt(c, exc) for c in chunk]
        except ConnectorError as exc:
            return failed((c.operation for c in chunk), OperationError.from_exception(exc))
        if answer.status in (413, 501):
            return list(await asyncio.gather(*(run_operation(self, c.operation) for c in chunk)))
        results = []
        for create, outcome in zip(chunk, outcomes(chunk, answer.body), strict=True):
            if isinstance(outcome, str):
                results.append(OperationResult(create.operation.key, anchor=outcome))
            elif isinstance(outcome, ConnectorError):
                error = OperationError.from_exception(outcome)
                results.append(OperationResult(create.operation.key, error=error))
            else:
                lost = UnavailableError(f"{what}: the answer has no result for this create")
                results.append(await self._bulk_in_doubt(create, lost))
        return results

    async def _bulk_in_doubt(self, create: BulkCreate, exc: ConnectorError) -> OperationResult:
        catalogue = await self._catalogue(create.operation.object_class)
        error = await self._in_doubt(catalogue, create.document, exc)
        return OperationResult(create.operation.key, error=OperationError.from_exception(error))

    def _url(self, catalogue: Catalogue, anchor: str) -> str:
        if not anchor:
            raise InvalidDataError("an anchor (SCIM id) must not be empty")
        return f"{catalogue.resource_type.endpoint}/{url_quote(anchor, safe='')}"


def _naming_unique(
    exc: ConflictError, catalogue: Catalogue, attributes: Attributes
) -> ConflictError:
    """A conflict on create names the one unique attribute sent, when the service did not."""
    if exc.attribute is not None:
        return exc
    unique = [
        name
        for name in attributes
        if (info := catalogue.resolve(name).info) is not None and info.uniqueness != "none"
    ]
    if len(unique) != 1:
        return exc
    return ConflictError(exc.message, attribute=unique[0])


def _runs(operations: Sequence[Operation]) -> list[list[Operation]]:
    """Consecutive creates; and consecutive other operations on distinct anchors."""
    runs: list[list[Operation]] = []
    anchors: set[str] = set()
    for op in operations:
        creating = op.action is Action.CREATE
        last = runs[-1] if runs else None
        same_kind = last is not None and (last[0].action is Action.CREATE) == creating
        if last is None or not same_kind or (op.anchor is not None and op.anchor in anchors):
            runs.append([op])
            anchors = set()
        else:
            last.append(op)
        if op.anchor is not None:
            anchors.add(op.anchor)
    return runs


def _resource(answer: Answer, what: str) -> dict[str, Any]:
    if not isinstance(answer.body, dict):
        raise UnavailableError(f"{what}: the answer is not a SCIM resource")
    return answer.body


def _start_index(cookie: str | None) -> int:
    if cookie is None:
        return 1
    if not cookie.isdigit() or int(cookie) < 1:
        raise InvalidDataError(f"the page cookie {cookie!r} did not come from this connector")
    return int(cookie)
