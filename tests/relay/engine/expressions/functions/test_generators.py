"""Guid and RandomString, with the examples of Microsoft's "Reference for writing expressions
for attribute mappings in Microsoft Entra ID"
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/functions-for-customizing-application-data):
the outputs are random, so the tests check what the page says about them."""

from __future__ import annotations

import random
import string
import uuid

import pytest

from relay.engine.exceptions import ExpressionSyntaxError
from relay.engine.expressions import EvaluationContext, compile_expression
from relay.engine.expressions.functions.generators import SPECIAL
from tests.relay.engine.expressions.helpers import evaluate


def seeded(seed: int) -> EvaluationContext:
    return EvaluationContext(random=random.Random(seed))


def test_guid_is_a_random_version_4_guid_and_seedable():
    first = evaluate("Guid()", seeded(1))
    assert uuid.UUID(first).version == 4
    assert first == evaluate("Guid()", seeded(1))
    assert first != evaluate("Guid()", seeded(2))


@pytest.mark.parametrize("seed", range(20))
def test_reference_random_string_examples(seed):
    six = evaluate("RandomString(6,3,0,0,3)", seeded(seed))
    assert len(six) == 6
    assert sum(c.isdigit() for c in six) == 3 and sum(c.islower() for c in six) == 3
    ten = evaluate('RandomString(10,2,2,2,1,"?,")', seeded(seed))
    assert len(ten) == 10
    assert sum(c in string.digits for c in ten) >= 2
    assert sum(c in SPECIAL for c in ten) >= 2
    assert sum(c.isupper() for c in ten) >= 2
    assert sum(c.islower() for c in ten) >= 1
    assert "?" not in ten and "," not in ten


def test_redact_of_a_random_string():
    expression = compile_expression("Redact(RandomString(6,3,0,0,3))")
    assert expression.redacted


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("RandomString(300,1,1,1,1)", "a Length of at most 256"),
        ("RandomString(3,1,1,1,1)", "a Length of at most 256"),
        ("RandomString(0,0,0,0,0)", "a whole number from 1 for Length"),
        ('RandomString(8,"two",0,0,0)', "a whole number from 0 for MinimumNumbers"),
        ('RandomString("&H3",1,1,1,1)', "a Length of at most 256"),
    ],
)
def test_impossible_lengths_are_refused_when_saved(expression, expected):
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(expression)
    assert caught.value.expected.startswith(expected)
