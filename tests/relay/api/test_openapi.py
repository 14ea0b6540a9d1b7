"""The OpenAPI document: what it lists is what the relay serves, and it is valid OpenAPI 3.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from aiohttp import web
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from relay.api.routes import PREFIX
from tests.relay.api.conftest import Api, ApiRelay

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
#: The one operation open without a token: the document itself.
DOCUMENT = ("get", f"{PREFIX}/openapi.json")


@pytest.fixture
async def document(api: Api) -> dict[str, Any]:
    status, body = await api("GET", "/openapi.json", token=None)
    assert status == 200
    assert isinstance(body, dict)
    return body


def served(relay: ApiRelay) -> set[tuple[str, str]]:
    """(method, path) of every route the API's sub-application serves."""
    assert relay.app is not None
    [api_app] = [
        resource.get_info()["app"]
        for resource in relay.app.router.resources()
        if isinstance(resource, web.PrefixedSubAppResource) and resource.canonical == PREFIX
    ]
    return {
        (route.method.lower(), route.resource.canonical)
        for route in api_app.router.routes()
        if route.resource is not None
    }


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


async def test_every_served_route_is_documented_and_every_documented_one_served(
    relay: ApiRelay, document: dict[str, Any]
) -> None:
    documented = {(method, path) for method, path, _ in operations(document)}
    assert served(relay) == documented
    assert DOCUMENT in documented
    assert len(documented) > 20


async def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    OPENAPI_31_VALIDATOR.validate(document)  # the document's structure
    for where, schema in schemas(document):  # and every JSON schema in it
        try:
            jsonschema_rs.meta.validate(schema)
        except jsonschema_rs.ValidationError as exc:
            pytest.fail(f"{where}: not a valid JSON schema: {exc}")


def schemas(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, schema in document["components"]["schemas"].items():
        yield f"components.schemas.{name}", schema
    for method, path, operation in operations(document):
        where = f"{method.upper()} {path}"
        for parameter in operation.get("parameters", []):
            yield f"{where} parameter {parameter['name']}", parameter["schema"]
        if "requestBody" in operation:
            yield f"{where} body", operation["requestBody"]["content"]["application/json"]["schema"]
        for status, response in operation["responses"].items():
            for content in response.get("content", {}).values():
                yield f"{where} {status}", content["schema"]


def references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


async def test_every_reference_resolves(document: dict[str, Any]) -> None:
    found = list(references(document))
    assert found
    for reference in found:
        assert reference.startswith("#/"), reference
        target: Any = document
        for part in reference[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(target, dict) and part in target, f"{reference} does not resolve"
            target = target[part]


async def test_every_operation_documents_its_answers_and_refusals(
    document: dict[str, Any],
) -> None:
    ids: list[str] = []
    for method, path, operation in operations(document):
        where = f"{method.upper()} {path}"
        ids.append(operation["operationId"])
        assert operation["summary"], where
        responses = operation["responses"]
        assert any(status.startswith("2") for status in responses), where
        assert {"500", "503"} <= set(responses), where
        if (method, path) == DOCUMENT:
            assert operation["security"] == [], "the document needs no token"
            assert not {"401", "403"} & set(responses), where
        else:
            assert operation["security"] == [{"apiToken": []}], f"{where} needs a token"
            assert {"401", "403"} <= set(responses), where
        if "{" in path:
            assert "404" in responses, where
        if "requestBody" in operation:
            assert {"400", "413"} <= set(responses), where
    assert len(ids) == len(set(ids)), "operation ids are unique"
    assert document["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"


async def test_changes_need_the_admin_role_and_reads_the_viewer_role(
    document: dict[str, Any],
) -> None:
    for method, path, operation in operations(document):
        if (method, path) == DOCUMENT:
            continue
        role = "viewer" if method == "get" else "admin"
        assert f"the {role} role" in operation["description"], f"{method.upper()} {path}"
