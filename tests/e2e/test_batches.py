"""Batches travel from the relay's hub to a real agent process and into a real database."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from relay.exceptions import AgentUnavailable, BatchRefusedError, DeliveryError, DeliveryTimeout
from shared.connector import USER, Action, Delta, DeltaKind, Operation
from shared.exceptions import ErrorClass


def _users_table(path) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE users (id TEXT PRIMARY KEY, user_name TEXT UNIQUE NOT NULL,"
            " display_name TEXT)"
        )


def sql_settings(db) -> dict[str, str]:
    return {
        "type": "sql",
        "dialect": "sqlite",
        "connection_string": db.odbc_connection_string,
        "users_table": "users",
        "key_column": "id",
        "naming_column": "user_name",
    }


def creates(prefix: str, count: int, start: int = 0) -> list[Operation]:
    return [
        Operation(
            f"{prefix}-{i}",
            Action.CREATE,
            USER,
            attributes={"id": f"u{i}", "user_name": f"user{i}", "display_name": f"User {i}"},
        )
        for i in range(start, start + count)
    ]


async def test_batch_reaches_sqlite_and_results_come_back(relay, make_agent, sqlite_odbc_database):
    _users_table(sqlite_odbc_database.path)
    agent = await make_agent("branch")
    agent.add_connector("hr", **sql_settings(sqlite_odbc_database))
    await agent.start()
    await agent.wait_for("connected")

    results = await relay.hub.send("branch", "hr", creates("c", 25), timeout=30)
    assert [r.anchor for r in results] == [f"u{i}" for i in range(25)]
    assert all(r.ok and not r.replayed for r in results)

    update = Operation(
        "u-1",
        Action.UPDATE,
        USER,
        anchor="u3",
        deltas=(Delta("display_name", DeltaKind.REPLACE, ("Renamed",)),),
    )
    delete = Operation("d-1", Action.DELETE, USER, anchor="u4")
    missing = Operation("d-2", Action.DELETE, USER, anchor="nobody")
    results = await relay.hub.send("branch", "hr", [update, delete, missing], timeout=30)
    assert results[0].ok and results[1].ok
    assert results[2].error is not None and results[2].error.error_class is ErrorClass.NOT_FOUND

    with sqlite3.connect(sqlite_odbc_database.path) as db:
        rows = dict(db.execute("SELECT id, display_name FROM users").fetchall())
    assert len(rows) == 24
    assert rows["u3"] == "Renamed"
    assert "u4" not in rows

    # The same idempotency keys again: answered from the journal, nothing written twice.
    again = await relay.hub.send("branch", "hr", creates("c", 25), timeout=30)
    assert all(r.ok and r.replayed for r in again)
    with sqlite3.connect(sqlite_odbc_database.path) as db:
        assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 24

    assert await agent.terminate() == 0


async def test_unknown_connector_is_refused_and_agent_keeps_serving(
    relay, make_agent, sqlite_odbc_database
):
    _users_table(sqlite_odbc_database.path)
    agent = await make_agent("branch")
    agent.add_connector("hr", **sql_settings(sqlite_odbc_database))
    await agent.start()
    await agent.wait_for("connected")
    with pytest.raises(BatchRefusedError) as refused:
        await relay.hub.send("branch", "nope", creates("x", 1), timeout=30)
    assert refused.value.reason == "unknown_connector"
    results = await relay.hub.send("branch", "hr", creates("y", 2), timeout=30)
    assert all(r.ok for r in results)


async def test_hub_refuses_what_it_cannot_deliver_and_keeps_serving(
    relay, make_agent, sqlite_odbc_database
):
    _users_table(sqlite_odbc_database.path)
    agent = await make_agent("branch")
    agent.add_connector("hr", **sql_settings(sqlite_odbc_database))

    with pytest.raises(AgentUnavailable, match="no agent named 'nobody'"):
        await relay.hub.send("nobody", "hr", creates("n", 1))
    with pytest.raises(ValueError, match="at least one operation"):
        await relay.hub.send("branch", "hr", [])
    with pytest.raises(DeliveryTimeout, match="not connected"):
        await relay.hub.send("branch", "hr", creates("t", 1), timeout=0.2)

    await agent.start()
    await agent.wait_for("connected")
    too_many = creates("big", relay.settings.limits.max_batch_operations + 1)
    with pytest.raises(DeliveryError, match="1 to 1000 operations"):
        await relay.hub.send("branch", "hr", too_many, timeout=30)
    results = await relay.hub.send("branch", "hr", creates("ok", 2), timeout=30)
    assert all(r.ok for r in results)


async def test_a_cancelled_send_is_withdrawn_and_never_delivered(
    relay, make_agent, sqlite_odbc_database
):
    _users_table(sqlite_odbc_database.path)
    agent = await make_agent("branch")
    agent.add_connector("hr", **sql_settings(sqlite_odbc_database))
    sending = asyncio.create_task(relay.hub.send("branch", "hr", creates("gone", 3)))
    link = relay.hub.link("branch")
    async with asyncio.timeout(10):
        while not link.queue:  # noqa: ASYNC110 - no event marks the end of the store lookup
            await asyncio.sleep(0.01)
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    assert not link.queue

    await agent.start()
    await agent.wait_for("connected")
    results = await relay.hub.send("branch", "hr", creates("kept", 1, start=50), timeout=30)
    assert all(r.ok for r in results)
    with sqlite3.connect(sqlite_odbc_database.path) as db:
        assert [r[0] for r in db.execute("SELECT id FROM users")] == ["u50"]


async def test_healthz_counts_connected_agents(relay, make_agent):
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{relay.url}/healthz") as response:
            assert response.status == 200
            assert await response.json() == {"status": "ok", "agents_connected": 0}
        agent = await make_agent("counted")
        await agent.start()
        await agent.wait_for("connected")
        async with http.get(f"{relay.url}/healthz") as response:
            assert await response.json() == {"status": "ok", "agents_connected": 1}
