"""The ``[scim]`` table of ``relay.toml``: limits and custom User extension schemas."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.directory.settings import CustomExtension, ScimSettings
from relay.settings import RelaySettings
from shared.exceptions import SettingsError

ACME = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"


def load(tmp_path: Path, text: str) -> ScimSettings:
    path = tmp_path / "relay.toml"
    path.write_text(text)
    return RelaySettings.load(path).scim


def test_defaults_without_a_table(tmp_path: Path) -> None:
    assert load(tmp_path, 'listen = "127.0.0.1:9000"\n') == ScimSettings()


def test_limits_and_extensions(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        f"""
[scim]
max_payload_bytes = 2097152
max_bulk_operations = 50
default_page_size = 10
max_page_size = 20
token_cache_seconds = 0
public_url = "https://relay.example.com/"

[scim.extensions."{ACME}"]
badgeNumber = "string"
isContractor = "boolean"
costCenters = "string[]"
""",
    )
    assert (settings.max_payload_bytes, settings.max_bulk_operations) == (2_097_152, 50)
    assert (settings.default_page_size, settings.max_page_size) == (10, 20)
    assert settings.token_cache_seconds == 0
    assert settings.public_url == "https://relay.example.com"
    assert settings.extensions == (
        CustomExtension(
            ACME,
            (
                ("badgeNumber", "string", False),
                ("isContractor", "boolean", False),
                ("costCenters", "string", True),
            ),
        ),
    )


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[scim]\nmax_payload_bytes = 10\n", "scim.max_payload_bytes", "at least 65536"),
        (
            "[scim]\ndefault_page_size = 500\nmax_page_size = 100\n",
            "scim.default_page_size",
            "exceed",
        ),
        ("[scim]\nmax_page_sise = 100\n", "scim.max_page_sise", "not a known setting"),
        ('[scim]\npublic_url = "relay.example.com"\n', "scim.public_url", "https URL"),
        ('[scim]\npublic_url = "https://r.example/?a=1"\n', "scim.public_url", "https URL"),
        ('[scim.extensions."not-a-urn"]\nx = "string"\n', "scim.extensions.not-a-urn", "URN"),
        (
            '[scim.extensions."urn:ietf:params:scim:schemas:core:2.0:User"]\nx = "string"\n',
            "scim.extensions.urn:ietf:params:scim:schemas:core:2.0:User",
            "of your own",
        ),
        (f'[scim.extensions."{ACME}"]\nx = "float"\n', f"scim.extensions.{ACME}.x", "one of"),
        (f'[scim.extensions."{ACME}"]\n"2x" = "string"\n', f"scim.extensions.{ACME}.2x", "name"),
        (f'[scim.extensions."{ACME}"]\n', f"scim.extensions.{ACME}", "no attributes"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert str(tmp_path / "relay.toml") in message
    assert key in message, message
    assert problem in message, message
