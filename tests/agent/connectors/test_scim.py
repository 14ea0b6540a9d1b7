"""The SCIM connector beyond the contract suite.

Against a real ``scim2-server`` process: discovery, attribute paths, Bulk, PUT where PATCH
is not offered, bad input values, TLS (through a TLS-terminating proxy in front of it) and
a 10,000-member group. Against the stand-in of ``tests/servers/scim_standin.py`` (a small
aiohttp SCIM service on a real socket) what scim2-server cannot do: basic and OAuth 2.0
authentication, 429/503 with Retry-After, malformed JSON, 500s, slow answers, dropped
connections, 412 on PUT; and what must be seen request by request (membership changes that
never read the member list, requests in flight, keep-alive).
"""

from __future__ import annotations

import time
import tomllib
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from agent.connectors.scim import ScimConnector
from shared.connector import (
    GROUP,
    USER,
    Action,
    Attributes,
    AttributeType,
    Delta,
    DeltaKind,
    Equals,
    Operation,
    Page,
    StartsWith,
)
from shared.exceptions import ConflictError, InvalidDataError, NotFoundError, UnavailableError
from tests.agent.connectors.scim_helpers import ENTERPRISE, WORK_EMAIL, scim, user
from tests.servers.scim import PUT_ONLY_CONFIG, ScimServer, running_scim
from tests.servers.scim_standin import BEARER, Fault, ScimStandIn, running_standin

pytestmark = pytest.mark.server


# Discovery and schema ------------------------------------------------------------------------


async def test_schema_comes_from_the_discovery_endpoints(scim_connector: ScimConnector) -> None:
    schema = await scim_connector.schema()
    users = schema.object_class(USER)
    groups = schema.object_class(GROUP)
    assert users is not None
    assert groups is not None
    assert users.naming_attribute == "userName"
    assert groups.naming_attribute == "displayName"
    attrs = {a.name: a for a in users.attributes}
    assert attrs["userName"].required
    assert attrs["userName"].unique
    assert attrs["active"].type is AttributeType.BOOLEAN
    assert attrs["emails"].multi_valued
    assert not attrs[WORK_EMAIL].multi_valued
    assert attrs["name.givenName"].type is AttributeType.STRING
    assert f"{ENTERPRISE}:department" in attrs
    assert f"{ENTERPRISE}:manager.value" in attrs
    assert not attrs["groups"].updatable
    group_attrs = {a.name: a for a in groups.attributes}
    assert group_attrs["members"].multi_valued
    assert group_attrs["members"].updatable
    assert attrs["emails"].updatable
    assert "externalId" in attrs


async def test_a_service_without_schemas_still_serves_users(
    to_standin: ScimConnector, standin: ScimStandIn
) -> None:
    schema = await to_standin.schema()
    users = schema.object_class(USER)
    assert users is not None
    assert [a.name for a in users.attributes] == ["userName"]
    anchor = await to_standin.create(USER, user("plain", **{WORK_EMAIL: "p@example.org"}))
    assert standin.resources["Users"][anchor]["emails"] == [
        {"type": "work", "value": "p@example.org"}
    ]


# Attribute paths ---------------------------------------------------------------------------


async def test_paths_write_and_read_back(
    scim_connector: ScimConnector, scim_server: ScimServer
) -> None:
    sent: Attributes = {
        "userName": "paths-1",
        "name.givenName": "Ada",
        WORK_EMAIL: "ada@example.org",
        'emails[type eq "home"].value': "ada@home.example",
        f"{ENTERPRISE}:department": "Engines",
        f"{ENTERPRISE}:manager.value": "boss-id",
    }
    anchor = await scim_connector.create(USER, sent)
    stored = scim_server.request("GET", f"/Users/{anchor}")
    assert ENTERPRISE in stored["schemas"]
    assert stored[ENTERPRISE]["manager"]["value"] == "boss-id"
    found = await scim_connector.get(USER, anchor)
    for name, value in sent.items():
        assert found.attributes[name] == value, name
    assert found.attributes["emails"] == ["ada@example.org", "ada@home.example"]


async def test_a_typed_path_without_its_element_is_added(scim_connector: ScimConnector) -> None:
    anchor = await scim_connector.create(USER, user("typed-1"))
    await scim_connector.update(
        USER, anchor, [Delta(WORK_EMAIL, DeltaKind.REPLACE, ("t@example.org",))]
    )
    await scim_connector.update(
        USER, anchor, [Delta(WORK_EMAIL, DeltaKind.REPLACE, ("u@example.org",))]
    )
    found = await scim_connector.get(USER, anchor)
    assert found.attributes[WORK_EMAIL] == "u@example.org"
    assert found.attributes["emails"] == ["u@example.org"]


