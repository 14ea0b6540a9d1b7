"""The parser: trees for valid text, and errors that say where and what was expected."""

from __future__ import annotations

import pytest

from relay.engine.exceptions import ExpressionSyntaxError
from relay.engine.expressions import compile_expression, parse
from relay.engine.expressions.lexer import MAX_LENGTH
from relay.engine.expressions.nodes import (
    Attribute,
    Call,
    Comparison,
    Constant,
    Missing,
    NumberLiteral,
    StringLiteral,
)
from relay.engine.expressions.parser import MAX_DEPTH
from relay.engine.source import Source


def call(text: str) -> Call:
    tree = parse(text)
    assert isinstance(tree, Call)
    return tree


def test_tree_of_a_nested_expression():
    assert parse('Join(" ", [givenName], Mid([surname], 1, 3))') == Call(
        "Join",
        (
            StringLiteral(" "),
            Attribute("givenName"),
            Call("Mid", (Attribute("surname"), NumberLiteral(1), NumberLiteral(3))),
        ),
    )


def test_positions_are_kept_but_not_compared():
    tree = parse('  Append([a], "b")')
    assert tree.position == 2
    assert isinstance(tree, Call)
    assert tree.arguments[1].position == 14
    assert tree == parse('Append([a],"b")')


def test_string_escapes_are_entras():
    assert parse(r'"Company name: \"Contoso\""') == StringLiteral('Company name: "Contoso"')
    assert parse(r'"a\\b"') == StringLiteral("a\\b")
    # A backslash before anything else is kept as it is.
    assert parse(r'"\d"') == StringLiteral("\\d")


def test_scim_references_with_nested_brackets_and_quotes():
    assert parse('[emails[type eq "work"].value]') == Attribute('emails[type eq "work"].value')
    assert parse('[emails[value eq "a]b"].type]') == Attribute('emails[value eq "a]b"].type')


def test_numbers_constants_and_omitted_arguments():
    assert parse("BitAnd(&HF, -10)") == Call("BitAnd", (NumberLiteral(15), NumberLiteral(-10)))
    assert parse('InStr("a", , vbTextCompare)') == Call(
        "InStr", (StringLiteral("a"), Missing(), Constant("vbTextCompare"))
    )
    assert call('Replace([x], , "p", , "", , )').arguments[-1] == Missing()
    assert parse("Now()") == Call("Now", ())


def test_comparisons():
    assert call('IIF([a] <> "b", 1, 2)').arguments[0] == Comparison(
        "<>", Attribute("a"), StringLiteral("b")
    )
    for operator in ("=", "<>", "<", "<=", ">", ">="):
        assert parse(f"[a] {operator} 1") == Comparison(operator, Attribute("a"), NumberLiteral(1))


def test_whitespace_and_newlines_are_allowed_between_tokens():
    assert parse("SelectUniqueValue(\n    [a],\n    [b]\n)") == Call(
        "SelectUniqueValue", (Attribute("a"), Attribute("b"))
    )


def test_the_longest_expression_is_accepted():
    text = '"' + "x" * (MAX_LENGTH - 2) + '"'
    assert parse(text) == StringLiteral("x" * (MAX_LENGTH - 2))


@pytest.mark.parametrize(
    ("text", "position", "expected", "found"),
    [
        ("", 0, "a function, an attribute, a string or a number", "the end of the expression"),
        (
            'Join(" ", [a]',
            13,
            "',' or ')' closing the call of Join at position 0",
            "the end of the expression",
        ),
        ('Join(" ", [a]))', 14, "the end of the expression", "')'"),
        (
            'Join(" " [a])',
            9,
            "',' or ')' closing the call of Join at position 0",
            "the attribute [a]",
        ),
        (
            'Append([givenName, "x")',
            23,
            "']' closing the attribute started at position 7",
            "the end of the expression",
        ),
        ("[a]]", 3, "a function, an attribute, a string or a number", "']'"),
        (
            'Append("abc, [x])',
            17,
            "'\"' closing the string started at position 7",
            "the end of the expression",
        ),
        ('Append([], "x")', 8, "an attribute name", "']'"),
        ('Append([a b], "x")', 10, "'.', '[' or the end of the reference", "'b'"),
        ('Append([emails[type eq "work"x].value], "x")', 29, "']' closing the filter", "'x'"),
        ("Join; ", 4, "a function, an attribute, a string or a number", "';'"),
        ("Join", 4, "'(' after the function name 'Join'", "the end of the expression"),
        ("[a] = [b] = [c]", 10, "the end of the expression (comparisons do not chain)", "'='"),
        ("Left([a], 1.5)", 11, "a whole number", "'1.'"),
        ("BitAnd(&Q1, 1)", 8, "'H' of a hexadecimal number (&H...)", "'Q'"),
        ("Left([a], -)", 11, "digits after '-'", "')'"),
        ("x" * (MAX_LENGTH + 1), MAX_LENGTH, "at most 10,000 characters", "10,001 characters"),
    ],
)
def test_syntax_errors(text, position, expected, found):
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse(text)
    error = caught.value
    assert (error.position, error.expected, error.found) == (position, expected, found)
    assert str(error) == f"position {position}: expected {expected}, found {found}"


def test_deep_nesting_is_refused_with_a_clear_error():
    text = "ToLower(" * (MAX_DEPTH + 1) + "[a]" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse(text)
    assert caught.value.expected == f"at most {MAX_DEPTH} nested function calls"
    assert caught.value.position == len("ToLower(") * MAX_DEPTH


def test_very_deep_nesting_within_the_length_limit_is_no_recursion_error():
    text = "IIF(" * 2400 + "[a]"
    with pytest.raises(ExpressionSyntaxError, match="nested function calls"):
        parse(text)


def test_the_deepest_nesting_allowed_compiles_and_runs():
    text = "ToLower(" * MAX_DEPTH + '"A"' + ")" * MAX_DEPTH
    assert compile_expression(text).evaluate(Source({})) == "a"
