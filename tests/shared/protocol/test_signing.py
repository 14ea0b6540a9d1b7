"""Keys and signatures as they travel: strict base64, raw 32-byte public keys, stable
fingerprints, and verification that answers False rather than raising."""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import shared.protocol.signing as signing


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.mark.parametrize("data", [b"", b"\x00", b"hatchway", bytes(range(256))])
def test_base64_round_trip(data: bytes) -> None:
    text = signing.b64encode(data)
    assert text.isascii()
    assert signing.b64decode(text) == data


@pytest.mark.parametrize(
    "text",
    [
        "not base64!",
        "AAA",  # missing padding
        " AAAA",
        "AAAA\n",
        "AA AA",
        "AAAA-_==",  # the URL-safe alphabet is not accepted
        "ÄÄÄÄ",
    ],
)
def test_base64_decoding_is_strict(text: str) -> None:
    # ValueError is the documented contract (binascii.Error and UnicodeEncodeError are both).
    with pytest.raises(ValueError):  # noqa: PT011
        signing.b64decode(text)


def test_public_key_text_round_trip(key: Ed25519PrivateKey) -> None:
    public = key.public_key()
    text = signing.public_key_text(public)
    assert len(base64.b64decode(text)) == 32
    back = signing.public_key_from_text(text)
    assert signing.public_key_text(back) == text
    assert signing.verify(back, signing.sign(key, b"payload"), b"payload")


@pytest.mark.parametrize("size", [0, 1, 31, 33, 64])
def test_public_key_of_the_wrong_length_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="not a base64 Ed25519 public key"):
        signing.public_key_from_text(signing.b64encode(b"\x01" * size))


@pytest.mark.parametrize("text", ["not a key", " " + "A" * 44, "Ä" * 44])
def test_public_key_that_is_not_base64_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a base64 Ed25519 public key"):
        signing.public_key_from_text(text)


def test_fingerprint_is_stable_and_prefixed(key: Ed25519PrivateKey) -> None:
    public = key.public_key()
    fingerprint = signing.fingerprint(public)
    assert re.fullmatch(r"SHA256:[0-9a-f]{32}", fingerprint)
    assert signing.fingerprint(public) == fingerprint
    again = signing.public_key_from_text(signing.public_key_text(public))
    assert signing.fingerprint(again) == fingerprint
    other = Ed25519PrivateKey.generate().public_key()
    assert signing.fingerprint(other) != fingerprint


def test_sign_and_verify(key: Ed25519PrivateKey) -> None:
    signature = signing.sign(key, b"batch 1")
    assert len(signing.b64decode(signature)) == 64
    assert signing.verify(key.public_key(), signature, b"batch 1")
    assert not signing.verify(key.public_key(), signature, b"batch 2")
    other = Ed25519PrivateKey.generate()
    assert not signing.verify(other.public_key(), signature, b"batch 1")


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "not base64!",
        "AAAA\n",
        "Ä",
        base64.b64encode(b"\x00" * 64).decode(),
        base64.b64encode(b"\x00" * 10).decode(),  # the wrong length
        base64.b64encode(b"\x00" * 65).decode(),
    ],
)
def test_garbage_signature_verifies_false(key: Ed25519PrivateKey, signature: str) -> None:
    assert signing.verify(key.public_key(), signature, b"batch 1") is False


def test_signature_with_whitespace_around_it_verifies_false(key: Ed25519PrivateKey) -> None:
    signature = signing.sign(key, b"batch 1")
    assert signing.verify(key.public_key(), f" {signature}\n", b"batch 1") is False