@pytest.mark.parametrize(
    ("attributes", "named"),
    [
        (user("bad-1", nickname_typo="x"), "nickname_typo"),
        (user("bad-2", **{"name.nope": "x"}), "name.nope"),
        (user("bad-3", groups=["g"]), "groups"),
        (user("bad-4", active="yes"), "active"),
        (user("bad-5", **{"urn:example:ext:1.0:User:x": "x"}), "urn:example:ext:1.0:User:x"),
        (user("bad-6", **{"emails[type eq ]": "x"}), "emails[type eq ]"),
        (user("bad-7", **{'emails[type eq "\\q"].value': "x"}), 'emails[type eq "\\q"].value'),
        (user("bad-8", **{"emails.value": "x"}), "emails.value"),
        (user("bad-9", name="x"), "name"),
    ],
)
async def test_unknown_or_wrong_attributes_are_refused_naming_them(
    scim_connector: ScimConnector, attributes: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidDataError) as caught:
        await scim_connector.create(USER, attributes)
    assert caught.value.attribute == named
    assert not (
        await scim_connector.search(USER, Equals("userName", attributes["userName"]), Page())
    ).objects


async def test_a_value_the_service_refuses_is_invalid_data_naming_it(
    scim_connector: ScimConnector,
) -> None:
    """scim2-server checks values the connector cannot (a URI, base64), and says which."""
    with pytest.raises(InvalidDataError) as caught:
        await scim_connector.create(USER, user("refused-url", profileUrl="not a url at all\x00"))
    assert caught.value.attribute == "profileUrl"
    assert "HTTP 400" in caught.value.message
    with pytest.raises(InvalidDataError) as caught:
        await scim_connector.create(USER, user("refused-cert", x509Certificates=["not base64!"]))
    assert caught.value.attribute == "x509Certificates"
    page = await scim_connector.search(USER, StartsWith("userName", "refused-"), Page())
    assert page.objects == []


# Bad input values ----------------------------------------------------------------------------

BAD_VALUES = [
    'comma, plus + quote " backslash \\ less < more > semi ; equals =',
    "#leading hash",
    " leading space",
    "trailing space ",
    "nul\x00byte",
    "it's -- /* comment */ ; DROP TABLE users",
    "\u200fright-to-left \u05e9\u05dc\u05d5\u05dd",
    "emoji \U0001f600\U0001f3f3\ufe0f\u200d\U0001f308",
    "x" * 10_000,
]


@pytest.mark.parametrize("value", BAD_VALUES, ids=range(len(BAD_VALUES)))
async def test_bad_values_are_stored_exactly(scim_connector: ScimConnector, value: str) -> None:
    """scim2-server takes every one of these; a service that refused one would have to do
    so with InvalidDataError naming the attribute (see the tests above)."""
    anchor = await scim_connector.create(USER, user(value, displayName=value, title=value))
    found = await scim_connector.get(USER, anchor)
    assert found.attributes["userName"] == value
    assert found.attributes["displayName"] == value
    for attribute in ("userName", "displayName"):
        page = await scim_connector.search(USER, Equals(attribute, value), Page())
        assert [o.anchor for o in page.objects] == [anchor]
    await scim_connector.update(USER, anchor, [Delta("title", DeltaKind.REPLACE, (value + "!",))])
    assert (await scim_connector.get(USER, anchor)).attributes["title"] == value + "!"


@pytest.mark.parametrize("anchor", ["../Groups", "a/b", 'q"uote', "?filter=x", "%2F", " "])
async def test_odd_anchors_stay_inside_the_resource_path(
    scim_connector: ScimConnector, anchor: str
) -> None:
    with pytest.raises(NotFoundError):
        await scim_connector.get(USER, anchor)
    with pytest.raises(NotFoundError):
        await scim_connector.delete(USER, anchor)


async def test_nfc_and_nfd_forms_of_one_name(scim_connector: ScimConnector) -> None:
    """scim2-server compares user names in NFC: the second form is a conflict on userName,
    and the first stays exactly as sent."""
    nfd = unicodedata.normalize("NFD", f"zoë-{time.monotonic_ns()}")
    nfc = unicodedata.normalize("NFC", nfd)
    assert nfd != nfc
    anchor = await scim_connector.create(USER, user(nfd))
    with pytest.raises(ConflictError) as caught:
        await scim_connector.create(USER, user(nfc))
    assert caught.value.attribute == "userName"
    assert (await scim_connector.get(USER, anchor)).attributes["userName"] == nfd


# Bulk, PUT, large groups -------------------------------------------------------------------


