"""Conditions, nulls and flow: BitAnd, CBool, Coalesce, IgnoreFlowIfNullOrEmpty, IIF, IsNull,
IsNullOrEmpty, IsPresent, IsString, Not, Redact, SelectUniqueValue, Switch."""

from __future__ import annotations

from typing import Any

from relay.engine.exceptions import ExpressionSyntaxError
from relay.engine.expressions.context import IgnoreFlowSignal
from relay.engine.expressions.functions._helpers import whole_number
from relay.engine.expressions.signature import Arguments, Evaluator, Function, Param
from relay.engine.expressions.values import integer, is_empty, text, truth

EXPRESSION = Param("Expression")
SOURCE = Param("source")


def _bit_and(arguments: Arguments) -> Evaluator:
    first, second = arguments.get(0), arguments.get(1)

    def evaluate(obj: Any, context: Any) -> int | None:
        a = integer(first(obj, context), "BitAnd", "value1")
        b = integer(second(obj, context), "BitAnd", "value2")
        return None if a is None or b is None else a & b

    return evaluate


def _cbool(arguments: Arguments) -> Evaluator:
    source = arguments.get(0)
    return lambda obj, context: truth(source(obj, context), "CBool")


def _coalesce(arguments: Arguments) -> Evaluator:
    sources = arguments.evaluators

    def evaluate(obj: Any, context: Any) -> Any:
        for source in sources:
            value = source(obj, context)
            if value is not None and value != []:
                return value
        return None

    return evaluate


def _ignore_flow(arguments: Arguments) -> Evaluator:
    source = arguments.get(0)

    def evaluate(obj: Any, context: Any) -> Any:
        value = source(obj, context)
        if is_empty(value):
            raise IgnoreFlowSignal
        return value

    return evaluate


def _iif(arguments: Arguments) -> Evaluator:
    condition, if_true, if_false = (arguments.get(i) for i in range(3))

    def evaluate(obj: Any, context: Any) -> Any:
        if truth(condition(obj, context), "IIF"):
            return if_true(obj, context)
        return if_false(obj, context)

    return evaluate


def _test(predicate: Any) -> Any:
    def build(arguments: Arguments) -> Evaluator:
        source = arguments.get(0)
        return lambda obj, context: predicate(source(obj, context))

    return build


def _is_string(value: Any) -> bool:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return isinstance(value, str)


def _not(arguments: Arguments) -> Evaluator:
    source = arguments.get(0)

    def evaluate(obj: Any, context: Any) -> bool:
        value = source(obj, context)
        if isinstance(value, list):
            value = value[0] if len(value) == 1 else None
        if isinstance(value, bool):
            return not value
        word = text(value, "Not")
        return not (word is not None and word.strip().lower() == "true")

    return evaluate


def _redact(arguments: Arguments) -> Evaluator:
    return arguments.get(0)


def _select_unique(arguments: Arguments) -> Evaluator:
    # The closure never runs: the compiler hands the rules to Expression.evaluate_async,
    # which tries them one by one against the target; Expression.evaluate refuses.
    return arguments.get(0)


def _switch(arguments: Arguments) -> Evaluator:
    source, default = arguments.get(0), arguments.get(1)
    pairs = [
        (arguments.evaluators[i], arguments.evaluators[i + 1])
        for i in range(2, len(arguments.evaluators), 2)
    ]
    fixed = {}
    if all(arguments.is_literal(i) for i in range(2, len(arguments.nodes), 2)):
        for i in range(len(arguments.nodes) - 2, 1, -2):
            fixed[text(arguments.literal(i), "Switch") or ""] = arguments.evaluators[i + 1]

    if fixed:

        def lookup(obj: Any, context: Any) -> Any:
            key = text(source(obj, context), "Switch") or ""
            chosen = fixed.get(key, default)
            return chosen(obj, context)

        return lookup

    def evaluate(obj: Any, context: Any) -> Any:
        key = text(source(obj, context), "Switch") or ""
        for candidate, value in pairs:
            if (text(candidate(obj, context), "Switch") or "") == key:
                return value(obj, context)
        return default(obj, context)

    return evaluate


