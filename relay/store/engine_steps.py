"""The provisioning engine's reads and writes as SQL steps, shared by both stores.

Like :mod:`relay.store.directory_steps`: each operation is a generator of :class:`Sql`
statements that the store runs in one transaction. These are not directory changes, so the
stores run them without the directory's write lock and without waking change-log waiters
(:meth:`~relay.store.engine_store.EngineMethods._engine_steps`).

Batches of rows go as one ``executemany`` per table, so :meth:`EngineSteps.record_batch` of
a few hundred shadows and log entries costs a handful of statements, not a round each.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from relay.exceptions import Conflict, NotFound
from relay.store.base import EntryKind
from relay.store.directory_dialects import Dialect
from relay.store.directory_steps import Sql, Steps, chunks, marks
from relay.store.engine_records import (
    CycleKind,
    CycleRecord,
    CycleState,
    CycleWrite,
    JobRecord,
    JobState,
    LogAction,
    LogEntry,
    LogQuery,
    LogStatus,
    RetryRecord,
    Shadow,
    ShadowState,
    StagedDecision,
    StagedOperation,
)

T = TypeVar("T")

JOB_COLUMNS = (
    "name, spec, state, version, created_at, updated_at, cursor, initial_done,"
    " quarantine_reason, next_attempt_at, quarantine_count, reconciled_at"
)
CYCLE_COLUMNS = (
    "id, job, kind, state, started_at, finished_at, total, done, counts, checkpoint, error"
)
SHADOW_COLUMNS = "job, kind, entry_id, anchor, attribute_values, source_version, state, updated_at"
RETRY_COLUMNS = (
    "job, kind, entry_id, attempts, error_class, error, first_failed_at, next_attempt_at,"
    " source_version"
)
STAGED_COLUMNS = (
    "id, job, cycle, kind, entry_id, anchor, action, reason, display, staged_at, decision,"
    " decided_at"
)
LOG_COLUMNS = (
    "id, job, cycle, kind, entry_id, action, status, at, source_name, anchor, reason,"
    " error_class, changes, steps, duration_ms"
)
#: A user's manager id in its resource, as the index ``directory_entries_manager`` of
#: migration 0005 has it: a lookup must use the very expression to read the index.
_ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MANAGER_VALUE = {
    "sqlite": f"json_extract(resource, '$.\"{_ENTERPRISE}\".manager.value')",
    "postgresql": f"(resource -> '{_ENTERPRISE}' -> 'manager' ->> 'value')",
}

#: The fields of :class:`JobRecord` that :meth:`~relay.store.base.Store.update_job` may
#: change, with how each is stored.
_JOB_FIELDS: dict[str, Callable[[Any], Any]] = {
    "spec": str,
    "state": lambda value: JobState(value).value,
    "cursor": int,
    "initial_done": bool,
    "quarantine_reason": lambda value: None if value is None else str(value),
    "next_attempt_at": lambda value: None if value is None else float(value),
    "quarantine_count": int,
    "reconciled_at": lambda value: None if value is None else float(value),
    "updated_at": float,
}


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class EngineSteps:
    """The operations, parametrised by the store's SQL dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        postgres = dialect.name == "postgresql"
        self._json = dialect.json_param
        self._greatest = "GREATEST" if postgres else "MAX"
        # SQLite's write transactions lock the whole database from their start anyway.
        self._for_update = " FOR UPDATE" if postgres else ""
        # psycopg reads jsonb as Python values; SQLite keeps JSON as text.
        self._load: Callable[[Any], Any] = (
            (lambda value: value)
            if postgres
            else (lambda value: None if value is None else json.loads(value))
        )

    def sql(self, text: str, params: Sequence[Any] = (), *, many: bool = False) -> Sql:
        return Sql(self.dialect.placeholders(text), params, many)

    # Rows -----------------------------------------------------------------------------------

    @staticmethod
    def job_from_row(row: Sequence[Any]) -> JobRecord:
        return JobRecord(
            name=row[0],
            spec=row[1],
            state=JobState(row[2]),
            version=int(row[3]),
            created_at=row[4],
            updated_at=row[5],
            cursor=int(row[6]),
            initial_done=bool(row[7]),
            quarantine_reason=row[8],
            next_attempt_at=row[9],
            quarantine_count=int(row[10]),
            reconciled_at=row[11],
        )

    def cycle_from_row(self, row: Sequence[Any]) -> CycleRecord:
        return CycleRecord(
            id=row[0],
            job=row[1],
            kind=CycleKind(row[2]),
            state=CycleState(row[3]),
            started_at=row[4],
            finished_at=row[5],
            total=row[6],
            done=int(row[7]),
            counts=self._load(row[8]),
            checkpoint=self._load(row[9]),
            error=row[10],
        )

    def shadow_from_row(self, row: Sequence[Any]) -> Shadow:
        return Shadow(
            job=row[0],
            kind=EntryKind(row[1]),
            entry_id=row[2],
            anchor=row[3],
            values=self._load(row[4]),
            source_version=int(row[5]),
            state=ShadowState(row[6]),
            updated_at=row[7],
        )

    @staticmethod
    def retry_from_row(row: Sequence[Any]) -> RetryRecord:
        return RetryRecord(
            job=row[0],
            kind=EntryKind(row[1]),
            entry_id=row[2],
            attempts=int(row[3]),
            error_class=row[4],
            error=row[5],
            first_failed_at=row[6],
            next_attempt_at=row[7],
            source_version=int(row[8]),
        )

    @staticmethod
    def staged_from_row(row: Sequence[Any]) -> StagedOperation:
        return StagedOperation(
            id=int(row[0]),
            job=row[1],
            cycle=row[2],
            kind=EntryKind(row[3]),
            entry_id=row[4],
            anchor=row[5],
            action=row[6],
            reason=row[7],
            display=row[8],
            staged_at=row[9],
            decision=StagedDecision(row[10]),
            decided_at=row[11],
        )

    def log_from_row(self, row: Sequence[Any]) -> LogEntry:
        return LogEntry(
            id=int(row[0]),
            job=row[1],
            cycle=row[2],
            kind=EntryKind(row[3]),
            entry_id=row[4],
            action=LogAction(row[5]),
            status=LogStatus(row[6]),
            at=row[7],
            source_name=row[8],
            anchor=row[9],
            reason=row[10],
            error_class=row[11],
            changes=self._load(row[12]),
            steps=self._load(row[13]),
            duration_ms=row[14],
        )

    # Jobs -----------------------------------------------------------------------------------

    def _job(self, name: str) -> Steps:
        rows = yield self.sql(f"SELECT {JOB_COLUMNS} FROM engine_jobs WHERE name = ?", (name,))
        if not rows:
            raise NotFound(f"no job named {name!r}")
        return self.job_from_row(rows[0])

    def create_job(self, name: str, spec: str, now: float) -> Steps:
        rows = yield self.sql(
            "INSERT INTO engine_jobs (name, spec, state, version, created_at, updated_at)"
            " VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING name",
            (name, spec, JobState.CREATED.value, now, now),
        )
        if not rows:
            raise Conflict(f"a job named {name!r} exists already")
        return JobRecord(name, spec, JobState.CREATED, 1, now, now)

    def get_job(self, name: str) -> Steps:
        job = yield from self._job(name)
        return job

    def list_jobs(self) -> Steps:
        rows = yield self.sql(f"SELECT {JOB_COLUMNS} FROM engine_jobs ORDER BY name")
        return [self.job_from_row(row) for row in rows]

    def update_job(self, name: str, fields: Mapping[str, Any], now: float) -> Steps:
        """Checks ``fields`` at once (a :class:`ValueError` before any statement), then
        returns the steps."""
        unknown = sorted(set(fields) - set(_JOB_FIELDS))
        if unknown:
            raise ValueError(f"not a field a job update may change: {', '.join(unknown)}")
        stored = {key: _JOB_FIELDS[key](value) for key, value in fields.items()}
        stored.setdefault("updated_at", now)
        assignments = [
            f"cursor = {self._greatest}(cursor, ?)" if key == "cursor" else f"{key} = ?"
            for key in stored
        ]
        if "spec" in stored or "state" in stored:
            assignments.append("version = version + 1")
        return self._update_job(name, ", ".join(assignments), list(stored.values()))

    def _update_job(self, name: str, assignments: str, params: list[Any]) -> Steps:
        rows = yield self.sql(
            f"UPDATE engine_jobs SET {assignments} WHERE name = ? RETURNING {JOB_COLUMNS}",
            [*params, name],
        )
        if not rows:
            raise NotFound(f"no job named {name!r}")
        return self.job_from_row(rows[0])

    def delete_job(self, name: str) -> Steps:
        # Cycles, shadows, retries and staged operations go with the job (their foreign
        # keys cascade); the logs have none, and stay.
        rows = yield self.sql("DELETE FROM engine_jobs WHERE name = ? RETURNING name", (name,))
        if not rows:
            raise NotFound(f"no job named {name!r}")

    # Cycles ---------------------------------------------------------------------------------

    def start_cycle(self, job: str, kind: CycleKind, total: int | None, now: float) -> Steps:
        yield from self._job(job)
        cycle = CycleRecord(str(uuid.uuid4()), job, kind, CycleState.RUNNING, now, total=total)
        yield self.sql(
            "INSERT INTO engine_cycles (id, job, kind, state, started_at, total, done, counts)"
            f" VALUES (?, ?, ?, ?, ?, ?, 0, {self._json})",
            (cycle.id, job, kind.value, cycle.state.value, now, total, "{}"),
        )
        return cycle

    def _cycle(self, cycle_id: str, lock: bool = False) -> Steps:
        rows = yield self.sql(
            f"SELECT {CYCLE_COLUMNS} FROM engine_cycles WHERE id = ?"
            + (self._for_update if lock else ""),
            (cycle_id,),
        )
        if not rows:
            raise NotFound(f"no cycle with id {cycle_id!r}")
        return self.cycle_from_row(rows[0])

    def get_cycle(self, cycle_id: str) -> Steps:
        cycle = yield from self._cycle(cycle_id)
        return cycle

    def list_cycles(
        self, job: str, state: CycleState | None, limit: int, before: str | None = None
    ) -> Steps:
        condition, params = "job = ?", [job]
        if state is not None:
            condition += " AND state = ?"
            params.append(state.value)
        if before is not None:
            rows = yield self.sql(
                "SELECT pos FROM engine_cycles WHERE id = ? AND job = ?", (before, job)
            )
            if not rows:
                raise NotFound(f"job {job!r} has no cycle with id {before!r}")
            condition += " AND pos < ?"
            params.append(rows[0][0])
        rows = yield self.sql(
            f"SELECT {CYCLE_COLUMNS} FROM engine_cycles WHERE {condition}"
            " ORDER BY pos DESC LIMIT ?",
            [*params, limit],
        )
        return [self.cycle_from_row(row) for row in rows]

    def update_cycle(
        self,
        cycle_id: str,
        state: CycleState | None,
        total: int | None,
        checkpoint: Any,
        error: str | None,
        now: float,
        done: int | None = None,
    ) -> Steps:
        assignments: list[str] = []
        params: list[Any] = []
        if state is not None:
            assignments.append("state = ?")
            params.append(state.value)
            if state is not CycleState.RUNNING:
                assignments.append("finished_at = ?")
                params.append(now)
        if total is not None:
            assignments.append("total = ?")
            params.append(total)
        if done is not None:
            assignments.append("done = ?")
            params.append(done)
        if checkpoint is not None:
            assignments.append(f"checkpoint = {self._json}")
            params.append(_dump(checkpoint))
        if error is not None:
            assignments.append("error = ?")
            params.append(error)
        if not assignments:
            cycle = yield from self._cycle(cycle_id)
            return cycle
        rows = yield self.sql(
            f"UPDATE engine_cycles SET {', '.join(assignments)} WHERE id = ?"
            f" RETURNING {CYCLE_COLUMNS}",
            [*params, cycle_id],
        )
        if not rows:
            raise NotFound(f"no cycle with id {cycle_id!r}")
        return self.cycle_from_row(rows[0])

    # Shadows and retries ----------------------------------------------------------------------

    def _by_entry(
        self,
        table: str,
        columns: str,
        convert: Callable[[Sequence[Any]], T],
        job: str,
        kind: EntryKind,
        entry_ids: Sequence[str],
    ) -> Steps:
        """The rows of ``table`` for ``entry_ids`` by entry id (the third column), read a
        chunk of ids at a time."""
        found: dict[str, T] = {}
        for chunk in chunks(entry_ids):
            rows = yield self.sql(
                f"SELECT {columns} FROM {table}"
                f" WHERE job = ? AND kind = ? AND entry_id IN ({marks(chunk)})",
                [job, kind.value, *chunk],
            )
            found.update((row[2], convert(row)) for row in rows)
        return found

    def get_shadows(self, job: str, kind: EntryKind, entry_ids: Sequence[str]) -> Steps:
        return (
            yield from self._by_entry(
                "engine_shadows", SHADOW_COLUMNS, self.shadow_from_row, job, kind, entry_ids
            )
        )

    def linked_entry(self, job: str, kind: EntryKind, anchor: str) -> Steps:
        rows = yield self.sql(
            "SELECT entry_id FROM engine_shadows WHERE job = ? AND kind = ? AND anchor = ?"
            " ORDER BY entry_id LIMIT 1",
            (job, kind.value, anchor),
        )
        return rows[0][0] if rows else None

    def shadows_page(self, job: str, kind: EntryKind, after_id: str, limit: int) -> Steps:
        rows = yield self.sql(
            f"SELECT {SHADOW_COLUMNS} FROM engine_shadows"
            " WHERE job = ? AND kind = ? AND entry_id > ? ORDER BY entry_id LIMIT ?",
            (job, kind.value, after_id, limit),
        )
        return [self.shadow_from_row(row) for row in rows]

    def count_shadows(self, job: str, kind: EntryKind | None) -> Steps:
        if kind is None:
            rows = yield self.sql("SELECT count(*) FROM engine_shadows WHERE job = ?", (job,))
        else:
            rows = yield self.sql(
                "SELECT count(*) FROM engine_shadows WHERE job = ? AND kind = ?",
                (job, kind.value),
            )
        return int(rows[0][0])

    def get_retries(self, job: str, kind: EntryKind, entry_ids: Sequence[str]) -> Steps:
        return (
            yield from self._by_entry(
                "engine_retries", RETRY_COLUMNS, self.retry_from_row, job, kind, entry_ids
            )
        )

    def retries_due(self, job: str, now: float, limit: int) -> Steps:
        rows = yield self.sql(
            f"SELECT {RETRY_COLUMNS} FROM engine_retries"
            " WHERE job = ? AND next_attempt_at IS NOT NULL AND next_attempt_at <= ?"
            " ORDER BY next_attempt_at, kind, entry_id LIMIT ?",
            (job, now, limit),
        )
        return [self.retry_from_row(row) for row in rows]

    def list_retries(self, job: str, limit: int) -> Steps:
        rows = yield self.sql(
            f"SELECT {RETRY_COLUMNS} FROM engine_retries WHERE job = ?"
            " ORDER BY updated_at DESC, kind, entry_id LIMIT ?",
            (job, limit),
        )
        return [self.retry_from_row(row) for row in rows]

    # Directory reads --------------------------------------------------------------------------

    def reports_of(self, manager_ids: Sequence[str]) -> Steps:
        manager = MANAGER_VALUE[self.dialect.name]
        found: dict[str, list[str]] = {}
        for chunk in chunks(manager_ids):
            rows = yield self.sql(
                f"SELECT {manager}, id FROM directory_entries"
                f" WHERE kind = ? AND {manager} IN ({marks(chunk)}) ORDER BY pos",
                [EntryKind.USER.value, *chunk],
            )
            for manager_id, user_id in rows:
                found.setdefault(manager_id, []).append(user_id)
        return found

    # Staged operations ------------------------------------------------------------------------

    def list_staged(
        self, job: str, decision: StagedDecision | None, after_id: int, limit: int | None
    ) -> Steps:
        condition, params = "job = ? AND id > ?", [job, after_id]
        if decision is not None:
            condition += " AND decision = ?"
            params.append(decision.value)
        bound = ""
        if limit is not None:
            bound = " LIMIT ?"
            params.append(limit)
        rows = yield self.sql(
            f"SELECT {STAGED_COLUMNS} FROM engine_staged WHERE {condition} ORDER BY id{bound}",
            params,
        )
        return [self.staged_from_row(row) for row in rows]

    def count_staged(self, job: str, decision: StagedDecision) -> Steps:
        rows = yield self.sql(
            "SELECT count(*) FROM engine_staged WHERE job = ? AND decision = ?",
            (job, decision.value),
        )
        return int(rows[0][0])

    def staged_counts(self, decision: StagedDecision) -> Steps:
        rows = yield self.sql(
            "SELECT job, count(*) FROM engine_staged WHERE decision = ? GROUP BY job",
            (decision.value,),
        )
        return {str(job): int(count) for job, count in rows}

    def decide_staged(
        self, job: str, decision: StagedDecision, ids: Sequence[int] | None, now: float
    ) -> Steps:
        update = (
            "UPDATE engine_staged SET decision = ?, decided_at = ?"
            " WHERE job = ? AND decision = 'pending'"
        )
        params: list[Any] = [decision.value, now, job]
        if ids is None:
            rows = yield self.sql(f"{update} RETURNING id", params)
            return len(rows)
        decided = 0
        for chunk in chunks([int(staged_id) for staged_id in ids]):
            rows = yield self.sql(
                f"{update} AND id IN ({marks(chunk)}) RETURNING id", [*params, *chunk]
            )
            decided += len(rows)
        return decided

    # One batch's results ------------------------------------------------------------------------

    def record_batch(self, write: CycleWrite, now: float) -> Steps:
        job = write.job
        if write.shadows:
            yield self.sql(
                f"INSERT INTO engine_shadows ({SHADOW_COLUMNS})"
                f" VALUES (?, ?, ?, ?, {self._json}, ?, ?, ?)"
                " ON CONFLICT (job, kind, entry_id) DO UPDATE SET anchor = excluded.anchor,"
                " attribute_values = excluded.attribute_values,"
                " source_version = excluded.source_version, state = excluded.state,"
                " updated_at = excluded.updated_at",
                [
                    (
                        job,
                        shadow.kind.value,
                        shadow.entry_id,
                        shadow.anchor,
                        _dump(shadow.values),
                        shadow.source_version,
                        ShadowState(shadow.state).value,
                        shadow.updated_at or now,
                    )
                    for shadow in write.shadows
                ],
                many=True,
            )
        if write.unlinked:
            yield self.sql(
                "DELETE FROM engine_shadows WHERE job = ? AND kind = ? AND entry_id = ?",
                [(job, EntryKind(kind).value, entry_id) for kind, entry_id in write.unlinked],
                many=True,
            )
        if write.retries:
            yield self.sql(
                f"INSERT INTO engine_retries ({RETRY_COLUMNS}, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (job, kind, entry_id) DO UPDATE SET attempts = excluded.attempts,"
                " error_class = excluded.error_class, error = excluded.error,"
                " first_failed_at = excluded.first_failed_at,"
                " next_attempt_at = excluded.next_attempt_at,"
                " source_version = excluded.source_version, updated_at = excluded.updated_at",
                [
                    (
                        job,
                        retry.kind.value,
                        retry.entry_id,
                        retry.attempts,
                        retry.error_class,
                        retry.error,
                        retry.first_failed_at,
                        retry.next_attempt_at,
                        retry.source_version,
                        now,
                    )
                    for retry in write.retries
                ],
                many=True,
            )
        if write.cleared:
            yield self.sql(
                "DELETE FROM engine_retries WHERE job = ? AND kind = ? AND entry_id = ?",
                [(job, EntryKind(kind).value, entry_id) for kind, entry_id in write.cleared],
                many=True,
            )
        if write.staged:
            yield self.sql(
                "INSERT INTO engine_staged (job, cycle, kind, entry_id, anchor, action, reason,"
                " display, staged_at, decision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        job,
                        staged.cycle,
                        staged.kind.value,
                        staged.entry_id,
                        staged.anchor,
                        staged.action,
                        staged.reason,
                        staged.display,
                        staged.staged_at,
                        StagedDecision.PENDING.value,
                    )
                    for staged in write.staged
                ],
                many=True,
            )
        if write.unstaged:
            yield self.sql(
                "DELETE FROM engine_staged WHERE job = ? AND id = ?",
                [(job, staged_id) for staged_id in write.unstaged],
                many=True,
            )
        if write.logs:
            yield self.sql(
                "INSERT INTO engine_logs (job, cycle, kind, entry_id, action, status, at,"
                " source_name, source_key, anchor, reason, error_class, changes, steps,"
                f" duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {self._json},"
                f" {self._json}, ?)",
                [
                    (
                        entry.job,
                        entry.cycle,
                        entry.kind.value,
                        entry.entry_id,
                        LogAction(entry.action).value,
                        LogStatus(entry.status).value,
                        entry.at,
                        entry.source_name,
                        entry.source_name.lower(),
                        entry.anchor,
                        entry.reason,
                        entry.error_class,
                        _dump(entry.changes),
                        _dump(entry.steps),
                        entry.duration_ms,
                    )
                    for entry in write.logs
                ],
                many=True,
            )
        if write.cycle is not None:
            yield from self._progress(write)
        elif write.done or write.counts or write.checkpoint is not None:
            raise ValueError("progress (done, counts, checkpoint) needs the cycle it belongs to")
        if write.cursor is not None:
            rows = yield self.sql(
                f"UPDATE engine_jobs SET cursor = {self._greatest}(cursor, ?) WHERE name = ?"
                " RETURNING name",
                (write.cursor, job),
            )
            if not rows:
                raise NotFound(f"no job named {job!r}")

    def _progress(self, write: CycleWrite) -> Steps:
        assert write.cycle is not None
        cycle: CycleRecord = yield from self._cycle(write.cycle, lock=True)
        counts = dict(cycle.counts)
        for key, count in write.counts.items():
            counts[key] = counts.get(key, 0) + count
        assignments = f"done = done + ?, counts = {self._json}"
        params: list[Any] = [write.done, _dump(counts)]
        if write.checkpoint is not None:
            assignments += f", checkpoint = {self._json}"
            params.append(_dump(write.checkpoint))
        yield self.sql(
            f"UPDATE engine_cycles SET {assignments} WHERE id = ?", [*params, write.cycle]
        )

    # Logs -------------------------------------------------------------------------------------

    def query_logs(self, query: LogQuery) -> Steps:
        conditions: list[str] = []
        params: list[Any] = []
        if query.job is not None:
            # SQLite's planner, lacking statistics, would walk the job's whole log by the
            # (job, id) index; unary plus keeps it on the entry indexes when they apply.
            unindexed = query.entry is not None and self.dialect.name == "sqlite"
            conditions.append("+job = ?" if unindexed else "job = ?")
            params.append(query.job)
        if query.entry is not None:
            conditions.append("(entry_id = ? OR source_key = ?)")
            params += [query.entry, query.entry.lower()]
        for column, value in (
            ("cycle", query.cycle),
            ("action", None if query.action is None else LogAction(query.action).value),
            ("status", None if query.status is None else LogStatus(query.status).value),
        ):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        for condition, bound in (
            ("at >= ?", query.since),
            ("at < ?", query.until),
            ("id < ?", query.before_id),
        ):
            if bound is not None:
                conditions.append(condition)
                params.append(bound)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = yield self.sql(
            f"SELECT {LOG_COLUMNS} FROM engine_logs{where} ORDER BY id DESC LIMIT ?",
            [*params, query.limit],
        )
        return [self.log_from_row(row) for row in rows]

    def purge_logs(self, older_than: float) -> Steps:
        rows = yield self.sql("DELETE FROM engine_logs WHERE at < ? RETURNING id", (older_than,))
        return len(rows)
