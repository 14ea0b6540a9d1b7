"""SCIM Bulk (RFC 7644 §3.7): many operations in one request, with ``bulkId`` references
and ``failOnErrors``.

Each operation runs as the same request sent alone would (through
:class:`~relay.directory.service.Directory`), so each one is whole or not written at all;
Bulk itself is not one transaction, as the RFC says. An operation that refers to
``bulkId:X`` runs after the operation that creates X, whatever their order in the request;
references that never resolve (unknown, failed or circular) fail with 409.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relay.directory.errors import ScimError, ScimType, invalid_syntax, invalid_value
from relay.directory.resources import Projection, etag, parse_etag
from relay.directory.schemas import BULK_REQUEST_SCHEMA, BULK_RESPONSE_SCHEMA, ResourceType
from relay.directory.service import Directory

_METHODS = ("POST", "PUT", "PATCH", "DELETE")
#: Deepest JSON nesting accepted in a Bulk request (a resource in a PATCH needs about 8).
MAX_JSON_DEPTH = 32
_PREFIX = "bulkId:"


@dataclass(slots=True)
class _Operation:
    index: int
    method: str
    path: str
    bulk_id: str | None
    data: Any
    version: int | None
    references: set[str] = field(default_factory=set)
    result: dict[str, Any] | None = None


def check_request(body: Any, max_operations: int) -> tuple[list[Any], int | None]:
    """The raw operations and ``failOnErrors`` of a BulkRequest; 413 for too many."""
    if not isinstance(body, dict):
        raise invalid_syntax("the request body must be a JSON object")
    _check_depth(body)
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or BULK_REQUEST_SCHEMA not in schemas:
        raise invalid_syntax(f"'schemas' must be [{BULK_REQUEST_SCHEMA!r}]")
    operations = body.get("Operations")
    if not isinstance(operations, list):
        raise invalid_syntax("'Operations' must be a list")
    if len(operations) > max_operations:
        raise ScimError(
            413, f"a Bulk request holds at most {max_operations} operations (maxOperations)"
        )
    fail_on_errors = body.get("failOnErrors")
    if fail_on_errors is not None and (
        isinstance(fail_on_errors, bool)
        or not isinstance(fail_on_errors, int)
        or fail_on_errors < 1
    ):
        raise invalid_value("failOnErrors must be a whole number of at least 1")
    return operations, fail_on_errors


async def run_bulk(
    directory: Directory,
    resource_types: Mapping[str, ResourceType],
    body: Any,
    base_url: str,
    max_operations: int,
) -> dict[str, Any]:
    """Run a BulkRequest; ``resource_types`` maps endpoints (``/Users``) to their types."""
    raw, fail_on_errors = check_request(body, max_operations)
    pending: list[_Operation] = []
    results: list[_Operation] = []
    for index, item in enumerate(raw):
        operation = _parse(index, item)
        results.append(operation)
        if operation.result is None:
            pending.append(operation)
    created: dict[str, str] = {}
    errors = sum(1 for o in results if o.result is not None)
    progress = True
    while pending and progress and (fail_on_errors is None or errors < fail_on_errors):
        progress = False
        for operation in list(pending):
            if fail_on_errors is not None and errors >= fail_on_errors:
                break
            if not operation.references <= created.keys():
                continue
            pending.remove(operation)
            progress = True
            await _run(directory, resource_types, operation, created, base_url)
            assert operation.result is not None
            if int(operation.result["status"]) >= 400:
                errors += 1
    if fail_on_errors is None or errors < fail_on_errors:
        for operation in pending:
            missing = sorted(operation.references - created.keys())
            operation.result = _error(
                operation,
                ScimError(
                    409,
                    f"bulkId reference(s) {', '.join(missing)} cannot be resolved",
                    ScimType.INVALID_VALUE,
                ),
            )
    done = [o.result for o in results if o.result is not None]
    return {"schemas": [BULK_RESPONSE_SCHEMA], "Operations": done}


def _parse(index: int, item: Any) -> _Operation:
    if not isinstance(item, dict):
        operation = _Operation(index, "", "", None, None, None)
        operation.result = _error(
            operation, invalid_syntax(f"Operations[{index}] is not an object")
        )
        return operation
    method = str(item.get("method", "")).upper()
    path = item.get("path")
    bulk_id = item.get("bulkId")
    operation = _Operation(
        index,
        method,
        path if isinstance(path, str) else "",
        bulk_id if isinstance(bulk_id, str) else None,
        item.get("data"),
        None,
    )
    problem = None
    if method not in _METHODS:
        problem = invalid_syntax(f"Operations[{index}].method must be one of {', '.join(_METHODS)}")
    elif not isinstance(path, str) or not path.startswith("/"):
        problem = invalid_syntax(f"Operations[{index}].path must be like /Users or /Users/<id>")
    elif method == "POST" and (not isinstance(bulk_id, str) or not bulk_id):
        problem = invalid_syntax(f"Operations[{index}] (POST) needs a bulkId")
    elif method in ("POST", "PUT", "PATCH") and not isinstance(item.get("data"), dict):
        problem = invalid_syntax(f"Operations[{index}] ({method}) needs a data object")
    version = item.get("version")
    if problem is None and version is not None:
        parsed = parse_etag(version) if isinstance(version, str) else None
        if parsed is None:
            problem = invalid_value(f'Operations[{index}].version is not an ETag like W/"3"')
        operation.version = parsed
    if problem is not None:
        operation.result = _error(operation, problem)
        return operation
    operation.references = _references(operation.path) | _references(operation.data)
    return operation


def _check_depth(body: Any) -> None:
    """Refuse deep nesting before the recursive walks for ``bulkId`` references."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise invalid_syntax(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        found = set()
        for part in value.split("/"):
            if part.startswith(_PREFIX):
                found.add(part[len(_PREFIX) :])
        return found
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


