"""The relay's SCIM endpoint over HTTP on a real socket (SQLite store): every verb, the
discovery documents, ETags, Bulk, and bad input answered with RFC 7644's status and
``scimType`` while the store stays as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from relay.directory.query import Query
from relay.directory.settings import CustomExtension, ScimSettings
from relay.settings import RelaySettings
from relay.store.base import EntryKind
from tests.relay.directory.conftest import (
    ENTERPRISE,
    GROUP_SCHEMA,
    PATCH_OP,
    SCIM_JSON,
    USER_SCHEMA,
    ScimRelay,
    start_relay,
)

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def user(user_name: str, **extra: Any) -> dict[str, Any]:
    return {"schemas": [USER_SCHEMA], "userName": user_name, **extra}


def group(name: str, *member_ids: str) -> dict[str, Any]:
    return {
        "schemas": [GROUP_SCHEMA],
        "displayName": name,
        "members": [{"value": m} for m in member_ids],
    }


def patch_op(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


async def create(scim: ScimRelay, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, created, _ = await scim.call("POST", path, body)
    assert status == 201, created
    return created


async def snapshot(scim: ScimRelay) -> list[tuple[str, dict[str, Any], int]]:
    """Every entry with its resource and version, to show nothing was written."""
    found = []
    for kind in EntryKind:
        entries, _ = await scim.store.query_entries(kind, Query(count=10_000))
        found += [(e.id, e.resource, e.version) for e in entries]
    return sorted(found, key=lambda item: item[0])


def assert_error(status: int, body: Any, expected: int, scim_type: str | None = None) -> None:
    assert status == expected, body
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(expected)
    assert body.get("scimType") == scim_type, body
    assert body["detail"]


# Users -------------------------------------------------------------------------------------


async def test_create_get_replace_delete_a_user(scim: ScimRelay) -> None:
    body = user(
        "bjensen@example.com",
        externalId="E-1",
        name={"givenName": "Barbara", "familyName": "Jensen"},
        emails=[{"value": "bjensen@example.com", "type": "work", "primary": True}],
        active=True,
        password="not kept",
        **{ENTERPRISE: {"employeeNumber": "701984", "manager": {"value": "m-1"}}},
    )
    body["schemas"].append(ENTERPRISE)
    status, created, response = await scim.call("POST", "/Users", body)
    assert status == 201
    assert response.content_type == SCIM_JSON
    user_id = created["id"]
    assert response.headers["Location"] == f"{scim.url}/Users/{user_id}"
    assert response.headers["ETag"] == 'W/"1"'
    assert created["meta"]["resourceType"] == "User"
    assert created["meta"]["version"] == 'W/"1"'
    assert created["meta"]["location"] == response.headers["Location"]
    assert created["meta"]["created"].endswith("Z")
    assert "password" not in created
    assert created[ENTERPRISE]["employeeNumber"] == "701984"
    assert created["schemas"] == [USER_SCHEMA, ENTERPRISE]

    status, fetched, response = await scim.call("GET", f"/Users/{user_id}")
    assert status == 200
    assert fetched == created
    assert response.headers["ETag"] == 'W/"1"'

    replacement = user("bjensen@example.com", displayName="Babs", active=False)
    status, replaced, response = await scim.call("PUT", f"/Users/{user_id}", replacement)
    assert status == 200
    assert replaced["displayName"] == "Babs"
    assert replaced["active"] is False
    assert "name" not in replaced, "PUT replaces the whole resource"
    assert ENTERPRISE not in replaced
    assert response.headers["ETag"] == 'W/"2"'

    status, body_, _ = await scim.call("DELETE", f"/Users/{user_id}")
    assert (status, body_) == (204, None)
    status, missing, _ = await scim.call("GET", f"/Users/{user_id}")
    assert_error(status, missing, 404)
    status, missing, _ = await scim.call("DELETE", f"/Users/{user_id}")
    assert_error(status, missing, 404)


async def test_patch_a_user(scim: ScimRelay) -> None:
    created = await create(
        scim, "/Users", user("p@example.com", emails=[{"value": "p@example.com", "type": "work"}])
    )
    status, patched, response = await scim.call(
        "PATCH",
        f"/Users/{created['id']}",
        patch_op(
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "q@example.com"},
            {"op": "add", "path": "name.givenName", "value": "Pat"},
            {"op": "replace", "path": "active", "value": False},
        ),
    )
    assert status == 200, patched
    assert patched["emails"] == [{"value": "q@example.com", "type": "work"}]
    assert patched["name"] == {"givenName": "Pat"}
    assert patched["active"] is False
    assert response.headers["ETag"] == 'W/"2"'
    stored = await scim.store.get_entry(EntryKind.USER, created["id"])
    assert stored.resource["emails"] == [{"value": "q@example.com", "type": "work"}]


async def test_list_filter_sort_paginate_and_project(scim: ScimRelay) -> None:
    for i in range(5):
        await create(
            scim,
            "/Users",
            user(f"user{i}@example.com", displayName=f"User {4 - i}", title="t" if i % 2 else None),
        )
    status, page, _ = await scim.call(
        "GET",
        "/Users",
        params={
            "filter": 'userName sw "USER" and not (userName eq "user0@example.com")',
            "sortBy": "displayName",
            "sortOrder": "descending",
            "startIndex": "2",
            "count": "2",
            "attributes": "userName,name.givenName",
        },
    )
    assert status == 200
    assert page["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert (page["totalResults"], page["itemsPerPage"], page["startIndex"]) == (4, 2, 2)
    assert [r["userName"] for r in page["Resources"]] == ["user2@example.com", "user3@example.com"]
    assert all(set(r) == {"schemas", "id", "userName"} for r in page["Resources"])

    status, page, _ = await scim.call(
        "GET", "/Users", params={"filter": "title pr", "excludedAttributes": "meta,title"}
    )
    assert status == 200
    assert page["totalResults"] == 2
    assert all("meta" not in r and "title" not in r and r["id"] for r in page["Resources"])

    status, page, _ = await scim.call("GET", "/Users", params={"count": "0"})
    assert (status, page["totalResults"], page["itemsPerPage"]) == (200, 5, 0)
    assert "Resources" not in page


async def test_search_by_post_per_type_and_at_the_root(scim: ScimRelay) -> None:
    member = await create(scim, "/Users", user("alice@example.com"))
    await create(scim, "/Groups", group("Admins", member["id"]))
    search = {"schemas": [SEARCH], "filter": 'userName eq "ALICE@example.com"', "count": 10}
    status, page, _ = await scim.call("POST", "/Users/.search", search)
    assert (status, page["totalResults"]) == (200, 1)
    assert page["Resources"][0]["id"] == member["id"]

    search = {"schemas": [SEARCH], "attributes": ["displayName", "userName"]}
    status, page, _ = await scim.call("POST", "/.search", search)
    assert (status, page["totalResults"]) == (200, 2)
    kinds = [r["schemas"][0] for r in page["Resources"]]
    assert kinds == [USER_SCHEMA, GROUP_SCHEMA]

    status, body, _ = await scim.call("POST", "/Users/.search", {"filter": "x"})
    assert_error(status, body, 400, "invalidSyntax")
    status, body, _ = await scim.call("POST", "/Users/.search", {"schemas": SEARCH})
    assert_error(status, body, 400, "invalidSyntax")
    huge = {"schemas": [SEARCH], "startIndex": 10**30}
    status, body, _ = await scim.call("POST", "/Users/.search", huge)
    assert_error(status, body, 400, "invalidValue")


# Groups ------------------------------------------------------------------------------------


async def test_group_members_come_from_the_store(
    scim: ScimRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await create(scim, "/Users", user("alice@example.com"))
    bob = await create(scim, "/Users", user("bob@example.com"))
    created = await create(scim, "/Groups", group("Staff", alice["id"]))
    assert [m["value"] for m in created["members"]] == [alice["id"]]
    assert created["members"][0]["type"] == "User"
    assert created["members"][0]["$ref"] == f"{scim.url}/Users/{alice['id']}"

    status, patched, _ = await scim.call(
        "PATCH",
        f"/Groups/{created['id']}",
        patch_op(
            {"op": "add", "path": "members", "value": [{"value": bob["id"]}]},
            {"op": "remove", "path": f'members[value eq "{alice["id"]}"]'},
        ),
    )
    assert status == 200, patched
    assert [m["value"] for m in patched["members"]] == [bob["id"]]
    assert [m.id for m in await scim.store.group_members(created["id"])] == [bob["id"]]

    status, with_display, _ = await scim.call(
        "GET", f"/Groups/{created['id']}", params={"attributes": "members.display,members.value"}
    )
    assert status == 200
    assert with_display["members"] == [{"value": bob["id"], "display": "bob@example.com"}]

    status, users_view, _ = await scim.call("GET", f"/Users/{bob['id']}")
    assert users_view["groups"][0]["value"] == created["id"]

    async def must_not_be_called(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("members were read although excluded")

    monkeypatch.setattr(scim.store, "group_members", must_not_be_called)
    status, page, _ = await scim.call("GET", "/Groups", params={"excludedAttributes": "members"})
    assert status == 200
    assert page["Resources"][0]["displayName"] == "Staff"
    assert "members" not in page["Resources"][0]
    status, one, _ = await scim.call(
        "GET", f"/Groups/{created['id']}", params={"excludedAttributes": "members"}
    )
    assert status == 200
    assert "members" not in one


async def test_group_with_an_unknown_member_is_refused_whole(scim: ScimRelay) -> None:
    alice = await create(scim, "/Users", user("alice@example.com"))
    before = await snapshot(scim)
    status, body, _ = await scim.call("POST", "/Groups", group("G", alice["id"], "no-such-id"))
    assert_error(status, body, 400, "invalidValue")
    assert await snapshot(scim) == before


# ETags -------------------------------------------------------------------------------------


async def test_if_match_and_if_none_match(scim: ScimRelay) -> None:
    created = await create(scim, "/Users", user("etag@example.com"))
    path = f"/Users/{created['id']}"
    change = patch_op({"op": "replace", "path": "title", "value": "x"})
    status, _, response = await scim.call("PATCH", path, change, headers={"If-Match": 'W/"1"'})
    assert (status, response.headers["ETag"]) == (200, 'W/"2"')
    before = await snapshot(scim)
    for stale in ('W/"1"', '"garbage"'):
        status, body, _ = await scim.call("PATCH", path, change, headers={"If-Match": stale})
        assert_error(status, body, 412)
        status, body, _ = await scim.call(
            "PUT", path, user("etag@example.com"), headers={"If-Match": stale}
        )
        assert_error(status, body, 412)
        status, body, _ = await scim.call("DELETE", path, headers={"If-Match": stale})
        assert_error(status, body, 412)
    assert await snapshot(scim) == before
    status, body, response = await scim.call("GET", path, headers={"If-None-Match": 'W/"2"'})
    assert (status, body, response.headers["ETag"]) == (304, None, 'W/"2"')
    status, body, _ = await scim.call("GET", path, headers={"If-None-Match": 'W/"1"'})
    assert status == 200
    status, _, _ = await scim.call("DELETE", path, headers={"If-Match": 'W/"2"'})
    assert status == 204


# Bulk --------------------------------------------------------------------------------------


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


async def test_bulk_with_bad_operations_writes_only_the_good_ones(scim: ScimRelay) -> None:
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


# Discovery ---------------------------------------------------------------------------------


async def test_discovery_documents(scim: ScimRelay) -> None:
    status, config, _ = await scim.call("GET", "/ServiceProviderConfig")
    assert status == 200
    assert config["patch"]["supported"] and config["bulk"]["supported"]
    assert config["bulk"]["maxPayloadSize"] == 1_048_576
    assert config["etag"]["supported"] and config["sort"]["supported"]
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"

    status, listed, _ = await scim.call("GET", "/Schemas")
    ids = [s["id"] for s in listed["Resources"]]
    assert ids == [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE]
    status, schema, _ = await scim.call("GET", f"/Schemas/{USER_SCHEMA}")
    user_name = next(a for a in schema["attributes"] if a["name"] == "userName")
    assert (user_name["required"], user_name["uniqueness"], user_name["caseExact"]) == (
        True,
        "server",
        False,
    )
    status, types, _ = await scim.call("GET", "/ResourceTypes")
    assert [t["endpoint"] for t in types["Resources"]] == ["/Users", "/Groups"]
    status, one, _ = await scim.call("GET", "/ResourceTypes/User")
    assert one["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    for missing in ("/Schemas/urn:nope", "/ResourceTypes/Nope", "/Nope", "/Users/a/b"):
        status, body, _ = await scim.call("GET", missing)
        assert_error(status, body, 404)


# Authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer wrong", "Basic dXNlcjpwYXNz", "hws_x"]
)
async def test_requests_without_a_valid_token_are_401(
    scim: ScimRelay, authorization: str | None
) -> None:
    headers = {"Content-Type": SCIM_JSON}
    if authorization is not None:
        headers["Authorization"] = authorization
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.post(
            scim.url + "/Users", json=user("x@example.com"), headers=headers
        ) as response,
    ):
        body = await response.json(content_type=SCIM_JSON)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(response.status, body, 401)
    assert await snapshot(scim) == []


async def test_a_revoked_token_stops_working(tmp_path: Path) -> None:
    settings = RelaySettings(scim=ScimSettings(token_cache_seconds=0))
    async for scim in start_relay(settings, tmp_path):
        _, token = await scim.store.create_scim_client("temporary")
        headers = {"Authorization": f"Bearer {token}"}
        status, _, _ = await scim.call("GET", "/Users", headers=headers)
        assert status == 200
        assert await scim.store.revoke_scim_client("temporary") == 1
        status, body, _ = await scim.call("GET", "/Users", headers=headers)
        assert_error(status, body, 401)
        status, _, _ = await scim.call("GET", "/Users")
        assert status == 200, "the other client's token still works"
        tokens = await scim.store.list_scim_clients()
        assert [(t.client, t.revoked_at is None) for t in tokens] == [
            ("test-client", True),
            ("temporary", False),
        ]


# Bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        (b"{not json", "invalidSyntax"),
        (b"", "invalidSyntax"),
        (b"\xff\xfe\x00", "invalidSyntax"),
        (
            b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": NaN}',
            "invalidSyntax",
        ),
        (json.dumps([user("list@example.com")]).encode(), "invalidSyntax"),
        (json.dumps({"userName": "noschemas@example.com"}).encode(), "invalidSyntax"),
        (
            json.dumps({"schemas": USER_SCHEMA, "userName": "s@example.com"}).encode(),
            "invalidSyntax",
        ),
        (
            json.dumps({"schemas": [GROUP_SCHEMA], "userName": "g@example.com"}).encode(),
            "invalidSyntax",
        ),
        (json.dumps(user("u@example.com", nosuch=1)).encode(), "invalidSyntax"),
        (json.dumps(user("u@example.com", name={"nosuch": "x"})).encode(), "invalidSyntax"),
        (json.dumps(user("u@example.com", active="maybe")).encode(), "invalidValue"),
        (json.dumps(user("u@example.com", emails="u@example.com")).encode(), "invalidValue"),
        (json.dumps(user("u@example.com", name="U")).encode(), "invalidValue"),
        (json.dumps(user(42)).encode(), "invalidValue"),  # type: ignore[arg-type]
        (json.dumps({"schemas": [USER_SCHEMA]}).encode(), "invalidValue"),
        (
            json.dumps(
                user(
                    "d@example.com",
                    x=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
                )
            ).encode(),
            "invalidSyntax",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "invalidSyntax"),
    ],
)
async def test_bad_resources_are_refused_and_nothing_is_written(
    scim: ScimRelay, body: bytes, scim_type: str
) -> None:
    status, answer, _ = await scim.call("POST", "/Users", data=body)
    assert_error(status, answer, 400, scim_type)
    assert await snapshot(scim) == []


async def test_duplicate_user_name_is_409_whatever_its_case(scim: ScimRelay) -> None:
    first = await create(scim, "/Users", user("Dup@Example.com"))
    before = await snapshot(scim)
    status, body, _ = await scim.call("POST", "/Users", user("dup@example.COM"))
    assert_error(status, body, 409, "uniqueness")
    other = await create(scim, "/Users", user("other@example.com"))
    status, body, _ = await scim.call(
        "PATCH",
        f"/Users/{other['id']}",
        patch_op({"op": "replace", "path": "userName", "value": "DUP@example.com"}),
    )
    assert_error(status, body, 409, "uniqueness")
    status, body, _ = await scim.call("PUT", f"/Users/{other['id']}", user("dup@EXAMPLE.com"))
    assert_error(status, body, 409, "uniqueness")
    after = await snapshot(scim)
    assert [e for e in after if e[0] != other["id"]] == before
    assert first["id"] in {e[0] for e in after}


@pytest.mark.parametrize(
    ("operations", "scim_type"),
    [
        ([{"op": "replace", "path": "nosuch", "value": 1}], "invalidPath"),
        ([{"op": "replace", "path": 'emails[type eq "work"', "value": 1}], "invalidPath"),
        ([{"op": "remove"}], "noTarget"),
        ([{"op": "replace", "path": "id", "value": "other"}], "mutability"),
        ([{"op": "replace", "path": "meta", "value": {}}], "mutability"),
        ([{"op": "replace", "path": "active", "value": "perhaps"}], "invalidValue"),
        ([{"op": "remove", "path": "userName"}], "invalidValue"),
        (
            [
                {"op": "replace", "path": "title", "value": "written?"},
                {"op": "replace", "path": "nosuch", "value": 1},
            ],
            "invalidPath",
        ),
    ],
)
async def test_bad_patches_change_nothing(
    scim: ScimRelay, operations: list[dict[str, Any]], scim_type: str
) -> None:
    created = await create(scim, "/Users", user("patch@example.com"))
    before = await snapshot(scim)
    status, body, _ = await scim.call("PATCH", f"/Users/{created['id']}", patch_op(*operations))
    assert_error(status, body, 400, scim_type)
    assert await snapshot(scim) == before


@pytest.mark.parametrize(
    "text",
    [
        'userName eq "x" or ' * 200 + 'userName eq "x"',
        "(" * 1000 + 'userName eq "x"' + ")" * 1000,
        'userName eq "x"; DROP TABLE directory_entries; --',
        "userName eq \"x\" OR '1'='1'",
        'userName eq "unterminated',
        "userName eq x",
        'nosuch eq "x"',
        "userName eq " + "9" * 5000,
        'meta.created gt "not a date"',
        'emails[type eq "work" and emails[value eq "x"]]',
    ],
)
async def test_hostile_filters_are_invalid_filter(scim: ScimRelay, text: str) -> None:
    await create(scim, "/Users", user("victim@example.com"))
    before = await snapshot(scim)
    status, body, _ = await scim.call("GET", "/Users", params={"filter": text})
    assert_error(status, body, 400, "invalidFilter")
    assert await snapshot(scim) == before


async def test_a_deeply_nested_search_body_is_invalid_filter(scim: ScimRelay) -> None:
    text = "(" * 50_000 + 'userName eq "x"' + ")" * 50_000
    status, body, _ = await scim.call(
        "POST", "/Users/.search", {"schemas": [SEARCH], "filter": text}
    )
    assert_error(status, body, 400, "invalidFilter")


async def test_quotes_in_a_filter_value_are_just_characters(scim: ScimRelay) -> None:
    await create(scim, "/Users", user("o'brien\"x@example.com"))
    status, page, _ = await scim.call(
        "GET", "/Users", params={"filter": 'userName eq "O\'BRIEN\\"X@example.com"'}
    )
    assert (status, page["totalResults"]) == (200, 1)
    status, page, _ = await scim.call("GET", "/Users", params={"filter": 'userName co "%"'})
    assert (status, page["totalResults"]) == (200, 0), "LIKE wildcards are not wildcards"
    injection = 'userName eq "x\\" or 1=1 --"'
    status, page, _ = await scim.call("GET", "/Users", params={"filter": injection})
    assert (status, page["totalResults"]) == (200, 0)
    assert len(await snapshot(scim)) == 1


async def test_a_20_mb_body_is_413_and_the_server_carries_on(scim: ScimRelay) -> None:
    payload = b'{"schemas": ["' + b"x" * (20 * 1024 * 1024) + b'"]}'
    async with scim.http.post(scim.url + "/Users", data=payload) as response:
        assert response.status == 413
        body = await response.json(content_type=SCIM_JSON)
    assert_error(413, body, 413)
    assert await snapshot(scim) == []

    async def chunks() -> Any:
        for _ in range(40):
            yield b"x" * (512 * 1024)

    async with scim.http.post(scim.url + "/Users", data=chunks()) as response:
        assert response.status == 413, "a chunked body without Content-Length is cut off too"
    status, _, _ = await scim.call("GET", "/Users")
    assert status == 200


async def test_a_deeply_nested_bulk_request_is_invalid_syntax(scim: ScimRelay) -> None:
    data: Any = user("deep@example.com")
    for _ in range(40):
        data = {"x": [data]}
    request = {
        "schemas": [BULK],
        "Operations": [{"method": "POST", "path": "/Users", "data": data}],
    }
    status, body, _ = await scim.call("POST", "/Bulk", request)
    assert_error(status, body, 400, "invalidSyntax")
    assert await snapshot(scim) == []


async def test_custom_extension_schemas_from_the_settings(tmp_path: Path) -> None:
    acme = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
    extension = CustomExtension(
        acme, (("badgeNumber", "string", False), ("isContractor", "boolean", False))
    )
    settings = RelaySettings(scim=ScimSettings(extensions=(extension,)))
    async for scim in start_relay(settings, tmp_path):
        body = user("ext@example.com", **{acme: {"badgeNumber": "B-7", "isContractor": "True"}})
        body["schemas"].append(acme)
        created = await create(scim, "/Users", body)
        assert created[acme] == {"badgeNumber": "B-7", "isContractor": True}
        assert created["schemas"] == [USER_SCHEMA, acme]
        status, patched, _ = await scim.call(
            "PATCH",
            f"/Users/{created['id']}",
            patch_op({"op": "Replace", "path": f"{acme}:badgeNumber", "value": "B-8"}),
        )
        assert (status, patched[acme]["badgeNumber"]) == (200, "B-8")
        status, page, _ = await scim.call(
            "GET", "/Users", params={"filter": f'{acme}:badgeNumber eq "B-8"'}
        )
        assert (status, page["totalResults"]) == (200, 1)
        status, schema, _ = await scim.call("GET", f"/Schemas/{acme}")
        assert [a["name"] for a in schema["attributes"]] == ["badgeNumber", "isContractor"]
        status, types, _ = await scim.call("GET", "/ResourceTypes/User")
        assert {"schema": acme, "required": False} in types["schemaExtensions"]
        bad = user("bad@example.com", **{acme: {"shoeSize": 44}})
        status, error, _ = await scim.call("POST", "/Users", bad)
        assert_error(status, error, 400, "invalidSyntax")


async def test_put_of_a_group_sets_members_only_when_it_names_them(scim: ScimRelay) -> None:
    alice = await create(scim, "/Users", user("alice@example.com"))
    created = await create(scim, "/Groups", group("Staff", alice["id"]))
    path = f"/Groups/{created['id']}"
    status, _, _ = await scim.call("PUT", path, {"schemas": [GROUP_SCHEMA], "displayName": "New"})
    assert status == 200
    assert [m.id for m in await scim.store.group_members(created["id"])] == [alice["id"]]
    status, replaced, _ = await scim.call("PUT", path, group("New"))
    assert status == 200
    assert "members" not in replaced, "an empty list is left out, as RFC 7643 §2.5 allows"
    assert await scim.store.group_members(created["id"]) == []


@pytest.mark.parametrize(
    "params",
    [
        {"sortBy": "nosuch"},
        {"sortOrder": "sideways"},
        {"startIndex": "first"},
        {"count": "many"},
        {"count": "1e3"},
        {"startIndex": "99999999999999999999"},
        {"startIndex": "3000000000"},
    ],
)
async def test_bad_list_parameters_are_invalid_value(
    scim: ScimRelay, params: dict[str, str]
) -> None:
    status, body, _ = await scim.call("GET", "/Users", params=params)
    assert_error(status, body, 400, "invalidValue")


async def test_a_method_the_endpoint_lacks_is_a_scim_405(scim: ScimRelay) -> None:
    status, body, response = await scim.call("PATCH", "/Users", {})
    assert_error(status, body, 405)
    assert set(response.headers["Allow"].split(",")) == {"GET", "POST", "HEAD"}
