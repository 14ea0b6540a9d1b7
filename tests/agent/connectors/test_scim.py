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

import asyncio
import time
import tomllib
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.connectors.scim import ScimConnector
from agent.connectors.scim_auth import ClientCredentials
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
from shared.exceptions import (
    AuthenticationError,
    ConflictError,
    ConnectorError,
    InvalidDataError,
    NotFoundError,
    OperationTimeoutError,
    SettingsError,
    ThrottledError,
    UnavailableError,
)
from tests.pki import make_pki
from tests.servers.scim import PUT_ONLY_CONFIG, ScimServer, running_scim
from tests.servers.scim_standin import (
    BEARER,
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    USERNAME,
    Fault,
    ScimStandIn,
    running_standin,
)
from tests.servers.tls_proxy import tls_proxy

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
WORK_EMAIL = 'emails[type eq "work"].value'

pytestmark = pytest.mark.server


def scim(base_url: str, **settings: Any) -> ScimConnector:
    return ScimConnector.from_settings(
        "apps", {"type": "scim", "base_url": base_url, **settings}, source="agent.toml"
    )


@pytest.fixture
async def real(scim_server: ScimServer) -> AsyncIterator[ScimConnector]:
    connector = scim(scim_server.base_url, token=scim_server.token, timeout=10.0)
    yield connector
    await connector.close()


@pytest.fixture
async def standin() -> AsyncIterator[ScimStandIn]:
    async with running_standin() as server:
        yield server


@pytest.fixture
async def to_standin(standin: ScimStandIn) -> AsyncIterator[ScimConnector]:
    connector = scim(standin.base_url, token=BEARER, timeout=2.0, max_retry_wait=5.0)
    yield connector
    await connector.close()


def user(user_name: str, /, **more: Any) -> dict[str, Any]:
    return {"userName": user_name, **more}


# Settings ----------------------------------------------------------------------------------


OAUTH = {
    "base_url": "https://s/v2",
    "auth": "oauth2",
    "token_url": "https://idp.example/token",
    "client_id": "c",
    "client_secret": "s",
}


@pytest.mark.parametrize(
    ("settings", "key", "problem"),
    [
        ({}, "base_url", "is required"),
        ({"base_url": "ftp://x/scim"}, "base_url", "http:// or https://"),
        ({"base_url": "http://scim.example.com/v2", "token": "t"}, "base_url", "plain http"),
        ({"base_url": "https://s/v2"}, "token", "is required"),
        ({"base_url": "https://s/v2", "token": " "}, "token", "must not be empty"),
        ({"base_url": "https://s/v2", "auth": "kerberos"}, "auth", "must be one of"),
        ({"base_url": "https://s/v2", "token": "t", "username": "u"}, "username", "does not"),
        ({"base_url": "https://s/v2", "auth": "basic", "username": "u"}, "password", "required"),
        ({"base_url": "https://s/v2", "auth": "oauth2"}, "token_url", "is required"),
        ({**OAUTH, "token_url": "http://idp.example/token"}, "token_url", "plain http"),
        ({**OAUTH, "client_auth": "jwt"}, "client_auth", "must be one of"),
        ({"base_url": "https://s/v2", "token": "t", "timeout": 0}, "timeout", "at least"),
        ({"base_url": "https://s/v2", "token": "t", "max_in_flight": 0}, "max_in_flight", ""),
        ({"base_url": "https://s/v2", "token": "t", "ca_file": "/nonexistent"}, "ca_file", ""),
        ({"base_url": "https://s/v2", "token": "t", "tiemout": 3}, "tiemout", "not a known"),
    ],
)
def test_settings_errors_name_the_file_and_key(settings, key, problem) -> None:
    with pytest.raises(SettingsError) as caught:
        ScimConnector.from_settings("apps", {"type": "scim", **settings}, source="agent.toml")
    assert caught.value.path == "agent.toml"
    assert caught.value.key == f"connectors.apps.{key}"
    assert problem in caught.value.problem


