"""agent.toml: relay URLs, loading, errors naming file and key, and writing a registration."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.settings import AgentSettings, relay_urls, write_registration
from shared.exceptions import SettingsError
from shared.protocol import signing
from tests.pki import make_pki

KEY = signing.public_key_text(Ed25519PrivateKey.generate().public_key())
OTHER_KEY = signing.public_key_text(Ed25519PrivateKey.generate().public_key())

AGENT_TABLE = f"""
[agent]
name = "branch-office"
relay = "https://relay.example.com"
relay_public_key = "{KEY}"
"""

VALID = f"""
[agent]
name = "branch-office"
relay = "wss://relay.example.com:8443/hatchway"
relay_public_key = "{KEY}"
concurrency = 8
open_timeout = 2.5
ping_interval = 5
reconnect_max_delay = 30
drain_timeout = 0
ca_file = "CA_FILE"
journal_retention_days = 1.5

[connectors.hr]
type = "sql"
dialect = "postgresql"
connection_string = "Driver=PostgreSQL Unicode;Server=db"

[connectors.crm-2]
type = "my_package.crm:CrmConnector"
pool_size = 2
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as info:
        AgentSettings.load(path)
    message = str(info.value)
    assert str(path) in message
    return message


# relay_urls --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "ws", "http"),
    [
        (
            "http://relay:8080",
            "ws://relay:8080/agent/v1/connect",
            "http://relay:8080/agent/v1/register",
        ),
        (
            "https://relay.example.com",
            "wss://relay.example.com/agent/v1/connect",
            "https://relay.example.com/agent/v1/register",
        ),
        (
            "ws://127.0.0.1:9000/",
            "ws://127.0.0.1:9000/agent/v1/connect",
            "http://127.0.0.1:9000/agent/v1/register",
        ),
        (
            "wss://relay.example.com",
            "wss://relay.example.com/agent/v1/connect",
            "https://relay.example.com/agent/v1/register",
        ),
        (
            "https://example.com/hatchway",
            "wss://example.com/hatchway/agent/v1/connect",
            "https://example.com/hatchway/agent/v1/register",
        ),
        (
            "wss://example.com/a/b/",
            "wss://example.com/a/b/agent/v1/connect",
            "https://example.com/a/b/agent/v1/register",
        ),
        (
            "  http://[::1]:8080  ",
            "ws://[::1]:8080/agent/v1/connect",
            "http://[::1]:8080/agent/v1/register",
        ),
    ],
)
def test_relay_urls(base: str, ws: str, http: str) -> None:
    assert relay_urls(base) == (ws, http)


@pytest.mark.parametrize(
    "base", ["ftp://relay.example.com", "relay.example.com", "garbage", "", "https://", "http:/x"]
)
def test_relay_urls_refuses_other_schemes_and_garbage(base: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        relay_urls(base)


# Loading -----------------------------------------------------------------------------------


def test_a_valid_file_with_two_connectors(tmp_path: Path) -> None:
    ca, _, _ = make_pki(tmp_path)
    settings = AgentSettings.load(write(tmp_path, VALID.replace("CA_FILE", str(ca))))

    assert settings.name == "branch-office"
    assert settings.relay == "wss://relay.example.com:8443/hatchway"
    assert settings.relay_public_key == KEY
    assert settings.concurrency == 8
    assert settings.open_timeout == 2.5
    assert settings.ping_interval == 5.0
    assert settings.reconnect_max_delay == 30.0
    assert settings.drain_timeout == 0.0
    assert settings.ca_file == str(tmp_path / "ca.pem")
    assert settings.journal_retention_days == 1.5
    assert [(c.name, c.type) for c in settings.connectors] == [
        ("hr", "sql"),
        ("crm-2", "my_package.crm:CrmConnector"),
    ]
    hr = settings.connectors[0]
    assert hr.table["dialect"] == "postgresql"
    assert hr.table["connection_string"] == "Driver=PostgreSQL Unicode;Server=db"
    assert settings.connectors[1].table["pool_size"] == 2


def test_a_minimal_file_takes_the_defaults(tmp_path: Path) -> None:
    settings = AgentSettings.load(write(tmp_path, AGENT_TABLE))
    assert settings.concurrency == 4
    assert settings.ca_file is None
    assert settings.journal_retention_days == 7.0
    assert settings.connectors == ()


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    with pytest.raises(SettingsError, match="does not exist") as info:
        AgentSettings.load(path)
    assert str(path) in str(info.value)


def test_a_missing_agent_table_is_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[connectors.hr]\ntype = "sql"\n')
    assert ": agent: " in message
    assert "hatchway agent register" in message


def test_a_missing_name_is_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, AGENT_TABLE.replace('name = "branch-office"\n', ""))
    assert ": agent.name: " in message
    assert "required" in message


def test_an_empty_name_is_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, AGENT_TABLE.replace('"branch-office"', '"  "'))
    assert ": agent.name: " in message


@pytest.mark.parametrize("relay", ["ftp://relay.example.com", "relay.example.com"])
def test_a_bad_relay_url_is_refused(tmp_path: Path, relay: str) -> None:
    message = load_error(tmp_path, AGENT_TABLE.replace("https://relay.example.com", relay))
    assert ": agent.relay: " in message
    assert relay in message


@pytest.mark.parametrize("key", ["not base64!", "AAAA", ""])
def test_a_bad_relay_public_key_is_refused(tmp_path: Path, key: str) -> None:
    message = load_error(tmp_path, AGENT_TABLE.replace(KEY, key))
    assert ": agent.relay_public_key: " in message


