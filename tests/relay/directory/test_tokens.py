"""SCIM client tokens: ``hatchway relay scim-token create|list|revoke``, and the verifier
that checks them on requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.cli import main
from relay.directory.errors import ScimError
from relay.directory.tokens import TokenVerifier
from relay.store.configured import STORE_FILE
from relay.store.sqlite import SqliteStore

pytestmark = pytest.mark.usefixtures("restore_logging")


def hatchway(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_list_and_revoke_tokens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folders = ("--config-dir", str(tmp_path), "--data-dir", str(tmp_path))
    code, out, err = hatchway(
        capsys, "relay", "scim-token", "create", "--client", "entra", *folders
    )
    assert code == 0, err
    token = out.strip()
    assert token.startswith("hws_")
    assert "'entra'" in err
    hatchway(capsys, "relay", "scim-token", "create", "--client", "okta", *folders)

    async def check_store() -> None:
        store = SqliteStore(tmp_path / STORE_FILE)
        await store.open()
        try:
            assert await store.verify_scim_token(token) == "entra"
            assert await store.verify_scim_token(token + "x") is None
        finally:
            await store.close()

    asyncio.run(check_store())
    assert token.encode() not in (tmp_path / STORE_FILE).read_bytes(), "only a hash is kept"

    code, out, _ = hatchway(capsys, "relay", "scim-token", "list", *folders)
    assert code == 0
    assert out.splitlines()[0].split() == ["ID", "CLIENT", "CREATED", "(UTC)", "REVOKED", "(UTC)"]
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["entra", "okta"]

    code, out, _ = hatchway(capsys, "relay", "scim-token", "revoke", "--client", "entra", *folders)
    assert (code, out.strip()) == (0, "revoked 1 token(s) of SCIM client 'entra'")
    code, _, err = hatchway(capsys, "relay", "scim-token", "revoke", "--client", "entra", *folders)
    assert code == 1
    assert "no SCIM client 'entra' with a token in force" in err
    code, _, err = hatchway(
        capsys, "relay", "scim-token", "create", "--client", "bad name!", *folders
    )
    assert code == 2
    assert "--client" in err


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / STORE_FILE)
    await store.open()
    yield store
    await store.close()


async def test_verifier_remembers_tokens_for_a_while(store: SqliteStore) -> None:
    _, token = await store.create_scim_client("entra")
    clock = Clock()
    verifier = TokenVerifier(store, cache_seconds=5.0, clock=clock)
    assert await verifier.client(f"Bearer {token}") == "entra"
    assert await verifier.client(f"bearer  {token}") == "entra"
    await store.revoke_scim_client("entra")
    clock.now += 4.9
    assert await verifier.client(f"Bearer {token}") == "entra", "still remembered"
    clock.now += 0.2
    with pytest.raises(ScimError) as caught:
        await verifier.client(f"Bearer {token}")
    assert caught.value.status == 401


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "Token x"])
async def test_verifier_refuses_malformed_headers(store: SqliteStore, header: str | None) -> None:
    verifier = TokenVerifier(store)
    with pytest.raises(ScimError) as caught:
        await verifier.client(header)
    assert caught.value.status == 401
