"""Admin API tokens in both stores: issued with a role, verified by hash, listed, revoked,
and a name in force only once."""

from __future__ import annotations

import hashlib

import pytest

from relay.exceptions import Conflict, NotFound
from relay.store.base import API_TOKEN_PREFIX, ApiRole
from tests.relay.store.conftest import NOW, Backend, Clock, OpenStore


async def test_tokens_are_issued_verified_listed_and_revoked(
    backend: Backend, open_store: OpenStore, clock: Clock
) -> None:
    store = await open_store(clock=clock)
    admin, admin_secret = await store.create_api_token("ops", ApiRole.ADMIN)
    clock.now += 1
    viewer, viewer_secret = await store.create_api_token("grafana", ApiRole.VIEWER)
    assert admin_secret.startswith(API_TOKEN_PREFIX)
    assert admin_secret != viewer_secret
    assert (admin.name, admin.role, admin.created_at, admin.revoked_at) == (
        "ops",
        ApiRole.ADMIN,
        NOW,
        None,
    )
    assert await store.verify_api_token(admin_secret) == admin
    assert await store.verify_api_token(viewer_secret) == viewer
    assert await store.verify_api_token(admin_secret[:-1]) is None
    assert await store.verify_api_token("") is None

    hashes = {row[0] for row in backend.rows("SELECT token_hash FROM api_tokens")}
    assert hashlib.sha256(admin_secret.encode()).hexdigest() in hashes
    assert admin_secret not in hashes, "only the hash is stored"

    clock.now += 1
    assert await store.revoke_api_token("ops") == 1
    assert await store.verify_api_token(admin_secret) is None
    assert await store.verify_api_token(viewer_secret) == viewer
    listed = await store.list_api_tokens()
    assert [(t.name, t.role, t.revoked_at) for t in listed] == [
        ("ops", ApiRole.ADMIN, NOW + 2),
        ("grafana", ApiRole.VIEWER, None),
    ]
    with pytest.raises(NotFound, match="ops"):
        await store.revoke_api_token("ops")
    with pytest.raises(NotFound, match="nobody"):
        await store.revoke_api_token("nobody")


async def test_a_name_is_in_force_once_and_free_again_when_revoked(
    open_store: OpenStore,
) -> None:
    store = await open_store()
    _, first = await store.create_api_token("ci", ApiRole.VIEWER)
    with pytest.raises(Conflict, match="'ci'"):
        await store.create_api_token("ci", ApiRole.ADMIN)
    assert [t.name for t in await store.list_api_tokens()] == ["ci"]
    await store.revoke_api_token("ci")
    again, second = await store.create_api_token("ci", ApiRole.ADMIN)
    assert await store.verify_api_token(second) == again
    assert await store.verify_api_token(first) is None
    assert len(await store.list_api_tokens()) == 2
