"""Multi-valued attributes: Count, Item, RemoveDuplicates."""

from __future__ import annotations

from typing import Any

from relay.engine.expressions.functions._helpers import at_least
from relay.engine.expressions.signature import Arguments, Evaluator, Function, Param
from relay.engine.expressions.values import integer


def _count(arguments: Arguments) -> Evaluator:
    source = arguments.get(0)

    def evaluate(obj: Any, context: Any) -> int:
        value = source(obj, context)
        if value is None:
            return 0
        return len(value) if isinstance(value, list) else 1

    return evaluate


def _item(arguments: Arguments) -> Evaluator:
    source, index_of = arguments.get(0), arguments.get(1)

    def evaluate(obj: Any, context: Any) -> Any:
        value = source(obj, context)
        index = integer(index_of(obj, context), "Item", "index")
        if value is None or index is None or index < 1:
            return None
        values = value if isinstance(value, list) else [value]
        return values[index - 1] if index <= len(values) else None

    return evaluate


def _remove_duplicates(arguments: Arguments) -> Evaluator:
    source = arguments.get(0)

    def evaluate(obj: Any, context: Any) -> Any:
        value = source(obj, context)
        if not isinstance(value, list):
            return value
        seen: list[Any] = []
        for item in value:
            if item not in seen:
                seen.append(item)
        return seen

    return evaluate


FUNCTIONS = (
    Function(
        "Count",
        (Param("attribute"),),
        _count,
        "How many values a multi-valued attribute has (0 for null, 1 for a single value).",
        "Count([proxyAddresses])",
    ),
    Function(
        "Item",
        (Param("attribute"), Param("index", check=at_least(1), expects="a whole number from 1")),
        _item,
        "The index-th value (from 1) of a multi-valued attribute; null past the end.",
        "Item([proxyAddresses], 1)",
    ),
    Function(
        "RemoveDuplicates",
        (Param("attribute"),),
        _remove_duplicates,
        "The values of a multi-valued attribute with repeats removed, in first-seen order.",
        "RemoveDuplicates([proxyAddresses])",
    ),
)