async def test_updates_use_put_where_patch_is_not_offered() -> None:
    with running_scim(PUT_ONLY_CONFIG) as server:
        connector = scim(server.base_url, token=server.token)
        try:
            anchor = await connector.create(USER, user("put-1", title="Before"))
            group = await connector.create(GROUP, {"displayName": "put-group"})
            await connector.update(USER, anchor, [
                Delta("title", DeltaKind.REPLACE, ("After",)),
                Delta(WORK_EMAIL, DeltaKind.REPLACE, ("put@example.org",)),
            ])  # fmt: skip
            found = await connector.get(USER, anchor)
            assert found.attributes["title"] == "After"
            assert found.attributes[WORK_EMAIL] == "put@example.org"
            await connector.update(GROUP, group, [Delta("members", DeltaKind.ADD, (anchor,))])
            assert (await connector.get(GROUP, group)).attributes["members"] == [anchor]
            await connector.update(GROUP, group, [Delta("members", DeltaKind.REMOVE, (anchor,))])
            assert "members" not in (await connector.get(GROUP, group)).attributes
        finally:
            await connector.close()


async def test_put_sends_if_match_and_reads_again_once_after_412() -> None:
    async with running_standin(patch=False, etag=True) as standin:
        connector = scim(standin.base_url, token=BEARER)
        try:
            anchor = await connector.create(USER, user("etag-1"))
            path = f"/v2/Users/{anchor}"
            standin.fail("PUT", path, Fault("status", 412, body='{"status": "412"}'))
            await connector.update(USER, anchor, [Delta("title", DeltaKind.REPLACE, ("A",))])
            puts = standin.requests("PUT")
            assert len(puts) == 2
            assert standin.resources["Users"][anchor]["title"] == "A"
            standin.fail("PUT", path, *[Fault("status", 412, body="{}")] * 2)
            with pytest.raises(UnavailableError, match="changed on the service"):
                await connector.update(USER, anchor, [Delta("title", DeltaKind.REPLACE, ("B",))])
            assert standin.resources["Users"][anchor]["title"] == "A"
        finally:
            await connector.close()


async def test_membership_changes_send_only_the_changed_members(
    to_standin: ScimConnector, standin: ScimStandIn
) -> None:
    group = await to_standin.create(GROUP, {"displayName": "g"})
    before = len(standin.seen)
    await to_standin.update(GROUP, group, [Delta("members", DeltaKind.ADD, ("u-1", "u-2"))])
    await to_standin.update(GROUP, group, [Delta("members", DeltaKind.REMOVE, ('u "3"',))])
    sent = standin.seen[before:]
    assert [(s.method, s.path) for s in sent] == [("PATCH", f"/v2/Groups/{group}")] * 2
    assert sent[0].body["Operations"] == [
        {"op": "add", "path": "members", "value": [{"value": "u-1"}, {"value": "u-2"}]}
    ]
    assert sent[1].body["Operations"] == [{"op": "remove", "path": 'members[value eq "u \\"3\\""]'}]


@pytest.mark.timeout(240)
async def test_a_group_of_ten_thousand_members() -> None:
    """On a server of its own: the 10,001 users would slow every later search of the
    session's server, which scans its users for filters other than eq."""
    with running_scim() as server:
        connector = scim(server.base_url, token=server.token, timeout=30.0)
        try:
            await _build_and_change_a_large_group(connector)
        finally:
            await connector.close()


async def _build_and_change_a_large_group(connector: ScimConnector) -> None:
    ops = [Operation(f"l{i}", Action.CREATE, USER, attributes=user(f"large-{i}"))
           for i in range(10_001)]  # fmt: skip
    results = await connector.apply(ops)
    anchors = [r.anchor for r in results]
    assert all(anchors), [r.error for r in results if r.error][:2]
    group = await connector.create(GROUP, {"displayName": "large"})
    add_all = Delta("members", DeltaKind.ADD, tuple(anchors[:10_000]))
    await connector.update(GROUP, group, [add_all])
    await connector.update(GROUP, group, [Delta("members", DeltaKind.ADD, (anchors[10_000],))])
    await connector.update(GROUP, group, [Delta("members", DeltaKind.REMOVE, (anchors[0],))])
    members = (await connector.get(GROUP, group)).attributes["members"]
    assert isinstance(members, list)
    assert len(members) == 10_000
    assert set(members) == set(anchors[1:])


# The documented example ----------------------------------------------------------------------


async def test_the_documented_example_works(scim_server: ScimServer) -> None:
    """The first example of docs/connectors.md's SCIM section, pointed at the test server."""
    text = (Path(__file__).parents[3] / "docs" / "connectors.md").read_text()
    section = text[text.index('## SCIM connector (`type = "scim"`)') :]
    example = section[section.index("```toml\n") + 8 : section.index("```\n", 10)]
    example = example.replace("https://wiki.example.com/scim/v2", scim_server.base_url)
    example = example.replace("eyJhbGciOi...", scim_server.token)
    table = tomllib.loads(example)["connectors"]["wiki"]
    connector = ScimConnector.from_settings("wiki", table, source="agent.toml")
    try:
        await connector.test()
        anchor = await connector.create(USER, user(f"example-{time.monotonic_ns()}"))
        assert (await connector.get(USER, anchor)).anchor == anchor
    finally:
        await connector.close()