def test_plain_http_beyond_loopback_only_when_allowed() -> None:
    connector = scim("http://scim.lab.example/v2", token="t", allow_insecure=True)
    assert connector.settings.base_url == "http://scim.lab.example/v2"
    assert scim("http://localhost:8080/v2/", token="t").settings.base_url.endswith("/v2")


def test_secrets_stay_masked_in_the_settings() -> None:
    connector = scim("https://s/v2", token="very-secret-token")
    assert "very-secret-token" not in repr(connector.settings)


# Discovery and schema ------------------------------------------------------------------------


async def test_schema_comes_from_the_discovery_endpoints(real: ScimConnector) -> None:
    schema = await real.schema()
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


async def test_paths_write_and_read_back(real: ScimConnector, scim_server: ScimServer) -> None:
    sent: Attributes = {
        "userName": "paths-1",
        "name.givenName": "Ada",
        WORK_EMAIL: "ada@example.org",
        'emails[type eq "home"].value': "ada@home.example",
        f"{ENTERPRISE}:department": "Engines",
        f"{ENTERPRISE}:manager.value": "boss-id",
    }
    anchor = await real.create(USER, sent)
    stored = scim_server.request("GET", f"/Users/{anchor}")
    assert ENTERPRISE in stored["schemas"]
    assert stored[ENTERPRISE]["manager"]["value"] == "boss-id"
    found = await real.get(USER, anchor)
    for name, value in sent.items():
        assert found.attributes[name] == value, name
    assert found.attributes["emails"] == ["ada@example.org", "ada@home.example"]


async def test_a_typed_path_without_its_element_is_added(real: ScimConnector) -> None:
    anchor = await real.create(USER, user("typed-1"))
    await real.update(USER, anchor, [Delta(WORK_EMAIL, DeltaKind.REPLACE, ("t@example.org",))])
    await real.update(USER, anchor, [Delta(WORK_EMAIL, DeltaKind.REPLACE, ("u@example.org",))])
    found = await real.get(USER, anchor)
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
    real: ScimConnector, attributes: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidDataError) as caught:
        await real.create(USER, attributes)
    assert caught.value.attribute == named
    assert not (await real.search(USER, Equals("userName", attributes["userName"]), Page())).objects


async def test_a_value_the_service_refuses_is_invalid_data_naming_it(
    real: ScimConnector,
) -> None:
    """scim2-server checks values the connector cannot (a URI, base64), and says which."""
    with pytest.raises(InvalidDataError) as caught:
        await real.create(USER, user("refused-url", profileUrl="not a url at all\x00"))
    assert caught.value.attribute == "profileUrl"
    assert "HTTP 400" in caught.value.message
    with pytest.raises(InvalidDataError) as caught:
        await real.create(USER, user("refused-cert", x509Certificates=["not base64!"]))
    assert caught.value.attribute == "x509Certificates"
    page = await real.search(USER, StartsWith("userName", "refused-"), Page())
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
async def test_bad_values_are_stored_exactly(real: ScimConnector, value: str) -> None:
    """scim2-server takes every one of these; a service that refused one would have to do
    so with InvalidDataError naming the attribute (see the tests above)."""
    anchor = await real.create(USER, user(value, displayName=value, title=value))
    found = await real.get(USER, anchor)
    assert found.attributes["userName"] == value
    assert found.attributes["displayName"] == value
    for attribute in ("userName", "displayName"):
        page = await real.search(USER, Equals(attribute, value), Page())
        assert [o.anchor for o in page.objects] == [anchor]
    await real.update(USER, anchor, [Delta("title", DeltaKind.REPLACE, (value + "!",))])
    assert (await real.get(USER, anchor)).attributes["title"] == value + "!"


