"""Group kinds and membership on the throwaway slapd: posixGroup memberUid,
groupOfUniqueNames, groupOfNames and its placeholder member; and paged searches."""

from __future__ import annotations

import pytest

from agent.connectors.ldap import LdapConnector
from shared.connector import GROUP, USER, AttributeType, Delta, DeltaKind, Page, StartsWith
from shared.exceptions import InvalidDataError
from tests.agent.connectors.ldap_helpers import connector_for, raw_values, tag, user
from tests.servers.slapd import SlapdServer

pytestmark = [
    pytest.mark.server,
    # ldap3 checks certificate names with ssl.match_hostname, deprecated since Python 3.7.
    pytest.mark.filterwarnings("ignore:ssl.match_hostname:DeprecationWarning"),
]


# Group kinds ------------------------------------------------------------------------------


async def test_posix_group_member_uids(slapd_server: SlapdServer) -> None:
    connector = connector_for(slapd_server, group_object_classes=["posixGroup"])
    try:
        schema = await connector.schema()
        groups = schema.object_class(GROUP)
        assert groups is not None
        member_uid = next(a for a in groups.attributes if a.name == "memberUid")
        assert member_uid.multi_valued
        assert member_uid.type is AttributeType.STRING
        group = await connector.create(GROUP, {"cn": f"posix-{tag()}", "gidNumber": 5000})
        found = await connector.get(GROUP, group)
        assert found.attributes["gidNumber"] == 5000
        assert "memberUid" not in found.attributes  # empty is allowed: no placeholder

        async def change(kind: DeltaKind, *uids: str) -> None:
            await connector.update(GROUP, group, [Delta("memberUid", kind, uids)])

        await change(DeltaKind.ADD, "alice", "bob")
        await change(DeltaKind.ADD, "alice")  # already a member: no error
        await change(DeltaKind.REMOVE, "carol")  # not a member: no error
        await change(DeltaKind.ADD, "carol", "bob")  # one new, one already there
        found = await connector.get(GROUP, group)
        member_uids = found.attributes["memberUid"]
        assert isinstance(member_uids, list)
        assert sorted(map(str, member_uids)) == ["alice", "bob", "carol"]
        await change(DeltaKind.REMOVE, "alice", "bob", "carol")
        assert "memberUid" not in (await connector.get(GROUP, group)).attributes
    finally:
        await connector.close()


async def test_group_of_unique_names(
    slapd_server: SlapdServer, ldap_connector: LdapConnector
) -> None:
    unique = connector_for(slapd_server, group_object_classes=["groupOfUniqueNames"])
    try:
        member = await ldap_connector.create(USER, user(f"unique-{tag()}"))
        group = await unique.create(GROUP, {"cn": f"unique-{tag()}"})
        assert "uniqueMember" not in (await unique.get(GROUP, group)).attributes
        assert raw_values(slapd_server, group, "uniqueMember") == [b""]  # the placeholder
        await unique.update(GROUP, group, [Delta("uniqueMember", DeltaKind.ADD, (member,))])
        assert raw_values(slapd_server, group, "uniqueMember") == [member.encode()]
        await unique.update(GROUP, group, [Delta("uniqueMember", DeltaKind.ADD, (member,))])
        found = await unique.get(GROUP, group)
        assert found.attributes["uniqueMember"] == [member]
        await unique.update(GROUP, group, [Delta("uniqueMember", DeltaKind.REMOVE, (member,))])
        assert "uniqueMember" not in (await unique.get(GROUP, group)).attributes
        assert raw_values(slapd_server, group, "uniqueMember") == [b""]
    finally:
        await unique.close()


async def test_group_of_names_placeholder_member(
    slapd_server: SlapdServer, ldap_connector: LdapConnector
) -> None:
    placeholder = f"cn=nobody,{slapd_server.base_dn}"
    groups = connector_for(slapd_server, empty_group_member=placeholder)
    try:
        first = await ldap_connector.create(USER, user(f"only-{tag()}"))
        second = await ldap_connector.create(USER, user(f"next-{tag()}"))
        group = await groups.create(GROUP, {"cn": f"placeholder-{tag()}", "member": [first]})
        await groups.update(GROUP, group, [Delta("member", DeltaKind.REMOVE, (first,))])
        assert raw_values(slapd_server, group, "member") == [placeholder.encode()]
        assert "member" not in (await groups.get(GROUP, group)).attributes
        await groups.update(GROUP, group, [Delta("member", DeltaKind.CLEAR)])
        assert raw_values(slapd_server, group, "member") == [placeholder.encode()]
        await groups.update(GROUP, group, [Delta("member", DeltaKind.ADD, (second,))])
        assert raw_values(slapd_server, group, "member") == [second.encode()]
    finally:
        await groups.close()


async def test_a_placeholder_seen_in_a_read_goes_with_the_next_member(
    slapd_server: SlapdServer, ldap_connector: LdapConnector
) -> None:
    """A ldap_connector that did not write the placeholder (another agent, or before a restart)
    leaves it beside new members until a read shows it, then removes it with the next."""
    first = await ldap_connector.create(USER, user(f"early-{tag()}"))
    second = await ldap_connector.create(USER, user(f"late-{tag()}"))
    group = await ldap_connector.create(GROUP, {"cn": f"inherited-{tag()}"})
    fresh = connector_for(slapd_server)
    try:
        await fresh.update(GROUP, group, [Delta("member", DeltaKind.ADD, (first,))])
        assert sorted(raw_values(slapd_server, group, "member")) == [b"", first.encode()]
        assert (await fresh.get(GROUP, group)).attributes["member"] == [first]
        await fresh.update(GROUP, group, [Delta("member", DeltaKind.ADD, (second,))])
        assert sorted(raw_values(slapd_server, group, "member")) == sorted(
            [first.encode(), second.encode()]
        )
    finally:
        await fresh.close()


# Paging -----------------------------------------------------------------------------------


async def test_interleaved_paged_searches_do_not_disturb_each_other(
    ldap_connector: LdapConnector,
) -> None:
    run = tag()
    made = {
        prefix: {
            await ldap_connector.create(USER, user(f"{prefix}-{run}-{i:02}")) for i in range(9)
        }
        for prefix in ("left", "right")
    }
    seen: dict[str, set[str]] = {"left": set(), "right": set()}
    cookies: dict[str, str | None] = {"left": None, "right": None}
    pending = {"left", "right"}
    while pending:
        for prefix in sorted(pending):
            page = await ldap_connector.search(
                USER, StartsWith("uid", f"{prefix}-{run}-"), Page(2, cookies[prefix])
            )
            seen[prefix].update(o.anchor for o in page.objects)
            cookies[prefix] = page.cookie
            if page.cookie is None:
                pending.discard(prefix)
    assert seen == made


async def test_a_cookie_from_elsewhere_is_invalid(ldap_connector: LdapConnector) -> None:
    for user_index in range(3):
        await ldap_connector.create(USER, user(f"cookie-{user_index}-{tag()}"))
    with pytest.raises(InvalidDataError):
        await ldap_connector.search(USER, None, Page(2, "made-up.AAAA"))
    first = await ldap_connector.search(USER, StartsWith("uid", "cookie-"), Page(1))
    assert first.cookie is not None
    with pytest.raises(InvalidDataError):
        await ldap_connector.search(USER, StartsWith("uid", "other-"), Page(1, first.cookie))
