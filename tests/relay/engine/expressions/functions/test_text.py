"""Text functions, with the examples of Microsoft's "Reference for writing expressions for
attribute mappings in Microsoft Entra ID"
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/functions-for-customizing-application-data)
as golden tests: same expressions, same inputs, same outputs."""

from __future__ import annotations

import pytest

from relay.engine.exceptions import EvaluationError, ExpressionSyntaxError
from relay.engine.expressions import compile_expression
from tests.relay.engine.expressions.helpers import evaluate


@pytest.mark.parametrize(
    ("expression", "attributes", "expected"),
    [
        (
            'Append([userPrincipalName], ".test")',
            {"userPrincipalName": "John.Doe@contoso.com"},
            "John.Doe@contoso.com.test",
        ),
        ('ConvertToBase64("Hello world!")', {}, "SABlAGwAbABvACAAdwBvAHIAbABkACEA"),
        ('ConvertToUTF8Hex("Hello world!")', {}, "48656C6C6F20776F726C6421"),
        ("CStr([dn])", {"dn": "cn=Joe,dc=contoso,dc=com"}, "cn=Joe,dc=contoso,dc=com"),
        ('InStr("The quick brown fox","quick")', {}, 5),
        ('InStr("repEated","e",3,vbBinaryCompare)', {}, 7),
        ('Left("John Doe", 3)', {}, "Joh"),
        ("NormalizeDiacritics([givenName])", {"givenName": "Zoë"}, "Zoe"),
        (
            "PCase([firstName])",
            {"firstName": "PABLO GONSALVES (SECOND)"},
            "Pablo Gonsalves (Second)",
        ),
        ('PCase([lastName]," \'-")', {"lastName": "PINTO-DE'SILVA"}, "Pinto-De'Silva"),
        (
            'PCase(Join(" ",[firstName],[lastName]))',
            {"firstName": "GREGORY", "lastName": "JAMES"},
            "Gregory James",
        ),
        (
            'Split([extensionAttribute5], ",")',
            {"extensionAttribute5": "PermissionSetOne, PermissionSetTwo"},
            ["PermissionSetOne", "PermissionSetTwo"],
        ),
        (
            'ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], '
            '[PreferredLastName]))), "contoso.com"))',
            {"PreferredFirstName": "John", "PreferredLastName": "Smith"},
            "john.smith@contoso.com",
        ),
        ('Word("The quick brown fox",3," ")', {}, "brown"),
        ('Word("This,string!has&many separators",3,",!&#")', {}, "has"),
        # The page's "Examples" section.
        (
            "Append(Mid([givenName], 1, 3), Mid([surname], 1, 5))",
            {"givenName": "John", "surname": "Doe"},
            "JohDoe",
        ),
        (
            'Join(", ", "", [surname], [givenName])',
            {"givenName": "John", "surname": "Doe"},
            "Doe, John",
        ),
    ],
)
def test_reference_examples(expression, attributes, expected):
    assert evaluate(expression, **attributes) == expected


def test_left_follows_the_documented_edge_cases():
    assert evaluate('Left("John", 0)') == ""
    assert evaluate('Left("John", -1)') == "John"
    assert evaluate('Left("John", 10)') == "John"
    assert evaluate("Left([nothing], 2)") == ""


def test_word_follows_the_documented_edge_cases():
    assert evaluate('Word("a b", 0, " ")') == ""
    assert evaluate('Word("a b", 3, " ")') == ""
    assert evaluate('Word([nothing], 1, " ")') == ""
    assert evaluate('Word("a  b", 2, " ")') == "b"


def test_mid_counts_from_one_and_stops_at_the_end():
    assert evaluate('Mid("Hatchway", 2, 3)') == "atc"
    assert evaluate('Mid("Hatchway", 6, 10)') == "way"
    assert evaluate('Mid("Hatchway", 20, 1)') == ""


def test_instr_text_compare_ignores_case_and_missing_gives_zero():
    assert evaluate('InStr("repEated", "e", 3, vbTextCompare)') == 4
    assert evaluate('InStr("abc", "z")') == 0


def test_join_flattens_multi_valued_attributes_and_skips_nulls():
    assert (
        evaluate('Join(";", [proxyAddresses], [missing], "x")', proxyAddresses=["a", "b"])
        == "a;b;x"
    )


def test_text_transforms_apply_to_each_value_and_keep_null():
    assert evaluate("ToUpper([proxyAddresses])", proxyAddresses=["a", "b"]) == ["A", "B"]
    assert evaluate("ToUpper([missing])") is None
    assert evaluate('StripSpaces(" a b ")') == "ab"


def test_case_follows_the_culture():
    assert evaluate('ToUpper("istanbul", "tr-TR")') == "İSTANBUL"
    assert evaluate('ToLower("ISTANBUL", "tr-TR")') == "\u0131stanbul"
    assert evaluate('ToUpper("istanbul")') == "ISTANBUL"
    # .NET maps one character to one: the German sharp s stays as it is.
    assert evaluate('ToUpper("straße")') == "STRAßE"


def test_normalize_diacritics_follows_the_reference_table():
    assert evaluate('NormalizeDiacritics("Ærøskøbing Łódź Straße İzmir Ǣ ḹ")') == (
        "AEroeskoebing Lodz Strasse Izmir AE l"
    )


def test_normalize_diacritics_leaves_other_scripts_alone():
    assert evaluate('NormalizeDiacritics("が")') == "が"


def test_pcase_default_separators_include_punctuation_but_not_apostrophes():
    assert evaluate('PCase("o\'NEIL mc-donald_x")') == "O'neil Mc-Donald_X"


def test_several_values_where_one_is_needed_is_an_evaluation_error():
    with pytest.raises(EvaluationError, match="Left expects one value, got 2"):
        evaluate("Left([proxyAddresses], 1)", proxyAddresses=["a", "b"])


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('Left("John", "three")', "a whole number for NumChars of Left"),
        ('Mid("John", 0, 1)', "a whole number from 1 for start of Mid"),
        ('Split("a,b", "")', "a non-empty string for delimiter of Split"),
        ('ToLower("a", "not a culture!")', "a culture name such as en-US for culture of ToLower"),
        ('InStr("a", "b", 1, 7)', "vbBinaryCompare or vbTextCompare for compareType of InStr"),
    ],
)
def test_wrong_constants_are_refused_when_saved(expression, expected):
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(expression)
    assert caught.value.expected == expected
