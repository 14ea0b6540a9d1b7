"""Directory users and groups, and assignments to jobs, through the API."""

from __future__ import annotations

from typing import Any

import pytest

from relay.store.base import Entry, EntryKind, MemberChange
from tests.relay.api.conftest import Api, ApiRelay

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


async def add_user(relay: ApiRelay, name: str, **attributes: Any) -> Entry:
    resource = {"schemas": [USER], "userName": name, **attributes}
    return await relay.store.create_entry(EntryKind.USER, resource)


async def add_group(relay: ApiRelay, name: str, members: list[str]) -> Entry:
    resource = {"schemas": [GROUP], "displayName": name}
    return await relay.store.create_entry(EntryKind.GROUP, resource, members=members)


async def test_users_page_by_id(api: Api, relay: ApiRelay) -> None:
    users = [await add_user(relay, f"user{i}") for i in range(5)]
    ids = sorted(u.id for u in users)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "2"} if cursor is None else {"limit": "2", "after": cursor}
        status, page = await api("GET", "/directory/users", token=relay.viewer_token, params=params)
        assert status == 200
        seen += [e["id"] for e in page["items"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert (seen, pages) == (ids, 3)


async def test_an_entry_shows_its_resource_and_times(api: Api, relay: ApiRelay) -> None:
    ada = await add_user(relay, "ada", externalId="e-1", active=False)
    status, body = await api("GET", f"/directory/users/{ada.id}")
    assert status == 200
    assert body == {
        "id": ada.id,
        "kind": "user",
        "name": "ada",
        "external_id": "e-1",
        "active": False,
        "version": 1,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "resource": ada.resource,
    }
    assert body["created_at"].endswith("Z")
    status, listed = await api("GET", "/directory/users")
    assert listed["items"] == [body]


async def test_a_group_shows_its_members(api: Api, relay: ApiRelay) -> None:
    ada = await add_user(relay, "ada")
    inner = await add_group(relay, "inner", [])
    staff = await add_group(relay, "staff", [ada.id, inner.id])
    status, body = await api("GET", f"/directory/groups/{staff.id}")
    assert status == 200
    assert (body["name"], body["active"]) == ("staff", None)
    assert sorted(body["members"], key=lambda m: m["kind"]) == [
        {"id": inner.id, "kind": "group"},
        {"id": ada.id, "kind": "user"},
    ]
    status, page = await api(
        "GET", "/directory/groups", params={"filter": 'displayName eq "STAFF"'}
    )
    assert status == 200
    assert [g["id"] for g in page["items"]] == [staff.id]
    assert "members" not in page["items"][0]
    await relay.store.update_entry(EntryKind.GROUP, staff.id, members=MemberChange(replace=()))
    status, body = await api("GET", f"/directory/groups/{staff.id}")
    assert (body["members"], body["version"]) == ([], 2)


async def test_users_are_filtered_with_scim_filters(api: Api, relay: ApiRelay) -> None:
    ada = await add_user(relay, "ada", active=True, emails=[{"value": "ada@x.org"}])
    await add_user(relay, "adam", active=False)
    await add_user(relay, "bob", active=True)
    for text, names in [
        ('userName sw "ad"', {"ada", "adam"}),
        ('userName sw "ad" and active eq true', {"ada"}),
        ('emails.value co "@x.org"', {"ada"}),
        (f'id eq "{ada.id}"', {"ada"}),
        ("not (active eq true)", {"adam"}),
    ]:
        status, page = await api("GET", "/directory/users", params={"filter": text})
        assert status == 200, text
        assert {e["name"] for e in page["items"]} == names, text


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('userName zz "a"', "found 'zz'"),
        ('color eq "red"', "unknown attribute 'color'"),
        ('userName eq "a" and', "found the end of the filter"),
        ("active gt true", "'gt' does not apply"),
        ('meta.version eq "x"', "meta.version"),
        ("", "'filter'"),
    ],
)
async def test_a_bad_filter_is_a_400_naming_the_problem(api: Api, text: str, named: str) -> None:
    status, body = await api("GET", "/directory/users", params={"filter": text})
    assert status == 400
    assert named in body["error"]["message"]


