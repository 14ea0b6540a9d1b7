"""Contract filters as SCIM filter text: values quoted as JSON, typed paths as value filters."""

from __future__ import annotations

import json

import pytest

from agent.connectors.scim_discovery import DEFAULT_TYPES
from agent.connectors.scim_filters import filter_text
from agent.connectors.scim_paths import Catalogue
from shared.connector import And, Equals, Not, Or, Present, StartsWith

CATALOGUE = Catalogue("user", DEFAULT_TYPES["User"], {})


def text(flt) -> str:
    return filter_text(flt, CATALOGUE.resolve)


@pytest.mark.parametrize(
    "value",
    ['a" or userName pr or "', "back\\slash", "nul\x00", "line\nbreak", "ünï ☃", ")(", ""],
)
def test_a_value_cannot_leave_its_string(value: str) -> None:
    rendered = text(Equals("userName", value))
    assert rendered.startswith("userName eq ")
    assert json.loads(rendered.removeprefix("userName eq ")) == value


def test_operators_nest_with_parentheses() -> None:
    flt = And((StartsWith("userName", "ab"), Not(Or((Present("title"), Equals("active", True))))))
    assert text(flt) == '(userName sw "ab") and (not ((title pr) or (active eq true)))'


def test_typed_and_multi_valued_paths_become_value_filters() -> None:
    assert text(Equals('emails[type eq "work"].value', "a@b")) == (
        'emails[type eq "work" and value eq "a@b"]'
    )
    assert text(Present('emails[type eq "work"].value')) == 'emails[type eq "work" and value pr]'
    assert text(Equals("emails", "a@b")) == 'emails.value eq "a@b"'
    assert text(Equals("title", None)) == "not (title pr)"
    urn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    assert text(Equals(f"{urn}:department", 7)) == f"{urn}:department eq 7"
