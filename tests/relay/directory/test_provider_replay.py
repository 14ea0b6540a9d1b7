"""Replays of the requests Microsoft Entra ID and Okta send to a SCIM app, in the forms
their public documentation shows, against the relay's endpoint on both stores.

Sources:

- Microsoft, "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft
  Entra ID", section "Request and response examples"
  (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups):
  user create, userName and externalId queries, PATCH with ``Replace`` and
  ``emails[type eq "work"].value``, disable, group create listing Microsoft's own ADSCIM
  schema, group reads with ``excludedAttributes=members``, members added and removed with
  ``$ref: null``.
- Microsoft, "Known issues and resolutions with SCIM 2.0 protocol compliance of the
  Microsoft Entra user provisioning service"
  (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility):
  capitalised ``Add`` / ``Replace`` / ``Remove``, booleans sent as "True" / "False", the
  older member removal (``Remove`` on ``members`` with a value list), path-less
  ``Replace`` whose keys are paths.
- Okta, "Okta and SCIM Version 2.0" (SCIM 2.0 protocol reference,
  https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20) and "Build a SCIM
  provisioning integration": ``userName eq`` lookups with ``startIndex=1&count=100``,
  create with ``groups`` and ``password``, PUT for profile updates, PATCH for ``active``,
  group rename by path-less replace carrying the id, membership by PATCH and by PUT.
"""

from __future__ import annotations

from relay.store.base import EntryKind
from tests.relay.directory.conftest import (
    ENTERPRISE,
    GROUP_SCHEMA,
    USER_SCHEMA,
    ScimRelay,
    patch_op,
)

ADSCIM_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


async def test_entra_user_lifecycle(scim_any_store: ScimRelay) -> None:
    scim = scim_any_store
    # Entra first looks the user up by its matching attribute and finds nothing.
    status, page, _ = await scim.call(
        "GET", "/Users", params={"filter": 'userName eq "Test_User_dfeef4c5@testuser.com"'}
    )
    assert (status, page["totalResults"], page.get("Resources", [])) == (200, 0, [])

    create = {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_dfeef4c5@testuser.com",
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": "Test_User_fd0e@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName",
        },
        "roles": [],
        ENTERPRISE: {"department": "Sales", "manager": {"value": ""}},
    }
    status, created, _ = await scim.call("POST", "/Users", create)
    assert status == 201, created
    user_id = created["id"]
    assert created["externalId"] == create["externalId"]
    assert created["meta"]["resourceType"] == "User"

    for query in (
        'userName eq "test_user_DFEEF4C5@testuser.com"',
        'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"',
    ):
        status, page, _ = await scim.call("GET", "/Users", params={"filter": query})
        assert (status, page["totalResults"]) == (200, 1), query
        assert page["Resources"][0]["id"] == user_id
    status, page, _ = await scim.call(
        "GET", "/Users", params={"filter": 'externalId eq "0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF"'}
    )
    assert page["totalResults"] == 0, "externalId is case-exact"

    update = patch_op(
        {
            "op": "Replace",
            "path": 'emails[type eq "work"].value',
            "value": "updatedEmail@microsoft.com",
        },
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        {"op": "Add", "path": "title", "value": "Engineer"},
        {
            "op": "Replace",
            "path": f"{ENTERPRISE}:manager",
            "value": "26118915-6090-4610-87e4-49d8ca9f808d",
        },
        {"op": "Replace", "value": {"displayName": "Updated", "name.givenName": "Given"}},
    )
    status, updated, _ = await scim.call("PATCH", f"/Users/{user_id}", update)
    assert status == 200, updated
    assert updated["emails"] == [
        {"primary": True, "type": "work", "value": "updatedEmail@microsoft.com"}
    ]
    assert updated["name"]["familyName"] == "updatedFamilyName"
    assert updated["name"]["givenName"] == "Given"
    assert updated["displayName"] == "Updated"
    assert updated[ENTERPRISE]["manager"] == {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}

    status, disabled, _ = await scim.call(
        "PATCH",
        f"/Users/{user_id}",
        patch_op({"op": "Replace", "path": "active", "value": "False"}),
    )
    assert (status, disabled["active"]) == (200, False)
    stored = await scim.store.get_entry(EntryKind.USER, user_id)
    assert stored.resource["active"] is False
    status, enabled, _ = await scim.call(
        "PATCH", f"/Users/{user_id}", patch_op({"op": "Replace", "path": "active", "value": "True"})
    )
    assert (status, enabled["active"]) == (200, True)

    status, _, _ = await scim.call("DELETE", f"/Users/{user_id}")
    assert status == 204
    status, _, _ = await scim.call("GET", f"/Users/{user_id}")
    assert status == 404


