"""What a SCIM service says about itself: ``/ServiceProviderConfig``, ``/ResourceTypes`` and
``/Schemas`` (RFC 7644 section 4), read once and kept until ``test()`` or ``schema()``.

A service that does not serve ``/ResourceTypes`` or ``/Schemas`` (both are optional in
practice) is taken to have the RFC 7643 ``User`` and ``Group`` resource types at ``/Users``
and ``/Groups``, and its attributes are then not checked before a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.connectors.scim_client import ScimClient
from shared.exceptions import NotFoundError, UnavailableError

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@dataclass(frozen=True, slots=True)
class SchemaAttribute:
    """One attribute of a SCIM schema, as /Schemas describes it (RFC 7643 section 7)."""

    name: str
    type: str = "string"
    multi_valued: bool = False
    required: bool = False
    mutability: str = "readWrite"
    uniqueness: str = "none"
    canonical_values: tuple[str, ...] = ()
    sub_attributes: tuple[SchemaAttribute, ...] = ()

    def sub(self, name: str) -> SchemaAttribute | None:
        folded = name.casefold()
        return next((s for s in self.sub_attributes if s.name.casefold() == folded), None)


@dataclass(frozen=True, slots=True)
class ResourceType:
    name: str
    endpoint: str
    schema: str
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceProvider:
    resource_types: Mapping[str, ResourceType]
    #: Attributes by schema URN; empty when the service does not serve /Schemas.
    schemas: Mapping[str, tuple[SchemaAttribute, ...]] = field(default_factory=dict)
    patch: bool = True
    bulk: bool = False
    bulk_max_operations: int = 0
    bulk_max_payload: int = 0
    etag: bool = False
    #: The most results one page may hold; 0 when the service states no limit.
    filter_max_results: int = 0


DEFAULT_TYPES = {
    "User": ResourceType("User", "/Users", USER_SCHEMA, (ENTERPRISE_USER,)),
    "Group": ResourceType("Group", "/Groups", GROUP_SCHEMA),
}


async def discover(client: ScimClient) -> ServiceProvider:
    config, types, schemas = await asyncio.gather(
        client.send("GET", "/ServiceProviderConfig", what="reading /ServiceProviderConfig"),
        _optional_list(client, "/ResourceTypes"),
        _optional_list(client, "/Schemas"),
    )
    body = config.body if isinstance(config.body, dict) else {}
    bulk = _section(body, "bulk")
    resource_types = {t.name: t for t in map(_resource_type, types) if t is not None}
    return ServiceProvider(
        resource_types=resource_types or DEFAULT_TYPES,
        schemas={
            s["id"]: tuple(_attribute(a) for a in s.get("attributes") or [] if _named(a))
            for s in schemas
            if isinstance(s.get("id"), str)
        },
        patch=bool(_section(body, "patch").get("supported", False)),
        bulk=bool(bulk.get("supported", False)),
        bulk_max_operations=_count(bulk.get("maxOperations")),
        bulk_max_payload=_count(bulk.get("maxPayloadSize")),
        etag=bool(_section(body, "etag").get("supported", False)),
        filter_max_results=_count(_section(body, "filter").get("maxResults")),
    )


async def _optional_list(client: ScimClient, path: str) -> list[dict[str, Any]]:
    """The resources of a discovery list, or none when the service lacks the endpoint."""
    try:
        answer = await client.send("GET", path, what=f"reading {path}", accept=(501,))
    except NotFoundError:
        return []
    if answer.status == 501:
        return []
    body = answer.body
    if isinstance(body, list):  # some services answer a bare list
        items = body
    elif isinstance(body, dict):
        items = body.get("Resources") or []
    else:
        raise UnavailableError(f"reading {path}: the answer is not a SCIM list")
    return [item for item in items if isinstance(item, dict)]


def _section(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _named(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("name"), str)


def _resource_type(data: dict[str, Any]) -> ResourceType | None:
    name, endpoint, schema = data.get("name"), data.get("endpoint"), data.get("schema")
    if not (isinstance(name, str) and isinstance(endpoint, str) and isinstance(schema, str)):
        return None
    extensions = tuple(
        e["schema"]
        for e in data.get("schemaExtensions") or []
        if isinstance(e, dict) and isinstance(e.get("schema"), str)
    )
    return ResourceType(name, "/" + endpoint.strip("/"), schema, extensions)


def _attribute(data: dict[str, Any]) -> SchemaAttribute:
    canonical = data.get("canonicalValues") or []
    return SchemaAttribute(
        name=data["name"],
        type=str(data.get("type", "string")),
        multi_valued=bool(data.get("multiValued", False)),
        required=bool(data.get("required", False)),
        mutability=str(data.get("mutability", "readWrite")),
        uniqueness=str(data.get("uniqueness", "none")),
        canonical_values=tuple(v for v in canonical if isinstance(v, str)),
        sub_attributes=tuple(_attribute(s) for s in data.get("subAttributes") or [] if _named(s)),
    )
