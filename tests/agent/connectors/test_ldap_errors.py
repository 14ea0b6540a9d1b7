"""How the LDAP connector classifies what goes wrong: result codes, wrong credentials,
closed ports, silent servers, missing rights, a restarted server, a missing container or
object class; and TLS, trusted or not."""

from __future__ import annotations

import asyncio
import socket

import ldap3
import pytest

from agent.connectors.ldap import LdapConnector
from agent.connectors.ldap_errors import classify
from shared.connector import USER, Action, Operation
from shared.exceptions import (
    AuthenticationError,
    ErrorClass,
    InvalidDataError,
    NotFoundError,
    OperationTimeoutError,
    UnavailableError,
)
from tests.agent.connectors.ldap_helpers import connector_for, tag, user
from tests.servers.ports import free_port
from tests.servers.slapd import SlapdServer

pytestmark = [
    pytest.mark.server,
    # ldap3 checks certificate names with ssl.match_hostname, deprecated since Python 3.7.
    pytest.mark.filterwarnings("ignore:ssl.match_hostname:DeprecationWarning"),
]


# TLS --------------------------------------------------------------------------------------


async def test_ldaps_with_the_test_ca(slapd_server: SlapdServer) -> None:
    connector = connector_for(
        slapd_server, url=slapd_server.ldaps_url, ca_file=str(slapd_server.ca_file)
    )
    try:
        await connector.test()
        anchor = await connector.create(USER, user(f"ldaps-{tag()}"))
        assert (await connector.get(USER, anchor)).anchor == anchor
    finally:
        await connector.close()


async def test_start_tls_with_the_test_ca(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server, start_tls=True, ca_file=str(slapd_server.ca_file))
    try:
        await connector.test()
        anchor = await connector.create(USER, user(f"starttls-{tag()}"))
        assert (await connector.get(USER, anchor)).anchor == anchor
    finally:
        await connector.close()


@pytest.mark.parametrize("start_tls", [False, True])
async def test_an_untrusted_certificate_is_refused(
    slapd_server: SlapdServer, start_tls: bool
) -> None:
    url = slapd_server.url if start_tls else slapd_server.ldaps_url
    connector = connector_for(slapd_server, url=url, start_tls=start_tls)  # system CAs only
    try:
        with pytest.raises(AuthenticationError) as caught:
            await connector.test()
        assert "certificate" in caught.value.message
        assert "ca_file" in caught.value.message
    finally:
        await connector.close()


async def test_verification_can_be_turned_off(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server, url=slapd_server.ldaps_url, verify_certificate=False)
    try:
        await connector.test()
    finally:
        await connector.close()


# Errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "description", "message", "error_class", "attribute"),
    [
        (68, "entryAlreadyExists", "", ErrorClass.CONFLICT, None),
        (32, "noSuchObject", "", ErrorClass.NOT_FOUND, None),
        (49, "invalidCredentials", "", ErrorClass.AUTHENTICATION, None),
        (50, "insufficientAccessRights", "no write access", ErrorClass.AUTHENTICATION, None),
        (
            65,
            "objectClassViolation",
            "object class 'inetOrgPerson' requires attribute 'sn'",
            ErrorClass.INVALID_DATA,
            "sn",
        ),
        (
            21,
            "invalidAttributeSyntax",
            "mail: value #0 invalid per syntax",
            ErrorClass.INVALID_DATA,
            "mail",
        ),
        (
            19,
            "constraintViolation",
            "displayName: multiple values provided",
            ErrorClass.INVALID_DATA,
            "displayName",
        ),
        (
            17,
            "undefinedAttributeType",
            "foo: attribute type undefined",
            ErrorClass.INVALID_DATA,
            "foo",
        ),
        (
            64,
            "namingViolation",
            "value of naming attribute 'uid' is not present in entry",
            ErrorClass.INVALID_DATA,
            "uid",
        ),
        (51, "busy", "try later", ErrorClass.UNAVAILABLE, None),
        (52, "unavailable", "shutting down", ErrorClass.UNAVAILABLE, None),
        (3, "timeLimitExceeded", "", ErrorClass.TIMEOUT, None),
    ],
)
def test_result_codes_are_classified(
    code: int, description: str, message: str, error_class: ErrorClass, attribute: str | None
) -> None:
    """The directory's answers that the real server cannot easily be made to give."""
    exc = ldap3.core.exceptions.LDAPOperationResult(
        result=code, description=description, message=message, response_type="modifyResponse"
    )
    error = classify(exc, dn="uid=x,ou=people,dc=example,dc=org", names=["displayName", "SN"])
    assert error.error_class is error_class
    assert error.attribute == ("SN" if attribute == "sn" else attribute)  # spelled as sent
    assert error.message