def _switch_pairs(arguments: Arguments) -> None:
    if len(arguments.nodes) % 2:
        raise ExpressionSyntaxError(
            arguments.call.position,
            "an even number of arguments for Switch(source, defaultValue, key1, value1, ...)"
            " (keys and values come in pairs)",
            f"{len(arguments.nodes)}",
        )


NUMBER = "a whole number"

FUNCTIONS = (
    Function(
        "BitAnd",
        (
            Param("value1", check=whole_number, expects=NUMBER),
            Param("value2", check=whole_number, expects=NUMBER),
        ),
        _bit_and,
        "The bitwise AND of two whole numbers (VBA &H hexadecimal constants allowed).",
        "BitAnd(&HF, &HF7) gives 7",
    ),
    Function(
        "CBool",
        (EXPRESSION,),
        _cbool,
        "True for True (any case) or a number that is not zero, else False.",
        "CBool([attribute1] = [attribute2])",
    ),
    Function(
        "Coalesce",
        (),
        _coalesce,
        "The first argument that is not null (the last one serves as the default).",
        "Coalesce([mail], [userPrincipalName])",
        repeat=Param("source"),
    ),
    Function(
        "IgnoreFlowIfNullOrEmpty",
        (EXPRESSION,),
        _ignore_flow,
        "Leaves the target attribute out of the operation when the value is null or empty.",
        "IgnoreFlowIfNullOrEmpty([department])",
        notes="Works wherever it is nested: the whole mapping is then skipped.",
    ),
    Function(
        "IIF",
        (Param("condition"), Param("valueIfTrue"), Param("valueIfFalse")),
        _iif,
        "valueIfTrue if condition holds, else valueIfFalse; only the chosen one is evaluated.",
        'IIF([country]="USA", [country], [department])',
    ),
    Function(
        "IsNull",
        (EXPRESSION,),
        _test(lambda v: v is None or v == []),
        "True when the value is null (an absent attribute).",
        "IsNull([displayName])",
    ),
    Function(
        "IsNullOrEmpty",
        (EXPRESSION,),
        _test(is_empty),
        "True when the value is null or an empty string.",
        "IsNullOrEmpty([displayName])",
        notes="Works inside IIF's condition too (Entra ID documents that it does not there).",
    ),
    Function(
        "IsPresent",
        (EXPRESSION,),
        _test(lambda v: not is_empty(v)),
        "True when the value is neither null nor empty: the inverse of IsNullOrEmpty.",
        "Switch(IsPresent([directManager]), [directManager], IsPresent([skiplevelManager]), "
        "[skiplevelManager], IsPresent([director]), [director])",
    ),
    Function(
        "IsString",
        (EXPRESSION,),
        _test(_is_string),
        "True when the value is text (not null, a number, a boolean or several values).",
        "IsString([employeeId])",
    ),
    Function(
        "Not",
        (SOURCE,),
        _not,
        'False when the value is True (or the text "True" in any case), else True.',
        "Not([IsSoftDeleted])",
    ),
    Function(
        "Redact",
        (Param("attribute/value"),),
        _redact,
        'The value itself; provisioning logs show "[Redact]" instead.',
        "Redact([userPrincipalName])",
    ),
    Function(
        "SelectUniqueValue",
        (),
        _select_unique,
        "The first rule's value that no object in the target has yet for the mapping's "
        "target attribute, checked through the connector's search.",
        'SelectUniqueValue(Join("@", [givenName], "contoso.com"), '
        'Join("@", Join(".", [givenName], [surname]), "contoso.com"))',
        repeat=Param("uniqueValueRule"),
        minimum=2,
        top_level_only=True,
        notes="Works with every connector that can search (Entra ID: Active Directory only). "
        "Candidates that are null or empty are skipped; if all are taken the object fails.",
    ),
    Function(
        "Switch",
        (SOURCE, Param("defaultValue", False)),
        _switch,
        "The value paired with the first key equal to the source (case-sensitive text); "
        'defaultValue when none is; a null source matches the key "".',
        'Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney", "QLD", '
        '"Australia/Brisbane", "SA", "Australia/Adelaide")',
        repeat=Param("key, value"),
        minimum=4,
        check=_switch_pairs,
    ),
)
