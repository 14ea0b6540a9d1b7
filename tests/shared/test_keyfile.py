"""Private key files: private from the first byte, and refused when they are not."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from shared import keyfile
from shared.exceptions import KeyFileError


def test_a_new_key_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "agent_key.pem"
    key = keyfile.generate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = keyfile.load_key_file(path)
    assert loaded.public_key() == key.public_key()
    assert keyfile.load_or_create_key_file(path).public_key() == key.public_key()


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent_key.pem"
    keyfile.generate_key_file(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="readable by others; run chmod 600"):
        keyfile.load_key_file(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"not a key", "not a PEM private key"), (None, "cannot read the key file")],
)
def test_a_missing_or_malformed_key_file_is_refused(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "agent_key.pem"
    if content is not None:
        path.write_bytes(content)
        os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match=problem) as info:
        keyfile.load_key_file(path)
    assert str(path) in str(info.value)


def test_an_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "agent_key.pem"
    keyfile.generate_key_file(path)
    with pytest.raises(FileExistsError):
        keyfile.generate_key_file(path)
