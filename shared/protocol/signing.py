"""Ed25519 keys and signatures for registration, the handshake and batches.

Keys travel and are pinned as base64 of the raw 32-byte public key. Keeping private keys
in files is :mod:`shared.keyfile`'s business; this module does no I/O.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


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
