"""At-least-once delivery, exactly-once effect: restarts and crashes lose and duplicate
nothing in the target."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from relay.exceptions import AgentUnavailable
from relay.hub.hub import Hub
from tests.e2e.test_batches import _users_table, creates, sql_settings


def _rows(path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id, user_name FROM users ORDER BY id").fetchall()


async def _queued(hub: Hub, agent: str) -> int:
    """Wait until a batch for ``agent`` is queued; Hub.send first looks the agent up in the
    store (in a thread), so a single yield to the loop is not enough."""
    async with asyncio.timeout(10):
        # Polled: the hub sets no event when it queues a batch, so there is none to await.
        while not hub.link(agent).queue:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    return len(hub.link(agent).queue)


async def test_agent_killed_after_running_a_batch_before_answering(
    relay, make_agent, sqlite_odbc_database, tmp_path
):
    _users_table(sqlite_odbc_database.path)
    pause, ran = tmp_path / "pause", tmp_path / "ran"
    pause.touch()
    agent = await make_agent("crashy")
    agent.add_connector(
        "hr",
        **{**sql_settings(sqlite_odbc_database), "type": "pausing_connector:PausingSqlConnector"},
        pause_file=str(pause),
        ran_file=str(ran),
    )
    await agent.start()
    await agent.wait_for("connected")

    batch = creates("k", 40)
    sending = asyncio.create_task(relay.hub.send("crashy", "hr", batch, timeout=120))
    await agent.wait_for("batch ran, pausing")  # logged after the rows are committed
    assert ran.read_text() == "40"
    assert len(_rows(sqlite_odbc_database.path)) == 40
    await agent.kill()
    assert not sending.done()

    pause.unlink()
    await agent.restart()
    results = await sending  # redelivered to the restarted agent, which ran it "in doubt"
    assert [r.anchor for r in results] == [f"u{i}" for i in range(40)]
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    assert _rows(sqlite_odbc_database.path) == sorted((f"u{i}", f"user{i}") for i in range(40))

    # A third delivery of the same keys is answered from the journal.
    again = await relay.hub.send("crashy", "hr", batch, timeout=60)
    assert all(r.ok and r.replayed for r in again)
    assert len(_rows(sqlite_odbc_database.path)) == 40


async def test_relay_restart_agent_reconnects_and_keys_run_once(
    relay, make_agent, sqlite_odbc_database
):
    _users_table(sqlite_odbc_database.path)
    agent = await make_agent("steady")
    agent.add_connector("hr", **sql_settings(sqlite_odbc_database))
    await agent.start()
    await agent.wait_for("connected")
    first = await relay.hub.send("steady", "hr", creates("a", 10), timeout=30)
    assert all(r.ok for r in first)

    await relay.restart()
    await agent.wait_for("connected", count=2, timeout=60)
    assert agent.proc is not None and agent.proc.returncode is None

    # The engine resends what it never saw acknowledged, with the same keys: the agent's
    # journal answers those it already ran, and only the new ones are written.
    batch = creates("a", 15)
    results = await relay.hub.send("steady", "hr", batch, timeout=30)
    assert [r.replayed for r in results] == [True] * 10 + [False] * 5
    assert all(r.ok for r in results)
    assert len(_rows(sqlite_odbc_database.path)) == 15


async def test_batches_wait_for_an_offline_agent_and_are_delivered_on_connect(
    relay, make_agent, sqlite_odbc_database
):
    _users_table(sqlite_odbc_database.path)
    agent = await make_agent("late")
    agent.add_connector("hr", **sql_settings(sqlite_odbc_database))
    sending = asyncio.create_task(relay.hub.send("late", "hr", creates("w", 5), timeout=60))
    assert await _queued(relay.hub, "late") == 1  # queued before the agent exists
    assert not sending.done()
    await agent.start()
    results = await sending
    assert all(r.ok for r in results)


async def test_relay_shutdown_fails_waiting_callers_instead_of_hanging(relay, make_agent):
    await make_agent("never-started")
    sending = asyncio.create_task(relay.hub.send("never-started", "hr", creates("s", 1)))
    assert await _queued(relay.hub, "never-started") == 1
    await relay.stop()
    with pytest.raises(AgentUnavailable):
        async with asyncio.timeout(10):
            await sending


async def test_sigterm_drains_and_hands_back_unfinished_work(
    relay, make_agent, sqlite_odbc_database, tmp_path
):
    _users_table(sqlite_odbc_database.path)
    pause = tmp_path / "pause"
    pause.touch()
    agent = await make_agent("drainer")
    config = agent.config_dir / "agent.toml"
    config.write_text(config.read_text().replace("[agent]\n", "[agent]\ndrain_timeout = 1.0\n"))
    agent.add_connector(
        "hr",
        **{**sql_settings(sqlite_odbc_database), "type": "pausing_connector:PausingSqlConnector"},
        pause_file=str(pause),
        ran_file=str(tmp_path / "ran"),
    )
    await agent.start()
    await agent.wait_for("connected")
    sending = asyncio.create_task(relay.hub.send("drainer", "hr", creates("h", 5), timeout=120))
    await agent.wait_for("batch ran, pausing")

    assert await agent.terminate() == 0
    assert agent.count("draining") == 1
    assert agent.count("handed back unfinished batches", count=1) == 1
    assert not sending.done()

    pause.unlink()
    await agent.restart()
    results = await sending
    assert all(r.ok for r in results)
    assert len(_rows(sqlite_odbc_database.path)) == 5


async def test_agent_backs_off_exponentially_with_jitter_and_connects_when_relay_returns(
    relay, make_agent
):
    agent = await make_agent("patient")
    await relay.stop()
    await agent.start()
    waits = [
        (await agent.wait_for("reconnecting", count=n, timeout=30))["delay"] for n in (1, 2, 3)
    ]
    # 0.5 s doubling per failed attempt, each scaled by a random factor in [0.5, 1].
    for attempt, delay in enumerate(waits, start=1):
        assert 0.5 * 2**attempt * 0.5 <= delay <= 0.5 * 2**attempt, waits
    await relay.start()
    await agent.wait_for("connected", timeout=30)
    assert await agent.terminate() == 0
