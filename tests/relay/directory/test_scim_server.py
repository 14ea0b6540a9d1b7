"""The relay's SCIM endpoint over HTTP on a real socket: every verb, the discovery
documents, ETags, Bulk, and bad input answered with RFC 7644's status and ``scimType`` while
the store stays as it was (more bad input: ``test_scim_server_bad_input.py``; Bulk:
``test_bulk.py``). Tests whose
outcome rests on the store (filters, uniqueness, members, versions, Bulk) run on SQLite and
PostgreSQL; the rest, decided before the store is reached, on SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from relay.directory.settings import CustomExtension, ScimSettings
from relay.settings import RelaySettings
from relay.store.base import EntryKind
from tests.relay.directory.conftest import (
    ENTERPRISE,
    GROUP_SCHEMA,
    SCIM_JSON,
    SEARCH,
    USER_SCHEMA,
    ScimRelay,
    assert_error,
    create,
    group,
    patch_op,
    snapshot,
    start_relay,
    user,
)

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
    status, missing, _ = await scim.call("PUT", f"/Users/{user_id}", user("gone@example.com"))
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


async def test_list_filter_sort_paginate_and_project(scim_any_store: ScimRelay) -> None:
    scim = scim_any_store
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


async def test_group_with_an_unknown_member_is_refused_whole(scim_any_store: ScimRelay) -> None:
    scim = scim_any_store
    alice = await create(scim, "/Users", user("alice@example.com"))
    before = await snapshot(scim)
    status, body, _ = await scim.call("POST", "/Groups", group("G", alice["id"], "no-such-id"))
    assert_error(status, body, 400, "invalidValue")
    assert await snapshot(scim) == before
    existing = await create(scim, "/Groups", group("H", alice["id"]))
    before = await snapshot(scim)
    status, body, _ = await scim.call(
        "PUT", f"/Groups/{existing['id']}", group("H", alice["id"], "no-such-id")
    )
    assert_error(status, body, 400, "invalidValue")
    assert await snapshot(scim) == before


# ETags -------------------------------------------------------------------------------------


async def test_if_match_and_if_none_match(scim_any_store: ScimRelay) -> None:
    scim = scim_any_store
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


async def test_custom_extension_schemas_from_the_settings(tmp_path: Path) -> None:
    acme = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
    extension = CustomExtension(
        acme,
        (
            ("badgeNumber", "string", False),
            ("isContractor", "boolean", False),
            ("costCenters", "string", True),
        ),
    )
    settings = RelaySettings(scim=ScimSettings(extensions=(extension,)))
    async for scim in start_relay(settings, tmp_path):
        body = user(
            "ext@example.com",
            **{acme: {"badgeNumber": "B-7", "isContractor": "True", "costCenters": ["C1", "C2"]}},
        )
        body["schemas"].append(acme)
        created = await create(scim, "/Users", body)
        assert created[acme] == {
            "badgeNumber": "B-7",
            "isContractor": True,
            "costCenters": ["C1", "C2"],
        }
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
        for text, found in (
            (f'{acme}:costCenters eq "c2"', 1),
            (f"{acme}:isContractor eq false", 0),
        ):
            status, page, _ = await scim.call("GET", "/Users", params={"filter": text})
            assert (status, page["totalResults"]) == (200, found), text
        status, schema, _ = await scim.call("GET", f"/Schemas/{acme}")
        assert [a["name"] for a in schema["attributes"]] == [
            "badgeNumber",
            "isContractor",
            "costCenters",
        ]
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


async def test_locations_use_the_public_url_behind_a_proxy(tmp_path: Path) -> None:
    settings = RelaySettings(scim=ScimSettings(public_url="https://relay.example.com"))
    async for relay in start_relay(settings, tmp_path):
        created = await create(relay, "/Users", user("bjensen"))
        base = "https://relay.example.com/scim/v2"
        assert created["meta"]["location"] == f"{base}/Users/{created['id']}"
        status, config, _ = await relay.call("GET", "/ServiceProviderConfig")
        assert status == 200
        assert config["meta"]["location"] == f"{base}/ServiceProviderConfig"