@pytest.mark.parametrize("limit", ["0", "1001", "many"])
async def test_a_bad_limit_is_a_400(api: Api, limit: str) -> None:
    status, body = await api("GET", "/directory/groups", params={"limit": limit})
    assert status == 400
    assert "limit" in body["error"]["message"]


async def test_unknown_entries_are_404(api: Api, relay: ApiRelay) -> None:
    ada = await add_user(relay, "ada")
    assert (await api("GET", "/directory/users/nobody"))[0] == 404
    assert (await api("GET", f"/directory/groups/{ada.id}"))[0] == 404, "a user is no group"


JOB = 'name = "crm"\ntarget = "scim"\nscope = "assigned"\n\n[connection]\nconnector = "crm"\n'


async def test_assignments_are_made_listed_and_taken_off(api: Api, relay: ApiRelay) -> None:
    await relay.store.create_job("crm", JOB)
    ada = await add_user(relay, "ada")
    bob = await add_user(relay, "bob")
    staff = await add_group(relay, "staff", [bob.id])

    status, made = await api(
        "POST", "/jobs/crm/assignments", json={"kind": "user", "entry": "ADA", "role": "sales"}
    )
    assert (status, made) == (
        201,
        {"job": "crm", "kind": "user", "entry_id": ada.id, "role": "sales"},
    )
    status, _ = await api(
        "POST", "/jobs/crm/assignments", json={"kind": "group", "entry": staff.id}
    )
    assert status == 201
    assert await relay.store.assigned_users("crm") == sorted([ada.id, bob.id])

    status, first = await api(
        "GET", "/jobs/crm/assignments", token=relay.viewer_token, params={"limit": "1"}
    )
    assert status == 200
    assert [a["entry_id"] for a in first["items"]] == [staff.id]
    status, second = await api(
        "GET", "/jobs/crm/assignments", params={"limit": "1", "after": first["next"]}
    )
    assert [(a["entry_id"], a["role"]) for a in second["items"]] == [(ada.id, "sales")]
    assert second["next"] is None

    answer = await api.raw("DELETE", f"/jobs/crm/assignments/user/{ada.id}")
    assert (answer.status, answer.body) == (204, None)
    assert await relay.store.assigned_users("crm") == [bob.id]
    assert (await api("DELETE", f"/jobs/crm/assignments/user/{ada.id}"))[0] == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"kind": "user", "entry": "nobody"}, 404),
        ({"kind": "robot", "entry": "ada"}, 400),
        ({"entry": "ada"}, 400),
        ({"kind": "user"}, 400),
        ({"kind": "user", "entry": ""}, 400),
        ({"kind": "user", "entry": "ada", "role": ""}, 400),
        ({"kind": "user", "entry": "ada", "role": 5}, 400),
    ],
)
async def test_bad_assignments_are_refused(
    api: Api, relay: ApiRelay, body: dict[str, Any], status: int
) -> None:
    await relay.store.create_job("crm", JOB)
    await add_user(relay, "ada")
    got, answer = await api("POST", "/jobs/crm/assignments", json=body)
    assert got == status, answer
    assert await relay.store.assignments("crm") == []


async def test_assignments_of_an_unknown_job_are_404(api: Api, relay: ApiRelay) -> None:
    await add_user(relay, "ada")
    assert (await api("GET", "/jobs/nojob/assignments"))[0] == 404
    status, body = await api(
        "POST", "/jobs/nojob/assignments", json={"kind": "user", "entry": "ada"}
    )
    assert status == 404
    assert "nojob" in body["error"]["message"]
    assert (await api("DELETE", "/jobs/crm/assignments/robot/x"))[0] == 400
