"""The SQLite store's own thread: calls run in order, off the event loop, and hand back
their results and exceptions, also when the caller has given up waiting."""

from __future__ import annotations

import asyncio
import functools
import threading

import pytest

from relay.store.worker_thread import WorkerThread


async def test_calls_run_in_order_in_the_thread_and_return_their_results() -> None:
    worker = WorkerThread("test-worker")
    try:
        ran: list[tuple[int, str]] = []

        def call(n: int) -> int:
            ran.append((n, threading.current_thread().name))
            return n * 10

        results = await asyncio.gather(*(worker.run(functools.partial(call, n)) for n in range(20)))
        assert results == [n * 10 for n in range(20)]
        assert ran == [(n, "test-worker") for n in range(20)]
    finally:
        worker.stop()


async def test_an_exception_reaches_the_caller_and_the_thread_carries_on() -> None:
    worker = WorkerThread("test-worker")
    try:

        def fail() -> None:
            raise ValueError("bad row")

        with pytest.raises(ValueError, match="bad row"):
            await worker.run(fail)
        assert await worker.run(lambda: "still serving") == "still serving"
    finally:
        worker.stop()


async def test_a_cancelled_caller_does_not_stop_the_thread() -> None:
    worker = WorkerThread("test-worker")
    try:
        release = threading.Event()
        slow = worker.run(release.wait)
        slow.cancel()
        release.set()
        assert await worker.run(lambda: 42) == 42
        assert slow.cancelled()
    finally:
        worker.stop()


async def test_stop_ends_the_thread_after_the_queued_calls() -> None:
    worker = WorkerThread("test-worker-stop")
    (thread,) = [t for t in threading.enumerate() if t.name == "test-worker-stop"]
    queued = worker.run(lambda: "queued")
    worker.stop()
    assert await queued == "queued"
    await asyncio.to_thread(thread.join, 5)
    assert not thread.is_alive()
