"""The printer: printing a parsed expression and parsing it again gives the same tree."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from relay.engine.exceptions import ExpressionSyntaxError
from relay.engine.expressions import compile_expression, format_expression, parse
from tests.relay.engine.expressions.strategies import trees


@settings(max_examples=300, deadline=None)
@given(trees)
def test_printing_then_parsing_gives_the_same_tree(tree):
    assert parse(format_expression(tree)) == tree


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='[]()," \\=<>&H-0123456789abJoinLeft', max_size=40))
def test_any_text_parses_to_a_tree_that_round_trips_or_is_refused(text):
    try:
        tree = parse(text)
    except ExpressionSyntaxError:
        return
    assert parse(format_expression(tree)) == tree


def test_canonical_spacing_and_escapes():
    expression = compile_expression('Replace( [mail],"@x" ,, , "a\\"b\\\\c",,)')
    assert format_expression(expression) == 'Replace([mail], "@x", , , "a\\"b\\\\c", , )'
    assert format_expression(parse('IIF([a]="b",&H10,-1)')) == 'IIF([a] = "b", 16, -1)'
