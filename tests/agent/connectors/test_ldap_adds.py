"""Add requests written as BER and sent several at a time: the bytes are those ldap3 would
send, and in a batch every create gets its own answer, whatever its neighbours got."""

from __future__ import annotations

import ldap3
import pytest
from ldap3.operation.add import add_operation
from ldap3.protocol.rfc4511 import LDAPMessage, MessageID, ProtocolOp
from ldap3.utils.asn1 import encode

from agent.connectors.ldap_adds import WINDOW, Add, add_request
from shared.connector import USER, Action, Operation, Page, StartsWith
from shared.exceptions import ErrorClass
from tests.agent.connectors.ldap_helpers import admin, connector_for, tag, user
from tests.servers.slapd import SlapdServer

pytestmark = [pytest.mark.server]


def ldap3_encoding(message_id: int, add: Add) -> bytes:
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    attributes = {"objectClass": list(add.classes), **add.entry}
    request = add_operation(add.dn, attributes, True, None, None, False)
    message["protocolOp"] = ProtocolOp().setComponentByName("addRequest", request)
    return bytes(encode(message))


@pytest.mark.parametrize("message_id", [1, 127, 128, 255, 256, 70_000, 2**31 - 2])
def test_an_add_request_is_the_bytes_ldap3_sends(message_id: int) -> None:
    add = Add(
        "uid",
        "uid=J\\C3\\A9r\\2Cme,ou=people,dc=example,dc=org",
        ("inetOrgPerson", "top"),
        {
            "uid": ["Jérôme, Ünïcode" * 10],  # over 127 bytes: a long length
            "description": ["x" * 70_000],  # over 65,535: a three-byte length
            "jpegPhoto": [bytes(range(256))],
            "mail": ["a@example.org", "b@example.org"],
        },
    )
    assert add_request(message_id, add) == ldap3_encoding(message_id, add)


async def test_long_values_arrive_whole(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server)
    try:
        text = "é" * 40_000
        anchor = await connector.create(USER, user(f"long-{tag()}", description=text))
        assert (await connector.get(USER, anchor)).attributes["description"] == [text]
    finally:
        await connector.close()


async def test_each_create_in_a_batch_gets_its_own_answer(slapd_server: SlapdServer) -> None:
    """More creates per connection than the window holds, with refusals by the directory
    (an existing entry, an attribute the class does not allow) and by the connector spread
    through them."""
    run = tag()
    connector = connector_for(slapd_server, pool_size=2)
    existing = {7, 150, 299}
    with admin(slapd_server) as conn:
        for i in existing:
            conn.add(
                f"uid=b-{run}-{i},ou=people,{slapd_server.base_dn}",
                ["inetOrgPerson"],
                user(f"b-{run}-{i}"),
            )
    operations = []
    for i in range(3 * WINDOW + 120):
        attributes = user(f"b-{run}-{i}")
        if i in (3, 200):
            attributes["gidNumber"] = 1000  # inetOrgPerson does not allow it
        if i == 100:
            attributes["not an attribute"] = "x"
        operations.append(Operation(f"c{i}", Action.CREATE, USER, attributes=attributes))
    try:
        results = await connector.apply(operations)
        assert [r.key for r in results] == [op.key for op in operations]
        errors = {r.key: r.error.error_class for r in results if r.error is not None}
        assert errors == {
            "c3": ErrorClass.INVALID_DATA,
            "c7": ErrorClass.CONFLICT,
            "c100": ErrorClass.INVALID_DATA,
            "c150": ErrorClass.CONFLICT,
            "c200": ErrorClass.INVALID_DATA,
            "c299": ErrorClass.CONFLICT,
        }
        refused = next(r.error for r in results if r.key == "c200")
        assert refused is not None and refused.attribute == "gidNumber"
        made = [r for r in results if r.error is None]
        assert all(
            r.anchor == f"uid=b-{run}-{r.key[1:]},ou=people,{slapd_server.base_dn}" for r in made
        )
        found = await connector.search(USER, StartsWith("uid", f"b-{run}-"), Page(1000))
        assert len(found.objects) == len(made) + len(existing)
        with admin(slapd_server) as conn:
            conn.search(made[-1].anchor or "", "(objectClass=*)", ldap3.BASE, attributes=["sn"])
            assert conn.response[0]["attributes"]["sn"] == ["Tester"]
    finally:
        await connector.close()


async def test_a_batch_after_a_server_restart_is_sent_again_on_new_connections(
    slapd_server: SlapdServer,
) -> None:
    run = tag()
    connector = connector_for(slapd_server, pool_size=2)

    def batch(start: int) -> list[Operation]:
        return [
            Operation(f"c{i}", Action.CREATE, USER, attributes=user(f"r-{run}-{i}"))
            for i in range(start, start + 40)
        ]

    try:
        assert all(r.error is None for r in await connector.apply(batch(0)))
        slapd_server.stop()
        slapd_server.start()
        results = await connector.apply(batch(40))
        assert [r.error for r in results] == [None] * 40
        found = await connector.search(USER, StartsWith("uid", f"r-{run}-"), Page(100))
        assert len(found.objects) == 80
    finally:
        await connector.close()
