"""``hatchway agent check``: settings errors name file and key; each connector gets a verdict."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.cli import main
from shared import keyfile
from shared.protocol import signing
from tests.servers.sqlite import SqliteOdbcDatabase

RELAY_KEY = signing.public_key_text(Ed25519PrivateKey.generate().public_key())


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    config, data = tmp_path / "config", tmp_path / "data"
    config.mkdir()
    keyfile.generate_key_file(data / "agent_key.pem")
    return config, data


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers: a hung database."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def write_settings(config: Path, connectors: str, agent_extra: str = "") -> Path:
    path = config / "agent.toml"
    path.write_text(
        f'[agent]\nname = "branch"\nrelay = "https://relay.example.com"\n'
        f'relay_public_key = "{RELAY_KEY}"\n{agent_extra}\n{connectors}'
    )
    return path


def sqlite_connector(name: str, database: SqliteOdbcDatabase) -> str:
    return (
        f'[connectors.{name}]\ntype = "sql"\ndialect = "sqlite"\n'
        f'connection_string = "{database.odbc_connection_string}"\n'
    )


def with_users_table(database: SqliteOdbcDatabase) -> SqliteOdbcDatabase:
    with sqlite3.connect(database.path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, user_name TEXT UNIQUE)")
    return database


def check(dirs: tuple[Path, Path], *extra: str) -> int:
    folders = ["--config-dir", str(dirs[0]), "--data-dir", str(dirs[1])]
    return main(["agent", "check", *folders, *extra])


def test_every_connector_that_reaches_its_app_passes(
    dirs: tuple[Path, Path], sqlite_odbc_database: SqliteOdbcDatabase, capsys
) -> None:
    write_settings(dirs[0], sqlite_connector("hr", with_users_table(sqlite_odbc_database)))
    assert check(dirs) == 0
    out = capsys.readouterr().out
    assert "agent.toml: OK (agent 'branch'" in out
    assert "agent key:" in out and "agent_key.pem: OK" in out
    (line,) = [line for line in out.splitlines() if line.strip().startswith("hr (sql)")]
    assert line.split()[2] == "OK"


def test_each_failing_connector_gets_its_own_verdict(
    dirs: tuple[Path, Path],
    sqlite_odbc_database: SqliteOdbcDatabase,
    silent_server: int,
    tmp_path: Path,
    capsys,
) -> None:
    missing = SqliteOdbcDatabase.at(tmp_path / "no-such-folder" / "x.sqlite3")
    hung = (
        '[connectors.hung]\ntype = "sql"\ndialect = "postgresql"\ntimeout = 2\n'
        'connection_string = "Driver=PostgreSQL Unicode;Server=127.0.0.1;'
        f'Port={silent_server};Database=hr;Uid=hatchway;Pwd=s3cret-pw"\n'
    )
    write_settings(
        dirs[0],
        sqlite_connector("hr", with_users_table(sqlite_odbc_database))
        + sqlite_connector("gone", missing)
        + hung
        + '[connectors.crm]\ntype = "no-such-type"\n',
    )
    assert check(dirs, "--timeout", "0.5") == 1
    out = capsys.readouterr().out
    verdicts = {
        line.split()[0]: line.split(None, 3)[2:]
        for line in out.splitlines()
        if line.startswith("  ")
    }
    assert verdicts["hr"] == ["OK", verdicts["hr"][1]]
    assert verdicts["gone"][0] == "FAILED" and verdicts["gone"][1].startswith("UnavailableError:")
    assert verdicts["hung"] == ["FAILED", "TimeoutError: no answer within 0.5 s"]
    assert verdicts["crm"][0] == "FAILED"
    assert verdicts["crm"][1].startswith(
        f"ConnectorLoadError: {dirs[0] / 'agent.toml'}: connectors.crm.type: "
        "unknown connector type 'no-such-type'"
    )
    assert "3 of 4 connectors failed" in out
    assert "s3cret-pw" not in out


def test_a_connector_setting_error_names_the_file_and_key(dirs: tuple[Path, Path], capsys) -> None:
    path = write_settings(
        dirs[0],
        '[connectors.hr]\ntype = "sql"\ndialect = "oracle"\nconnection_string = "DSN=x"\n',
    )
    assert check(dirs) == 1
    out = capsys.readouterr().out
    assert f"FAILED  SettingsError: {path}: connectors.hr.dialect: must be one of" in out


def test_an_agent_setting_error_stops_the_check_with_file_and_key(
    dirs: tuple[Path, Path], capsys
) -> None:
    path = write_settings(dirs[0], "", agent_extra="concurrency = 0")
    assert check(dirs) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"hatchway: error: {path}: agent.concurrency: must be at least 1, got 0"


def test_no_settings_file_says_to_register(dirs: tuple[Path, Path], capsys) -> None:
    assert check(dirs) == 2
    assert "run 'hatchway agent register' first" in capsys.readouterr().err


def test_a_key_file_readable_by_others_fails_the_check(dirs: tuple[Path, Path], capsys) -> None:
    write_settings(dirs[0], "")
    (dirs[1] / "agent_key.pem").chmod(0o644)
    assert check(dirs) == 1
    out = capsys.readouterr().out
    assert "agent key:  FAILED" in out and "chmod 600" in out
    assert "connectors: none; add [connectors.NAME] tables" in out
