"""A pool of worker threads for the SQL connector, each owning one pyodbc connection."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pyodbc
import structlog

from shared.exceptions import AuthenticationError, ConnectorError, UnavailableError

T = TypeVar("T")

log = structlog.get_logger("agent.connectors.sql")


class ConnectionPool:
    """Worker threads that each own one pyodbc connection.

    pyodbc connections must not be used by two threads at once; one per thread needs no lock
    and bounds the connections by the number of threads. A unit of work never commits: the
    pool commits after it returns and rolls back if it raises, so each unit is one
    transaction, and one that failed before its commit can safely run again.
    """

    def __init__(
        self,
        *,
        name: str,
        size: int,
        connect: Callable[[], pyodbc.Connection],
        classify: Callable[[pyodbc.Error], ConnectorError],
    ) -> None:
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"sql-{name}")
        self._connect = connect
        self._classify = classify
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[pyodbc.Connection] = []

    async def run(self, work: Callable[[pyodbc.Cursor], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, work)

    async def close(self, *, timeout: float | None = 10.0) -> None:
        """Stop the workers and close their connections. A worker stuck in a driver call
        for longer than ``timeout`` seconds (default 10) is abandoned with its connection:
        closing a connection under a running call could crash the driver."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        try:
            await asyncio.wait_for(asyncio.to_thread(self._executor.shutdown, wait=True), timeout)
        except TimeoutError:
            log.warning("a SQL worker is stuck in a driver call; leaving it behind")
            return
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            close_quietly(connection)

    def _run(self, work: Callable[[pyodbc.Cursor], T]) -> T:
        reused = getattr(self._local, "connection", None) is not None
        try:
            cursor = self._cursor()
            result = self._call(work, cursor)
        except UnavailableError:
            if not reused:
                raise
            # A server restart cuts idle connections; the unit failed before its commit, so
            # running it once more on a new connection cannot apply it twice.
            cursor = self._cursor()
            result = self._call(work, cursor)
        self._call(lambda c: c.connection.commit(), cursor)
        return result

    def _cursor(self) -> pyodbc.Cursor:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._open_connection()
        try:
            return connection.cursor()
        except pyodbc.Error as exc:
            error = self._classify(exc)
            self._drop(connection)
            raise error from exc

    def _open_connection(self) -> pyodbc.Connection:
        try:
            connection = self._connect()
        except pyodbc.Error as exc:
            raise self._classify(exc) from exc
        with self._lock:
            self._open.append(connection)
        self._local.connection = connection
        return connection

    def _call(self, work: Callable[[pyodbc.Cursor], T], cursor: pyodbc.Cursor) -> T:
        try:
            return work(cursor)
        except pyodbc.Error as exc:
            error = self._classify(exc)
            self._recover(cursor.connection, error)
            raise error from exc
        except BaseException:
            self._recover(cursor.connection, None)
            raise

    def _recover(self, connection: pyodbc.Connection, error: ConnectorError | None) -> None:
        if isinstance(error, UnavailableError | AuthenticationError):
            self._drop(connection)
            return
        try:
            connection.rollback()
        except pyodbc.Error:
            # A connection that cannot roll back is unusable; the caller reports the error
            # that got us here, and the next unit connects afresh.
            self._drop(connection)

    def _drop(self, connection: pyodbc.Connection) -> None:
        self._local.connection = None
        with self._lock:
            if connection in self._open:
                self._open.remove(connection)
        close_quietly(connection)


def close_quietly(connection: pyodbc.Connection) -> None:
    # Closing a connection the server already cut fails, and there is nothing left to undo.
    with contextlib.suppress(pyodbc.Error):
        connection.close()


# The connector --------------------------------------------------------------------------
