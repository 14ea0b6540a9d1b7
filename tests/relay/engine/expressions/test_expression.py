"""Compiled expressions: evaluation, SelectUniqueValue through the context, IGNORE_FLOW, and
the promise that evaluation raises nothing but EvaluationError."""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest
from hypothesis import HealthCheck, assume, given, settings

from relay.engine.exceptions import EvaluationError, ExpressionSyntaxError
from relay.engine.expressions import IGNORE_FLOW, EvaluationContext, compile_expression
from relay.engine.expressions.printer import format_expression
from tests.relay.engine.expressions.helpers import entra_user
from tests.relay.engine.expressions.strategies import function_trees, sources

UPN_RULES = """SelectUniqueValue(
    Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], [PreferredLastName]))), "contoso.com"),
    Join("@", NormalizeDiacritics(StripSpaces(Join(".",  Mid([PreferredFirstName], 1, 1), [PreferredLastName]))), "contoso.com"),
    Join("@", NormalizeDiacritics(StripSpaces(Join(".",  Mid([PreferredFirstName], 1, 2), [PreferredLastName]))), "contoso.com")
)"""  # noqa: E501 - Microsoft's example, as published


def taken(*values: str) -> tuple[EvaluationContext, list[tuple[str, str]]]:
    """A context whose target already has ``values``, and the list of questions it got."""
    asked: list[tuple[str, str]] = []

    async def is_unique(attribute: str, candidate: str) -> bool:
        asked.append((attribute, candidate))
        return candidate not in values

    return EvaluationContext(is_unique=is_unique), asked


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ((), "John.Smith@contoso.com"),
        (("John.Smith@contoso.com",), "J.Smith@contoso.com"),
        (("John.Smith@contoso.com", "J.Smith@contoso.com"), "Jo.Smith@contoso.com"),
    ],
)
async def test_reference_select_unique_value_example(existing, expected):
    expression = compile_expression(UPN_RULES)
    user = entra_user(PreferredFirstName="John", PreferredLastName="Smith")
    context, asked = taken(*existing)
    result = await expression.evaluate_async(user, context, target_attribute="userPrincipalName")
    assert result == expected
    assert asked[-1] == ("userPrincipalName", expected)


async def test_select_unique_value_fails_when_every_candidate_is_taken():
    expression = compile_expression('SelectUniqueValue("a", "b")')
    with pytest.raises(EvaluationError, match="every candidate is taken in userName: 'a', 'b'"):
        await expression.evaluate_async(
            entra_user(), taken("a", "b")[0], target_attribute="userName"
        )


async def test_select_unique_value_needs_the_target():
    expression = compile_expression('SelectUniqueValue("a", "b")')
    with pytest.raises(EvaluationError, match="use evaluate_async"):
        expression.evaluate(entra_user())
    with pytest.raises(EvaluationError, match="target attribute"):
        await expression.evaluate_async(entra_user(), taken()[0])
    context = EvaluationContext(is_unique=taken()[0].is_unique, target_attribute="mail")
    assert await expression.evaluate_async(entra_user(), context) == "a"


async def test_a_failing_uniqueness_check_is_an_evaluation_error():
    async def broken(attribute: str, candidate: str) -> bool:
        raise ConnectionError("target unreachable")

    expression = compile_expression('SelectUniqueValue("a", "b")')
    context = EvaluationContext(is_unique=broken, target_attribute="userName")
    with pytest.raises(EvaluationError, match="checking 'a' in the target failed"):
        await expression.evaluate_async(entra_user(), context)


async def test_a_uniqueness_check_that_does_not_answer_times_out():
    never = asyncio.Event()

    async def silent(attribute: str, candidate: str) -> bool:
        await never.wait()
        return True

    expression = compile_expression('SelectUniqueValue("a", "b")')
    context = EvaluationContext(is_unique=silent, target_attribute="userName")
    with pytest.raises(EvaluationError, match=r"did not answer about 'a' within 0\.05 s"):
        await expression.evaluate_async(entra_user(), context, timeout=0.05)


async def test_evaluate_async_also_runs_plain_expressions():
    expression = compile_expression("IgnoreFlowIfNullOrEmpty([department])")
    assert await expression.evaluate_async(entra_user(), EvaluationContext()) is IGNORE_FLOW


def test_evaluation_gives_plain_values():
    expression = compile_expression('Join(" ", [givenName], [surname])')
    assert expression.evaluate(entra_user(givenName="John", surname="Doe")) == "John Doe"
    assert expression.text == 'Join(" ", [givenName], [surname])'
    assert (
        compile_expression('CDate("2021-08-24")').evaluate(entra_user()) == "8/24/2021 12:00:00 AM"
    )


def _check_only_evaluation_errors(expression, source, context):
    with contextlib.suppress(EvaluationError):
        expression.evaluate(source, context)
    with contextlib.suppress(EvaluationError):
        asyncio.run(expression.evaluate_async(source, context, target_attribute="userName"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(function_trees, sources())
def test_evaluation_raises_nothing_but_evaluation_error(tree, source):
    try:
        expression = compile_expression(format_expression(tree))
    except ExpressionSyntaxError:
        assume(False)
        return

    async def is_unique(attribute: str, candidate: str) -> bool:
        return candidate.startswith("a")

    context = EvaluationContext(random=random.Random(0), is_unique=is_unique)
    _check_only_evaluation_errors(expression, source, context)
