"""Builds an expression tree from text, never handing the text to ``eval``.

Grammar (Entra ID's, with IIF's comparisons)::

    expression := operand [ operator operand ]
    operand    := NAME "(" [ argument { "," argument } ] ")" | NAME | STRING | NUMBER | ATTRIBUTE
    argument   := expression | (nothing: an omitted optional argument)
    operator   := "=" | "<>" | "<" | "<=" | ">" | ">="

Nesting is bounded (:data:`MAX_DEPTH`) so a hostile expression gets an error rather than a
RecursionError, and every error names the position and what was expected there.
"""

from __future__ import annotations

from relay.engine.exceptions import ExpressionSyntaxError
from relay.engine.expressions.lexer import Kind, Token, describe, tokenize
from relay.engine.expressions.nodes import (
    CONSTANTS,
    Attribute,
    Call,
    Comparison,
    Constant,
    Missing,
    Node,
    NumberLiteral,
    StringLiteral,
)
from relay.engine.source import compile_reference

MAX_DEPTH = 50
"""The deepest nesting of function calls accepted."""


def parse(text: str) -> Node:
    """The tree of ``text``; raises :class:`ExpressionSyntaxError`."""
    return _Parser(tokenize(text)).expression_only()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def _peek(self) -> Token:
        return self.tokens[self.index]

    def _next(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expression_only(self) -> Node:
        if self._peek().kind is Kind.END:
            raise ExpressionSyntaxError(
                0, "a function, an attribute, a string or a number", Kind.END.value
            )
        node = self._expression(0)
        token = self._peek()
        if token.kind is not Kind.END:
            raise ExpressionSyntaxError(
                token.position,
                "the end of the expression"
                if token.kind is not Kind.OPERATOR
                else "the end of the expression (comparisons do not chain)",
                describe(token),
            )
        return node

    def _expression(self, depth: int) -> Node:
        left = self._operand(depth)
        token = self._peek()
        if token.kind is not Kind.OPERATOR:
            return left
        self._next()
        right = self._operand(depth)
        return Comparison(token.text, left, right, token.position)

    def _operand(self, depth: int) -> Node:
        token = self._next()
        if token.kind is Kind.STRING:
            return StringLiteral(token.text, token.position)
        if token.kind is Kind.NUMBER:
            return NumberLiteral(int(token.text), token.position)
        if token.kind is Kind.ATTRIBUTE:
            try:
                compile_reference(token.text)
            except ExpressionSyntaxError as exc:
                raise ExpressionSyntaxError(
                    token.position + 1 + exc.position, exc.expected, exc.found
                ) from exc
            return Attribute(token.text, token.position)
        if token.kind is Kind.NAME:
            if self._peek().kind is Kind.OPEN:
                return self._call(token, depth + 1)
            if token.text in CONSTANTS:
                return Constant(token.text, token.position)
            raise ExpressionSyntaxError(
                self._peek().position,
                f"'(' after the function name {token.text!r}",
                describe(self._peek()),
            )
        raise ExpressionSyntaxError(
            token.position, "a function, an attribute, a string or a number", describe(token)
        )

    def _call(self, name: Token, depth: int) -> Call:
        if depth > MAX_DEPTH:
            raise ExpressionSyntaxError(
                name.position, f"at most {MAX_DEPTH} nested function calls", "deeper nesting"
            )
        self._next()
        arguments: list[Node] = []
        if self._peek().kind is Kind.CLOSE:
            self._next()
            return Call(name.text, (), name.position)
        while True:
            token = self._peek()
            if token.kind in (Kind.COMMA, Kind.CLOSE):
                arguments.append(Missing(token.position))
            else:
                arguments.append(self._expression(depth))
            token = self._next()
            if token.kind is Kind.CLOSE:
                return Call(name.text, tuple(arguments), name.position)
            if token.kind is not Kind.COMMA:
                raise ExpressionSyntaxError(
                    token.position,
                    f"',' or ')' closing the call of {name.text} at position {name.position}",
                    describe(token),
                )
