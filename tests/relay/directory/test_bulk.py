"""SCIM Bulk over HTTP: ``bulkId`` references in any order, ``failOnErrors``, the
``maxOperations`` limit, and bad operations refused one by one while the good ones are
written whole."""

from __future__ import annotations

from relay.directory.query import Query
from relay.store.base import EntryKind
from tests.relay.directory.conftest import (
    BULK,
    ScimRelay,
    assert_error,
    create,
    group,
    patch_op,
    snapshot,
    user,
)


async def test_bulk_with_bulk_id_references(scim: ScimRelay) -> None:
    request = {
        "schemas": [BULK],
        "Operations": [
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "g",
                "data": group("Team", "bulkId:u1", "bulkId:u2"),
            },
            {"method": "POST", "path": "/Users", "bulkId": "u1", "data": user("u1@example.com")},
            {"method": "POST", "path": "/Users", "bulkId": "u2", "data": user("u2@example.com")},
            {
                "method": "PATCH",
                "path": "/Users/bulkId:u1",
                "data": patch_op({"op": "replace", "path": "title", "value": "lead"}),
            },
        ],
    }
    status, body, _ = await scim.call("POST", "/Bulk", request)
    assert status == 200, body
    results = body["Operations"]
    assert [r["status"] for r in results] == ["201", "201", "201", "200"]
    group_id = results[0]["location"].rsplit("/", 1)[1]
    members = {m.id for m in await scim.store.group_members(group_id)}
    assert members == {r["location"].rsplit("/", 1)[1] for r in results[1:3]}
    u1 = await scim.store.get_entry(EntryKind.USER, results[1]["location"].rsplit("/", 1)[1])
    assert u1.resource["title"] == "lead"
    assert results[3]["version"] == 'W/"2"'


async def test_bulk_with_bad_operations_writes_only_the_good_ones(
    scim_any_store: ScimRelay,
) -> None:
    scim = scim_any_store
    await create(scim, "/Users", user("taken@example.com"))
    request = {
        "schemas": [BULK],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": user("a@example.com")},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": user("TAKEN@example.com")},
            {"method": "POST", "path": "/Users", "bulkId": "c", "data": {"userName": "c"}},
            {"method": "DELETE", "path": "/Users/no-such-id"},
            {"method": "FETCH", "path": "/Users"},
            {"method": "PATCH", "path": "/Users/bulkId:nowhere", "data": patch_op()},
            {"method": "POST", "path": "/Users", "bulkId": "d", "data": user("d@example.com")},
        ],
    }
    status, body, _ = await scim.call("POST", "/Bulk", request)
    assert status == 200, body
    results = body["Operations"]
    assert [r["status"] for r in results] == ["201", "409", "400", "404", "400", "409", "201"]
    assert results[1]["response"]["scimType"] == "uniqueness"
    assert results[2]["response"]["scimType"] == "invalidSyntax"
    entries, total = await scim.store.query_entries(EntryKind.USER, Query(count=100))
    assert total == 3
    assert {e.resource["userName"] for e in entries} == {
        "taken@example.com",
        "a@example.com",
        "d@example.com",
    }


async def test_bulk_fail_on_errors_stops_processing(scim: ScimRelay) -> None:
    request = {
        "schemas": [BULK],
        "failOnErrors": 1,
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "x"}},
            {"method": "POST", "path": "/Users", "bulkId": "y", "data": user("y@example.com")},
        ],
    }
    status, body, _ = await scim.call("POST", "/Bulk", request)
    assert status == 200
    assert [r["status"] for r in body["Operations"]] == ["400"]
    assert await snapshot(scim) == []


async def test_bulk_over_max_operations_is_413(scim: ScimRelay) -> None:
    status, config, _ = await scim.call("GET", "/ServiceProviderConfig")
    limit = config["bulk"]["maxOperations"]
    operations = [
        {"method": "POST", "path": "/Users", "bulkId": str(i), "data": user(f"{i}@x")}
        for i in range(limit + 1)
    ]
    status, body, _ = await scim.call(
        "POST", "/Bulk", {"schemas": [BULK], "Operations": operations}
    )
    assert_error(status, body, 413)
    assert await snapshot(scim) == []
