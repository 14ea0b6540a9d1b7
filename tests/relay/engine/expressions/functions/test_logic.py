"""Conditions, nulls and flow, with the examples of Microsoft's "Reference for writing
expressions for attribute mappings in Microsoft Entra ID"
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/functions-for-customizing-application-data)
as golden tests: same expressions, same inputs, same outputs."""

from __future__ import annotations

import pytest

from relay.engine.exceptions import EvaluationError, ExpressionSyntaxError
from relay.engine.expressions import IGNORE_FLOW, compile_expression
from tests.relay.engine.expressions.helpers import evaluate

PREFIX = (
    'IgnoreFlowIfNullOrEmpty(Switch([prefix], "", "3443", "Dr.", "3444", "Prof.", '
    '"3445", "Prof. Dr."))'
)
MANAGERS = (
    "Switch(IsPresent([directManager]),[directManager], IsPresent([skiplevelManager]),"
    "[skiplevelManager], IsPresent([director]),[director])"
)
STATES = (
    'Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney","QLD", '
    '"Australia/Brisbane", "SA", "Australia/Adelaide")'
)


@pytest.mark.parametrize(
    ("expression", "attributes", "expected"),
    [
        ("BitAnd(&HF, &HF7)", {}, 7),
        ("CBool([attribute1] = [attribute2])", {"attribute1": "x", "attribute2": "x"}, True),
        ("CBool([attribute1] = [attribute2])", {"attribute1": "x", "attribute2": "y"}, False),
        (
            "Coalesce([mail],[userPrincipalName])",
            {"userPrincipalName": "John.Doe@contoso.com"},
            "John.Doe@contoso.com",
        ),
        ("IgnoreFlowIfNullOrEmpty([department])", {}, IGNORE_FLOW),
        ("IgnoreFlowIfNullOrEmpty([department])", {"department": "Sales"}, "Sales"),
        (PREFIX, {"prefix": "9999"}, IGNORE_FLOW),
        (PREFIX, {"prefix": "3444"}, "Prof."),
        (
            'IIF([country]="USA",[country],[department])',
            {"country": "USA", "department": "IT"},
            "USA",
        ),
        (
            'IIF([country]="USA",[country],[department])',
            {"country": "NZ", "department": "IT"},
            "IT",
        ),
        (
            'IIF([country]="USA",IIF([state]="CA","True","False"),"False")',
            {"country": "USA", "state": "CA"},
            "True",
        ),
        (
            'IIF([country]="USA","True",IIF([state]="CA","True","False"))',
            {"country": "NZ", "state": "CA"},
            "True",
        ),
        ('Switch([country],[country],"","Other")', {}, "Other"),
        ('Switch([country],[country],"","Other")', {"country": "NZ"}, "NZ"),
        ("IsNull([displayName])", {}, True),
        ("IsNull([displayName])", {"displayName": "x"}, False),
        ("IsNullOrEmpty([displayName])", {}, True),
        (STATES, {"state": "QLD"}, "Australia/Brisbane"),
        (STATES, {"state": "WA"}, "Australia/Sydney"),
        (
            'Switch(ToLower([statusFlag]), "0", "true", "1", "false", "0")',
            {"statusFlag": "TRUE"},
            "1",
        ),
        ('Switch([statusFlag], "Default Value", "true", "1", "", "0")', {}, "0"),
        ('Redact("StringToBeRedacted")', {}, "StringToBeRedacted"),
    ],
)
def test_reference_examples(expression, attributes, expected):
    assert evaluate(expression, **attributes) == expected


def test_redact_marks_the_expression():
    assert compile_expression("Redact([userPrincipalName])").redacted
    assert not compile_expression("[userPrincipalName]").redacted


def test_comparisons_with_null_fail_as_in_entra():
    assert evaluate('IIF([country]="","Other",[country])') is None
    assert evaluate('IIF([country]<>"USA","Elsewhere","USA")') == "USA"


def test_comparisons_compare_numbers_as_numbers():
    assert evaluate('IIF([level] > 5, "high", "low")', level="10") == "high"
    assert evaluate('IIF([level] >= "10", "high", "low")', level="9") == "low"
    assert evaluate('IIF("b" > "a", "yes", "no")') == "yes"


@pytest.mark.parametrize("word", ["NaN", "inf", "Infinity", "1_0"])
def test_words_python_reads_as_floats_compare_as_text(word):
    assert evaluate(f'IIF([code] = "{word}", "same", "different")', code=word) == "same"
    assert evaluate('IIF([code] = "10", "same", "different")', code=word) == "different"


def test_bit_and_reads_numbers_given_as_text_like_vba():
    assert evaluate('BitAnd("&HF", " 7 ")') == 7
    assert evaluate("BitAnd([flags], 2)", flags="&h6") == 2
    with pytest.raises(EvaluationError, match="BitAnd: value1 must be a whole number"):
        evaluate("BitAnd([flags], 2)", flags="&HZ")


def test_is_null_or_empty_works_inside_iif():
    assert evaluate('IIF(IsNullOrEmpty([country]),"Other",[country])') == "Other"


def test_not_and_cbool():
    assert evaluate('Not("True")') is False
    assert evaluate('Not("false")') is True
    assert evaluate("Not([accountEnabled])", accountEnabled=True) is False
    assert evaluate('CBool("0")') is False
    assert evaluate('CBool("12")') is True
    with pytest.raises(EvaluationError, match="CBool expects True, False or a number"):
        evaluate('CBool("maybe")')


def test_is_string_and_is_present():
    assert evaluate("IsString([displayName])", displayName="x") is True
    assert evaluate("IsString([accountEnabled])", accountEnabled=True) is False
    assert evaluate("IsPresent([displayName])") is False


def test_ignore_flow_works_when_nested():
    assert evaluate('IIF([a] = "x", IgnoreFlowIfNullOrEmpty([b]), "y")', a="x") is IGNORE_FLOW


def test_reference_is_present_example_evaluates_as_switch_defines_it():
    # The page gives no output for it: Switch compares IsPresent([directManager]) ("True" or
    # "False") with the keys IsPresent([skiplevelManager]) and IsPresent([director]).
    everyone = {"directManager": "m1", "skiplevelManager": "m2", "director": "d"}
    assert evaluate(MANAGERS, **everyone) == "m2"
    assert evaluate(MANAGERS, directManager="m1") == "m1"
    assert evaluate(MANAGERS, directManager="m1", director="d") == "d"


def test_switch_needs_pairs():
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression('Switch([a], "d", "k1", "v1", "k2")')
    assert caught.value.position == 0
    assert "even number of arguments" in caught.value.expected


def test_switch_with_computed_keys():
    assert evaluate('Switch("b", "none", [k], "found")', k="b") == "found"
