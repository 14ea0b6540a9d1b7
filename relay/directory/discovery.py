"""The SCIM discovery documents (RFC 7644 §4): ``/ServiceProviderConfig``, ``/Schemas``
and ``/ResourceTypes``, built from the schema table and the endpoint's limits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relay.directory.schemas import (
    LIST_RESPONSE_SCHEMA,
    SERVICE_PROVIDER_CONFIG_SCHEMA,
    ResourceType,
    Schema,
)
from relay.directory.settings import ScimSettings


def service_provider_config(settings: ScimSettings, base_url: str) -> dict[str, Any]:
    return {
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "patch": {"supported": True},
        "bulk": {
            "supported": True,
            "maxOperations": settings.max_bulk_operations,
            "maxPayloadSize": settings.max_payload_bytes,
        },
        "filter": {"supported": True, "maxResults": settings.max_page_size},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A token from 'hatchway relay scim-token create', sent as"
                " 'Authorization: Bearer <token>'",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def schemas(resource_types: Sequence[ResourceType]) -> list[Schema]:
    """Every schema the resource types use, each once, core schemas first."""
    found: dict[str, Schema] = {}
    for resource_type in resource_types:
        found.setdefault(resource_type.schema.id, resource_type.schema)
    for resource_type in resource_types:
        for extension in resource_type.extensions:
            found.setdefault(extension.id, extension)
    return list(found.values())


def list_response(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": len(resources),
        "itemsPerPage": len(resources),
        "startIndex": 1,
        "Resources": resources,
    }
