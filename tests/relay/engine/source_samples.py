"""A directory user with every kind of attribute the engine reads, for source tests."""

from __future__ import annotations

from typing import Any

from relay.engine.source import ENTERPRISE_USER, ENTRA_USER

USER: dict[str, Any] = {
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        ENTERPRISE_USER,
        ENTRA_USER,
        "urn:example:custom:2.0:User",
    ],
    "userType": "Contractor",
    "id": "2819c223",
    "userName": "bjensen@example.com",
    "active": True,
    "displayName": "Babs Jensen",
    "title": "Tour Guide",
    "preferredLanguage": "en-US",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "emails": [
        {"value": "babs@jensen.org", "type": "home"},
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@other.org", "type": "other"},
    ],
    "phoneNumbers": [
        {"value": "555-555-5555", "type": "work"},
        {"value": "555-555-4444", "type": "mobile"},
        {"value": "555-555-3333", "type": "fax"},
    ],
    "ims": [{"value": "babs@im", "type": "work"}],
    "addresses": [
        {
            "type": "work",
            "streetAddress": "100 Universal City Plaza",
            "locality": "Hollywood",
            "region": "CA",
            "postalCode": "91608",
            "country": "USA",
        },
        {"type": "other", "formatted": "Building 4"},
    ],
    ENTERPRISE_USER: {
        "employeeNumber": "701984",
        "organization": "Universal Studios",
        "division": "Theme Park",
        "department": "Tour Operations",
        "costCenter": "4130",
        "manager": {"value": "26118915-6090", "displayName": "John Smith"},
    },
    ENTRA_USER: {
        "officeLocation": "Building 4",
        "userType": "Member",
        "usageLocation": "US",
        "employeeHireDate": "2020-03-16T07:00:00Z",
        "onPremisesExtensionAttributes": {"extensionAttribute1": "blue"},
        "proxyAddresses": ["SMTP:bjensen@example.com", "smtp:babs@example.com"],
    },
    "urn:example:custom:2.0:User": {"badgeColour": "green"},
}
