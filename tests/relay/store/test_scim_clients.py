"""SCIM client tokens in both stores: issued, verified by hash, listed and revoked."""

from __future__ import annotations

import hashlib

import pytest

from relay.exceptions import NotFound
from relay.store.base import SCIM_TOKEN_PREFIX
from tests.relay.store.conftest import Backend, OpenStore


async def test_tokens_are_issued_verified_listed_and_revoked(
    backend: Backend, open_store: OpenStore
) -> None:
    store = await open_store()
    first, token = await store.create_scim_client("entra")
    _, rotated = await store.create_scim_client("entra")
    _, okta = await store.create_scim_client("okta")
    assert token.startswith(SCIM_TOKEN_PREFIX)
    assert len({token, rotated, okta}) == 3
    assert await store.verify_scim_token(token) == "entra"
    assert await store.verify_scim_token(rotated) == "entra"
    assert await store.verify_scim_token(okta) == "okta"
    assert await store.verify_scim_token(token[:-1]) is None
    assert await store.verify_scim_token("") is None

    hashes = {row[0] for row in backend.rows("SELECT token_hash FROM scim_tokens")}
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    assert token not in hashes, "only the hash is stored"

    assert await store.revoke_scim_client("entra") == 2
    assert await store.verify_scim_token(token) is None
    assert await store.verify_scim_token(rotated) is None
    assert await store.verify_scim_token(okta) == "okta"
    listed = await store.list_scim_clients()
    assert [(t.client, t.revoked_at is not None) for t in listed] == [
        ("entra", True),
        ("entra", True),
        ("okta", False),
    ]
    assert first.id in {t.id for t in listed[:2]}
    with pytest.raises(NotFound):
        await store.revoke_scim_client("entra")
    with pytest.raises(NotFound):
        await store.revoke_scim_client("nobody")