async def test_wrong_password_is_an_authentication_error(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server, password="not-the-password")
    try:
        with pytest.raises(AuthenticationError) as caught:
            await connector.test()
        assert "bind_dn and password" in caught.value.message
    finally:
        await connector.close()


async def test_a_batch_with_wrong_credentials_fails_as_a_whole(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server, password="not-the-password")
    try:
        operations = [
            Operation(f"c{i}", Action.CREATE, USER, attributes=user(f"refused-{tag()}"))
            for i in range(20)
        ]
        results = await connector.apply(operations)
        assert [r.key for r in results] == [op.key for op in operations]
        assert {r.error.error_class if r.error else None for r in results} == {
            ErrorClass.AUTHENTICATION
        }
    finally:
        await connector.close()


async def test_closed_port_is_unavailable(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server, url=f"ldap://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(UnavailableError):
            await connector.test()
    finally:
        await connector.close()


async def test_a_silent_server_times_out(slapd_server: SlapdServer) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        connector = connector_for(slapd_server, url=f"ldap://127.0.0.1:{port}", receive_timeout=1)
        try:
            with pytest.raises(OperationTimeoutError):
                await asyncio.wait_for(connector.test(), 20)
        finally:
            await connector.close()


async def test_insufficient_rights_is_an_authentication_error(
    slapd_server: SlapdServer, ldap_connector: LdapConnector
) -> None:
    """A bind that works but may not write (the test server lets everyone read)."""
    name = f"reader-{tag()}"
    reader = await ldap_connector.create(USER, user(name, userPassword="reader-password"))
    limited = connector_for(slapd_server, bind_dn=reader, password="reader-password")
    try:
        await limited.test()
        with pytest.raises(AuthenticationError) as caught:
            await limited.create(USER, user(f"not-allowed-{tag()}"))
        assert "write access" in caught.value.message
    finally:
        await limited.close()


async def test_connections_recover_after_a_server_restart(
    slapd_server: SlapdServer, ldap_connector: LdapConnector
) -> None:
    anchor = await ldap_connector.create(USER, user(f"survivor-{tag()}"))
    try:
        slapd_server.stop()
        with pytest.raises(UnavailableError):
            await ldap_connector.get(USER, anchor)
    finally:
        slapd_server.start()
    assert (await ldap_connector.get(USER, anchor)).anchor == anchor


async def test_test_finds_a_missing_container(slapd_server: SlapdServer) -> None:
    template = f"uid={{uid}},ou=nowhere,{slapd_server.base_dn}"
    connector = connector_for(slapd_server, user_dn_template=template)
    try:
        with pytest.raises(NotFoundError) as caught:
            await connector.test()
        assert "ou=nowhere" in caught.value.message
    finally:
        await connector.close()


async def test_test_finds_an_unknown_object_class(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server, user_object_classes=["inetOrgPerson", "hatchwayUser"])
    try:
        with pytest.raises(InvalidDataError) as caught:
            await connector.test()
        assert caught.value.attribute == "hatchwayUser"
    finally:
        await connector.close()


async def test_unknown_object_class_is_invalid(ldap_connector: LdapConnector) -> None:
    with pytest.raises(InvalidDataError):
        await ldap_connector.create("printer", {"cn": "x"})
