"""The provisioning engine's half of :class:`~relay.store.base.Store`, shared by both stores.

A store supplies :meth:`EngineMethods._engine_steps`, which runs one operation of
:mod:`relay.store.engine_steps` in one transaction. Engine writes are not directory changes:
they take no directory write lock (so a cycle recording its batches never queues behind
SCIM writes, nor they behind it) and wake no change-log waiters.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any

from relay.store.base import EntryKind, Store
from relay.store.directory_dialects import Dialect
from relay.store.directory_steps import Steps
from relay.store.engine_records import (
    CycleKind,
    CycleRecord,
    CycleState,
    CycleWrite,
    JobRecord,
    LogEntry,
    LogQuery,
    RetryRecord,
    Shadow,
    StagedDecision,
    StagedOperation,
)
from relay.store.engine_steps import EngineSteps


class EngineMethods(Store):
    clock: Callable[[], float]
    _engine: EngineSteps

    def _init_engine(self, dialect: Dialect) -> None:
        self._engine = EngineSteps(dialect)

    @abc.abstractmethod
    async def _engine_steps(self, steps: Steps, *, write: bool) -> Any:
        """Run ``steps`` to the end in one transaction and return its result; roll back if
        it raises. Unlike directory writes: no directory lock, no change notification."""

    async def _read(self, steps: Steps) -> Any:
        return await self._engine_steps(steps, write=False)

    async def _change(self, steps: Steps) -> Any:
        return await self._engine_steps(steps, write=True)

    # Jobs -----------------------------------------------------------------------------------

    async def create_job(self, name: str, spec: str) -> JobRecord:
        job: JobRecord = await self._change(self._engine.create_job(name, spec, self.clock()))
        return job

    async def get_job(self, name: str) -> JobRecord:
        job: JobRecord = await self._read(self._engine.get_job(name))
        return job

    async def list_jobs(self) -> list[JobRecord]:
        jobs: list[JobRecord] = await self._read(self._engine.list_jobs())
        return jobs

    async def update_job(self, name: str, **fields: Any) -> JobRecord:
        job: JobRecord = await self._change(self._engine.update_job(name, fields, self.clock()))
        return job

    async def delete_job(self, name: str) -> None:
        await self._change(self._engine.delete_job(name))

    # Cycles ---------------------------------------------------------------------------------

    async def start_cycle(
        self, job: str, kind: CycleKind, *, total: int | None = None
    ) -> CycleRecord:
        cycle: CycleRecord = await self._change(
            self._engine.start_cycle(job, kind, total, self.clock())
        )
        return cycle

    async def get_cycle(self, cycle_id: str) -> CycleRecord:
        cycle: CycleRecord = await self._read(self._engine.get_cycle(cycle_id))
        return cycle

    async def list_cycles(
        self,
        job: str,
        *,
        state: CycleState | None = None,
        limit: int = 20,
        before: str | None = None,
    ) -> list[CycleRecord]:
        cycles: list[CycleRecord] = await self._read(
            self._engine.list_cycles(job, state, limit, before)
        )
        return cycles

    async def update_cycle(
        self,
        cycle_id: str,
        *,
        state: CycleState | None = None,
        total: int | None = None,
        checkpoint: Any = None,
        error: str | None = None,
        done: int | None = None,
    ) -> CycleRecord:
        steps = self._engine.update_cycle(
            cycle_id, state, total, checkpoint, error, self.clock(), done
        )
        cycle: CycleRecord = await self._change(steps)
        return cycle

    # Directory reads for the engine ------------------------------------------------------------

    async def reports_of(self, manager_ids: Sequence[str]) -> dict[str, list[str]]:
        if not manager_ids:
            return {}
        found: dict[str, list[str]] = await self._read(self._engine.reports_of(manager_ids))
        return found

    # Shadows, retries, staged operations, logs ------------------------------------------------

    async def linked_entry(self, job: str, kind: EntryKind, anchor: str) -> str | None:
        entry_id: str | None = await self._read(self._engine.linked_entry(job, kind, anchor))
        return entry_id

    async def get_shadows(
        self, job: str, kind: EntryKind, entry_ids: Sequence[str]
    ) -> dict[str, Shadow]:
        if not entry_ids:
            return {}
        shadows: dict[str, Shadow] = await self._read(
            self._engine.get_shadows(job, kind, entry_ids)
        )
        return shadows

    async def shadows_page(
        self, job: str, kind: EntryKind, *, after_id: str = "", limit: int = 1000
    ) -> list[Shadow]:
        page: list[Shadow] = await self._read(self._engine.shadows_page(job, kind, after_id, limit))
        return page

    async def count_shadows(self, job: str, kind: EntryKind | None = None) -> int:
        count: int = await self._read(self._engine.count_shadows(job, kind))
        return count

    async def get_retries(
        self, job: str, kind: EntryKind, entry_ids: Sequence[str]
    ) -> dict[str, RetryRecord]:
        if not entry_ids:
            return {}
        retries: dict[str, RetryRecord] = await self._read(
            self._engine.get_retries(job, kind, entry_ids)
        )
        return retries

    async def retries_due(self, job: str, now: float, *, limit: int = 500) -> list[RetryRecord]:
        due: list[RetryRecord] = await self._read(self._engine.retries_due(job, now, limit))
        return due

    async def list_retries(self, job: str, *, limit: int = 100) -> list[RetryRecord]:
        retries: list[RetryRecord] = await self._read(self._engine.list_retries(job, limit))
        return retries

    async def list_staged(
        self,
        job: str,
        *,
        decision: StagedDecision | None = None,
        after_id: int = 0,
        limit: int | None = None,
    ) -> list[StagedOperation]:
        staged: list[StagedOperation] = await self._read(
            self._engine.list_staged(job, decision, after_id, limit)
        )
        return staged

    async def count_staged(self, job: str, decision: StagedDecision) -> int:
        count: int = await self._read(self._engine.count_staged(job, decision))
        return count

    async def staged_counts(self, decision: StagedDecision) -> dict[str, int]:
        counts: dict[str, int] = await self._read(self._engine.staged_counts(decision))
        return counts

    async def decide_staged(
        self, job: str, decision: StagedDecision, ids: Sequence[int] | None = None
    ) -> int:
        if decision is StagedDecision.PENDING:
            raise ValueError("a staged operation is decided by approving or rejecting it")
        if ids is not None and not ids:
            return 0
        decided: int = await self._change(
            self._engine.decide_staged(job, decision, ids, self.clock())
        )
        return decided

    async def record_batch(self, write: CycleWrite) -> None:
        await self._change(self._engine.record_batch(write, self.clock()))

    async def query_logs(self, query: LogQuery) -> list[LogEntry]:
        logs: list[LogEntry] = await self._read(self._engine.query_logs(query))
        return logs

    async def purge_logs(self, older_than: float) -> int:
        purged: int = await self._change(self._engine.purge_logs(older_than))
        return purged
