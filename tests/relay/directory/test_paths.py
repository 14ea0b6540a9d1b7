"""PATCH paths: attribute paths, value filters with sub-attributes, extension URNs."""

import pytest

from relay.directory.errors import ScimError
from relay.directory.paths import equalities, matches, member_values, parse_path
from relay.directory.query import AttributePath, Compare, CompareOp, Or
from relay.directory.schemas import ENTERPRISE_USER_SCHEMA, resource_types

USER, GROUP = resource_types()


def test_simple_and_sub_attribute_paths() -> None:
    path = parse_path("userName", USER)
    assert path.attribute is not None
    assert (path.schema, path.attribute.name, path.value_filter, path.sub_attribute) == (
        None,
        "userName",
        None,
        None,
    )
    path = parse_path("NAME.givenname", USER)
    assert path.attribute is not None
    assert path.sub_attribute is not None
    assert (path.attribute.name, path.sub_attribute.name) == ("name", "givenName")


def test_value_filter_with_sub_attribute() -> None:
    path = parse_path('emails[type eq "work"].value', USER)
    assert path.attribute is not None
    assert path.sub_attribute is not None
    assert path.attribute.name == "emails"
    assert path.sub_attribute.name == "value"
    assert path.value_filter == Compare(AttributePath("type"), CompareOp.EQ, "work")


def test_members_value_filter_with_brackets_in_the_id() -> None:
    path = parse_path('members[value eq "a]b" or value eq "c"]', GROUP)
    assert path.value_filter is not None
    assert member_values(path.value_filter) == ["a]b", "c"]
    assert path.value_filter == Or(
        Compare(AttributePath("value"), CompareOp.EQ, "a]b"),
        Compare(AttributePath("value"), CompareOp.EQ, "c"),
    )


def test_extension_paths() -> None:
    path = parse_path(f"{ENTERPRISE_USER_SCHEMA}:manager", USER)
    assert path.attribute is not None
    assert (path.schema, path.attribute.name) == (ENTERPRISE_USER_SCHEMA, "manager")
    path = parse_path(f"{ENTERPRISE_USER_SCHEMA}:manager.value", USER)
    assert path.sub_attribute is not None
    assert path.sub_attribute.name == "value"
    whole = parse_path(ENTERPRISE_USER_SCHEMA, USER)
    assert (whole.schema, whole.attribute) == (ENTERPRISE_USER_SCHEMA, None)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nosuch",
        "name.nosuch",
        "name.givenName.more",
        'emails[type eq "work"',
        'emails[type eq "work"]value',
        'emails[type eq "work"].nosuch',
        'emails[nosuch eq "work"]',
        "emails[type eq work]",
        'userName[value eq "x"]',
        'name[givenName eq "x"]',
        "urn:example:nosuch:attr",
        "x" * 2000,
    ],
)
def test_bad_paths_are_invalid_path(text: str) -> None:
    with pytest.raises(ScimError) as caught:
        parse_path(text, USER)
    assert (caught.value.status, caught.value.scim_type) == (400, "invalidPath")


def test_value_filters_evaluate_with_the_sub_attribute_case_rules() -> None:
    emails = USER.schema.get("emails")
    assert emails is not None
    work = {"value": "Bob@Example.com", "type": "work", "primary": True}
    path = parse_path('emails[type eq "WORK" and value ew "example.COM"]', USER)
    assert path.value_filter is not None
    assert matches(path.value_filter, work, emails)
    path = parse_path("emails[not (primary eq true)]", USER)
    assert path.value_filter is not None
    assert not matches(path.value_filter, work, emails)
    members = GROUP.schema.get("members")
    assert members is not None
    path = parse_path('members[value eq "ABC"]', GROUP)
    assert path.value_filter is not None
    assert not matches(path.value_filter, {"value": "abc"}, members)  # ids are case-exact


def test_equalities_describe_a_value_to_create() -> None:
    path = parse_path('addresses[type eq "work" and primary eq true].locality', USER)
    assert path.value_filter is not None
    assert equalities(path.value_filter) == {"type": "work", "primary": True}
    path = parse_path('addresses[type eq "work" or type eq "home"]', USER)
    assert path.value_filter is not None
    assert equalities(path.value_filter) is None
