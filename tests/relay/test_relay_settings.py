"""relay.toml: defaults, a full file, and errors that name the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.engine.retry import QuarantinePolicy, RetryPolicy
from relay.engine.settings import EngineSettings
from relay.settings import RelaySettings, parse_listen
from shared.exceptions import SettingsError
from shared.protocol.messages import Limits

FULL = """
listen = "0.0.0.0:8443"
handshake_timeout = 5
heartbeat = 15.5
revocation_check_interval = 1.5
shutdown_timeout = 0

[limits]
max_frame_bytes = 1048576
max_batch_operations = 200
max_value_chars = 4096
window = 16
batch_ttl = 60
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "relay.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> SettingsError:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as info:
        RelaySettings.load(path)
    assert str(path) in str(info.value)
    return info.value


def test_a_missing_file_means_all_defaults(tmp_path: Path) -> None:
    settings = RelaySettings.load(tmp_path / "absent.toml")
    assert settings == RelaySettings()
    assert settings.listen == "127.0.0.1:8080"
    assert settings.host_port == ("127.0.0.1", 8080)
    assert settings.limits == Limits()


def test_an_empty_file_means_all_defaults(tmp_path: Path) -> None:
    assert RelaySettings.load(write(tmp_path, "")) == RelaySettings()


def test_a_full_file_is_read(tmp_path: Path) -> None:
    settings = RelaySettings.load(write(tmp_path, FULL))

    assert settings.listen == "0.0.0.0:8443"
    assert settings.host_port == ("0.0.0.0", 8443)
    assert settings.handshake_timeout == 5.0
    assert isinstance(settings.handshake_timeout, float)
    assert settings.heartbeat == 15.5
    assert settings.revocation_check_interval == 1.5
    assert settings.shutdown_timeout == 0.0
    assert settings.limits.max_frame_bytes == 1_048_576
    assert settings.limits.max_batch_operations == 200
    assert settings.limits.max_value_chars == 4096
    assert settings.limits.window == 16
    assert settings.limits.batch_ttl == 60.0
    assert settings.limits.clock_skew == Limits().clock_skew


def test_a_partial_limits_table_keeps_the_other_defaults(tmp_path: Path) -> None:
    settings = RelaySettings.load(write(tmp_path, "[limits]\nwindow = 2\n"))
    assert settings.limits.window == 2
    assert settings.limits.max_batch_operations == Limits().max_batch_operations
    assert settings.heartbeat == RelaySettings().heartbeat


def test_an_ipv6_listen_address(tmp_path: Path) -> None:
    settings = RelaySettings.load(write(tmp_path, 'listen = "[::1]:9000"\n'))
    assert settings.host_port == ("::1", 9000)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('lisen = "0.0.0.0:1"\n', "lisen", "not a known setting"),
        ("[limits]\nwindoww = 3\n", "limits.windoww", "not a known setting"),
        ("[limtis]\nwindow = 3\n", "limtis", "not a known setting"),
    ],
)
def test_an_unknown_key_is_refused(tmp_path: Path, text: str, key: str, problem: str) -> None:
    error = load_error(tmp_path, text)
    assert key in str(error)
    assert problem in str(error)
    assert error.key == key


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[limits]\nwindow = "8"\n', "limits.window", "must be an integer"),
        ("[limits]\nwindow = 8.5\n", "limits.window", "must be an integer"),
        ("[limits]\nwindow = true\n", "limits.window", "boolean"),
        ('heartbeat = "20"\n', "heartbeat", "must be a number"),
        ("heartbeat = true\n", "heartbeat", "boolean"),
        ("[limits]\nbatch_ttl = false\n", "limits.batch_ttl", "boolean"),
        ("listen = 8080\n", "listen", "must be a string"),
        ("limits = 5\n", "limits", "must be a table"),
    ],
)
def test_a_wrong_type_is_refused(tmp_path: Path, text: str, key: str, problem: str) -> None:
    error = load_error(tmp_path, text)
    assert f": {key}: " in str(error)
    assert problem in str(error)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[limits]\nwindow = 0\n", "limits.window", "at least 1"),
        ("[limits]\nwindow = 5000\n", "limits.window", "at most 1024"),
        ("[limits]\nmax_batch_operations = 10001\n", "limits.max_batch_operations", "at most"),
        ("[limits]\nmax_frame_bytes = 100\n", "limits.max_frame_bytes", "at least 65536"),
        ("[limits]\nbatch_ttl = 1\n", "limits.batch_ttl", "at least 5"),
        ("handshake_timeout = 0\n", "handshake_timeout", "at least 1"),
        ("shutdown_timeout = -1\n", "shutdown_timeout", "at least 0"),
    ],
)
def test_a_value_out_of_range_is_refused(tmp_path: Path, text: str, key: str, problem: str) -> None:
    error = load_error(tmp_path, text)
    assert f": {key}: " in str(error)
    assert problem in str(error)


@pytest.mark.parametrize("listen", ["nohost", "host:99999", ":8080", "host:", "host:port"])
def test_a_bad_listen_address_is_refused(tmp_path: Path, listen: str) -> None:
    error = load_error(tmp_path, f'listen = "{listen}"\n')
    assert ": listen: " in str(error)
    assert listen in str(error)
    assert "HOST:PORT" in str(error)


def test_invalid_toml_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, "listen = \n[limits\n")
    assert "not valid TOML" in str(error)


