"""How the SCIM connector authenticates (none, bearer, basic, OAuth 2.0 client
credentials) and trusts TLS certificates, against scim2-server and the stand-in."""

from __future__ import annotations

import time

import pytest

from agent.connectors.scim import ScimConnector
from agent.connectors.scim_auth import ClientCredentials
from shared.connector import USER
from shared.exceptions import AuthenticationError, UnavailableError
from tests.agent.connectors.scim_helpers import scim, user
from tests.pki import make_pki
from tests.servers.scim import ScimServer
from tests.servers.scim_standin import (
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    USERNAME,
    ScimStandIn,
    running_standin,
)
from tests.servers.tls_proxy import tls_proxy

pytestmark = pytest.mark.server


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
