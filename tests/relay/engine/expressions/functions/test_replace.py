"""Replace, with the examples of Microsoft's "Reference for writing expressions for attribute
mappings in Microsoft Entra ID"
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/functions-for-customizing-application-data)
as golden tests: same expressions, same inputs, same outputs (one documented exception)."""

from __future__ import annotations

import pytest

from relay.engine.exceptions import EvaluationError, ExpressionSyntaxError
from relay.engine.expressions import compile_expression
from tests.relay.engine.expressions.helpers import evaluate

PHONE = r'"\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})"'


@pytest.mark.parametrize(
    ("expression", "attributes", "expected"),
    [
        (
            'Replace([BusinessTitle],"Product Developer", , , "Software Engineer", , )',
            {"BusinessTitle": "Product Developer"},
            "Software Engineer",
        ),
        (
            'Replace([UserID],"<username>", , , , , "<username>@contoso.com")',
            {"UserID": "jsmith"},
            "jsmith@contoso.com",
        ),
        (
            f'Replace([telephoneNumber], , {PHONE}, , "${{phoneNumber}}", , )',
            {"telephoneNumber": "+91 9998887777"},
            "9998887777",
        ),
        (
            'Replace([AddressLineData], ,"(?<streetNumber>^\\\\d*)","streetNumber", "888", , )',
            {"AddressLineData": "545 Tremont Street"},
            "888 Tremont Street",
        ),
        (
            'Replace([userPrincipalName], , "(?<Suffix>@(.)*)", "Suffix", "", , )',
            {"userPrincipalName": "jsmith@contoso.com"},
            "jsmith",
        ),
        (
            f'Replace([telephoneNumber], , {PHONE}, "phoneNumber" , , [mobile], )',
            {"telephoneNumber": "", "mobile": "+91 8887779999"},
            "8887779999",
        ),
        ('Replace([mailNickname], , "[a-zA-Z_]*", , "", , )', {"mailNickname": "john_doe72"}, "72"),
        ('Replace([mail], "@contoso.com", , ,"", ,)', {"mail": "john.doe@contoso.com"}, "john.doe"),
    ],
)
def test_reference_examples(expression, attributes, expected):
    assert evaluate(expression, **attributes) == expected


def test_reference_example_that_removes_punctuation_keeps_the_plus_sign():
    # The page prints 19998887777, but "[()\s-]+" does not match "+" (in .NET either), so the
    # plus sign stays: Hatchway follows the pattern, not the page's typo.
    expression = 'Replace([mobile], , "[()\\\\s-]+", , "", , )'
    assert evaluate(expression, mobile="+1 (999) 888-7777") == "+19998887777"


def test_reference_example_that_builds_an_id_from_the_object_id():
    # The page's sample output belongs to another object id than its sample input; this is
    # the output for the input it shows.
    expression = 'Join("", 1000, Replace(ConvertToUTF8Hex([objectId]), , "[a-zA-Z_]*", , "", , ))'
    result = evaluate(expression, objectId="00aa00aa-bb11-cc22-dd33-44ee44ee44ee")
    assert result.startswith("1000") and result.isdigit()
    assert result == "1000" + "".join(
        c for c in b"00aa00aa-bb11-cc22-dd33-44ee44ee44ee".hex().upper() if c.isdigit()
    )


def test_dotnet_substitutions():
    assert evaluate('Replace("a-b", , "(\\\\w)-(\\\\w)", , "$2-$1 $$ [$&]", , )') == "b-a $ [a-b]"


def test_extract_mode_returns_the_source_when_it_has_a_value():
    expression = f'Replace([telephoneNumber], , {PHONE}, "phoneNumber", , [mobile], )'
    assert evaluate(expression, telephoneNumber="555", mobile="+91 8887779999") == "555"


def test_a_computed_pattern_is_checked_when_evaluated():
    with pytest.raises(EvaluationError, match="regexPattern is refused"):
        evaluate('Replace("a", , [pattern], , "", , )', pattern="(?=a)")


@pytest.mark.parametrize(
    ("expression", "position", "expected"),
    [
        ('Replace([x], , "(?=a)", , "", , )', 15, "a regular expression RE2 accepts"),
        ('Replace([x], , "(a)\\\\1", , "", , )', 15, "a regular expression RE2 accepts"),
        ('Replace([x], , "(?<=a)b", , "", , )', 15, "a regular expression RE2 accepts"),
        ('Replace([x], , "(?<g>a)", "h", "", , )', 26, "a group name of the pattern (g)"),
        ('Replace([x], "a")', 0, "Replace with oldValue and replacementValue"),
        ('Replace([x], "", , , "b", , )', 13, "a non-empty oldValue"),
    ],
)
def test_refused_when_saved(expression, position, expected):
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(expression)
    assert caught.value.position == position
    assert caught.value.expected.startswith(expected)
