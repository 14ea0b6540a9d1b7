"""What the jobs and logs API tests share: a job file, a relay that runs no jobs, and a
check that an answer is what the OpenAPI document says it is."""

from __future__ import annotations

from typing import Any

import jsonschema_rs

from relay.api.openapi import ERROR_SCHEMA
from relay.api.routes import page_of, ref
from relay.api.server import schemas
from relay.engine.settings import EngineSettings
from relay.settings import RelaySettings
from tests.servers.ports import free_port

JOB = """
name = "crm"
target = "scim"
scope = "all"

[connection]
connector = "crm"
"""


def engine_off() -> RelaySettings:
    """A relay whose engine does not run: what the API writes stays as written."""
    return RelaySettings(
        listen=f"127.0.0.1:{free_port()}", engine=EngineSettings(enabled=False), shutdown_timeout=2
    )


def _validator(schema: dict[str, Any]) -> Any:
    document = {**schema, "components": {"schemas": {"Error": ERROR_SCHEMA, **schemas()}}}
    return jsonschema_rs.validator_for(document, validate_formats=True)


def conforms(name: str, body: Any) -> Any:
    """``body``, after checking it against the document's schema ``name``."""
    _validator(ref(name)).validate(body)
    return body


def page(name: str, body: Any) -> list[Any]:
    """The items of a list answer, after checking it is a page of schema ``name``."""
    _validator(page_of(ref(name))).validate(body)
    items: list[Any] = body["items"]
    return items
