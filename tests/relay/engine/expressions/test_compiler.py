"""Compile-time checks: unknown functions, argument counts, empty required arguments,
nesting rules; each error names the position and what was expected."""

from __future__ import annotations

import pytest

from relay.engine.exceptions import ExpressionSyntaxError
from relay.engine.expressions import compile_expression


@pytest.mark.parametrize(
    ("text", "position", "expected", "found"),
    [
        (
            "Joinn([a])",
            0,
            "a known function",
            "the unknown function 'Joinn' (did you mean 'Join'?)",
        ),
        ("Frobnicate([a])", 0, "a known function", "the unknown function 'Frobnicate'"),
        (
            'join(",", [a])',
            0,
            "a known function",
            "'join' (function names are case-sensitive: did you mean 'Join'?)",
        ),
        (
            'Append([a], ToLower("x", "en-US", "y"))',
            34,
            "at most 2 arguments for ToLower(source, culture)",
            "3",
        ),
        ("Left([a])", 0, "at least 2 arguments for Left(String, NumChars)", "1"),
        ('Left([a], 1, "x")', 13, "at most 2 arguments for Left(String, NumChars)", "3"),
        ("Now(1)", 4, "at most 0 arguments for Now()", "1"),
        (
            "SelectUniqueValue([a])",
            0,
            "at least 2 arguments for SelectUniqueValue(uniqueValueRule...)",
            "1",
        ),
        ('Join(",")', 0, "at least 2 arguments for Join(separator, source...)", "1"),
        (
            'Append(, "x")',
            7,
            "a value for source (argument 1 of Append(source, suffix))",
            "an empty argument",
        ),
        (
            "ToLower(SelectUniqueValue([a], [b]))",
            8,
            "SelectUniqueValue only as the whole expression (it cannot be nested)",
            "SelectUniqueValue inside another function",
        ),
        ("Left([a], True)", 10, "a whole number for NumChars of Left", "True"),
        ('BitAnd("x", 1)', 7, "a whole number for value1 of BitAnd", "'x'"),
    ],
)
def test_refused_when_saved(text, position, expected, found):
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(text)
    error = caught.value
    assert (error.position, error.expected, error.found) == (position, expected, found)


def test_numbers_may_be_written_as_strings():
    compile_expression('Left([a], "3")')


def test_references_and_flags():
    expression = compile_expression(
        'SelectUniqueValue(Join("@", [givenName], "x.com"), Join("@", [surname], "x.com"))'
    )
    assert expression.references == frozenset({"givenName", "surname"})
    assert expression.needs_target
    assert not compile_expression("[a]").needs_target