async def test_entra_groups_and_members(scim_any_store: ScimRelay) -> None:
    scim = scim_any_store
    member_ids = []
    for name in ("one", "two", "three"):
        body = {"schemas": [USER_SCHEMA], "userName": f"{name}@testuser.com", "active": True}
        status, created, _ = await scim.call("POST", "/Users", body)
        assert status == 201
        member_ids.append(created["id"])

    create = {
        "schemas": [GROUP_SCHEMA, ADSCIM_GROUP],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
        "meta": {"resourceType": "Group"},
    }
    status, group, _ = await scim.call("POST", "/Groups", create)
    assert status == 201, group
    group_id = group["id"]
    assert group["schemas"] == [GROUP_SCHEMA]

    status, page, _ = await scim.call(
        "GET",
        "/Groups",
        params={"excludedAttributes": "members", "filter": 'displayName eq "displayName"'},
    )
    assert (status, page["totalResults"]) == (200, 1)
    assert "members" not in page["Resources"][0]

    add = patch_op(
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": m} for m in member_ids]}
    )
    status, _, _ = await scim.call("PATCH", f"/Groups/{group_id}", add)
    assert status == 200
    # The older removal form: Remove on "members" with the ids as a value list.
    remove_old = patch_op(
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": member_ids[0]}]}
    )
    status, _, _ = await scim.call("PATCH", f"/Groups/{group_id}", remove_old)
    assert status == 200
    remove_new = patch_op({"op": "Remove", "path": f'members[value eq "{member_ids[1]}"]'})
    status, _, _ = await scim.call("PATCH", f"/Groups/{group_id}", remove_new)
    assert status == 200
    assert [m.id for m in await scim.store.group_members(group_id)] == [member_ids[2]]

    rename = patch_op({"op": "Replace", "path": "displayName", "value": "updatedDisplayName"})
    status, renamed, _ = await scim.call(
        "PATCH", f"/Groups/{group_id}", rename, params={"excludedAttributes": "members"}
    )
    assert (status, renamed["displayName"]) == (200, "updatedDisplayName")
    assert "members" not in renamed

    status, one, _ = await scim.call(
        "GET", f"/Groups/{group_id}", params={"excludedAttributes": "members"}
    )
    assert (status, one["displayName"]) == (200, "updatedDisplayName")
    status, _, _ = await scim.call("DELETE", f"/Groups/{group_id}")
    assert status == 204


async def test_okta_user_lifecycle(scim_any_store: ScimRelay) -> None:
    scim = scim_any_store
    lookup = {"filter": 'userName eq "test.user@okta.local"', "startIndex": "1", "count": "100"}
    status, page, _ = await scim.call("GET", "/Users", params=lookup)
    assert (status, page["totalResults"], page["startIndex"]) == (200, 0, 1)

    create = {
        "schemas": [USER_SCHEMA],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }
    status, created, _ = await scim.call("POST", "/Users", create)
    assert status == 201, created
    user_id = created["id"]
    assert "password" not in created

    status, page, _ = await scim.call("GET", "/Users", params=lookup)
    assert (status, page["totalResults"], page["itemsPerPage"]) == (200, 1, 1)
    assert page["Resources"][0]["id"] == user_id

    put = {
        "schemas": [USER_SCHEMA],
        "id": user_id,
        "userName": "test.user@okta.local",
        "name": {"givenName": "Another", "middleName": "", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Another User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "active": True,
        "meta": {"resourceType": "User", "created": created["meta"]["created"]},
    }
    status, replaced, _ = await scim.call("PUT", f"/Users/{user_id}", put)
    assert status == 200, replaced
    assert replaced["name"]["givenName"] == "Another"
    assert replaced["id"] == user_id

    deactivate = patch_op({"op": "replace", "value": {"active": False}})
    status, patched, _ = await scim.call("PATCH", f"/Users/{user_id}", deactivate)
    assert (status, patched["active"]) == (200, False)
    assert (await scim.store.get_entry(EntryKind.USER, user_id)).resource["active"] is False


async def test_okta_groups_by_patch_and_by_put(scim_any_store: ScimRelay) -> None:
    scim = scim_any_store
    users = []
    for name in ("a", "b", "c"):
        body = {"schemas": [USER_SCHEMA], "userName": f"{name}@okta.local"}
        status, created, _ = await scim.call("POST", "/Users", body)
        users.append(created["id"])

    status, page, _ = await scim.call(
        "GET",
        "/Groups",
        params={"filter": 'displayName eq "Test SCIMv2"', "startIndex": "1", "count": "100"},
    )
    assert (status, page["totalResults"]) == (200, 0)
    body = {"schemas": [GROUP_SCHEMA], "displayName": "Test SCIMv2", "members": []}
    status, group, _ = await scim.call("POST", "/Groups", body)
    assert status == 201
    group_id = group["id"]

    rename = patch_op({"op": "replace", "value": {"id": group_id, "displayName": "Renamed"}})
    status, renamed, _ = await scim.call("PATCH", f"/Groups/{group_id}", rename)
    assert (status, renamed["displayName"]) == (200, "Renamed")

    add = patch_op(
        {
            "op": "add",
            "path": "members",
            "value": [{"value": users[0], "display": "a@okta.local"}, {"value": users[1]}],
        }
    )
    status, _, _ = await scim.call("PATCH", f"/Groups/{group_id}", add)
    assert status == 200
    remove = patch_op({"op": "remove", "path": f'members[value eq "{users[0]}"]'})
    status, after, _ = await scim.call("PATCH", f"/Groups/{group_id}", remove)
    assert status == 200
    assert [m["value"] for m in after["members"]] == [users[1]]

    put = {
        "schemas": [GROUP_SCHEMA],
        "id": group_id,
        "displayName": "Renamed",
        "members": [{"value": users[2], "display": "c@okta.local"}, {"value": users[0]}],
    }
    status, replaced, _ = await scim.call("PUT", f"/Groups/{group_id}", put)
    assert status == 200, replaced
    assert {m.id for m in await scim.store.group_members(group_id)} == {users[0], users[2]}

    status, _, _ = await scim.call("DELETE", f"/Groups/{group_id}")
    assert status == 204
    status, _, _ = await scim.call("GET", f"/Groups/{group_id}")
    assert status == 404
