"""One thread that runs a store's blocking calls, in the order they were made.

The SQLite store uses it instead of asyncio's shared executor. Its calls are serialised on
one connection anyway, so one thread loses nothing, and queued calls wait in the queue
rather than as several pool threads parked on the connection's lock. It is also leaner per
call: the thread settles the caller's asyncio future itself, where ``run_in_executor`` goes
through a ``concurrent.futures.Future`` chained to an asyncio one; for a look-up that takes
tens of microseconds in SQLite that hand-over cost about as much again (measured in
``docs/benchmarks.md``, inbound SCIM endpoint).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]


class WorkerThread:
    """Runs callables one at a time in its own daemon thread until :meth:`stop`. A daemon
    thread cannot hold up the interpreter's exit; a store is closed before that anyway."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def run(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Queue ``fn``; the future gets its result or exception. Cancelling the future
        does not stop ``fn`` once it has started, as with ``run_in_executor``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put((loop, future, fn))
        return future

    def stop(self) -> None:
        """Let the thread end after the calls queued so far."""
        self._calls.put(None)

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            loop, future, fn = call
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001 - the caller gets it, as from an executor
                _settle(loop, future, None, exc)
            else:
                _settle(loop, future, result, None)
            del call, future, fn


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
) -> None:
    def settle() -> None:
        if future.done():  # the caller was cancelled; nobody reads the outcome
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:
        # The caller's event loop is closed, so no one can await this outcome; the thread
        # stays up for callers on other loops.
        return
