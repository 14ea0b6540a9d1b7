"""Turns a tree into closures, checking what can be checked before any object is seen:
unknown functions, argument counts, required arguments left empty, constants of the wrong
kind (a regular expression re2 cannot compile, a date format .NET would refuse, ...)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from relay.engine.exceptions import ExpressionSyntaxError
from relay.engine.expressions.comparisons import comparison
from relay.engine.expressions.functions import FUNCTIONS
from relay.engine.expressions.nodes import (
    Attribute,
    Call,
    Comparison,
    Constant,
    Missing,
    Node,
    NumberLiteral,
    StringLiteral,
)
from relay.engine.expressions.signature import NULL, Arguments, Evaluator, constant, literal_value
from relay.engine.source import compile_reference


@dataclass(slots=True)
class Compiled:
    """The closure of a whole expression and what the compiler learned on the way."""

    evaluator: Evaluator
    references: set[str]
    calls: set[str]
    candidates: tuple[Evaluator, ...] = ()
    """SelectUniqueValue's rules, which evaluate_async tries one by one."""


def compile_tree(tree: Node) -> Compiled:
    """Compile ``tree``; raises :class:`ExpressionSyntaxError` naming the position."""
    compiled = Compiled(NULL, set(), set())
    compiled.evaluator = _compile(tree, compiled, top=True)
    return compiled


def _compile(node: Node, compiled: Compiled, *, top: bool = False) -> Evaluator:
    if isinstance(node, StringLiteral | NumberLiteral | Constant):
        return constant(literal_value(node))
    if isinstance(node, Attribute):
        compiled.references.add(node.reference)
        resolve = compile_reference(node.reference)
        return lambda source, context: resolve(source)
    if isinstance(node, Missing):
        return NULL
    if isinstance(node, Comparison):
        return comparison(
            node.operator, _compile(node.left, compiled), _compile(node.right, compiled)
        )
    return _call(node, compiled, top)


def _call(node: Call, compiled: Compiled, top: bool) -> Evaluator:
    function = FUNCTIONS.get(node.name)
    if function is None:
        raise ExpressionSyntaxError(node.position, "a known function", _unknown(node.name))
    if function.top_level_only and not top:
        raise ExpressionSyntaxError(
            node.position,
            f"{node.name} only as the whole expression (it cannot be nested)",
            f"{node.name} inside another function",
        )
    count = len(node.arguments)
    if count < function.fewest:
        raise ExpressionSyntaxError(
            node.position,
            f"at least {function.fewest} arguments for {function.signature}",
            f"{count}",
        )
    most = function.most
    if most is not None and count > most:
        raise ExpressionSyntaxError(
            node.arguments[most].position,
            f"at most {most} arguments for {function.signature}",
            f"{count}",
        )
    for index, argument in enumerate(node.arguments):
        param = function.param(index)
        if isinstance(argument, Missing):
            if param.required:
                raise ExpressionSyntaxError(
                    argument.position,
                    f"a value for {param.name} (argument {index + 1} of {function.signature})",
                    "an empty argument",
                )
        elif param.check is not None and isinstance(
            argument, StringLiteral | NumberLiteral | Constant
        ):
            problem = param.check(literal_value(argument))
            if problem is not None:
                raise ExpressionSyntaxError(
                    argument.position,
                    f"{param.expects} for {param.name} of {node.name}",
                    problem,
                )
    compiled.calls.add(node.name)
    arguments = Arguments(node, tuple(_compile(a, compiled) for a in node.arguments))
    if function.check is not None:
        function.check(arguments)
    if function.top_level_only:
        compiled.candidates = arguments.evaluators
    return function.build(arguments)


def _unknown(name: str) -> str:
    folded = {known.casefold(): known for known in FUNCTIONS}
    if name.casefold() in folded:
        known = folded[name.casefold()]
        return f"{name!r} (function names are case-sensitive: did you mean {known!r}?)"
    close = difflib.get_close_matches(name, list(FUNCTIONS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"the unknown function {name!r}{hint}"
