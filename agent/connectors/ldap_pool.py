"""Worker threads for the LDAP connector, each owning one ldap3 connection.

ldap3's synchronous connections must not be shared by two threads at once; one per thread
needs no lock, bounds the connections by the threads, and lets requests run side by side
(one thread works in Python while the server works on another's request).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import ldap3
import structlog
from ldap3.core.exceptions import LDAPException, LDAPOperationResult

from shared.exceptions import ConnectorError, OperationTimeoutError, UnavailableError

T = TypeVar("T")

log = structlog.get_logger("agent.connectors.ldap")


class ConnectionPool:
    """``size`` worker threads with a connection each, opened on first use."""

    def __init__(
        self,
        *,
        name: str,
        size: int,
        connect: Callable[[], ldap3.Connection],
        classify: Callable[[LDAPException], ConnectorError],
    ) -> None:
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"ldap-{name}")
        self._connect = connect
        self._classify = classify
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[ldap3.Connection] = []

    async def run(self, work: Callable[[ldap3.Connection], T]) -> T:
        """Run ``work`` with this thread's connection. ``work`` translates the server's
        answers (it knows the DN and attributes); the pool translates everything else."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, work)

    async def run_alone(self, work: Callable[[], T]) -> T:
        """Run blocking ``work`` that brings its own connection on one of the workers."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, work)

    def open_connection(self) -> ldap3.Connection:
        """A connection of its own, for a caller that keeps it across calls (blocking)."""
        try:
            return self._connect()
        except LDAPException as exc:
            raise self._classify(exc) from exc

    async def close(self, *, timeout: float | None = 10.0) -> None:
        """Stop the workers and unbind their connections. A worker still waiting on the
        server after ``timeout`` seconds (default 10) is left behind with its connection."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        try:
            await asyncio.wait_for(asyncio.to_thread(self._executor.shutdown, wait=True), timeout)
        except TimeoutError:
            log.warning("an LDAP worker is stuck waiting on the directory; leaving it behind")
            return
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            unbind_quietly(connection)

    def _run(self, work: Callable[[ldap3.Connection], T]) -> T:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            return self._call(work, self._own_connection())
        try:
            return self._call(work, connection)
        except UnavailableError:
            if self._local.connection is not None:
                raise  # the directory answered "busy" or "unavailable" itself
            # The directory restarted or cut an idle connection, which the first request on
            # it finds out; it runs once more on a new connection. Had the directory applied
            # it before the cut, the repeat answers as a repeat does (a create: conflict).
            return self._call(work, self._own_connection())

    def _own_connection(self) -> ldap3.Connection:
        connection = self.open_connection()
        with self._lock:
            self._open.append(connection)
        self._local.connection = connection
        return connection

    def _call(self, work: Callable[[ldap3.Connection], T], connection: ldap3.Connection) -> T:
        try:
            return work(connection)
        except LDAPException as exc:
            error = self._classify(exc)
            if not isinstance(exc, LDAPOperationResult):
                self._drop(connection)
            raise error from exc
        except (UnavailableError, OperationTimeoutError):
            # After a lost or late answer the connection's state is unknown.
            self._drop(connection)
            raise

    def _drop(self, connection: ldap3.Connection) -> None:
        self._local.connection = None
        with self._lock:
            if connection in self._open:
                self._open.remove(connection)
        unbind_quietly(connection)


def unbind_quietly(connection: ldap3.Connection) -> None:
    """Unbind, where failing means the server already cut the connection: there is nothing
    left to undo, so the failure is only logged."""
    try:
        connection.unbind()
    except (LDAPException, OSError) as exc:
        log.debug("unbinding a connection the directory already closed", error=str(exc))
