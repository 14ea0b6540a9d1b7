import ldap3
import pytest

from .ports import accepts_connections
from .slapd import SlapdServer

pytestmark = pytest.mark.server


def admin_connection(server: SlapdServer) -> ldap3.Connection:
    return ldap3.Connection(
        ldap3.Server(server.url), server.admin_dn, server.admin_password, auto_bind=True
    )


def test_url_has_no_trailing_slash(slapd_server: SlapdServer) -> None:
    assert slapd_server.url == f"ldap://127.0.0.1:{slapd_server.port}"


def test_write_and_read_back_with_member_of(slapd_server: SlapdServer) -> None:
    base = slapd_server.base_dn
    user_dn = f"uid=write-read,ou=people,{base}"
    group_dn = f"cn=write-read,ou=groups,{base}"
    conn = admin_connection(slapd_server)
    try:
        assert conn.add(user_dn, ["inetOrgPerson"], {"cn": "Zoë", "sn": "Ångström"}), conn.result
        assert conn.add(group_dn, ["groupOfNames"], {"member": [user_dn]}), conn.result
        conn.search(user_dn, "(objectClass=*)", ldap3.BASE, attributes=["cn", "memberOf"])
        [entry] = conn.entries
        assert entry.cn.value == "Zoë"
        assert entry.memberOf.values == [group_dn]
    finally:
        conn.delete(group_dn)
        conn.delete(user_dn)
        conn.unbind()


def test_stop_then_start_keeps_data_and_port(slapd_server: SlapdServer) -> None:
    dn = f"uid=restart-check,ou=people,{slapd_server.base_dn}"
    conn = admin_connection(slapd_server)
    assert conn.add(dn, ["inetOrgPerson"], {"cn": "Restart", "sn": "Check"}), conn.result
    conn.unbind()
    try:
        slapd_server.stop()
        assert not accepts_connections(slapd_server.host, slapd_server.port)
    finally:
        slapd_server.start()
    conn = admin_connection(slapd_server)
    try:
        assert conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["cn"])
        assert conn.entries[0].cn.value == "Restart"
    finally:
        conn.delete(dn)
        conn.unbind()
