"""Fixtures of the SCIM connector's tests: a connector to the session's scim2-server, and
a stand-in service (``tests/servers/scim_standin.py``) with a connector to it; and of the
LDAP connector's: a connector to the session's slapd, and an organizational unit of a
test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import ldap3
import pytest

from agent.connectors.ldap import LdapConnector
from agent.connectors.scim import ScimConnector
from tests.agent.connectors.ldap_helpers import admin, connector_for, tag
from tests.agent.connectors.scim_helpers import scim
from tests.servers.scim import ScimServer
from tests.servers.scim_standin import BEARER, ScimStandIn, running_standin
from tests.servers.slapd import SlapdServer


@pytest.fixture
async def scim_connector(scim_server: ScimServer) -> AsyncIterator[ScimConnector]:
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


@pytest.fixture
async def ldap_connector(slapd_server: SlapdServer) -> AsyncIterator[LdapConnector]:
    made = connector_for(slapd_server)
    yield made
    await made.close()


@pytest.fixture
def ldap_container(slapd_server: SlapdServer) -> Iterator[str]:
    """An empty organizational unit of its own, removed with whatever is left in it."""
    dn = f"ou=test-{tag()},{slapd_server.base_dn}"
    with admin(slapd_server) as conn:
        conn.add(dn, ["organizationalUnit"])
    yield dn
    with admin(slapd_server) as conn:
        conn.search(dn, "(objectClass=*)", ldap3.SUBTREE, attributes=["1.1"])
        for entry in sorted(conn.response, key=lambda e: -len(e["dn"])):
            conn.delete(entry["dn"])
