"""The connector contract suite for the LDAP connector against the throwaway slapd:
users as inetOrgPerson under ou=people, groups as groupOfNames under ou=groups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent.connectors.contract import ConnectorContract, ContractTarget
from agent.connectors.ldap import LdapConnector
from shared.connector import Attributes
from tests.agent.connectors.ldap_helpers import connector_for
from tests.servers.ports import free_port
from tests.servers.slapd import SlapdServer

pytestmark = pytest.mark.server


def new_user(tag: str) -> Attributes:
    return {"uid": f"user-{tag}", "cn": f"User {tag}", "sn": f"Surname {tag}"}


def new_group(tag: str) -> Attributes:
    return {"cn": f"group-{tag}", "description": f"Group {tag}"}


class TestLdapContract(ConnectorContract):
    @pytest.fixture
    async def contract_target(self, slapd_server: SlapdServer) -> AsyncIterator[ContractTarget]:
        connector = connector_for(slapd_server)
        made: list[LdapConnector] = []

        def other(**overrides: Any) -> LdapConnector:
            made.append(connector_for(slapd_server, connect_timeout=2, **overrides))
            return made[-1]

        yield ContractTarget(
            connector=connector,
            user_class="user",
            group_class="group",
            member_attribute="member",
            new_user=new_user,
            new_group=new_group,
            filter_attribute="uid",
            single_valued=("displayName", "First Name", "Second Name"),
            multi_valued=("mail", "first@example.org", "second@example.org"),
            # inetOrgPerson requires sn.
            invalid_user={"uid": "user-without-surname", "cn": "No Surname"},
            wrong_credentials=lambda: other(password="not-the-password"),
            unreachable=lambda: other(url=f"ldap://127.0.0.1:{free_port()}"),
        )
        await connector.close()
        for extra in made:
            await extra.close()
