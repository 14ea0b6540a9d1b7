"""Typed reads of a TOML table; each error names the file and the dotted key."""

from __future__ import annotations

from typing import Any

import pytest

from shared.exceptions import SettingsError
from shared.settings import Table, format_duration, parse_duration


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


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("6h", 21600.0),
        ("1d", 86400.0),
        ("45", 45.0),
        ("1.5h", 5400.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "5 parsecs", "-1h", "1h30m", "h", "1e3", "off"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration like 30s, 5m, 6h or 1d"):
        parse_duration(text)


def test_format_duration_uses_the_largest_whole_unit() -> None:
    assert [format_duration(s) for s in (86400, 5400, 90, 2.5, 0)] == [
        "1d",
        "90m",
        "90s",
        "2.5s",
        "0s",
    ]


def test_durations_are_text_or_seconds() -> None:
    settings = table(a="6h", b=90, c=1.5, d="off")
    assert settings.duration("a", 1.0) == 21600.0
    assert settings.duration("b", 1.0) == 90.0
    assert settings.duration("c", 1.0) == 1.5
    assert settings.duration("absent", 7.0) == 7.0
    assert settings.optional_duration("d", 5.0) is None
    assert settings.optional_duration("absent", 5.0) == 5.0
    settings.reject_unknown()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("5 parsecs", "must be a duration like 30s, 5m, 6h or 1d (or a number of seconds), got"),
        ("off", "must be a duration like"),
        (-1, "must be at least 0s, got -1.0"),
        (True, "not a boolean"),
        (float("inf"), "must be a duration like"),
        ([1], "must be a duration like"),
    ],
)
def test_bad_durations_name_the_key(value: Any, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        table(every=value).duration("every", 1.0)
    assert caught.value.key == "connectors.hr.every"
    assert problem in caught.value.problem