@pytest.mark.parametrize("anchor", ["../Groups", "a/b", 'q"uote', "?filter=x", "%2F", " "])
async def test_odd_anchors_stay_inside_the_resource_path(real: ScimConnector, anchor: str) -> None:
    with pytest.raises(NotFoundError):
        await real.get(USER, anchor)
    with pytest.raises(NotFoundError):
        await real.delete(USER, anchor)


async def test_nfc_and_nfd_forms_of_one_name(real: ScimConnector) -> None:
    """scim2-server compares user names in NFC: the second form is a conflict on userName,
    and the first stays exactly as sent."""
    nfd = unicodedata.normalize("NFD", f"zoë-{time.monotonic_ns()}")
    nfc = unicodedata.normalize("NFC", nfd)
    assert nfd != nfc
    anchor = await real.create(USER, user(nfd))
    with pytest.raises(ConflictError) as caught:
        await real.create(USER, user(nfc))
    assert caught.value.attribute == "userName"
    assert (await real.get(USER, anchor)).attributes["userName"] == nfd


# Bulk, PUT, large groups -------------------------------------------------------------------


async def test_apply_sends_creates_in_bulk_requests_within_the_limits(
    scim_server: ScimServer,
) -> None:
    connector = scim(scim_server.base_url, token=scim_server.token, bulk_max_operations=3)
    try:
        tag = time.monotonic_ns()
        ops = [Operation(f"k{i}", Action.CREATE, USER, attributes=user(f"bulk-{tag}-{i}"))
               for i in range(7)]  # fmt: skip
        await connector.create(USER, user(f"bulk-{tag}-existing"))
        ops.append(Operation("dup", Action.CREATE, USER, attributes=user(f"bulk-{tag}-existing")))
        ops.append(Operation("bad", Action.CREATE, USER, attributes=user("b", active="no")))
        results = await connector.apply(ops)
        assert [r.key for r in results] == [op.key for op in ops]
        assert all(r.anchor for r in results[:7]), [r.error for r in results]
        assert results[7].error is not None
        assert results[7].error.error_class.value == "conflict"
        assert results[8].error is not None
        assert results[8].error.attribute == "active"
        for i, result in enumerate(results[:7]):
            assert result.anchor is not None
            assert (await connector.get(USER, result.anchor)).attributes["userName"] == (
                f"bulk-{tag}-{i}"
            )
    finally:
        await connector.close()


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
async def test_a_group_of_ten_thousand_members(real: ScimConnector) -> None:
    tag = time.monotonic_ns()
    ops = [Operation(f"l{i}", Action.CREATE, USER, attributes=user(f"large-{tag}-{i}"))
           for i in range(10_001)]  # fmt: skip
    results = await real.apply(ops)
    anchors = [r.anchor for r in results]
    assert all(anchors), [r.error for r in results if r.error][:2]
    group = await real.create(GROUP, {"displayName": f"large-{tag}"})
    await real.update(GROUP, group, [Delta("members", DeltaKind.ADD, tuple(anchors[:10_000]))])
    await real.update(GROUP, group, [Delta("members", DeltaKind.ADD, (anchors[10_000],))])
    await real.update(GROUP, group, [Delta("members", DeltaKind.REMOVE, (anchors[0],))])
    members = (await real.get(GROUP, group)).attributes["members"]
    assert isinstance(members, list)
    assert len(members) == 10_000
    assert set(members) == set(anchors[1:])


# Authentication ----------------------------------------------------------------------------


async def test_wrong_bearer_token_is_an_authentication_error(scim_server: ScimServer) -> None:
    connector = scim(scim_server.base_url, token="wrong")
    try:
        with pytest.raises(AuthenticationError) as caught:
            await connector.create(USER, user("never"))
        assert "refused the credentials" in caught.value.message
        assert "bearer token" in caught.value.message
    finally:
        await connector.close()


async def test_no_authentication() -> None:
    async with running_standin(auth="none") as standin:
        connector = scim(standin.base_url, auth="none")
        try:
            await connector.test()
            assert {s.authorization for s in standin.seen} == {None}
        finally:
            await connector.close()


