"""Generated values: Guid, RandomString.

Both draw from the evaluation context's random source (the operating system's by default),
so tests can seed them.
"""

from __future__ import annotations

import string
import uuid
from typing import Any

from relay.engine.exceptions import EvaluationError, ExpressionSyntaxError
from relay.engine.expressions.functions._helpers import at_least
from relay.engine.expressions.signature import Arguments, Evaluator, Function, Param
from relay.engine.expressions.values import integer, text

MAX_LENGTH = 256
SPECIAL = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/"
"""The special characters of Windows' password complexity rules, which Entra ID cites."""
CLASSES = (string.digits, SPECIAL, string.ascii_uppercase, string.ascii_lowercase)


def _guid(arguments: Arguments) -> Evaluator:
    return lambda obj, context: str(uuid.UUID(int=context.random.getrandbits(128), version=4))


def random_string(
    generator: Any, length: int, minimums: tuple[int, int, int, int], avoid: str
) -> str:
    pools = [[c for c in pool if c not in avoid] for pool in CLASSES]
    if length > MAX_LENGTH or length < 1 or sum(minimums) > length or any(m < 0 for m in minimums):
        raise EvaluationError(
            f"RandomString: the length must be 1 to {MAX_LENGTH} and at least the sum of the "
            f"minimums, got {length} and {minimums}"
        )
    chars: list[str] = []
    for pool, minimum in zip(pools, minimums, strict=True):
        if minimum and not pool:
            raise EvaluationError("RandomString: CharactersToAvoid excludes a required class")
        chars.extend(generator.choice(pool) for _ in range(minimum))
    everything = [c for pool in pools for c in pool]
    chars.extend(generator.choice(everything) for _ in range(length - len(chars)))
    generator.shuffle(chars)
    return "".join(chars)


def _random_string(arguments: Arguments) -> Evaluator:
    length_of = arguments.get(0)
    minimum_of = [arguments.get(i) for i in range(1, 5)]
    avoid_of = arguments.get(5)

    def evaluate(obj: Any, context: Any) -> str:
        length = integer(length_of(obj, context), "RandomString", "Length") or 0
        minimums = tuple(
            integer(m(obj, context), "RandomString", "minimum") or 0 for m in minimum_of
        )
        avoid = text(avoid_of(obj, context), "RandomString") or ""
        return random_string(context.random, length, minimums, avoid)  # type: ignore[arg-type]

    return evaluate


def _check_lengths(arguments: Arguments) -> None:
    if not all(arguments.is_literal(i) for i in range(5)):
        return
    length, *minimums = (
        integer(arguments.literal(i), "RandomString", "Length") or 0 for i in range(5)
    )
    if length > MAX_LENGTH or sum(minimums) > length:
        raise ExpressionSyntaxError(
            arguments.call.position,
            f"a Length of at most {MAX_LENGTH} and at least the sum of the minimums",
            f"Length {length} with minimums adding up to {sum(minimums)}",
        )


def _count(name: str, minimum: int) -> Param:
    return Param(name, check=at_least(minimum), expects=f"a whole number from {minimum}")


FUNCTIONS = (
    Function(
        "Guid",
        (),
        _guid,
        "A new random GUID, in lower case with hyphens.",
        'Guid() gives e.g. "00aa00aa-bb11-4c22-9d33-44ee44ee44ee"',
    ),
    Function(
        "RandomString",
        (
            _count("Length", 1),
            _count("MinimumNumbers", 0),
            _count("MinimumSpecialCharacters", 0),
            _count("MinimumCapital", 0),
            _count("MinimumLowerCase", 0),
            Param("CharactersToAvoid", False),
        ),
        _random_string,
        "A random string of Length characters (at most 256) with at least the given numbers "
        "of digits, special characters (~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/), capitals and "
        "lower-case letters, none of CharactersToAvoid.",
        'RandomString(10, 2, 2, 2, 1, "?,")',
        check=_check_lengths,
    ),
)
