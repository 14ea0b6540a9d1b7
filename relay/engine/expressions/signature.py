"""How a function is declared: its parameters, the checks made when an expression is saved,
and the builder that turns its bound arguments into one evaluation closure.

Evaluation walks closures built once at compile time (each function call becomes a Python
function that calls its arguments' functions), never the tree: no dispatch on node types per
object, which keeps a mapping's expressions within a few microseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from relay.engine.exceptions import ExpressionSyntaxError
from relay.engine.expressions.context import EvaluationContext
from relay.engine.expressions.nodes import (
    CONSTANTS,
    Call,
    Constant,
    Missing,
    Node,
    NumberLiteral,
    StringLiteral,
)
from relay.engine.source import Source

Evaluator: TypeAlias = Callable[[Source, EvaluationContext], Any]
"""One compiled node: given the object and the context, its value."""


def constant(value: Any) -> Evaluator:
    """An evaluator that always gives ``value``."""
    return lambda source, context: value


NULL = constant(None)

LiteralCheck: TypeAlias = Callable[[Any], str | None]
"""Checks a literal argument when the expression is saved: a problem's description, or None."""


@dataclass(frozen=True, slots=True)
class Param:
    """A parameter as Entra ID's reference lists it."""

    name: str
    required: bool = True
    check: LiteralCheck | None = None
    """Applied to the argument when it is a constant (a literal string, number or name)."""
    expects: str = ""
    """What a valid constant looks like, for the error message."""


@dataclass(frozen=True, slots=True)
class Arguments:
    """A call's compiled arguments, with the nodes they came from."""

    call: Call
    evaluators: tuple[Evaluator, ...]

    @property
    def nodes(self) -> tuple[Node, ...]:
        return self.call.arguments

    def given(self, index: int) -> bool:
        """Whether the argument is there and not left empty (``Replace(x, , "a", ...)``)."""
        return index < len(self.nodes) and not isinstance(self.nodes[index], Missing)

    def is_literal(self, index: int) -> bool:
        return index < len(self.nodes) and isinstance(
            self.nodes[index], StringLiteral | NumberLiteral | Constant
        )

    def literal(self, index: int) -> Any:
        """The constant's value (only call after :meth:`is_literal`)."""
        return literal_value(self.nodes[index])

    def get(self, index: int) -> Evaluator:
        """The argument's evaluator; an absent optional argument evaluates to None."""
        return self.evaluators[index] if index < len(self.evaluators) else NULL

    def error(self, index: int, expected: str, found: str) -> ExpressionSyntaxError:
        node = self.nodes[index] if index < len(self.nodes) else self.call
        return ExpressionSyntaxError(node.position, expected, found)


def literal_value(node: Node) -> Any:
    if isinstance(node, StringLiteral | NumberLiteral):
        return node.value
    if isinstance(node, Constant):
        return CONSTANTS[node.name]
    raise TypeError(f"{node!r} is not a literal")


@dataclass(frozen=True, slots=True)
class Function:
    """A function of the expression language."""

    name: str
    params: tuple[Param, ...]
    build: Callable[[Arguments], Evaluator]
    summary: str
    example: str
    repeat: Param | None = None
    """A last parameter that may repeat (Join's sources, Coalesce's sources)."""
    minimum: int | None = None
    """The fewest arguments, when more than the required parameters (SelectUniqueValue: 2)."""
    check: Callable[[Arguments], None] | None = None
    """Further checks when saved (Switch's pairs, RandomString's lengths)."""
    top_level_only: bool = False
    notes: str = ""
    """Where Hatchway differs from Entra ID, for the docs."""

    @property
    def signature(self) -> str:
        names = [p.name for p in self.params]
        if self.repeat is not None:
            names.append(f"{self.repeat.name}...")
        return f"{self.name}({', '.join(names)})"

    @property
    def fewest(self) -> int:
        required = sum(1 for p in self.params if p.required) + (
            1 if self.repeat is not None and self.repeat.required else 0
        )
        return max(required, self.minimum or 0)

    @property
    def most(self) -> int | None:
        return None if self.repeat is not None else len(self.params)

    def param(self, index: int) -> Param:
        if index < len(self.params):
            return self.params[index]
        assert self.repeat is not None
        return self.repeat


def registry(*families: Sequence[Function]) -> dict[str, Function]:
    """Functions by name; names are case-sensitive, as Entra ID's syntax is."""
    table: dict[str, Function] = {}
    for family in families:
        for function in family:
            table[function.name] = function
    return table
