"""The relay's stores: SQLite's migrations; registration tokens and the agents' states in
both stores (the tests that take ``store`` run against SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import pytest

import relay.store
from relay.exceptions import NotFound, RegistrationError, StoreError
from relay.store.base import AgentRecord, Store
from relay.store.sqlite import SqliteStore
from tests.relay.store.conftest import NOW, Backend, Clock, OpenStore, SqliteBackend

CONNECTORS = [{"name": "hr", "type": "sql"}]


def newest_migration() -> int:
    """The highest migration number shipped in the package, read from the file names."""
    folder = Path(relay.store.__file__).parent / "migrations" / "sqlite"
    numbers = [int(p.name.split("_", 1)[0]) for p in folder.glob("*.sql")]
    assert numbers, f"no migrations found in {folder}"
    return max(numbers)


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def raw_rows(path: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "relay.sqlite3"


async def connect(store: Store, name: str, session: str) -> None:
    await store.agent_connected(
        name, session=session, software="sw", protocol_version=1, connectors=CONNECTORS
    )


async def register(store: Store, name: str, public_key: str = "key-1") -> AgentRecord:
    _, token = await store.create_token(name, 3600)
    return await store.redeem_token(token, public_key, "hatchway-agent 0.1.0")


# Migrations --------------------------------------------------------------------------------


async def test_migrations_bring_an_empty_file_to_the_newest_version(tmp_path: Path) -> None:
    path = tmp_path / "relay.sqlite3"
    path.write_bytes(b"")
    s = SqliteStore(path)
    await s.open()
    try:
        assert user_version(path) == newest_migration()
        tables = {row[0] for row in raw_rows(path, "SELECT name FROM sqlite_master")}
        assert {"agents", "registration_tokens"} <= tables
    finally:
        await s.close()


async def test_open_creates_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "relay.sqlite3"
    s = SqliteStore(path)
    await s.open()
    await s.close()
    assert user_version(path) == newest_migration()


async def test_reopening_is_a_no_op_and_keeps_the_data(db_path: Path, clock: Clock) -> None:
    first = SqliteStore(db_path, clock=clock)
    await first.open()
    record, _ = await first.create_token("branch", 600)
    await first.close()

    again = SqliteStore(db_path, clock=clock)
    await again.open()  # a migration that ran twice would fail on CREATE TABLE
    try:
        assert user_version(db_path) == newest_migration()
        assert await again.list_tokens() == [record]
    finally:
        await again.close()


async def test_a_schema_newer_than_the_code_is_refused(db_path: Path) -> None:
    s = SqliteStore(db_path)
    await s.open()
    await s.close()
    newest = newest_migration()
    db = sqlite3.connect(db_path)
    db.execute(f"PRAGMA user_version = {newest + 5}")
    db.commit()
    db.close()

    refused = SqliteStore(db_path)
    try:
        with pytest.raises(StoreError) as info:
            await refused.open()
    finally:
        await refused.close()
    message = str(info.value)
    assert str(db_path) in message
    assert str(newest + 5) in message
    assert f"({newest})" in message
    assert user_version(db_path) == newest + 5  # untouched


async def test_a_refused_store_is_not_left_open(db_path: Path) -> None:
    s = SqliteStore(db_path)
    await s.open()
    await s.close()
    db = sqlite3.connect(db_path)
    db.execute(f"PRAGMA user_version = {newest_migration() + 1}")
    db.commit()
    db.close()

    refused = SqliteStore(db_path)
    with pytest.raises(StoreError):
        await refused.open()
    try:
        # The refusal must not leave a usable store (and an open connection) behind.
        with pytest.raises(StoreError, match="closed"):
            await refused.list_tokens()
    finally:
        await refused.close()


async def test_calls_on_a_store_that_was_never_opened_fail_clearly(db_path: Path) -> None:
    with pytest.raises(StoreError, match="closed"):
        await SqliteStore(db_path).list_agents()


# Tokens ------------------------------------------------------------------------------------


async def test_a_token_is_stored_only_as_its_sha256_hash(
    store: Store, backend: Backend, clock: Clock
) -> None:
    record, token = await store.create_token("branch", 7200)

    assert token.startswith("hwt_")
    assert len(token) > 30
    assert record.agent_name == "branch"
    assert record.created_at == NOW
    assert record.expires_at == NOW + 7200
    assert record.used_at is None

    rows = backend.rows("SELECT * FROM registration_tokens")
    assert len(rows) == 1
    assert token not in [str(v) for v in rows[0]]
    (stored_hash,) = backend.rows("SELECT token_hash FROM registration_tokens")[0]
    assert stored_hash == hashlib.sha256(token.encode()).hexdigest()
    if isinstance(backend, SqliteBackend):
        for file in backend.path.parent.iterdir():
            assert token.encode() not in file.read_bytes(), file


async def test_each_token_is_different(store: Store) -> None:
    tokens = {(await store.create_token("branch", 60))[1] for _ in range(5)}
    assert len(tokens) == 5
    assert len(await store.list_tokens()) == 5


async def test_redeeming_a_token_registers_the_agent(store: Store, clock: Clock) -> None:
    _, token = await store.create_token("branch", 3600)
    clock.now += 10

    agent = await store.redeem_token(token, "pk-branch", "hatchway-agent 0.1.0")

    assert agent.name == "branch"
    assert agent.public_key == "pk-branch"
    assert agent.state == "registered"
    stored = await store.get_agent("branch")
    assert stored is not None
    assert stored.public_key == "pk-branch"
    assert stored.registered_at == NOW + 10
    assert stored.software == "hatchway-agent 0.1.0"
    assert stored.revoked_at is None
    assert stored.state == "registered"
    (used,) = await store.list_tokens()
    assert used.used_at == NOW + 10


async def test_an_unknown_token_is_refused(store: Store) -> None:
    with pytest.raises(RegistrationError) as info:
        await store.redeem_token("hwt_not-a-real-token", "pk", "sw")
    assert info.value.code == "invalid_token"
    assert await store.list_agents() == []


async def test_a_token_works_only_once(store: Store) -> None:
    _, token = await store.create_token("branch", 3600)
    await store.redeem_token(token, "pk-1", "sw")

    with pytest.raises(RegistrationError) as info:
        await store.redeem_token(token, "pk-2", "sw")
    assert info.value.code == "token_used"


async def test_an_expired_token_is_refused(open_store: OpenStore, store: Store) -> None:
    past = await open_store(clock=lambda: NOW - 7200)
    _, token = await past.create_token("branch", 3600)  # expired an hour before NOW

    with pytest.raises(RegistrationError) as info:
        await store.redeem_token(token, "pk", "sw")
    assert info.value.code == "token_expired"


async def test_a_failed_redemption_changes_nothing(
    store: Store, backend: Backend, clock: Clock
) -> None:
    _, token = await store.create_token("branch", 3600)
    clock.now += 5
    await store.redeem_token(token, "pk-1", "sw-1")
    _, expiring = await store.create_token("other", 60)
    agents_before = backend.rows("SELECT * FROM agents")
    tokens_before = backend.rows("SELECT * FROM registration_tokens ORDER BY id")

    clock.now += 3600
    with pytest.raises(RegistrationError, match="token_used"):
        await store.redeem_token(token, "pk-attacker", "sw-2")
    with pytest.raises(RegistrationError, match="token_expired"):
        await store.redeem_token(expiring, "pk-other", "sw-2")
    with pytest.raises(RegistrationError, match="invalid_token"):
        await store.redeem_token("hwt_nonsense", "pk-x", "sw-2")

    assert backend.rows("SELECT * FROM agents") == agents_before
    assert backend.rows("SELECT * FROM registration_tokens ORDER BY id") == tokens_before
    agent = await store.get_agent("branch")
    assert agent is not None
    assert agent.public_key == "pk-1"
    assert await store.get_agent("other") is None


async def test_concurrent_redemptions_of_one_token_let_exactly_one_win(
    store: Store,
) -> None:
    _, token = await store.create_token("branch", 3600)

    outcomes = await asyncio.gather(
        *(store.redeem_token(token, f"pk-{i}", "sw") for i in range(4)),
        return_exceptions=True,
    )

    winners = [o for o in outcomes if isinstance(o, AgentRecord)]
    losers = [o for o in outcomes if isinstance(o, RegistrationError)]
    assert len(winners) == 1, outcomes
    assert len(losers) == 3, outcomes
    assert {e.code for e in losers} == {"token_used"}
    stored = await store.get_agent("branch")
    assert stored is not None
    assert stored.public_key == winners[0].public_key


async def test_concurrent_redemptions_through_two_stores_let_exactly_one_win(
    store: Store, open_store: OpenStore, clock: Clock
) -> None:
    # Two processes on one database (a relay and the CLI) must not both redeem a token.
    other = await open_store(clock=clock)
    _, token = await store.create_token("branch", 3600)
    outcomes = await asyncio.gather(
        store.redeem_token(token, "pk-a", "sw"),
        other.redeem_token(token, "pk-b", "sw"),
        return_exceptions=True,
    )

    assert sum(isinstance(o, AgentRecord) for o in outcomes) == 1, outcomes
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(errors) == 1
    assert isinstance(errors[0], RegistrationError)
    assert errors[0].code == "token_used"


async def test_a_revoked_name_can_register_again_with_a_new_key(store: Store, clock: Clock) -> None:
    await register(store, "branch", "old-key")
    clock.now += 10
    revoked = await store.revoke_agent("branch")
    assert revoked.revoked_at == NOW + 10
    assert revoked.state == "revoked"

    clock.now += 10
    _, token = await store.create_token("branch", 3600)
    await store.redeem_token(token, "new-key", "sw-2")

    agent = await store.get_agent("branch")
    assert agent is not None
    assert agent.revoked_at is None
    assert agent.public_key == "new-key"
    assert agent.registered_at == NOW + 20
    assert agent.state != "revoked"
    assert len(await store.list_agents()) == 1


async def test_revoking_an_unknown_agent_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="nobody"):
        await store.revoke_agent("nobody")


async def test_revoking_twice_keeps_the_first_time(store: Store, clock: Clock) -> None:
    await register(store, "branch")
    first = await store.revoke_agent("branch")
    clock.now += 100
    second = await store.revoke_agent("branch")
    assert second.revoked_at == first.revoked_at == NOW


# Agents' states ----------------------------------------------------------------------------


async def test_an_agent_goes_from_registered_to_connected_to_disconnected_to_revoked(
    store: Store, clock: Clock
) -> None:
    await register(store, "branch")
    agent = await store.get_agent("branch")
    assert agent is not None
    assert agent.state == "registered"
    assert agent.session is None
    assert agent.connected_at is None

    clock.now = NOW + 60
    await store.agent_connected(
        "branch",
        session="s1",
        software="hatchway-agent 0.2.0",
        protocol_version=1,
        connectors=CONNECTORS,
    )
    agent = await store.get_agent("branch")
    assert agent is not None
    assert agent.state == "connected"
    assert agent.session == "s1"
    assert agent.connected_at == NOW + 60
    assert agent.last_seen_at == NOW + 60
    assert agent.software == "hatchway-agent 0.2.0"
    assert agent.protocol_version == 1
    assert agent.connectors == CONNECTORS

    clock.now = NOW + 120
    await store.agent_disconnected("branch", "s1")
    agent = await store.get_agent("branch")
    assert agent is not None
    assert agent.state == "disconnected"
    assert agent.session is None
    assert agent.disconnected_at == NOW + 120
    assert agent.connectors == CONNECTORS

    clock.now = NOW + 180
    await store.revoke_agent("branch")
    agent = await store.get_agent("branch")
    assert agent is not None
    assert agent.state == "revoked"
    assert agent.revoked_at == NOW + 180


async def test_an_old_session_disconnecting_does_not_end_a_newer_one(store: Store) -> None:
    await register(store, "branch")
    await connect(store, "branch", "old")
    await connect(store, "branch", "new")

    await store.agent_disconnected("branch", "old")

    agent = await store.get_agent("branch")
    assert agent is not None
    assert agent.session == "new"
    assert agent.state == "connected"
    assert agent.disconnected_at is None

    await store.agent_disconnected("branch", "new")
    agent = await store.get_agent("branch")
    assert agent is not None
    assert agent.state == "disconnected"


async def test_forget_sessions_disconnects_every_agent(store: Store) -> None:
    for name in ("a", "b", "c"):
        await register(store, name)
    await connect(store, "a", "sa")
    await connect(store, "b", "sb")

    await store.forget_sessions()

    agents = {a.name: a for a in await store.list_agents()}
    assert [a.session for a in agents.values()] == [None, None, None]
    assert agents["a"].state == "disconnected"
    assert agents["b"].state == "disconnected"
    assert agents["c"].state == "registered"


async def test_list_agents_is_sorted_by_name(store: Store) -> None:
    for name in ("zulu", "alpha", "mike"):
        await register(store, name)
    assert [a.name for a in await store.list_agents()] == ["alpha", "mike", "zulu"]
    assert await store.get_agent("nobody") is None
