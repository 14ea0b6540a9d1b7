"""Attribute mappings: types, defaults, apply-on-create, matching, references, validation."""

from __future__ import annotations

import pytest

from relay.engine.exceptions import EvaluationError, MappingError
from relay.engine.expressions import EvaluationContext
from relay.engine.mapping import (
    ApplyOn,
    AttributeMapping,
    Links,
    Mapper,
    MappingType,
    ObjectMapping,
)
from relay.engine.source import Source
from shared.connector import (
    GROUP,
    USER,
    AttributeInfo,
    AttributeType,
    Equals,
    ObjectClassInfo,
)

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

ADA = Source(
    {
        "id": "u-ada",
        "userName": "ada@contoso.com",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@contoso.com", "type": "work", "primary": True}],
        "active": True,
        ENTERPRISE: {"department": "Research", "manager": {"value": "u-charles"}},
    }
)
BARE = Source({"id": "u-bare", "userName": "bare@contoso.com"})


def direct(target: str, source: str, **options: object) -> AttributeMapping:
    return AttributeMapping(target, MappingType.DIRECT, source=source, **options)  # type: ignore[arg-type]


def expression(target: str, text: str, **options: object) -> AttributeMapping:
    return AttributeMapping(target, MappingType.EXPRESSION, expression=text, **options)  # type: ignore[arg-type]


def mapper(
    *mappings: AttributeMapping, kind: str = USER, schema: ObjectClassInfo | None = None
) -> Mapper:
    return Mapper(ObjectMapping(kind=kind, object_class=kind, mappings=mappings), schema)


def test_direct_constant_expression_and_none_mappings() -> None:
    m = mapper(
        direct("userName", "userPrincipalName"),
        direct("mail", "mail"),
        AttributeMapping("userType", MappingType.CONSTANT, value="Employee"),
        expression("displayName", 'Join(" ", [givenName], [surname])'),
        AttributeMapping("locale", MappingType.NONE, default="en-US"),
    )
    assert m.attributes(ADA, create=True) == {
        "userName": "ada@contoso.com",
        "mail": "ada@contoso.com",
        "userType": "Employee",
        "displayName": "Ada Lovelace",
        "locale": "en-US",
    }
    # A none mapping only ever gives its default on create.
    assert "locale" not in m.attributes(ADA, create=False)


def test_default_fills_a_null_source_on_create_and_is_left_alone_on_update() -> None:
    m = mapper(
        direct("department", "department", default="Unassigned"),
        direct("title", "jobTitle"),
    )
    assert m.attributes(BARE, create=True) == {"department": "Unassigned"}
    # On update: no default written over the target's value; a null without default clears.
    assert m.attributes(BARE, create=False) == {"title": None}
    assert m.attributes(ADA, create=False) == {"department": "Research", "title": None}


def test_apply_on_create_only_flows_when_creating() -> None:
    m = mapper(
        direct("userName", "userPrincipalName"),
        direct("externalId", "objectId", apply=ApplyOn.CREATE),
    )
    assert m.attributes(ADA, create=True) == {"userName": "ada@contoso.com", "externalId": "u-ada"}
    assert m.attributes(ADA, create=False) == {"userName": "ada@contoso.com"}


def test_ignore_flow_sends_nothing_for_the_attribute() -> None:
    m = mapper(expression("title", "IgnoreFlowIfNullOrEmpty([jobTitle])", default="Staff"))
    assert m.attributes(BARE, create=True) == {}
    assert m.attributes(BARE, create=False) == {}


def test_matching_filters_follow_precedence_and_skip_missing_values() -> None:
    m = mapper(
        direct("mail", "mail", matching=2),
        direct("externalId", "employeeId", matching=1),
        expression("userName", "ToLower([userPrincipalName])", matching=3),
    )
    assert m.matching_attributes == ("externalId", "mail", "userName")
    assert m.matching_filters(ADA) == [
        Equals("mail", "ada@contoso.com"),
        Equals("userName", "ada@contoso.com"),
    ]


def test_references_resolve_to_target_anchors() -> None:
    anchors = {"u-charles": "uid=charles,ou=people,dc=example,dc=org"}
    m = mapper(direct("manager", "manager", reference=True))
    links = Links(resolve=anchors.get)
    assert m.attributes(ADA, create=True, links=links) == {
        "manager": "uid=charles,ou=people,dc=example,dc=org"
    }
    # A manager without an anchor in the target (yet) is left out, on update too: the
    # target keeps the manager it has rather than losing it.
    unresolved = Links(resolve=lambda _: None)
    assert m.attributes(ADA, create=True, links=unresolved) == {}
    assert m.attributes(ADA, create=False, links=unresolved) == {}
    # A user whose manager left the directory has it cleared.
    assert m.attributes(BARE, create=False, links=links) == {"manager": None}


