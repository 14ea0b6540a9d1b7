"""Bad input to the SCIM endpoint: each gets RFC 7644's status and ``scimType``, and the
store is checked afterwards to hold exactly what it held before. Refusals that rest on the
store (uniqueness, quotes in filter values reaching SQL) run on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.relay.directory.conftest import (
    BULK,
    GROUP_SCHEMA,
    SCIM_JSON,
    SEARCH,
    USER_SCHEMA,
    ScimRelay,
    assert_error,
    create,
    patch_op,
    snapshot,
    user,
)


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


async def test_duplicate_user_name_is_409_whatever_its_case(scim_any_store: ScimRelay) -> None:
    scim = scim_any_store
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


async def test_quotes_in_a_filter_value_are_just_characters(scim_any_store: ScimRelay) -> None:
    scim = scim_any_store
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


@pytest.mark.parametrize("secret", [b"hws_\xff\xfe", b"hws_\xc3\xa9t\xc3\xa9", b"hws_a b"])
async def test_a_bearer_token_that_is_not_text_is_a_scim_401(
    scim: ScimRelay, secret: bytes
) -> None:
    host, port = scim.url.split("//")[1].split("/")[0].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"GET /scim/v2/Users HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n"
            b"Authorization: Bearer " + secret + b"\r\n\r\n"
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert int(head.split()[1]) == 401, answer
    assert_error(401, json.loads(body), 401)


async def test_a_nul_character_is_invalid_on_every_store(scim_any_store: ScimRelay) -> None:
    status, answer, _ = await scim_any_store.call("POST", "/Users", user("n\x00l@example.com"))
    assert_error(status, answer, 400, "invalidValue")
    assert "NUL" in answer["detail"]
    assert await snapshot(scim_any_store) == []