@pytest.mark.parametrize(
    ("line", "key", "problem"),
    [
        ("concurrency = 0", "agent.concurrency", "at least 1"),
        ("concurrency = 1000", "agent.concurrency", "at most 256"),
        ('concurrency = "4"', "agent.concurrency", "must be an integer"),
        ("ping_interval = true", "agent.ping_interval", "boolean"),
        ("drain_timeout = -1", "agent.drain_timeout", "at least 0"),
        ("relay_url = 'x'", "agent.relay_url", "not a known setting"),
    ],
)
def test_a_bad_agent_setting_is_refused(tmp_path: Path, line: str, key: str, problem: str) -> None:
    message = load_error(tmp_path, AGENT_TABLE + line + "\n")
    assert f": {key}: " in message
    assert problem in message


def test_an_unknown_top_level_table_is_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, AGENT_TABLE + '\n[conectors.hr]\ntype = "sql"\n')
    assert ": conectors: " in message
    assert "not a known setting" in message


def test_a_connector_without_a_type_is_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, AGENT_TABLE + '\n[connectors.hr]\ndialect = "sqlite"\n')
    assert ": connectors.hr.type: " in message
    assert "required" in message


def test_a_connector_name_with_a_space_is_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, AGENT_TABLE + '\n[connectors."human resources"]\ntype = "sql"\n')
    # The administrator must be told which table is wrong.
    assert "connectors.human resources" in message
    assert "letters, digits" in message


def test_invalid_toml_is_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, AGENT_TABLE + "\n[connectors.hr\n")
    assert "not valid TOML" in message


# write_registration ------------------------------------------------------------------------


def test_write_registration_creates_a_private_file_that_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "config" / "agent.toml"

    write_registration(path, name="branch", relay="https://relay.example.com", relay_public_key=KEY)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = AgentSettings.load(path)
    assert settings.name == "branch"
    assert settings.relay == "https://relay.example.com"
    assert settings.relay_public_key == KEY
    assert settings.connectors == ()
    text = path.read_text(encoding="utf-8")
    assert "# [connectors.hr]" in text
    assert '# type = "sql"' in text
    assert not list(tmp_path.glob("config/*.tmp"))


def test_write_registration_keeps_the_connectors_of_an_existing_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[connectors.hr]\ntype = "sql"\ndialect = "sqlite"\n'
        'connection_string = "Driver=SQLite3;Database=/tmp/hr.db"\n\n'
        + AGENT_TABLE.replace("branch-office", "old-name")
        + 'concurrency = 2\n\n[connectors.crm]\ntype = "x.y:Z"  # a comment\n',
    )

    write_registration(
        path, name="new-name", relay="http://127.0.0.1:8080", relay_public_key=OTHER_KEY
    )

    text = path.read_text(encoding="utf-8")
    assert text.count("[agent]") == 1
    assert "old-name" not in text
    assert "# a comment" in text
    settings = AgentSettings.load(path)
    assert settings.name == "new-name"
    assert settings.relay == "http://127.0.0.1:8080"
    assert settings.relay_public_key == OTHER_KEY
    assert settings.concurrency == 2  # the administrator's own settings survive
    assert {c.name: dict(c.table) for c in settings.connectors} == {
        "hr": {
            "type": "sql",
            "dialect": "sqlite",
            "connection_string": "Driver=SQLite3;Database=/tmp/hr.db",
        },
        "crm": {"type": "x.y:Z"},
    }


def test_write_registration_twice_keeps_one_agent_table(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    write_registration(path, name="a", relay="https://one.example.com", relay_public_key=KEY)
    write_registration(path, name="b", relay="https://two.example.com", relay_public_key=OTHER_KEY)

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data == {
        "agent": {
            "name": "b",
            "relay": "https://two.example.com",
            "relay_public_key": OTHER_KEY,
        }
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_registration_escapes_quotes_and_backslashes(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    relay = 'https://r.example.com/we"ird\\path'
    write_registration(path, name="plain", relay=relay, relay_public_key=KEY)
    assert AgentSettings.load(path).relay == relay


def test_a_ca_file_that_cannot_be_loaded_is_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, AGENT_TABLE + f'ca_file = "{tmp_path / "missing.pem"}"\n')
    assert "agent.ca_file: cannot load CA certificates" in message


def test_an_agent_name_outside_the_safe_alphabet_is_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, AGENT_TABLE.replace("branch-office", "branch office"))
    assert "agent.name: an agent name is 1 to 100 letters" in message


def test_write_registration_survives_a_commented_agent_header(tmp_path: Path) -> None:
    path = write(tmp_path, AGENT_TABLE.replace("[agent]", "[agent]  # set by register"))
    write_registration(path, name="again", relay="http://127.0.0.1:1", relay_public_key=OTHER_KEY)
    assert path.read_text(encoding="utf-8").count("[agent]") == 1
    assert AgentSettings.load(path).name == "again"


@pytest.mark.parametrize(
    ("relay", "refused"),
    [
        ("http://relay.example.com", True),
        ("ws://10.1.2.3:8080", True),
        ("https://relay.example.com", False),
        ("wss://relay.example.com", False),
        ("http://127.0.0.1:8080", False),
        ("ws://[::1]:8080", False),
        ("http://localhost:8080", False),
    ],
)
def test_plain_relays_beyond_loopback_need_allow_insecure(
    tmp_path: Path, relay: str, refused: bool
) -> None:
    text = AGENT_TABLE.replace("https://relay.example.com", relay)
    assert relay in text
    if refused:
        message = load_error(tmp_path, text)
        assert "agent.relay" in message
        assert "not encrypted" in message
        allowed = AgentSettings.load(write(tmp_path, text + "allow_insecure = true\n"))
        assert allowed.allow_insecure
    else:
        assert AgentSettings.load(write(tmp_path, text)).relay == relay
