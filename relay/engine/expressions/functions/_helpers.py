"""Builders shared by the function families."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relay.engine.exceptions import EvaluationError
from relay.engine.expressions.signature import Arguments, Evaluator
from relay.engine.expressions.values import integer, text, texts


def each_text(name: str, transform: Callable[[str], Any]) -> Callable[[Arguments], Evaluator]:
    """A function of its first argument's text, applied to every value of a multi-valued one;
    null stays null."""

    def build(arguments: Arguments) -> Evaluator:
        source = arguments.get(0)

        def evaluate(obj: Any, context: Any) -> Any:
            value = source(obj, context)
            if value is None:
                return None
            if isinstance(value, str):
                return transform(value)
            if isinstance(value, list):
                return [transform(t) for t in texts(value, name)] or None
            word = text(value, name)
            return None if word is None else transform(word)

        return evaluate

    return build


def readable(read: Callable[[Any], object]) -> Callable[[Any], str | None]:
    """A literal check from a reader of ``relay.engine.expressions.values``: the constant, as
    the problem, when the reader refuses it."""

    def check(value: Any) -> str | None:
        try:
            read(value)
        except EvaluationError:
            return repr(value)
        return None

    return check


whole_number = readable(lambda value: integer(value, "", ""))
"""A literal check: the problem with a constant that must be a whole number."""


def at_least(minimum: int) -> Callable[[Any], str | None]:
    """A literal check: a whole number no smaller than ``minimum``."""

    def check(value: Any) -> str | None:
        problem = whole_number(value)
        if problem is not None:
            return problem
        number = integer(value, "", "")
        return None if number is not None and number >= minimum else repr(value)

    return check
