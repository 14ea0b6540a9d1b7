"""``hatchway relay api-token create|list|revoke``, run in-process on a real SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from relay.cli import main
from relay.store.base import API_TOKEN_PREFIX, ApiRole, ApiToken
from relay.store.sqlite import SqliteStore


@pytest.fixture
def folders(tmp_path: Path) -> list[str]:
    return ["--config-dir", str(tmp_path / "config"), "--data-dir", str(tmp_path / "data")]


def hatchway(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr; argparse's own refusals exit, which counts too."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def verify(tmp_path: Path, secret: str) -> ApiToken | None:
    async def run() -> ApiToken | None:
        store = SqliteStore(tmp_path / "data" / "relay.sqlite3")
        await store.open()
        try:
            return await store.verify_api_token(secret)
        finally:
            await store.close()

    return asyncio.run(run())


def test_create_list_and_revoke(
    capsys: pytest.CaptureFixture[str], folders: list[str], tmp_path: Path
) -> None:
    code, out, err = hatchway(
        capsys, "relay", "api-token", "create", "--name", "ops", "--role", "admin", *folders
    )
    assert code == 0
    secret = out.strip()
    assert secret.startswith(API_TOKEN_PREFIX)
    assert "shown once" in err
    token = verify(tmp_path, secret)
    assert token is not None and (token.name, token.role) == ("ops", ApiRole.ADMIN)

    code, out, err = hatchway(
        capsys, "relay", "api-token", "create", "--name", "ops", "--role", "viewer", *folders
    )
    assert (code, out) == (1, "")
    assert "'ops' is in force already" in err

    code, out, _ = hatchway(capsys, "relay", "api-token", "list", *folders)
    assert code == 0
    [header, row] = out.splitlines()
    assert header.split()[:2] == ["NAME", "ROLE"]
    assert row.split()[:2] == ["ops", "admin"]
    assert row.endswith("-"), "not revoked"
    assert secret not in out

    code, out, _ = hatchway(capsys, "relay", "api-token", "revoke", "--name", "ops", *folders)
    assert (code, out.strip()) == (0, "revoked API token 'ops'")
    assert verify(tmp_path, secret) is None
    code, _, err = hatchway(capsys, "relay", "api-token", "revoke", "--name", "ops", *folders)
    assert code == 1
    assert "no API token named 'ops'" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--name", "a b", "--role", "admin"], "--name"),
        (["--name", "ops", "--role", "owner"], "invalid choice"),
        (["--name", "ops"], "--role"),
    ],
)
def test_create_refuses_bad_arguments(
    capsys: pytest.CaptureFixture[str], folders: list[str], argv: list[str], message: str
) -> None:
    code, _, err = hatchway(capsys, "relay", "api-token", "create", *argv, *folders)
    assert code == 2
    assert message in err
