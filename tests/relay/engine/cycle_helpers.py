"""A job over a real SQLite store and a given target, for tests of the cycles and the
engine: the job ready to run, directory entries, the incremental loop as a job task runs
it, and the engine with its targets in memory."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from relay.engine import job as jobs
from relay.engine.cycles import JobRun, read_schemas
from relay.engine.engine import Engine
from relay.engine.incremental import Incremental
from relay.engine.processor import Processor
from relay.engine.settings import EngineSettings
from relay.engine.target import Target
from relay.hub.hub import Hub
from relay.store.base import EntryKind, Store

SPEC = """
target = "sql"
scope = "all"

[connection]
agent = "nowhere"
connector = "memory"

[deprovision]
users = "delete"

[guard]
threshold = {threshold}
settle = 0.2

[schedule]
delete_unmatched = {delete_unmatched}
"""


def spec(*, threshold: int = 500, delete_unmatched: bool = False) -> str:
    return SPEC.format(threshold=threshold, delete_unmatched=str(delete_unmatched).lower())


async def job_run(
    store: Store,
    target: Target,
    *,
    name: str = "mem",
    batch_size: int = 5,
    batches_in_flight: int = 1,
    **options: object,
) -> JobRun:
    """The job ``name`` (created in the store if missing) ready to run against ``target``."""
    if name not in {j.name for j in await store.list_jobs()}:
        await store.create_job(name, spec(**options))  # type: ignore[arg-type]
    record = await store.get_job(name)
    settings = jobs.parse(record.spec, source="test", name=name)
    engine = EngineSettings(batch_size=batch_size, batches_in_flight=batches_in_flight)
    mappers = settings.definition.mappers(await read_schemas(target, name))
    processor = Processor(store, settings, target, mappers, engine)
    return JobRun(store, settings, target, mappers, processor, engine)


async def add_users(store: Store, count: int, *, prefix: str = "user") -> list[str]:
    ids = []
    for i in range(count):
        entry = await store.create_entry(
            EntryKind.USER,
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"{prefix}{i:03d}@example.com",
                "displayName": f"{prefix.title()} {i:03d}",
                "active": True,
            },
        )
        ids.append(entry.id)
    return ids


async def add_group(store: Store, name: str, members: list[str]) -> str:
    entry = await store.create_entry(
        EntryKind.GROUP,
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name},
        members=members,
    )
    return entry.id


async def eventually(
    check: Callable[[], Awaitable[Any] | Any], *, timeout: float = 10.0, what: str = ""
) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            what = what or getattr(check, "__name__", repr(check))
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def following(run: JobRun, *, idle: float = 5.0) -> AsyncIterator[Incremental]:
    """The job's incremental loop, as the engine's job task runs it; caught up, it waits
    at most ``idle`` seconds for the next change."""
    job = await run.store.get_job(run.name)
    incremental = Incremental(run, job.cursor)

    async def loop() -> None:
        while True:
            await incremental.step()
            if incremental.caught_up:
                await incremental.wait(idle)

    task = asyncio.create_task(loop())
    try:
        yield incremental
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class MemoryEngine(Engine):
    """The engine with every job's target given (in memory)."""

    def __init__(
        self,
        store: Store,
        target: Target,
        settings: EngineSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(store, Hub(store), None, settings, clock=clock)
        self.target = target

    def target_for(self, settings: jobs.JobSettings) -> Target:
        return self.target
