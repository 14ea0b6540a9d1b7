"""Source: Entra ID attribute names resolve against directory resources."""

from __future__ import annotations

import pytest

from relay.engine.source import ENTRA_USER, AppRoleAssignment, Source, compile_reference
from tests.relay.engine.source_samples import USER


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("userPrincipalName", "bjensen@example.com"),
        ("mailNickname", "bjensen"),
        ("givenName", "Barbara"),
        ("surname", "Jensen"),
        ("displayName", "Babs Jensen"),
        ("mail", "bjensen@example.com"),
        ("department", "Tour Operations"),
        ("jobTitle", "Tour Guide"),
        ("employeeId", "701984"),
        ("companyName", "Universal Studios"),
        ("division", "Theme Park"),
        ("costCenter", "4130"),
        ("accountEnabled", True),
        ("IsSoftDeleted", False),
        ("objectId", "2819c223"),
        ("manager", "26118915-6090"),
        ("telephoneNumber", "555-555-5555"),
        ("mobile", "555-555-4444"),
        ("streetAddress", "100 Universal City Plaza"),
        ("city", "Hollywood"),
        ("state", "CA"),
        ("postalCode", "91608"),
        ("country", "USA"),
        ("physicalDeliveryOfficeName", "Building 4"),
        ("preferredLanguage", "en-US"),
        ("extensionAttribute1", "blue"),
        ("extensionAttribute2", None),
        ("proxyAddresses", ["SMTP:bjensen@example.com", "smtp:babs@example.com"]),
        ("badgeColour", "green"),
        ("userType", "Member"),
        ("employeeType", "Contractor"),
        ("usageLocation", "US"),
        ("officeLocation", "Building 4"),
        ("employeeHireDate", "2020-03-16T07:00:00Z"),
        ("otherMails", "babs@other.org"),
        ("imAddresses", "babs@im"),
        ("businessPhones", "555-555-5555"),
        ("mobilePhone", "555-555-4444"),
        ("facsimileTelephoneNumber", "555-555-3333"),
        ("faxNumber", "555-555-3333"),
    ],
)
def test_entra_names(name, expected):
    assert Source(USER).get(name) == expected


def test_names_in_the_table_fall_back_to_an_attribute_of_their_own():
    assert Source({"extensionAttribute3": "kept flat"}).get("extensionAttribute3") == "kept flat"


def test_mail_prefers_the_primary_work_email_then_primary_then_work_then_first():
    work = {"emails": [{"value": "h@x", "type": "home"}, {"value": "w@x", "type": "work"}]}
    assert Source(work).get("mail") == "w@x"
    both = {
        "emails": [
            {"value": "p@x", "primary": True},
            {"value": "pw@x", "type": "work", "primary": True},
        ]
    }
    assert Source(both).get("mail") == "pw@x"
    primary = {"emails": [{"value": "w@x", "type": "work"}, {"value": "p@x", "primary": True}]}
    assert Source(primary).get("mail") == "p@x"
    assert Source({"emails": [{"value": "h@x"}]}).get("mail") == "h@x"
    assert Source({}).get("mail") is None


def test_mail_nickname_prefers_an_attribute_of_its_own():
    assert Source({"userName": "a@b", "mailNickname": "alias"}).get("mailNickname") == "alias"
    entra = {"schemas": [ENTRA_USER], "userName": "a@b", ENTRA_USER: {"mailNickname": "al"}}
    assert Source(entra).get("mailNickname") == "al"
    group = {
        "displayName": "Ops",
        "urn:ietf:params:scim:schemas:extension:Microsoft:Entra:2.0:Group": {"mailNickname": "ops"},
    }
    assert Source(group, kind="group").get("mailNickname") == "ops"


def test_empty_values_read_as_null():
    assert Source({"displayName": "", "emails": []}).get("displayName") is None
    assert Source({"emails": []}).get("emails") is None


def test_app_role_assignments():
    source = Source({}, app_roles=(AppRoleAssignment("Admin"), AppRoleAssignment("User")))
    assert source.get("appRoleAssignments") == ["Admin", "User"]
    assert Source({}).get("appRoleAssignments") is None


def test_group_members():
    group = {"displayName": "Ops", "members": [{"value": "u1"}, {"value": "u2"}]}
    assert Source(group, kind="group").get("members") == ["u1", "u2"]


def test_references_are_compiled_once():
    assert compile_reference("name.givenName") is compile_reference("name.givenName")