def test_group_members_keep_only_those_in_scope_with_anchors() -> None:
    group = Source(
        {
            "id": "g-1",
            "displayName": "Research",
            "members": [{"value": "u-ada"}, {"value": "u-bob"}, {"value": "u-eve"}],
        },
        kind="group",
    )
    m = mapper(
        direct("displayName", "displayName", matching=1),
        direct("members", "members", reference=True),
        kind=GROUP,
    )
    links = Links(
        resolve={"u-ada": "A", "u-bob": "B", "u-eve": "E"}.get,
        in_scope=lambda ident: ident != "u-eve",
    )
    assert m.attributes(group, create=True, links=links) == {
        "displayName": "Research",
        "members": ["A", "B"],
    }
    empty = Source({"id": "g-2", "displayName": "Empty"}, kind="group")
    assert m.attributes(empty, create=False, links=links) == {
        "displayName": "Empty",
        "members": None,
    }


SCHEMA = ObjectClassInfo(
    USER,
    naming_attribute="userName",
    attributes=(
        AttributeInfo("userName", required=True, unique=True),
        AttributeInfo("active", AttributeType.BOOLEAN),
        AttributeInfo("loginCount", AttributeType.INTEGER),
        AttributeInfo("id", updatable=False),
        AttributeInfo("groups", multi_valued=True),
    ),
)


def test_constants_and_defaults_take_the_target_attribute_type() -> None:
    m = mapper(
        AttributeMapping("active", MappingType.CONSTANT, value="True"),
        AttributeMapping("loginCount", MappingType.NONE, default="0"),
        schema=SCHEMA,
    )
    assert m.attributes(ADA, create=True) == {"active": True, "loginCount": 0}


def refusal(*mappings: AttributeMapping, schema: ObjectClassInfo | None = None) -> str:
    with pytest.raises(MappingError) as caught:
        mapper(*mappings, schema=schema)
    return str(caught.value)


def test_bad_mappings_are_refused_naming_the_mapping() -> None:
    message = refusal(expression("displayName", 'Join(" ", [givenName]'))
    assert message.startswith("user mapping 'displayName' (object class 'user'): expression")
    assert "position" in message
    assert "unknown function 'Frobnicate'" in refusal(expression("x", "Frobnicate([a])"))
    assert "source attribute 'emails[type'" in refusal(direct("x", "emails[type"))
    assert "needs a source attribute" in refusal(direct("x", " "))
    assert "needs a value" in refusal(AttributeMapping("x", MappingType.CONSTANT))
    assert "needs an expression" in refusal(expression("x", ""))
    assert "mapped twice" in refusal(direct("x", "a"), direct("x", "b"))
    assert "also given to 'a'" in refusal(
        direct("a", "a", matching=1), direct("b", "b", matching=1)
    )
    assert "cannot be used to match" in refusal(
        AttributeMapping("x", MappingType.NONE, default="d", matching=1)
    )
    assert "only a direct mapping has a source" in refusal(
        AttributeMapping("x", MappingType.CONSTANT, value="v", source="a")
    )
    assert "SelectUniqueValue cannot compute a matching attribute" in refusal(
        expression("userName", "SelectUniqueValue([mailNickname], [givenName])", matching=1)
    )


def test_mappings_are_checked_against_the_target_schema() -> None:
    assert "no attribute 'username' in object class 'user'; did you mean 'userName'?" in (
        refusal(direct("username", "userPrincipalName"), schema=SCHEMA)
    )
    assert "no attribute 'nickName'" in refusal(direct("nickName", "mailNickname"), schema=SCHEMA)
    assert "'yes please' is not true or false" in refusal(
        AttributeMapping("active", MappingType.CONSTANT, value="yes please"), schema=SCHEMA
    )
    assert "'many' is not an integer" in refusal(
        AttributeMapping("loginCount", MappingType.NONE, default="many"), schema=SCHEMA
    )
    assert "apply it on create only" in refusal(direct("id", "objectId"), schema=SCHEMA)
    # The same mapping applied on create only is accepted.
    mapper(direct("id", "objectId", apply=ApplyOn.CREATE), schema=SCHEMA)
    with pytest.raises(MappingError, match="schema is of object class 'user', not 'group'"):
        Mapper(ObjectMapping(kind=GROUP, object_class=GROUP, mappings=()), SCHEMA)


def test_cleared_multi_valued_attribute_is_an_empty_list() -> None:
    m = mapper(direct("groups", "proxyAddresses"), schema=SCHEMA)
    assert m.attributes(BARE, create=False) == {"groups": []}


async def test_select_unique_value_asks_the_target_about_the_mapping_attribute() -> None:
    taken = {"ada"}
    asked: list[tuple[str, str]] = []

    async def is_unique(attribute: str, candidate: str) -> bool:
        asked.append((attribute, candidate))
        return candidate not in taken

    m = mapper(
        expression(
            "userName",
            'SelectUniqueValue(ToLower([givenName]), ToLower(Join(".", [givenName], [surname])))',
        ),
        direct("mail", "mail"),
    )
    assert m.needs_target
    context = EvaluationContext(is_unique=is_unique)
    got = await m.attributes_async(ADA, create=True, context=context)
    assert got == {"userName": "ada.lovelace", "mail": "ada@contoso.com"}
    assert asked == [("userName", "ada"), ("userName", "ada.lovelace")]
    with pytest.raises(EvaluationError):
        m.attributes(ADA, create=True)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(MappingError, match="kind must be 'user' or 'group'"):
        Mapper(ObjectMapping(kind="device", object_class="device", mappings=()))
