"""Private keys on disk, for the relay's signing key and each agent's key.

Kept as unencrypted PKCS#8 PEM in a file only the owner can read (the service account's
data folder), because a service must start unattended.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.exceptions import KeyFileError


def generate_key_file(path: Path) -> Ed25519PrivateKey:
    """Create a new key, written with mode 0600 from the first byte (no window where the
    file exists with wider permissions)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key


def load_key_file(path: Path) -> Ed25519PrivateKey:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key file: {exc.strerror}") from exc
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise KeyFileError(f"{path}: key file is readable by others; run chmod 600 on it")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as exc:
        raise KeyFileError(f"{path}: not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return key


def load_or_create_key_file(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        return load_key_file(path)
    return generate_key_file(path)