async def test_basic_authentication() -> None:
    async with running_standin(auth="basic") as standin:
        good = scim(standin.base_url, auth="basic", username=USERNAME, password=PASSWORD)
        bad = scim(standin.base_url, auth="basic", username=USERNAME, password="nope")
        try:
            await good.test()
            with pytest.raises(AuthenticationError, match="username and password"):
                await bad.test()
        finally:
            await good.close()
            await bad.close()


def oauth(standin: ScimStandIn, secret: str = CLIENT_SECRET) -> ScimConnector:
    return scim(
        standin.base_url,
        auth="oauth2",
        token_url=standin.token_url,
        client_id=CLIENT_ID,
        client_secret=secret,
        scope="scim.write",
    )


async def test_oauth_token_is_cached_and_refreshed_before_it_expires() -> None:
    async with running_standin(auth="oauth", token_lifetime=600) as standin:
        connector = oauth(standin)
        try:
            credentials = connector.credentials
            assert isinstance(credentials, ClientCredentials)
            now = [1000.0]
            credentials.clock = lambda: now[0]
            await connector.test()
            for i in range(5):
                await connector.create(USER, user(f"oauth-{i}"))
            assert standin.tokens_issued == 1
            assert standin.seen[0].body["scope"] == "scim.write"
            now[0] += 539  # 600 s tokens are refreshed 60 s before they expire
            await connector.get(USER, next(iter(standin.resources["Users"])))
            assert standin.tokens_issued == 1
            now[0] += 2
            await connector.get(USER, next(iter(standin.resources["Users"])))
            assert standin.tokens_issued == 2
            assert standin.requests("GET")[-1].authorization == "Bearer access-2"
            standin.tokens.clear()  # the service forgets its tokens: one new token, no error
            await connector.get(USER, next(iter(standin.resources["Users"])))
            assert standin.tokens_issued == 3
        finally:
            await connector.close()


async def test_oauth_refused_client_is_an_authentication_error() -> None:
    async with running_standin(auth="oauth") as standin:
        connector = oauth(standin, secret="wrong")
        try:
            with pytest.raises(AuthenticationError, match="invalid_client"):
                await connector.test()
        finally:
            await connector.close()


# TLS ---------------------------------------------------------------------------------------


async def test_tls_with_a_given_ca_and_refused_without_it(scim_server: ScimServer, tmp_path):
    ca, cert, key = make_pki(tmp_path)
    async with tls_proxy(scim_server.port, cert, key) as port:
        url = f"https://127.0.0.1:{port}/v2"
        trusted = scim(url, token=scim_server.token, ca_file=str(ca))
        system = scim(url, token=scim_server.token)
        try:
            await trusted.test()
            anchor = await trusted.create(USER, user(f"tls-{time.monotonic_ns()}"))
            assert (await trusted.get(USER, anchor)).anchor == anchor
            with pytest.raises(UnavailableError, match="certificate"):
                await system.test()
        finally:
            await trusted.close()
            await system.close()


# Throttling and faults ---------------------------------------------------------------------


async def test_429_and_503_are_retried_after_retry_after(
    to_standin: ScimConnector, standin: ScimStandIn
) -> None:
    await to_standin.test()
    standin.fail("POST", "/v2/Users",
                 Fault("status", 429, {"Retry-After": "1"}), Fault("status", 503))  # fmt: skip
    started = time.monotonic()
    anchor = await to_standin.create(USER, user("throttled"))
    assert time.monotonic() - started >= 1.0
    assert len(standin.requests("POST")) == 3
    assert list(standin.resources["Users"]) == [anchor]