def _resolve(value: Any, created: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return "/".join(
            created[part[len(_PREFIX) :]] if part.startswith(_PREFIX) else part
            for part in value.split("/")
        )
    if isinstance(value, dict):
        return {k: _resolve(v, created) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, created) for v in value]
    return value


async def _run(
    directory: Directory,
    resource_types: Mapping[str, ResourceType],
    operation: _Operation,
    created: dict[str, str],
    base_url: str,
) -> None:
    path = _resolve(operation.path, created)
    data = _resolve(operation.data, created)
    endpoint, _, entry_id = path[1:].partition("/")
    resource_type = resource_types.get(f"/{endpoint}")
    try:
        if resource_type is None or "/" in entry_id:
            raise invalid_value(f"{operation.path!r} is not /Users, /Groups or one of theirs")
        if (operation.method == "POST") == bool(entry_id):
            raise invalid_value(f"{operation.method} does not apply to {operation.path!r}")
        everything = Projection()
        if operation.method == "DELETE":
            await directory.delete(resource_type, entry_id, if_version=operation.version)
            operation.result = {
                "method": "DELETE",
                "location": f"{base_url}{path}",
                "status": "204",
            }
            return
        if operation.method == "POST":
            if operation.bulk_id in created:
                raise invalid_value(f"bulkId {operation.bulk_id!r} is used twice")
            outcome = await directory.create(resource_type, data, base_url, everything)
            assert operation.bulk_id is not None
            created[operation.bulk_id] = outcome.body["id"]
        elif operation.method == "PUT":
            outcome = await directory.replace(
                resource_type, entry_id, data, base_url, everything, if_version=operation.version
            )
        else:
            outcome = await directory.patch(
                resource_type, entry_id, data, base_url, everything, if_version=operation.version
            )
    except ScimError as exc:
        operation.result = _error(operation, exc)
        return
    result: dict[str, Any] = {"method": operation.method}
    if operation.bulk_id is not None:
        result["bulkId"] = operation.bulk_id
    result.update(
        location=outcome.location, version=etag(outcome.version), status=str(outcome.status)
    )
    operation.result = result


def _error(operation: _Operation, error: ScimError) -> dict[str, Any]:
    result: dict[str, Any] = {"method": operation.method or None}
    if operation.bulk_id is not None:
        result["bulkId"] = operation.bulk_id
    result["status"] = str(error.status)
    result["response"] = error.body()
    return result
