"""The shared SCIM filter and path grammar: trees, positions of faults, hostile text."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.exceptions import HatchwayError
from shared.scim_filter import (
    MAX_COMPARISONS,
    MAX_DEPTH,
    And,
    AttributePath,
    Compare,
    CompareOp,
    Filter,
    Not,
    Or,
    PathExpression,
    Present,
    ScimFilterError,
    ValuePath,
    parse_attribute_path,
    parse_filter,
    parse_path,
)

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
TITLE = Present(AttributePath("title"))
NICK = Present(AttributePath("nickName"))
LOCALE = Present(AttributePath("locale"))


def test_names_are_kept_as_written_and_operators_read_in_any_case() -> None:
    assert parse_filter('USERNAME EQ "x"') == Compare(AttributePath("USERNAME"), CompareOp.EQ, "x")
    assert parse_filter(f"{ENTERPRISE}:manager.value Pr") == Present(
        AttributePath("manager", "value", ENTERPRISE)
    )
    for op in CompareOp:
        assert parse_filter(f"a {op.value} 1") == Compare(AttributePath("a"), op, 1)


def test_precedence_not_then_and_then_or() -> None:
    assert parse_filter("title pr or nickName pr and locale pr") == Or(TITLE, And(NICK, LOCALE))
    assert parse_filter("title pr and nickName pr or locale pr") == Or(And(TITLE, NICK), LOCALE)
    assert parse_filter("(title pr or nickName pr) and locale pr") == And(Or(TITLE, NICK), LOCALE)
    assert parse_filter("NOT (title pr) and locale pr") == And(Not(TITLE), LOCALE)


def test_literals_are_json() -> None:
    def value(text: str) -> object:
        parsed = parse_filter(f"a eq {text}")
        assert isinstance(parsed, Compare)
        return parsed.value

    assert value('"a \\"quoted\\" \\\\ \\u00e9"') == 'a "quoted" \\ é'
    assert (value("TRUE"), value("false"), value("null")) == (True, False, None)
    assert (value("-12"), value("1.5e3")) == (-12, 1500.0)


def test_value_paths_in_filters() -> None:
    assert parse_filter('emails[type eq "work" and not (primary eq false)]') == ValuePath(
        AttributePath("emails"),
        And(
            Compare(AttributePath("type"), CompareOp.EQ, "work"),
            Not(Compare(AttributePath("primary"), CompareOp.EQ, False)),
        ),
    )


def test_paths() -> None:
    assert parse_path("userName") == PathExpression(None, "userName")
    assert parse_path("name.givenName") == PathExpression(None, "name", None, "givenName")
    assert parse_path('members[value eq "a]b"]') == PathExpression(
        None, "members", Compare(AttributePath("value"), CompareOp.EQ, "a]b")
    )
    assert parse_path(f'{ENTERPRISE}:emails[type eq "work"].value') == PathExpression(
        ENTERPRISE, "emails", Compare(AttributePath("type"), CompareOp.EQ, "work"), "value"
    )
    assert parse_attribute_path(f"{ENTERPRISE}:manager.value") == AttributePath(
        "manager", "value", ENTERPRISE
    )


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ("", 0, "an attribute name"),
        ("name.", 5, "an attribute name"),
        ("name.a.b", 5, "an attribute name"),
        (f"{ENTERPRISE}:", len(ENTERPRISE) + 1, "an attribute name"),
        ('emails[type eq "work".value', 21, "']' closing the filter"),
        ('emails[type is "work"]', 12, "a filter operator"),
        ('emails[type eq "work]', 21, "'\"' closing the string"),
        ("emails[type eq work]", 15, "a string, number, true, false or null"),
        ('emails[type eq "\\x"]', 15, "a JSON string"),
        ("emails[n eq 1e400]", 12, "a 64-bit number"),
        ('emails[a[b eq "x"]]', 8, "a filter operator"),
        ('emails[name.givenName eq "x"]', 7, "an attribute name"),
        ('name.givenName[value eq "x"]', 14, "the end of the path"),
        ('emails[type eq "x"]value', 19, "'.' or the end of the path"),
        ("display name", 8, "'.', '[' or the end of the path"),
        ("user;name", 4, "a part of a path"),
    ],
)
def test_faults_name_their_position(text: str, position: int, expected: str) -> None:
    with pytest.raises(ScimFilterError) as caught:
        parse_path(text)
    assert caught.value.position == position
    assert caught.value.expected.startswith(expected)
    assert isinstance(caught.value, HatchwayError)
    assert f"at character {position + 1}" in str(caught.value)


@pytest.mark.parametrize(
    "text",
    ["", "title", "title pr and", "title pr or or x pr", "(title pr", "title pr)", "not title pr"],
)
def test_bad_filters_are_refused(text: str) -> None:
    with pytest.raises(ScimFilterError):
        parse_filter(text)


def test_nesting_up_to_the_limit_parses_and_deeper_is_refused() -> None:
    assert parse_filter("(" * MAX_DEPTH + "title pr" + ")" * MAX_DEPTH) == TITLE
    nots = "not (" * (MAX_DEPTH + 1) + "title pr" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(ScimFilterError, match="nested"):
        parse_filter(nots)
    assert parse_filter("((title pr))", max_depth=2) == TITLE
    with pytest.raises(ScimFilterError, match="nested"):
        parse_path('emails[((type eq "x"))]', max_depth=2)


def test_hostile_text_is_refused_never_crashes() -> None:
    deep = "(" * 100_000 + "title pr" + ")" * 100_000
    wide = " or ".join(["title pr"] * (MAX_COMPARISONS + 1))
    for text in (deep, "emails[" + deep + "]", wide, 'a eq "' + "x" * 100_000, "\\" * 100_000):
        with pytest.raises(ScimFilterError):
            parse_filter(text)
    long = 'a eq "' + "x" * 1_000_000 + '"'
    assert parse_filter(long) == Compare(AttributePath("a"), CompareOp.EQ, "x" * 1_000_000)


_NAMES = st.from_regex(r"[A-Za-z_$][A-Za-z0-9_$\-]{0,8}", fullmatch=True)
_SCHEMAS = st.none() | st.from_regex(r"urn:[a-z0-9]{1,5}(:[A-Za-z0-9.]{1,5}){0,3}", fullmatch=True)
_PATHS = st.builds(AttributePath, _NAMES, st.none() | _NAMES, _SCHEMAS)
_VALUES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)


def _filters(paths: st.SearchStrategy[AttributePath]) -> st.SearchStrategy[Filter]:
    leaves = st.builds(Present, paths) | st.builds(
        Compare, paths, st.sampled_from(list(CompareOp)), _VALUES
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.builds(And, inner, inner) | st.builds(Or, inner, inner) | st.builds(Not, inner)
        ),
        max_leaves=8,
    )


_TREES = _filters(_PATHS) | st.builds(
    ValuePath,
    _PATHS.map(lambda p: AttributePath(p.attribute)),
    _filters(st.builds(AttributePath, _NAMES)),
)


def _text(node: Filter) -> str:
    """The filter written out with every operand in parentheses."""
    match node:
        case And(left, right):
            return f"({_text(left)}) and ({_text(right)})"
        case Or(left, right):
            return f"({_text(left)}) or ({_text(right)})"
        case Not(inner):
            return f"not ({_text(inner)})"
        case Present(path):
            return f"{_path_text(path)} pr"
        case Compare(path, op, value):
            return f"{_path_text(path)} {op.value} {json.dumps(value, ensure_ascii=False)}"
        case ValuePath(path, inner):
            return f"{_path_text(path)}[{_text(inner)}]"
    raise AssertionError(node)


def _path_text(path: AttributePath) -> str:
    text = f"{path.schema}:{path.attribute}" if path.schema else path.attribute
    return f"{text}.{path.sub_attribute}" if path.sub_attribute else text


@given(_TREES)
@settings(max_examples=300, deadline=None)
def test_written_filters_parse_back_to_the_same_tree(tree: Filter) -> None:
    assert parse_filter(_text(tree), max_depth=100) == tree


_PIECES = st.sampled_from(
    ["name", "emails", "urn:x:y:", ".", "givenName", " eq ", " pr", " and ", " or ", "not",
     "(", ")", "[", "]", '"x"', '"\\', "\\u00", "true", "1.5", "-", " ", ":", "'"]
)  # fmt: skip


@given(st.one_of(st.text(max_size=200), st.lists(_PIECES, max_size=30).map("".join)))
@settings(max_examples=400, deadline=None)
def test_any_text_parses_or_is_a_scim_filter_error(text: str) -> None:
    for parse in (parse_filter, parse_path):
        error: ScimFilterError | None = None
        try:
            parse(text)
        except ScimFilterError as exc:
            error = exc
        assert error is None or 0 <= error.position <= len(text)
