"""A job's status, and where one user or group stands in it, read from the store alone.

Both answer from the store, so any relay sharing it answers them, whether or not it runs
the job, and an administrator can see why an account is not in an app: whether the entry
is in scope and why not, whether the job has caught up with its last change, whether it is
linked, held back by the deletion guard, or failing and when it is tried again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from relay.directory.query import AttributePath, Compare, CompareOp, Query
from relay.engine import job as jobs
from relay.engine.sources import load_sources
from relay.exceptions import NotFound
from relay.store.base import Change, Entry, EntryKind, Store
from relay.store.engine_records import (
    CycleKind,
    CycleRecord,
    CycleState,
    JobRecord,
    JobState,
    LogEntry,
    LogQuery,
    RetryRecord,
    Shadow,
    StagedDecision,
    StagedOperation,
)

#: Retry records counted one by one at most; beyond, the status says "more than".
RETRY_COUNT_LIMIT = 1000
#: Change-log rows ``where`` reads past the job's cursor looking for the entry's changes.
PENDING_SCAN_LIMIT = 10_000
#: Log entries ``where`` shows.
WHERE_LOGS = 3
WAITING_FOR_APPROVAL = "waiting for approval"


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a running cycle is; ``rate`` in objects per second since it started and
    ``eta`` in seconds (None while the total or the rate is unknown)."""

    cycle: str
    kind: CycleKind
    started_at: float
    done: int
    total: int | None
    rate: float | None
    eta: float | None


@dataclass(frozen=True, slots=True)
class JobStatus:
    name: str
    state: JobState
    #: Deprovisions held by the deletion guard until an administrator decides.
    staged: int
    initial_done: bool
    cursor: int
    #: Change-log rows written after the job's cursor (work not yet looked at).
    behind: int
    quarantine_reason: str | None
    next_attempt_at: float | None
    current: Progress | None
    #: The last cycle that ended (done, failed or stopped).
    last: CycleRecord | None
    #: Entries whose last operation failed; ``retries_more`` says the count is a floor.
    retries: int
    retries_more: bool
    shadows: int

    @property
    def summary(self) -> str:
        return state_summary(self.state, self.staged)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["summary"] = self.summary
        plain: dict[str, Any] = _plain(out)
        return plain


@dataclass(frozen=True, slots=True)
class Whereabouts:
    """Where one directory user or group stands in a job."""

    job: str
    kind: EntryKind
    #: What was asked for: an id, a userName or a displayName.
    asked: str
    #: The directory entry's id (or the id asked for, if the entry is gone but was linked).
    entry_id: str | None
    #: userName / displayName.
    name: str | None
    in_directory: bool
    #: None when not in the directory (nothing to judge).
    in_scope: bool | None
    #: Why it is out of scope (Scope.explain), None when in scope.
    scope_reason: str | None
    #: Changes of the entry after the job's cursor, not applied yet; None when more
    #: change-log rows are pending than were read.
    pending: int | None
    initial_done: bool
    shadow: Shadow | None
    staged: StagedOperation | None
    retry: RetryRecord | None
    logs: list[LogEntry] = field(default_factory=list)
    #: Since when its operations are with the target (None: not in flight, or unknown
    #: because the question was not asked of the relay running the job).
    in_flight_since: float | None = None

    @property
    def state(self) -> str:
        """ "linked", "disabled", "held" or "not linked"."""
        return self.shadow.state.value if self.shadow is not None else "not linked"

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = self.state
        plain: dict[str, Any] = _plain(out)
        return plain


def state_summary(state: JobState, staged: int) -> str:
    """A job's state as people read it: "running", "running, waiting for approval"...
    (``staged``: its pending staged deprovisions)."""
    if staged and state is not JobState.PAUSED:
        return f"{state.value}, {WAITING_FOR_APPROVAL}"
    return state.value


