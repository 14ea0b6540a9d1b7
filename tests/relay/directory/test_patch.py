"""PATCH applied to stored resources: the RFC's operations and what Entra ID and Okta send."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.directory.errors import ScimError
from relay.directory.patch import apply_patch, needs_members, parse_operations
from relay.directory.schemas import (
    ENTERPRISE_USER_SCHEMA,
    GROUP_SCHEMA,
    PATCH_OP_SCHEMA,
    USER_SCHEMA,
    resource_types,
)
from relay.store.base import MemberChange

USER, GROUP = resource_types()
ENTERPRISE = ENTERPRISE_USER_SCHEMA


def bjensen() -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "active": True,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@home.example", "type": "home"},
        ],
    }


def patch(resource: dict[str, Any], *ops: dict[str, Any], kind=USER, current=None):
    operations = parse_operations(kind, {"schemas": [PATCH_OP_SCHEMA], "Operations": list(ops)})
    return apply_patch(kind, resource, operations, entry_id="id-1", current_members=current)


def test_replace_add_remove_simple_attributes() -> None:
    before = bjensen()
    result = patch(
        before,
        {"op": "replace", "path": "displayName", "value": "Babs"},
        {"op": "add", "path": "title", "value": "Tour Guide"},
        {"op": "remove", "path": "name.familyName"},
    ).resource
    assert result["displayName"] == "Babs"
    assert result["title"] == "Tour Guide"
    assert result["name"] == {"givenName": "Barbara"}
    assert before == bjensen(), "the input is not modified"


def test_entra_capitalised_ops_and_string_booleans() -> None:
    result = patch(
        bjensen(),
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "path": "nickName", "value": "B"},
    ).resource
    assert result["active"] is False
    result = patch(result, {"op": "Replace", "value": {"active": "True"}}).resource
    assert result["active"] is True


def test_value_filter_paths() -> None:
    result = patch(
        bjensen(),
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "b@new.example"},
        {"op": "remove", "path": 'emails[type eq "home"]'},
    ).resource
    assert result["emails"] == [{"value": "b@new.example", "type": "work", "primary": True}]


def test_add_through_a_filter_that_matches_nothing_creates_the_value() -> None:
    resource = {"schemas": [USER_SCHEMA], "userName": "x"}
    result = patch(
        resource,
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "x@example.com"},
        {"op": "Add", "path": 'addresses[type eq "work"].locality', "value": "Oslo"},
    ).resource
    assert result["emails"] == [{"type": "work", "value": "x@example.com"}]
    assert result["addresses"] == [{"type": "work", "locality": "Oslo"}]


def test_replace_through_an_unmatched_non_equality_filter_is_no_target() -> None:
    with pytest.raises(ScimError) as caught:
        patch(bjensen(), {"op": "replace", "path": 'emails[value co "nobody"].type', "value": "x"})
    assert caught.value.scim_type == "noTarget"


def test_multi_valued_add_appends_and_replace_replaces() -> None:
    phone = {"value": "555-1234", "type": "work"}
    result = patch(bjensen(), {"op": "add", "path": "phoneNumbers", "value": [phone]}).resource
    result = patch(result, {"op": "add", "path": "phoneNumbers", "value": [phone]}).resource
    assert result["phoneNumbers"] == [phone]
    result = patch(result, {"op": "replace", "path": "emails", "value": []}).resource
    assert "emails" not in result


def test_pathless_value_with_paths_and_extensions() -> None:
    result = patch(
        bjensen(),
        {
            "op": "replace",
            "value": {
                "name.givenName": "Babs",
                f"{ENTERPRISE}:department": "Tours",
                ENTERPRISE: {"employeeNumber": "701984"},
            },
        },
    ).resource
    assert result["name"] == {"givenName": "Babs", "familyName": "Jensen"}
    assert result[ENTERPRISE] == {"department": "Tours", "employeeNumber": "701984"}
    assert result["schemas"] == [USER_SCHEMA, ENTERPRISE]
    result = patch(result, {"op": "remove", "path": ENTERPRISE}).resource
    assert ENTERPRISE not in result
    assert result["schemas"] == [USER_SCHEMA]


def test_entra_manager_as_a_bare_id() -> None:
    result = patch(
        bjensen(), {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": "mgr-1"}
    ).resource
    assert result[ENTERPRISE] == {"manager": {"value": "mgr-1"}}


def test_okta_repeats_the_id_in_a_pathless_replace() -> None:
    group = {"schemas": [GROUP_SCHEMA], "displayName": "Old"}
    result = patch(
        group, {"op": "replace", "value": {"id": "id-1", "displayName": "New"}}, kind=GROUP
    )
    assert result.resource["displayName"] == "New"
    assert result.members is None
    with pytest.raises(ScimError) as caught:
        patch(group, {"op": "replace", "value": {"id": "other"}}, kind=GROUP)
    assert caught.value.scim_type == "mutability"


def test_member_operations_become_one_member_change() -> None:
    group = {"schemas": [GROUP_SCHEMA], "displayName": "G"}
    result = patch(
        group,
        {"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
        {"op": "remove", "path": 'members[value eq "u3"]'},
        {"op": "Remove", "path": "members", "value": [{"value": "u4"}]},  # Entra's older form
        kind=GROUP,
    )
    assert result.members == MemberChange(add=("u1", "u2"), remove=("u3", "u4"))
    assert "members" not in result.resource
    result = patch(
        group,
        {"op": "replace", "path": "members", "value": [{"value": "u1"}]},
        {"op": "add", "path": "members", "value": [{"value": "u2"}]},
        {"op": "remove", "path": 'members[value eq "u1"]'},
        kind=GROUP,
    )
    assert result.members == MemberChange(replace=("u2",))
    result = patch(group, {"op": "remove", "path": "members"}, kind=GROUP)
    assert result.members == MemberChange(replace=())


def test_member_filters_other_than_value_eq_use_the_current_members() -> None:
    group = {"schemas": [GROUP_SCHEMA], "displayName": "G"}
    ops = parse_operations(
        GROUP,
        {
            "schemas": [PATCH_OP_SCHEMA],
            "Operations": [{"op": "remove", "path": 'members[display sw "temp"]'}],
        },
    )
    assert needs_members(ops)
    current = [{"value": "u1", "display": "temp-1"}, {"value": "u2", "display": "bob"}]
    result = apply_patch(GROUP, group, ops, entry_id="g", current_members=current)
    assert result.members == MemberChange(remove=("u1",))


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ({"Operations": [{"op": "add", "path": "title", "value": "x"}]}, "invalidSyntax"),
        ({"schemas": [PATCH_OP_SCHEMA], "Operations": []}, "invalidSyntax"),
        ({"schemas": [PATCH_OP_SCHEMA], "Operations": [{"op": "move"}]}, "invalidSyntax"),
        ({"schemas": [PATCH_OP_SCHEMA], "Operations": [{"op": "add", "path": "x"}]}, "invalidPath"),
        (
            {"schemas": [PATCH_OP_SCHEMA], "Operations": [{"op": "add", "path": "title"}]},
            "invalidValue",
        ),
        ({"schemas": [PATCH_OP_SCHEMA], "Operations": [{"op": "remove"}]}, "noTarget"),
        ({"schemas": [PATCH_OP_SCHEMA], "Operations": [{"op": "add", "value": 3}]}, "invalidValue"),
        (
            {
                "schemas": [PATCH_OP_SCHEMA],
                "Operations": [{"op": "add", "path": "active", "value": "yes"}],
            },
            "invalidValue",
        ),
        (
            {
                "schemas": [PATCH_OP_SCHEMA],
                "Operations": [{"op": "replace", "path": "meta", "value": {}}],
            },
            "mutability",
        ),
        (
            {"schemas": [PATCH_OP_SCHEMA], "Operations": [{"op": "remove", "path": "userName"}]},
            "invalidValue",
        ),
        (
            {"schemas": [PATCH_OP_SCHEMA], "Operations": [{"op": "add", "value": {"bogus": 1}}]},
            "invalidPath",
        ),
    ],
)
def test_bad_operations_are_refused_with_the_rfc_error(body: Any, scim_type: str) -> None:
    before = bjensen()
    with pytest.raises(ScimError) as caught:
        apply_patch(USER, before, parse_operations(USER, body), entry_id="id-1")
    assert (caught.value.status, caught.value.scim_type) == (400, scim_type)
    assert before == bjensen()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(["True"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["value", "type", "primary", "givenName", "display", "x", ENTERPRISE]),
            children,
            max_size=3,
        )
    ),
    max_leaves=8,
)
_PATHS = st.sampled_from(
    [
        None,
        "title",
        "active",
        "emails",
        'emails[type eq "work"].value',
        'emails[type eq "work"]',
        "name",
        "name.givenName",
        "members",
        'members[value eq "u1"]',
        "id",
        "meta",
        "groups",
        ENTERPRISE,
        f"{ENTERPRISE}:manager",
        f"{ENTERPRISE}:manager.displayName",
        "userName",
        "addresses[primary eq true].locality",
        "x",
        "emails[",
    ]
)
_OPERATION = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "Replace", "remove", "copy"]), "path": _PATHS, "value": _JSON}
)


@given(st.lists(_OPERATION, min_size=1, max_size=4), st.sampled_from([USER, GROUP]))
@settings(max_examples=300, deadline=None)
def test_any_operations_apply_or_are_refused_with_a_scim_error(operations, kind) -> None:
    resource = bjensen() if kind is USER else {"schemas": [GROUP_SCHEMA], "displayName": "G"}
    body = {"schemas": [PATCH_OP_SCHEMA], "Operations": operations}
    error: ScimError | None = None
    try:
        parsed = parse_operations(kind, body)
        apply_patch(kind, resource, parsed, entry_id="id-1", current_members=[])
    except ScimError as exc:
        error = exc
    assert error is None or error.status == 400
