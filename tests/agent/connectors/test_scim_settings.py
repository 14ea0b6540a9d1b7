"""The SCIM connector's settings: errors that name the file and the key, plain http only
where allowed, secrets masked."""

from __future__ import annotations

import pytest

from agent.connectors.scim import ScimConnector
from shared.exceptions import SettingsError
from tests.agent.connectors.scim_helpers import scim

OAUTH = {
    "base_url": "https://s/v2",
    "auth": "oauth2",
    "token_url": "https://idp.example/token",
    "client_id": "c",
    "client_secret": "s",
}


@pytest.mark.parametrize(
    ("settings", "key", "problem"),
    [
        ({}, "base_url", "is required"),
        ({"base_url": "ftp://x/scim"}, "base_url", "http:// or https://"),
        ({"base_url": "http://scim.example.com/v2", "token": "t"}, "base_url", "plain http"),
        ({"base_url": "https://s/v2"}, "token", "is required"),
        ({"base_url": "https://s/v2", "token": " "}, "token", "must not be empty"),
        ({"base_url": "https://s/v2", "auth": "kerberos"}, "auth", "must be one of"),
        ({"base_url": "https://s/v2", "token": "t", "username": "u"}, "username", "does not"),
        ({"base_url": "https://s/v2", "auth": "basic", "username": "u"}, "password", "required"),
        ({"base_url": "https://s/v2", "auth": "oauth2"}, "token_url", "is required"),
        ({**OAUTH, "token_url": "http://idp.example/token"}, "token_url", "plain http"),
        ({**OAUTH, "client_auth": "jwt"}, "client_auth", "must be one of"),
        ({"base_url": "https://s/v2", "token": "t", "timeout": 0}, "timeout", "at least"),
        ({"base_url": "https://s/v2", "token": "t", "max_in_flight": 0}, "max_in_flight", ""),
        ({"base_url": "https://s/v2", "token": "t", "ca_file": "/nonexistent"}, "ca_file", ""),
        ({"base_url": "https://s/v2", "token": "t", "tiemout": 3}, "tiemout", "not a known"),
    ],
)
def test_settings_errors_name_the_file_and_key(settings, key, problem) -> None:
    with pytest.raises(SettingsError) as caught:
        ScimConnector.from_settings("apps", {"type": "scim", **settings}, source="agent.toml")
    assert caught.value.path == "agent.toml"
    assert caught.value.key == f"connectors.apps.{key}"
    assert problem in caught.value.problem


def test_plain_http_beyond_loopback_only_when_allowed() -> None:
    connector = scim("http://scim.lab.example/v2", token="t", allow_insecure=True)
    assert connector.settings.base_url == "http://scim.lab.example/v2"
    assert scim("http://localhost:8080/v2/", token="t").settings.base_url.endswith("/v2")


def test_secrets_stay_masked_in_the_settings() -> None:
    connector = scim("https://s/v2", token="very-secret-token")
    assert "very-secret-token" not in repr(connector.settings)
