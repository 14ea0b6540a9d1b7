"""SCIM paths: values, filters and refused paths, against a directory user."""

from __future__ import annotations

import pytest

from relay.engine.exceptions import ExpressionSyntaxError
from relay.engine.source import ENTERPRISE_USER, Source, compile_reference
from tests.relay.engine.source_samples import USER


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("userName", "bjensen@example.com"),
        ("USERNAME", "bjensen@example.com"),
        ("name.givenName", "Barbara"),
        ('emails[type eq "work"].value', "bjensen@example.com"),
        ('emails[type eq "WORK"].value', "bjensen@example.com"),
        ("emails.value", ["babs@jensen.org", "bjensen@example.com", "babs@other.org"]),
        ('emails[type eq "fax"].value', None),
        ('emails[type eq "work" and primary eq true].value', "bjensen@example.com"),
        (
            'emails[type eq "home" or type eq "work"].value',
            ["babs@jensen.org", "bjensen@example.com"],
        ),
        ('emails[not (type eq "home" or type eq "other")].value', "bjensen@example.com"),
        ('emails[value ew "example.com"].type', "work"),
        ("emails[primary pr].value", "bjensen@example.com"),
        (f"{ENTERPRISE_USER}:department", "Tour Operations"),
        (f"{ENTERPRISE_USER}:manager.value", "26118915-6090"),
        ("urn:ietf:params:scim:schemas:core:2.0:User:userName", "bjensen@example.com"),
        ("nickName", None),
        ("name.middleName", None),
    ],
)
def test_values(reference, expected):
    assert Source(USER).get(reference) == expected


@pytest.mark.parametrize(
    ("reference", "position", "expected"),
    [
        ("", 0, "an attribute name"),
        ("name.", 5, "an attribute name"),
        ('emails[type eq "work".value', 21, "']' closing the filter"),
        ('emails[type is "work"].value', 12, "a filter operator"),
        ('emails[type eq "work].value', 27, "'\"' closing the string"),
        ("emails[type eq work].value", 15, "a string, number, true, false or null"),
        ("display name", 8, "'.', '[' or the end of the reference"),
        ("(" * 60, 0, "an attribute name"),
    ],
)
def test_bad_paths_are_refused(reference, position, expected):
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_reference(reference)
    assert caught.value.position == position
    assert caught.value.expected.startswith(expected)


def test_deeply_nested_filters_are_refused_without_recursion_error():
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_reference("emails[" + "(" * 5000 + 'type eq "a"' + ")" * 5000 + "].value")
    assert "nested" in caught.value.expected