def test_a_folder_in_place_of_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.mkdir()
    with pytest.raises(SettingsError) as info:
        RelaySettings.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("relay.example.com:443", ("relay.example.com", 443)),
        ("[::]:0", ("::", 0)),
        ("0.0.0.0:65535", ("0.0.0.0", 65535)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["", "8080", "host:65536", "host:-1", "host: 80", "host:8o"])
def test_parse_listen_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(text)


def test_the_store_is_sqlite_by_default_or_a_postgresql_url(tmp_path: Path) -> None:
    assert RelaySettings().store == "sqlite"
    url = "postgresql://hatchway:secret@db.example.org:5433/hatchway?sslmode=require"
    assert RelaySettings.load(write(tmp_path, f'store = "{url}"\n')).store == url


@pytest.mark.parametrize(
    ("store", "problem"),
    [
        ("mysql://db/hatchway", "must be \"sqlite\" or a postgresql:// URL, not 'mysql'"),
        ("SQLite", 'must be "sqlite" or a postgresql:// URL'),
        ("postgresql://db/hatchway?colour=blue", "is not a valid PostgreSQL URL"),
    ],
)
def test_a_bad_store_is_refused(tmp_path: Path, store: str, problem: str) -> None:
    error = load_error(tmp_path, f'store = "{store}"\n')
    assert error.key == "store"
    assert problem in str(error)


# [engine] and the built-in agent's [connectors.NAME] tables ------------------------------


def test_the_engine_table_is_read_with_its_retry_and_quarantine_tables(tmp_path: Path) -> None:
    settings = RelaySettings.load(
        write(
            tmp_path,
            "[engine]\nenabled = false\nbatch_size = 200\nbatches_in_flight = 2\n"
            "control_interval = 0.5\nlog_retention_days = 7\nsend_timeout = 60\n"
            "[engine.retry]\nbase = 1\nfactor = 3\nmaximum = 600\njitter = 0\n"
            "[engine.quarantine]\nfailure_share = 0.8\nminimum_operations = 5\n"
            "schedule = [10, 20.5]\n",
        )
    )
    engine = settings.engine
    assert (engine.enabled, engine.batch_size, engine.batches_in_flight) == (False, 200, 2)
    assert (engine.control_interval, engine.log_retention_days, engine.send_timeout) == (
        0.5,
        7.0,
        60.0,
    )
    assert engine.retry == RetryPolicy(base=1.0, factor=3.0, maximum=600.0, jitter=0.0)
    assert engine.quarantine == QuarantinePolicy(
        failure_share=0.8, minimum_operations=5, schedule=(10.0, 20.5)
    )


def test_engine_defaults(tmp_path: Path) -> None:
    engine = RelaySettings.load(write(tmp_path, "")).engine
    assert engine == EngineSettings()
    assert engine.batch_size == 500
    assert engine.retry == RetryPolicy()
    assert engine.quarantine == QuarantinePolicy()


def test_the_batch_size_defaults_to_a_lower_batch_limit(tmp_path: Path) -> None:
    settings = RelaySettings.load(write(tmp_path, "[limits]\nmax_batch_operations = 100\n"))
    assert settings.engine.batch_size == 100


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[engine]\nbatch_size = 1001\n", "engine.batch_size", "max_batch_operations (1000)"),
        (
            "[limits]\nmax_batch_operations = 50\n[engine]\nbatch_size = 60\n",
            "engine.batch_size",
            "at most limits.max_batch_operations (50)",
        ),
        ("[engine]\nbatch_size = 0\n", "engine.batch_size", "at least 1"),
        ("[engine]\nbatches = 2\n", "engine.batches", "not a known setting"),
        ("[engine.retry]\njitter = 1.5\n", "engine.retry.jitter", "share from 0 to 1"),
        ("[engine.retry]\nbase = 10\nmaximum = 5\n", "engine.retry.maximum", "at least 10"),
        ("[engine.quarantine]\nschedule = []\n", "engine.quarantine.schedule", "non-empty"),
        ('[engine.quarantine]\nschedule = ["1h"]\n', "engine.quarantine.schedule", "seconds"),
        ("[engine.quarantine]\nfailure_share = 0\n", "engine.quarantine.failure_share", "above 0"),
    ],
)
def test_a_bad_engine_setting_is_refused(tmp_path: Path, text: str, key: str, problem: str) -> None:
    error = load_error(tmp_path, text)
    assert error.key == key
    assert problem in str(error)


def test_connector_tables_are_read_as_in_agent_toml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[connectors.slack]\ntype = "scim"\nbase_url = "https://api.example.com/scim/v2"\n'
        'token = "t"\n\n[connectors.zoom]\ntype = "scim"\nbase_url = "https://zoom.example"\n',
    )
    settings = RelaySettings.load(path)
    assert [(c.name, c.type) for c in settings.connectors] == [("slack", "scim"), ("zoom", "scim")]
    assert settings.connectors[0].table["base_url"] == "https://api.example.com/scim/v2"
    assert settings.source == str(path)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[connectors.slack]\nbase_url = "https://x"\n', "connectors.slack.type", "is required"),
        ('[connectors."bad name"]\ntype = "scim"\n', "connectors.bad name", "connector name"),
    ],
)
def test_a_bad_connector_table_is_refused(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    error = load_error(tmp_path, text)
    assert error.key == key
    assert problem in str(error)