async def test_throttling_past_the_retries_or_the_cap_goes_back_with_retry_after(
    to_standin: ScimConnector, standin: ScimStandIn
) -> None:
    await to_standin.test()
    standin.fail("POST", "/v2/Users", Fault("status", 429, {"Retry-After": "120"}))
    with pytest.raises(ThrottledError) as caught:
        await to_standin.create(USER, user("capped"))
    assert caught.value.retry_after == 120
    assert len(standin.requests("POST")) == 1
    standin.fail("GET", "/v2/Users/x", *[Fault("status", 503, {"Retry-After": "0"})] * 4)
    with pytest.raises(UnavailableError) as unavailable:
        await to_standin.get(USER, "x")
    assert unavailable.value.retry_after == 0
    assert len(standin.requests("GET", "/v2/Users/x")) == 4  # the first try and 3 retries
    assert not standin.resources["Users"]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault("status", 500, body="<html>oops</html>"), UnavailableError),
        (Fault("status", 502, body='{"detail": "bad gateway"}'), UnavailableError),
        (Fault("malformed"), UnavailableError),
        (Fault("slow"), OperationTimeoutError),
        (Fault("drop_before"), UnavailableError),
        (Fault("status", 401), AuthenticationError),
        (Fault("status", 403), AuthenticationError),
        (Fault("status", 404), NotFoundError),
        (Fault("status", 307, {"Location": "http://elsewhere.example/v2"}), UnavailableError),
    ],
)
async def test_faults_on_reads_are_classified(
    to_standin: ScimConnector, standin: ScimStandIn, fault: Fault, error: type[ConnectorError]
) -> None:
    anchor = await to_standin.create(USER, user("read-fault"))
    standin.fail("GET", f"/v2/Users/{anchor}", fault, fault)
    with pytest.raises(error) as caught:
        await to_standin.get(USER, anchor)
    assert caught.value.message
    assert type(caught.value) is error


@pytest.mark.parametrize(
    ("fault", "stored", "error"),
    [
        (Fault("drop_after"), 1, ConflictError),
        (Fault("malformed"), 1, ConflictError),
        (Fault("drop_before"), 0, UnavailableError),
        (Fault("slow"), 0, OperationTimeoutError),
        (Fault("status", 500), 0, UnavailableError),
    ],
)
async def test_a_create_whose_answer_is_lost_is_never_sent_twice(
    to_standin: ScimConnector,
    standin: ScimStandIn,
    fault: Fault,
    stored: int,
    error: type[ConnectorError],
) -> None:
    await to_standin.test()
    standin.fail("POST", "/v2/Users", fault)
    with pytest.raises(error) as caught:
        await to_standin.create(USER, user("lost"))
    assert type(caught.value) is error
    assert len(standin.requests("POST")) == 1
    assert len(standin.resources["Users"]) == stored
    if stored:
        assert caught.value.attribute == "userName"
        assert "matched" in caught.value.message
        with pytest.raises(ConflictError):  # the engine's retry finds it, and matches
            await to_standin.create(USER, user("lost"))
    else:
        await to_standin.create(USER, user("lost"))
    assert len(standin.resources["Users"]) == 1


async def test_requests_in_flight_are_bounded_and_connections_kept_alive(
    standin: ScimStandIn,
) -> None:
    single = scim(standin.base_url, token=BEARER, max_in_flight=1)
    try:
        await single.test()
        for _ in range(5):
            await single.search(USER, None, Page(1))
    finally:
        await single.close()
    assert len(standin.seen) == 9
    assert len({s.peer for s in standin.seen}) == 1, "a request opened its own connection"
    connector = scim(standin.base_url, token=BEARER, max_in_flight=3)
    try:
        standin.gate = asyncio.Event()
        reads = asyncio.gather(*(connector.search(USER, None, Page(1)) for _ in range(12)))
        await standin.crowded(3)
        for _ in range(50):  # give further requests every chance to arrive
            await asyncio.sleep(0)
        assert standin.most_in_flight == 3
        standin.gate.set()
        await reads
        assert standin.most_in_flight == 3
    finally:
        await connector.close()


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
