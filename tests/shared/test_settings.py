"""Typed reads of a TOML table; each error names the file and the dotted key."""

from __future__ import annotations

from typing import Any

import pytest

from shared.exceptions import SettingsError
from shared.settings import Table


def table(**data: Any) -> Table:
    return Table(data, source="agent.toml", prefix="connectors.hr")


def test_string_list() -> None:
    assert table(names=["a", "b"]).string_list("names") == ("a", "b")
    assert table().string_list("names", ("x",)) == ("x",)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a", "must be a list of strings, not str"),
        (["a", 1], "must hold only non-empty strings"),
        (["a", ""], "must hold only non-empty strings"),
        (["a", "a"], "must not hold the same string twice"),
    ],
)
def test_string_list_errors_name_the_key(value: Any, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        table(names=value).string_list("names")
    assert (caught.value.path, caught.value.key, caught.value.problem) == (
        "agent.toml",
        "connectors.hr.names",
        problem,
    )


def test_raw_gives_the_value_as_toml_gave_it_and_marks_it_read() -> None:
    settings = table(clauses=[{"a": 1}], other=True)
    assert settings.raw("clauses") == [{"a": 1}]
    assert settings.raw("absent") is None
    with pytest.raises(SettingsError) as caught:
        settings.reject_unknown()
    assert caught.value.key == "connectors.hr.other"
    settings.raw("other")
    settings.reject_unknown()
