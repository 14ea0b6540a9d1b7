"""A target database that goes away: retryable errors, and service again when it is back."""

from __future__ import annotations

import contextlib

import pyodbc

from shared.exceptions import ErrorClass
from tests.e2e.test_batches import creates


def _create_table(connection_string: str) -> None:
    with contextlib.closing(pyodbc.connect(connection_string, autocommit=True)) as db:
        db.execute(
            "CREATE TABLE users (id text PRIMARY KEY, user_name text UNIQUE NOT NULL,"
            " display_name text)"
        )


async def test_database_down_gives_retryable_errors_and_recovers(
    relay, make_agent, postgres_server, postgres_database
):
    _create_table(postgres_database.odbc_connection_string)
    agent = await make_agent("onprem")
    agent.add_connector(
        "erp",
        type="sql",
        dialect="postgresql",
        # The server trusts loopback, so the password is never checked: it is here to show
        # that it appears in no log line, even at debug level and through errors.
        connection_string=postgres_database.odbc_connection_string + ";Pwd=hunter2-secret",
        users_table="users",
        timeout=5,
    )
    await agent.start()
    await agent.wait_for("connected")
    assert all(r.ok for r in await relay.hub.send("onprem", "erp", creates("a", 3), timeout=30))

    postgres_server.stop()
    try:
        results = await relay.hub.send("onprem", "erp", creates("b", 3, start=10), timeout=60)
        assert [r.error.error_class if r.error else None for r in results] == [
            ErrorClass.UNAVAILABLE
        ] * 3
        assert all(r.error is not None and r.error.error_class.retryable for r in results)
        assert relay.hub.connected_agents() == ["onprem"]
        assert agent.count("connected") == 1  # the relay connection never dropped
    finally:
        postgres_server.start()

    # The same keys again once the database is back: they were not journaled as done.
    results = await relay.hub.send("onprem", "erp", creates("b", 3, start=10), timeout=60)
    assert all(r.ok and not r.replayed for r in results)
    with contextlib.closing(pyodbc.connect(postgres_database.odbc_connection_string)) as db:
        assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 6
    await agent.terminate()
    assert "hunter2-secret" not in agent.output(lines=len(agent.lines))
