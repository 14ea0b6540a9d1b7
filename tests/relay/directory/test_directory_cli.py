"""The ``hatchway directory ...`` commands, run in-process through ``main(argv)``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from relay.cli import main
from relay.directory.query import Query
from relay.store.base import EntryKind
from relay.store.postgresql import PostgresStore
from tests.servers.databases import unique_database_name
from tests.servers.postgres import PostgresServer

CSV = "userName,mail,groups\nalice,alice@x.org,Staff\nbob,bob@x.org,Staff;Sales\n"


pytestmark = pytest.mark.usefixtures("restore_logging")


@pytest.fixture
def folders(tmp_path: Path) -> list[str]:
    return ["--config-dir", str(tmp_path / "config"), "--data-dir", str(tmp_path / "data")]


@pytest.fixture
def people(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(CSV)
    return path


def hatchway(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


MAP = ["--map", 'mail=emails[type eq "work"].value']


def test_import_dry_run_then_import_then_again(
    capsys: pytest.CaptureFixture[str], folders: list[str], people: Path
) -> None:
    code, out, _ = hatchway(capsys, "directory", "import", str(people), *MAP, "--dry-run", *folders)
    assert code == 0
    assert "4 would be created" in out
    assert "  user alice" in out
    assert "  group Sales" in out
    assert "3 group membership(s) would be changed" in out
    _, listed, _ = hatchway(capsys, "directory", "users", *folders)
    assert "alice" not in listed  # the dry run wrote nothing

    code, out, err = hatchway(capsys, "directory", "import", str(people), *MAP, *folders)
    assert (code, err) == (0, "")
    assert "4 were created" in out
    code, out, _ = hatchway(capsys, "directory", "import", str(people), *MAP, *folders)
    assert code == 0
    assert "0 were created" in out and "0 were updated" in out
    assert "4 unchanged" in out


def test_a_bad_file_lists_every_bad_row_and_imports_nothing(
    capsys: pytest.CaptureFixture[str], folders: list[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("userName,active\n,true\nbob,perhaps\ncarol,true\n")
    code, _, err = hatchway(capsys, "directory", "import", str(bad), *folders)
    assert code == 1
    assert f"{bad}:2: 'userName' is required" in err
    assert f"{bad}:3: active must be true or false" in err
    assert "nothing was imported" in err
    _, listed, _ = hatchway(capsys, "directory", "users", "list", *folders)
    assert "carol" not in listed


def test_a_bad_mapping_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], folders: list[str], people: Path
) -> None:
    code, _, err = hatchway(capsys, "directory", "import", str(people), "--map", "mail", *folders)
    assert code == 2
    assert "--map" in err and "COLUMN=PATH" in err


def test_delete_missing_is_refused_above_the_limit(
    capsys: pytest.CaptureFixture[str], folders: list[str], people: Path, tmp_path: Path
) -> None:
    hatchway(capsys, "directory", "import", str(people), *MAP, *folders)
    fewer = tmp_path / "fewer.csv"
    fewer.write_text("userName\nalice\n")
    args = ["directory", "import", str(fewer), "--delete-missing", *folders]
    code, _, err = hatchway(capsys, *args, "--max-deletes", "0")
    assert code == 1
    assert "1 users are not in the file and would be deleted" in err
    code, out, _ = hatchway(capsys, *args, "--max-deletes", "1")
    assert code == 0
    assert "1 were deleted" in out
    _, listed, _ = hatchway(capsys, "directory", "users", *folders)
    assert "alice" in listed and "bob" not in listed


def test_users_and_groups_are_listed_and_shown(
    capsys: pytest.CaptureFixture[str], folders: list[str], people: Path
) -> None:
    hatchway(capsys, "directory", "import", str(people), *MAP, *folders)
    code, out, _ = hatchway(capsys, "directory", "groups", *folders)
    assert code == 0
    assert "DISPLAY NAME" in out and "Staff" in out and "Sales" in out

    code, out, _ = hatchway(capsys, "directory", "users", "show", "ALICE", *folders)
    assert code == 0
    alice = json.loads(out)
    assert alice["userName"] == "alice"
    assert alice["emails"] == [{"type": "work", "value": "alice@x.org"}]
    assert alice["meta"]["version"] == 'W/"1"'
    assert len(alice["groups"]) == 1

    code, out, _ = hatchway(capsys, "directory", "groups", "show", "Staff", *folders)
    staff = json.loads(out)
    assert sorted(m["display"] for m in staff["members"]) == ["alice", "bob"]
    _, by_id, _ = hatchway(capsys, "directory", "groups", "show", staff["id"], *folders)
    assert json.loads(by_id) == staff

    code, _, err = hatchway(capsys, "directory", "users", "show", "nobody", *folders)
    assert code == 1
    assert "no user with id or name 'nobody'" in err


def test_assign_and_unassign(
    capsys: pytest.CaptureFixture[str], folders: list[str], people: Path
) -> None:
    hatchway(capsys, "directory", "import", str(people), *MAP, *folders)
    code, out, _ = hatchway(
        capsys, "directory", "assign", "crm", "--group", "Sales", "--role", "rep", *folders
    )
    assert code == 0
    assert "assigned to job 'crm' with role 'rep'" in out
    hatchway(capsys, "directory", "assign", "crm", "--user", "alice", *folders)
    _, out, _ = hatchway(capsys, "directory", "assignments", "crm", *folders)
    rows = out.splitlines()[1:]
    assert sorted(row.split()[0] for row in rows) == ["group", "user"]
    assert any(row.split()[-1] == "rep" for row in rows)

    code, _, _ = hatchway(capsys, "directory", "unassign", "crm", "--user", "alice", *folders)
    assert code == 0
    code, _, err = hatchway(capsys, "directory", "unassign", "crm", "--user", "alice", *folders)
    assert code == 1
    assert "is not assigned to job 'crm'" in err
    with pytest.raises(SystemExit) as exited:  # argparse: --user or --group is required
        main(["directory", "assign", "crm", *folders])
    assert exited.value.code == 2
    assert "one of the arguments --user --group is required" in capsys.readouterr().err


def test_the_commands_use_the_postgresql_store_relay_toml_names(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    people: Path,
    postgres_server: PostgresServer,
) -> None:
    postgres_server.start()
    database = unique_database_name()
    postgres_server.create_database(database)
    try:
        url = postgres_server.url(database)
        config = tmp_path / "pg-config"
        config.mkdir()
        (config / "relay.toml").write_text(f'store = "{url}"\n')
        folders = ["--config-dir", str(config), "--data-dir", str(tmp_path / "pg-data")]
        code, out, _ = hatchway(capsys, "directory", "import", str(people), *MAP, *folders)
        assert code == 0, out

        async def users() -> list[str]:
            store = PostgresStore(url)
            await store.open()
            try:
                entries, _ = await store.query_entries(EntryKind.USER, Query())
                return [e.resource["userName"] for e in entries]
            finally:
                await store.close()

        assert asyncio.run(users()) == ["alice", "bob"]
        assert not (tmp_path / "pg-data" / "relay.sqlite3").exists()
    finally:
        postgres_server.drop_database(database)


def test_a_progress_bar_shows_on_a_terminal_only(tmp_path: Path, people: Path) -> None:
    folders = ["--config-dir", str(tmp_path / "c"), "--data-dir", str(tmp_path / "d")]
    command = [sys.executable, "-m", "relay.cli", "directory", "import", str(people), *MAP]
    command += folders
    primary, secondary = pty.openpty()
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=secondary,
            timeout=60,
            check=False,
            env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
        )
        os.close(secondary)
        secondary = -1
        terminal = b""
        with contextlib.suppress(OSError):  # EIO once the terminal's writer is gone
            while chunk := os.read(primary, 65536):
                terminal += chunk
    finally:
        os.close(primary)
        if secondary != -1:
            os.close(secondary)
    assert done.returncode == 0, terminal
    assert b"importing" in terminal
    assert "4 were created" in done.stdout.decode()

    piped = subprocess.run(
        [*command, "--dry-run"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert piped.returncode == 0
    assert piped.stderr == b""
