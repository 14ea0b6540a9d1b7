"""relay.toml's ``[api]`` table: defaults, values read, and errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.api.settings import ApiSettings
from relay.settings import RelaySettings
from shared.exceptions import SettingsError


def load(tmp_path: Path, text: str) -> RelaySettings:
    path = tmp_path / "relay.toml"
    path.write_text(text, encoding="utf-8")
    return RelaySettings.load(path)


def test_without_an_api_table_the_defaults_hold(tmp_path: Path) -> None:
    api = load(tmp_path, 'listen = "127.0.0.1:9000"\n').api
    assert api == ApiSettings()
    assert (api.public_metrics, api.token_cache_seconds, api.dashboard) == (False, 5.0, True)


def test_the_api_table_is_read(tmp_path: Path) -> None:
    api = load(
        tmp_path, "[api]\npublic_metrics = true\ntoken_cache_seconds = 0\ndashboard = false\n"
    ).api
    assert api == ApiSettings(public_metrics=True, token_cache_seconds=0.0, dashboard=False)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('public_metrics = "yes"', "api.public_metrics", "must be true or false, not str"),
        ("dashboard = 1", "api.dashboard", "must be true or false, not int"),
        ('token_cache_seconds = "5s"', "api.token_cache_seconds", "must be a number, not str"),
        ("token_cache_seconds = true", "api.token_cache_seconds", "not a boolean"),
        ("token_cache_seconds = -1", "api.token_cache_seconds", "must be at least 0"),
        ("metrics = true", "api.metrics", "is not a known setting"),
    ],
)
def test_a_bad_value_is_refused_naming_file_and_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    with pytest.raises(SettingsError) as info:
        load(tmp_path, f"[api]\n{text}\n")
    message = str(info.value)
    assert str(tmp_path / "relay.toml") in message
    assert key in message
    assert problem in message


def test_api_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"api.*must be a table"):
        load(tmp_path, "api = true\n")
