"""IIF's comparison operators: ``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``.

Two numbers (or numeric texts) compare as numbers, two dates as dates, anything else as
case-sensitive text. As in Entra ID, a comparison with a null or empty operand is False
whatever the operator ("the condition check fails"): test presence with IsPresent or
Switch instead.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from relay.engine.expressions.signature import Evaluator
from relay.engine.expressions.values import is_empty, text

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


_NUMERIC = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")
"""Text that reads as a decimal number; Python's float() also takes "nan", "inf" and "1_0"."""


def _key(value: Any) -> tuple[str, Any]:
    """What a value compares as: ("number", float), ("date", datetime) or ("text", str)."""
    if isinstance(value, datetime):
        return "date", value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number", value
    word = text(value, "a comparison")
    if word is not None and _NUMERIC.fullmatch(word):
        return "number", float(word)
    return "text", word


def comparison(symbol: str, left: Evaluator, right: Evaluator) -> Evaluator:
    compare = _OPERATORS[symbol]

    def evaluate(source: Any, context: Any) -> bool:
        a = left(source, context)
        b = right(source, context)
        if is_empty(a) or is_empty(b):
            return False
        kind_a, key_a = _key(a)
        kind_b, key_b = _key(b)
        if kind_a != kind_b:
            key_a, key_b = text(a, "a comparison"), text(b, "a comparison")
        return compare(key_a, key_b)

    return evaluate
