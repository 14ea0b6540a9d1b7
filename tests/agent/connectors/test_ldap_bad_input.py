"""Bad input through the LDAP connector against the throwaway slapd (issue 3, "Bad input").

Every awkward name and value is either stored exactly as sent (read back and compared) or
refused with InvalidDataError naming the attribute, and then nothing is written. Filter
values can only ever match themselves.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import AsyncIterator

import pytest

from agent.connectors.ldap import LdapConnector
from shared.connector import (
    GROUP,
    USER,
    Attributes,
    Delta,
    DeltaKind,
    Equals,
    Or,
    Page,
    Present,
    StartsWith,
)
from shared.exceptions import ConflictError, InvalidDataError
from tests.agent.connectors.ldap_helpers import connector_for
from tests.servers.slapd import SlapdServer

pytestmark = pytest.mark.server

#: Names and values with every character DNs, filters and LDIF treat specially.
AWKWARD = {
    "comma": "Smith, John",
    "plus": "a+b",
    "quotes": 'say "hi" it\'s',
    "backslash": "back\\slash\\",
    "angles": "<script>",
    "semicolon": "semi;colon",
    "equals": "x=y",
    "leading hash": "#hash",
    "leading space": " leading",
    "trailing space": "trailing ",
    "only spaces": "   ",
    "nul": "nul\x00byte",
    "filter syntax": "*)(uid=*",
    "sql comment markers": "x'; -- /* y */",
    "right-to-left mark": "\u200f\u05de\u05e8\u05d9\u05dd",
    "emoji": "party \U0001f389",
    "nfd": unicodedata.normalize("NFD", "Zoë Ångström"),
    "long": "x" * 10_000,
}
#: Values the directory refuses as a name: uid holds at most 256 characters.
REFUSED_NAMES = {"long"}


def one(value: object) -> object:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


@pytest.fixture
async def connector(slapd_server: SlapdServer) -> AsyncIterator[LdapConnector]:
    made = connector_for(slapd_server)
    yield made
    await made.close()


@pytest.mark.parametrize("case", sorted(AWKWARD))
async def test_awkward_names(connector: LdapConnector, case: str) -> None:
    name = f"{AWKWARD[case]}{secrets.token_hex(3)}"
    attributes: Attributes = {"uid": name, "cn": name, "sn": "Tester"}
    if case in REFUSED_NAMES:
        with pytest.raises(InvalidDataError) as caught:
            await connector.create(USER, attributes)
        assert caught.value.attribute == "uid"
        assert len(caught.value.message) < 1000  # the 10,000 characters are not repeated
        assert (await connector.search(USER, Equals("uid", name), Page())).objects == []
        return
    anchor = await connector.create(USER, attributes)
    found = await connector.get(USER, anchor)
    assert found.attributes["uid"] == [name]
    assert found.attributes["cn"] == [name]
    matched = await connector.search(USER, Equals("uid", name), Page())
    assert [o.anchor for o in matched.objects] == [anchor]
    # The anchor also works as a group member value, and reads back the same.
    group = await connector.create(GROUP, {"cn": f"group {name}", "member": [anchor]})
    assert (await connector.get(GROUP, group)).attributes["member"] == [anchor]
    await connector.delete(GROUP, group)
    await connector.delete(USER, anchor)


@pytest.mark.parametrize("case", sorted(AWKWARD))
async def test_awkward_values(connector: LdapConnector, case: str) -> None:
    value = AWKWARD[case]
    anchor = await connector.create(
        USER,
        {
            "uid": f"values-{secrets.token_hex(4)}",
            "cn": "Awkward Values",
            "sn": value,
            "description": value,
            "displayName": value,
        },
    )
    found = await connector.get(USER, anchor)
    assert [one(found.attributes[a]) for a in ("sn", "description", "displayName")] == [value] * 3
    await connector.update(USER, anchor, [Delta("displayName", DeltaKind.REPLACE, (f"{value}!",))])
    assert (await connector.get(USER, anchor)).attributes["displayName"] == f"{value}!"


@pytest.mark.parametrize("case", sorted(set(AWKWARD) - REFUSED_NAMES))
async def test_rename_to_awkward_names(connector: LdapConnector, case: str) -> None:
    anchor = await connector.create(
        USER, {"uid": f"plain-{secrets.token_hex(4)}", "cn": "Plain", "sn": "Tester"}
    )
    name = f"{AWKWARD[case]}{secrets.token_hex(3)}"
    renamed = await connector.update(USER, anchor, [Delta("uid", DeltaKind.REPLACE, (name,))])
    assert (await connector.get(USER, renamed)).attributes["uid"] == [name]
    assert [
        o.anchor for o in (await connector.search(USER, Equals("uid", name), Page())).objects
    ] == [renamed]


async def test_nfc_and_nfd_of_one_name(connector: LdapConnector) -> None:
    """The directory compares names after Unicode normalization: the second form of the same
    name is the same entry (a conflict), and the first keeps exactly the form it was sent in."""
    base = f"Zoë Ångström {secrets.token_hex(3)}"
    nfc, nfd = unicodedata.normalize("NFC", base), unicodedata.normalize("NFD", base)
    assert nfc != nfd
    anchor = await connector.create(USER, {"uid": nfc, "cn": nfc, "sn": "Tester"})
    with pytest.raises(ConflictError):
        await connector.create(USER, {"uid": nfd, "cn": nfd, "sn": "Tester"})
    found = await connector.search(USER, Equals("uid", nfd), Page())
    assert [o.anchor for o in found.objects] == [anchor]
    assert found.objects[0].attributes["uid"] == [nfc]


async def test_filter_values_cannot_inject(connector: LdapConnector) -> None:
    """Each filter below would match the three users if its value reached the directory
    unescaped; escaped, it matches only entries that hold that very text."""
    run = secrets.token_hex(4)
    made = set()
    for i in range(3):
        made.add(
            await connector.create(USER, {"uid": f"inject-{run}-{i}", "cn": "Target", "sn": "T"})
        )
    everyone = StartsWith("uid", f"inject-{run}-")
    assert {o.anchor for o in (await connector.search(USER, everyone, Page())).objects} == made
    for flt in (
        Equals("uid", "*)(uid=*"),
        Equals("uid", f"inject-{run}-0)(uid=*"),
        Equals("cn", "*"),
        StartsWith("uid", "*"),
        StartsWith("uid", f"inject-{run}-*)(|(cn=*"),
        Equals("uid", "\\2a"),
        Or((Equals("uid", f"inject-{run}-0\x00"), Equals("sn", "T)(sn=*"))),
    ):
        found = (await connector.search(USER, flt, Page(1000))).objects
        assert not {o.anchor for o in found} & made, flt


@pytest.mark.parametrize("name", ["uid)(|(uid=*", "uid=*", "", "cn*", "uid\x00"])
async def test_attribute_names_cannot_inject(connector: LdapConnector, name: str) -> None:
    with pytest.raises(InvalidDataError) as caught:
        await connector.search(USER, Present(name), Page())
    assert caught.value.attribute == name
    with pytest.raises(InvalidDataError):
        await connector.create(USER, {"uid": f"bad-name-{secrets.token_hex(3)}", name: "x"})


@pytest.mark.parametrize("attribute", ["uid", "description"])
async def test_a_lone_surrogate_is_refused(connector: LdapConnector, attribute: str) -> None:
    """JSON can carry "\\ud800", which has no UTF-8 form."""
    name = f"surrogate-{secrets.token_hex(4)}"
    attributes: Attributes = {"uid": name, "cn": "Lone", "sn": "Surrogate"}
    attributes[attribute] = f"{attributes.get(attribute, '')}\ud800"
    with pytest.raises(InvalidDataError) as caught:
        await connector.create(USER, attributes)
    assert caught.value.attribute == attribute
    assert (await connector.search(USER, StartsWith("uid", "surrogate-"), Page())).objects == []
    with pytest.raises(InvalidDataError) as caught:
        await connector.search(USER, Equals("cn", "\ud800"), Page())
    assert caught.value.attribute == "cn"
    with pytest.raises(InvalidDataError):
        await connector.get(
            USER, f"uid=\ud800,ou=people,{connector.settings.user_template.container}"
        )


async def test_refused_create_writes_nothing(connector: LdapConnector) -> None:
    name = f"half-{secrets.token_hex(4)}"
    with pytest.raises(InvalidDataError) as caught:
        await connector.create(
            USER, {"uid": name, "cn": "Half", "sn": "Written", "displayName": ["a", "b"]}
        )
    assert caught.value.attribute == "displayName"
    assert (await connector.search(USER, Equals("uid", name), Page())).objects == []
