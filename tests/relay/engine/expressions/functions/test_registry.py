"""The function table: every Entra ID function is there, its example compiles, and the
reference in docs/mappings.md describes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.engine.expressions import FUNCTIONS, compile_expression

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
    text = DOCS.read_text(encoding="utf-8")
    assert f"#### {name}\n\n`{FUNCTIONS[name].signature}`" in text
