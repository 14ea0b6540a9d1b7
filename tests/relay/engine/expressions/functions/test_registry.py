"""The function table: every Entra ID function is there, its example compiles, and the
reference in docs/mappings.md describes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.engine.expressions import FUNCTIONS, compile_expression
from relay.engine.source import Source

ENTRA_FUNCTIONS = [
    "Append",
    "AppRoleAssignmentsComplex",
    "BitAnd",
    "CBool",
    "CDate",
    "Coalesce",
    "ConvertToBase64",
    "ConvertToUTF8Hex",
    "Count",
    "CStr",
    "DateAdd",
    "DateDiff",
    "DateFromNum",
    "FormatDateTime",
    "Guid",
    "IgnoreFlowIfNullOrEmpty",
    "IIF",
    "InStr",
    "IsNull",
    "IsNullOrEmpty",
    "IsPresent",
    "IsString",
    "Item",
    "Join",
    "Left",
    "Mid",
    "NormalizeDiacritics",
    "Not",
    "Now",
    "NumFromDate",
    "PCase",
    "RandomString",
    "Redact",
    "RemoveDuplicates",
    "Replace",
    "SelectUniqueValue",
    "SingleAppRoleAssignment",
    "Split",
    "StripSpaces",
    "Switch",
    "ToLower",
    "ToUpper",
    "Word",
]
DOCS = Path(__file__).parents[5] / "docs" / "mappings.md"


def test_every_entra_function_and_no_other():
    assert sorted(FUNCTIONS) == sorted(ENTRA_FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_the_documented_example_compiles(name):
    example = FUNCTIONS[name].example.split(" gives ")[0]
    assert f"{name}(" in example
    compile_expression(example)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_the_reference_documents_it(name):
    function = FUNCTIONS[name]
    text = DOCS.read_text(encoding="utf-8")
    assert f"#### {name}\n\n`{function.signature}`" in text
    section = text.split(f"#### {name}\n", 1)[1].split("\n#", 1)[0]
    expression, _, result = function.example.partition(" gives ")
    example = f"Example: `{expression}`" + (f" gives `{result}`" if result else "")
    assert function.summary in section
    assert example in section
    assert function.notes in section


SELF_CONTAINED = sorted(
    name
    for name, function in FUNCTIONS.items()
    if " gives " in function.example
    and not compile_expression(function.example.split(" gives ")[0]).references
    and not function.example.split(" gives ")[1].startswith("e.g.")
)


def test_most_examples_show_their_result():
    assert len(SELF_CONTAINED) >= 12


@pytest.mark.parametrize("name", SELF_CONTAINED)
def test_the_documented_result_is_what_the_example_gives(name):
    expression, _, result = FUNCTIONS[name].example.partition(" gives ")
    assert compile_expression(expression).evaluate(Source({})) == json.loads(result)
