"""Ed25519 keys and signatures for registration, the handshake and batches.

Keys travel and are pinned as base64 of the raw 32-byte public key; private keys are kept
as unencrypted PKCS#8 PEM in a file only the owner can read (the service account's data
folder), because a service must start unattended.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.exceptions import HatchwayError


class KeyFileError(HatchwayError):
    """A key file is missing, unreadable, too open or not an Ed25519 key."""


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict base64: a malformed value raises :class:`ValueError`."""
    return base64.b64decode(text.encode("ascii"), validate=True)


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64encode(raw)


def public_key_from_text(text: str) -> Ed25519PublicKey:
    try:
        raw = b64decode(text)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise ValueError("not a base64 Ed25519 public key") from exc


def fingerprint(key: Ed25519PublicKey) -> str:
    """A short, stable name for a key, shown to administrators (SHA-256, first 16 bytes)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()[:32]


def verify(key: Ed25519PublicKey, signature_text: str, data: bytes) -> bool:
    try:
        key.verify(b64decode(signature_text), data)
    except (InvalidSignature, ValueError):
        return False
    return True


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    return b64encode(key.sign(data))


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
