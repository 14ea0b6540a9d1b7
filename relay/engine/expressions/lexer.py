"""Splits an expression's text into tokens.

The lexical rules are Entra ID's: attribute references in square brackets (which may nest,
as SCIM value paths do: ``[emails[type eq "work"].value]``), string constants in double
quotes where ``\\"`` and ``\\\\`` are the only escapes, whole numbers (also VBA's ``&H``
hexadecimal), names, parentheses, commas and IIF's comparison operators.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from relay.engine.exceptions import ExpressionSyntaxError

MAX_LENGTH = 10_000
"""The longest expression accepted, as in Entra ID."""


class Kind(Enum):
    NAME = "a name"
    STRING = "a string"
    NUMBER = "a number"
    ATTRIBUTE = "an attribute reference"
    OPEN = "'('"
    CLOSE = "')'"
    COMMA = "','"
    OPERATOR = "a comparison operator"
    END = "the end of the expression"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    """The token's value: a string's unescaped content, a reference's inner text."""
    position: int


def describe(token: Token) -> str:
    """How an error message names a token it did not expect."""
    if token.kind is Kind.END:
        return Kind.END.value
    if token.kind is Kind.STRING:
        return f"the string {token.text!r}"
    if token.kind is Kind.ATTRIBUTE:
        return f"the attribute [{token.text}]"
    return repr(token.text)


_SINGLE = {"(": Kind.OPEN, ")": Kind.CLOSE, ",": Kind.COMMA}
_WHITESPACE = " \t\r\n"
_DIGITS = "0123456789"


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an END token; raises ExpressionSyntaxError."""
    if len(text) > MAX_LENGTH:
        raise ExpressionSyntaxError(
            MAX_LENGTH, f"at most {MAX_LENGTH:,} characters", f"{len(text):,} characters"
        )
    tokens: list[Token] = []
    pos = 0
    length = len(text)
    while True:
        while pos < length and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= length:
            tokens.append(Token(Kind.END, "", pos))
            return tokens
        char = text[pos]
        if char in _SINGLE:
            tokens.append(Token(_SINGLE[char], char, pos))
            pos += 1
        elif char == '"':
            token, pos = _string(text, pos)
            tokens.append(token)
        elif char == "[":
            token, pos = _attribute(text, pos)
            tokens.append(token)
        elif char in "<>=":
            two = text[pos : pos + 2]
            operator = two if two in ("<>", "<=", ">=") else char
            tokens.append(Token(Kind.OPERATOR, operator, pos))
            pos += len(operator)
        elif char in _DIGITS or char in "-&":
            token, pos = _number(text, pos)
            tokens.append(token)
        elif char.isalpha() or char == "_":
            end = pos + 1
            while end < length and (text[end].isalnum() or text[end] == "_"):
                end += 1
            tokens.append(Token(Kind.NAME, text[pos:end], pos))
            pos = end
        else:
            raise ExpressionSyntaxError(
                pos, "a function, an attribute, a string or a number", repr(char)
            )


def _string(text: str, start: int) -> tuple[Token, int]:
    chars: list[str] = []
    pos = start + 1
    length = len(text)
    while pos < length:
        char = text[pos]
        if char == '"':
            return Token(Kind.STRING, "".join(chars), start), pos + 1
        if char == "\\" and pos + 1 < length and text[pos + 1] in '"\\':
            chars.append(text[pos + 1])
            pos += 2
            continue
        chars.append(char)
        pos += 1
    raise ExpressionSyntaxError(
        length, f"'\"' closing the string started at position {start}", Kind.END.value
    )


def _attribute(text: str, start: int) -> tuple[Token, int]:
    depth = 0
    pos = start
    length = len(text)
    while pos < length:
        char = text[pos]
        if char == '"':
            pos += 1
            while pos < length and text[pos] != '"':
                pos += 2 if text[pos] == "\\" else 1
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                inner = text[start + 1 : pos]
                if not inner.strip():
                    raise ExpressionSyntaxError(start + 1, "an attribute name", "']'")
                return Token(Kind.ATTRIBUTE, inner, start), pos + 1
        pos += 1
    raise ExpressionSyntaxError(
        length, f"']' closing the attribute started at position {start}", Kind.END.value
    )


def _number(text: str, start: int) -> tuple[Token, int]:
    pos = start
    length = len(text)
    if text[pos] == "&":
        pos += 1
        if pos >= length or text[pos] not in "Hh":
            raise ExpressionSyntaxError(
                pos, "'H' of a hexadecimal number (&H...)", _found(text, pos)
            )
        pos += 1
        end = pos
        while end < length and text[end] in "0123456789abcdefABCDEF":
            end += 1
        if end == pos:
            raise ExpressionSyntaxError(pos, "hexadecimal digits", _found(text, pos))
        return Token(Kind.NUMBER, str(int(text[pos:end], 16)), start), end
    if text[pos] == "-":
        pos += 1
    end = pos
    while end < length and text[end] in _DIGITS:
        end += 1
    if end == pos:
        raise ExpressionSyntaxError(pos, "digits after '-'", _found(text, pos))
    if end < length and (text[end].isalpha() or text[end] in "._"):
        raise ExpressionSyntaxError(end, "a whole number", repr(text[start : end + 1]))
    return Token(Kind.NUMBER, str(int(text[start:end])), start), end


def _found(text: str, pos: int) -> str:
    return repr(text[pos]) if pos < len(text) else Kind.END.value