def _plain(value: Any) -> Any:
    """Enums and tuples in a dataclass dict as JSON values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    return value


async def job_status(
    store: Store, name: str, *, clock: Callable[[], float] = time.time
) -> JobStatus:
    """Raises :class:`~relay.exceptions.NotFound` for an unknown job."""
    record = await store.get_job(name)
    running = await store.list_cycles(name, state=CycleState.RUNNING, limit=1)
    recent = await store.list_cycles(name, limit=20)
    last = next((c for c in recent if c.state is not CycleState.RUNNING), None)
    staged = await store.count_staged(name, StagedDecision.PENDING)
    retries = await store.list_retries(name, limit=RETRY_COUNT_LIMIT + 1)
    latest = await store.latest_change()
    return JobStatus(
        name=name,
        state=record.state,
        staged=staged,
        initial_done=record.initial_done,
        cursor=record.cursor,
        behind=max(latest - record.cursor, 0),
        quarantine_reason=record.quarantine_reason,
        next_attempt_at=record.next_attempt_at,
        current=progress(running[0], clock()) if running else None,
        last=last,
        retries=min(len(retries), RETRY_COUNT_LIMIT),
        retries_more=len(retries) > RETRY_COUNT_LIMIT,
        shadows=await store.count_shadows(name),
    )


def progress(cycle: CycleRecord, now: float) -> Progress:
    elapsed = now - cycle.started_at
    rate = cycle.done / elapsed if elapsed > 0 and cycle.done else None
    eta = None
    if rate is not None and cycle.total is not None:
        eta = max(cycle.total - cycle.done, 0) / rate
    return Progress(
        cycle=cycle.id,
        kind=cycle.kind,
        started_at=cycle.started_at,
        done=cycle.done,
        total=cycle.total,
        rate=rate,
        eta=eta,
    )


async def find_entry(store: Store, kind: EntryKind, text: str) -> Entry | None:
    """The entry with id ``text``, or else the one whose userName / displayName is
    ``text`` (case-insensitive); None if there is none. Several with that name: raises
    :class:`NotFound` asking for the id."""
    try:
        return await store.get_entry(kind, text)
    except NotFound:
        pass  # not an id: try it as a name
    attribute = "userName" if kind is EntryKind.USER else "displayName"
    query = Query(filter=Compare(AttributePath(attribute), CompareOp.EQ, text), count=2)
    found, total = await store.query_entries(kind, query)
    if total > 1:
        raise NotFound(f"{total} {kind.value}s are called {text!r}; give the id")
    return found[0] if found else None


async def where(
    store: Store,
    name: str,
    kind: EntryKind,
    entry: str,
    *,
    in_flight: Callable[[str, EntryKind, str], float | None] | None = None,
) -> Whereabouts:
    """Where the user or group ``entry`` (an id or a userName / displayName) stands in job
    ``name``. ``in_flight`` is the running engine's ``in_flight_since``, when the question
    is asked inside the relay. Raises :class:`~relay.exceptions.NotFound` for an unknown
    job."""
    record = await store.get_job(name)
    found = await find_entry(store, kind, entry)
    entry_id = found.id if found is not None else entry
    shadow = (await store.get_shadows(name, kind, [entry_id])).get(entry_id)
    if found is None and shadow is None:
        logs = await store.query_logs(LogQuery(job=name, entry=entry, limit=WHERE_LOGS))
        return Whereabouts(
            job=name,
            kind=kind,
            asked=entry,
            entry_id=None,
            name=None,
            in_directory=False,
            in_scope=None,
            scope_reason=None,
            pending=None,
            initial_done=record.initial_done,
            shadow=None,
            staged=None,
            retry=None,
            logs=logs,
        )
    in_scope, reason = await _scope(store, record, kind, found)
    staged = [
        s
        for s in await store.list_staged(name, decision=StagedDecision.PENDING)
        if s.kind is kind and s.entry_id == entry_id
    ]
    retry = (await store.get_retries(name, kind, [entry_id])).get(entry_id)
    logs = await store.query_logs(LogQuery(job=name, entry=entry_id, limit=WHERE_LOGS))
    return Whereabouts(
        job=name,
        kind=kind,
        asked=entry,
        entry_id=entry_id,
        name=_name(found) if found is not None else None,
        in_directory=found is not None,
        in_scope=in_scope,
        scope_reason=reason,
        pending=await _pending(store, record, entry_id),
        initial_done=record.initial_done,
        shadow=shadow,
        staged=staged[0] if staged else None,
        retry=retry,
        logs=logs,
        in_flight_since=in_flight(name, kind, entry_id) if in_flight is not None else None,
    )


def _name(entry: Entry) -> str | None:
    key = "userName" if entry.kind is EntryKind.USER else "displayName"
    value = entry.resource.get(key)
    return str(value) if value is not None else None


async def _scope(
    store: Store, record: JobRecord, kind: EntryKind, entry: Entry | None
) -> tuple[bool | None, str | None]:
    if entry is None:
        return None, None
    settings = jobs.parse(record.spec, source=f"job {record.name}", name=record.name)
    loaded = (await load_sources(store, settings, kind, [entry]))[entry.id]
    reason = settings.definition.scope_for(kind.value).explain(
        loaded.source, assigned=loaded.assigned
    )
    return reason is None, reason


async def _pending(store: Store, record: JobRecord, entry_id: str) -> int | None:
    """How many change-log rows after the job's cursor concern the entry (itself, or a
    group membership it gained or lost); None if more rows are pending than are read."""
    seq, read, count = record.cursor, 0, 0
    while read < PENDING_SCAN_LIMIT:
        changes = await store.changes_after(seq, limit=min(1000, PENDING_SCAN_LIMIT - read))
        if not changes:
            return count
        for change in changes:
            if _concerns(change, record.name, entry_id):
                count += 1
        read += len(changes)
        seq = changes[-1].seq
    return None if await store.changes_after(seq, limit=1) else count


def _concerns(change: Change, job: str, entry_id: str) -> bool:
    """Whether the job will look at the entry for ``change``; an assignment to another job
    it skips."""
    if change.action in ("assigned", "unassigned") and change.detail.get("job") != job:
        return False
    detail = change.detail
    return change.entry_id == entry_id or entry_id in {
        *detail.get("added", ()),
        *detail.get("removed", ()),
    }
