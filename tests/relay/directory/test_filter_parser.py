"""The SCIM filter parser: the RFC 7644 §3.4.2.2 grammar, and hostile filters refused."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.directory.errors import ScimError
from relay.directory.filter_parser import MAX_DEPTH, MAX_FILTER_LENGTH, parse_filter
from relay.directory.query import (
    And,
    AttributePath,
    Compare,
    CompareOp,
    Not,
    Or,
    Present,
    ValuePath,
)
from relay.directory.schemas import ENTERPRISE_USER_SCHEMA, resource_types

USER, GROUP = resource_types()
ENTERPRISE = ENTERPRISE_USER_SCHEMA


def user_name(op: CompareOp, value: object) -> Compare:
    return Compare(AttributePath("userName"), op, value)  # type: ignore[arg-type]


def test_every_operator() -> None:
    for op in CompareOp:
        assert parse_filter(f'userName {op.value} "bjensen"', USER) == user_name(op, "bjensen")
    assert parse_filter("title pr", USER) == Present(AttributePath("title"))


def test_names_and_operators_ignore_case_and_are_normalised() -> None:
    assert parse_filter('USERNAME EQ "x"', USER) == user_name(CompareOp.EQ, "x")
    assert parse_filter('name.GIVENNAME sw "B"', USER) == Compare(
        AttributePath("name", "givenName"), CompareOp.SW, "B"
    )
    assert parse_filter('externalid eq "E1"', USER) == Compare(
        AttributePath("externalId"), CompareOp.EQ, "E1"
    )


def test_precedence_not_then_and_then_or() -> None:
    a = Present(AttributePath("title"))
    b = Present(AttributePath("nickName"))
    c = Present(AttributePath("locale"))
    assert parse_filter("title pr or nickName pr and locale pr", USER) == Or(a, And(b, c))
    assert parse_filter("title pr and nickName pr or locale pr", USER) == Or(And(a, b), c)
    assert parse_filter("(title pr or nickName pr) and locale pr", USER) == And(Or(a, b), c)
    assert parse_filter("not (title pr) and locale pr", USER) == And(Not(a), c)
    assert parse_filter("title pr and not(nickName pr or locale pr)", USER) == And(a, Not(Or(b, c)))


def test_value_paths_and_complex_attributes() -> None:
    parsed = parse_filter('emails[type eq "work" and value co "@example.com"]', USER)
    assert parsed == ValuePath(
        AttributePath("emails"),
        And(
            Compare(AttributePath("type"), CompareOp.EQ, "work"),
            Compare(AttributePath("value"), CompareOp.CO, "@example.com"),
        ),
    )
    # A complex multi-valued attribute without a sub-attribute compares its "value".
    assert parse_filter('emails co "example.com"', USER) == Compare(
        AttributePath("emails", "value"), CompareOp.CO, "example.com"
    )
    assert parse_filter('members[value eq "abc"]', GROUP) == ValuePath(
        AttributePath("members"), Compare(AttributePath("value"), CompareOp.EQ, "abc")
    )


def test_schema_urns() -> None:
    assert parse_filter(f'{ENTERPRISE}:employeeNumber eq "701984"', USER) == Compare(
        AttributePath("employeeNumber", schema=ENTERPRISE), CompareOp.EQ, "701984"
    )
    assert parse_filter(f'{ENTERPRISE}:manager.value eq "26118915"', USER) == Compare(
        AttributePath("manager", "value", ENTERPRISE), CompareOp.EQ, "26118915"
    )
    core = "urn:ietf:params:scim:schemas:core:2.0:User"
    assert parse_filter(f'{core}:userName eq "x"', USER) == user_name(CompareOp.EQ, "x")


def test_literals_and_escapes() -> None:
    assert parse_filter("active eq true", USER) == Compare(
        AttributePath("active"), CompareOp.EQ, True
    )
    # Entra sends booleans as strings; they compare as booleans.
    assert parse_filter('active eq "False"', USER) == Compare(
        AttributePath("active"), CompareOp.EQ, False
    )
    assert parse_filter('userName eq "a \\"quoted\\" \\\\ \\u00e9"', USER) == user_name(
        CompareOp.EQ, 'a "quoted" \\ é'
    )
    assert parse_filter("title eq null", USER) == Compare(
        AttributePath("title"), CompareOp.EQ, None
    )
    assert parse_filter('meta.lastModified gt "2011-05-13T04:42:34Z"', USER) == Compare(
        AttributePath("meta", "lastModified"), CompareOp.GT, "2011-05-13T04:42:34Z"
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "userName",
        "userName eq",
        "userName eq bjensen",
        'userName eqq "x"',
        'userName eq "unterminated',
        'userName eq "x" and',
        'userName eq "x" or or title pr',
        '(userName eq "x"',
        'userName eq "x")',
        'nosuch eq "x"',
        'name.nosuch eq "x"',
        'name eq "x"',
        'urn:example:unknown:schema:attr eq "x"',
        'emails[nosuch eq "x"]',
        'emails[type eq "work"',
        'emails[type[value eq "x"]]',
        'userName[value eq "x"]',
        "active gt true",
        "active eq 3",
        'password eq "secret"',
        "userName co 3",
        'meta.created gt "yesterday"',
        'userName eq "x" ; DROP TABLE directory_entries; --',
        "userName eq 'x'",
        'userName eq "x" OR 1=1',
        "userName eq 99999999999999999999999",
        "userName eq 1e400",
        'userName eq "\\x41"',
        "not title pr",
        "title pr not",
        "\u0000",
    ],
)
def test_invalid_filters_are_invalid_filter(text: str) -> None:
    with pytest.raises(ScimError) as caught:
        parse_filter(text, USER)
    assert caught.value.status == 400
    assert caught.value.scim_type == "invalidFilter"


def test_hostile_filters_are_refused_not_crashed() -> None:
    deep = "(" * 10_000 + "title pr" + ")" * 10_000
    nots = "not (" * (MAX_DEPTH + 1) + "title pr" + ")" * (MAX_DEPTH + 1)
    wide = " or ".join(["title pr"] * 1000)
    long = 'userName eq "' + "x" * MAX_FILTER_LENGTH + '"'
    for text in (deep, nots, wide, long):
        with pytest.raises(ScimError) as caught:
            parse_filter(text, USER)
        assert caught.value.scim_type == "invalidFilter"


def test_nesting_up_to_the_limit_parses() -> None:
    text = "(" * MAX_DEPTH + "title pr" + ")" * MAX_DEPTH
    assert parse_filter(text, USER) == Present(AttributePath("title"))


_PIECES = st.sampled_from(
    [
        "userName",
        "emails",
        "name.givenName",
        "meta.created",
        "active",
        "emails.value",
        f"{ENTERPRISE}:manager.value",
        " eq ",
        " co ",
        " gt ",
        " pr",
        " and ",
        " or ",
        "not",
        "(",
        ")",
        "[",
        "]",
        '"x"',
        '"\\"',
        "\\u00",
        "true",
        "null",
        "1.5",
        "-",
        " ",
        ".",
        'type eq "work"',
        ":",
        "urn:",
        "'",
    ]
)


@given(st.one_of(st.text(max_size=200), st.lists(_PIECES, max_size=30).map("".join)))
@settings(max_examples=400, deadline=None)
def test_any_text_parses_or_is_invalid_filter(text: str) -> None:
    error: ScimError | None = None
    try:
        parse_filter(text, USER)
    except ScimError as exc:
        error = exc
    assert error is None or (error.status, error.scim_type) == (400, "invalidFilter")
