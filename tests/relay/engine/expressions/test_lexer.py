"""The lexer: Entra ID's tokens, with positions."""

from __future__ import annotations

import pytest

from relay.engine.exceptions import ExpressionSyntaxError
from relay.engine.expressions.lexer import Kind, tokenize


def kinds_and_texts(text: str) -> list[tuple[Kind, str, int]]:
    return [(t.kind, t.text, t.position) for t in tokenize(text)]


def test_tokens_and_positions():
    assert kinds_and_texts('IIF([a]>=&H1F, "x\\"y", -2)') == [
        (Kind.NAME, "IIF", 0),
        (Kind.OPEN, "(", 3),
        (Kind.ATTRIBUTE, "a", 4),
        (Kind.OPERATOR, ">=", 7),
        (Kind.NUMBER, "31", 9),
        (Kind.COMMA, ",", 13),
        (Kind.STRING, 'x"y', 15),
        (Kind.COMMA, ",", 21),
        (Kind.NUMBER, "-2", 23),
        (Kind.CLOSE, ")", 25),
        (Kind.END, "", 26),
    ]


def test_attribute_brackets_nest_and_ignore_brackets_in_quotes():
    [token, end] = tokenize('[emails[value eq "]["].type]')
    assert token.text == 'emails[value eq "]["].type'
    assert end.position == 28


@pytest.mark.parametrize("text", ["²", "٣"])
def test_only_ascii_digits_make_numbers(text):
    with pytest.raises(ExpressionSyntaxError) as caught:
        tokenize(text)
    assert caught.value.position == 0
