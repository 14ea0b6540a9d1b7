"""What the store keeps for the provisioning engine: jobs, cycles, shadows, retries, staged
deprovisions and provisioning logs.

The engine (``relay.engine``) reads and writes these through :class:`~relay.store.base.Store`;
the admin API reads them too, and changes jobs through ``relay.engine.control``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from relay.store.base import EntryKind


class JobState(StrEnum):
    """What an administrator asked of a job (``quarantined`` is set by the engine)."""

    #: Defined, never started: nothing is written to the target.
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    #: Stopped by the engine (credentials refused, most operations failing); retried on a
    #: widening schedule (``next_attempt_at``); ``resume`` clears it.
    QUARANTINED = "quarantined"


class CycleKind(StrEnum):
    INITIAL = "initial"
    INCREMENTAL = "incremental"
    RECONCILE = "reconcile"


class CycleState(StrEnum):
    RUNNING = "running"
    DONE = "done"
    #: Ended by an error that stopped the whole cycle (``error`` says which).
    FAILED = "failed"
    #: Ended by a pause, a restart or a quarantine before it was done.
    STOPPED = "stopped"


class ShadowState(StrEnum):
    LINKED = "linked"
    #: Deprovisioned by disabling: the target object stays, disabled.
    DISABLED = "disabled"
    #: An administrator rejected its staged deprovision: left as it is until the source
    #: entry changes again.
    HELD = "held"


class LogAction(StrEnum):
    CREATE = "create"
    #: An existing target object was matched and linked instead of created.
    LINK = "link"
    UPDATE = "update"
    DISABLE = "disable"
    DELETE = "delete"
    #: Out of scope with ``skip_out_of_scope_deletions``: unlinked, the target left alone.
    UNLINK = "unlink"
    #: Nothing to write (on-demand runs and reconcile report this too).
    NONE = "none"


class LogStatus(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    SKIPPED = "skipped"
    STAGED = "staged"


class StagedDecision(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A provisioning job. ``spec`` is the job file's TOML text as the administrator gave
    it (``relay.engine.job.JobSettings.parse`` reads it); ``version`` grows by one with
    every change of ``spec`` or ``state``, so a running engine notices."""

    name: str
    spec: str
    state: JobState
    version: int
    created_at: float
    updated_at: float
    #: The change-log sequence number up to which the job has applied the directory.
    cursor: int = 0
    #: True once an initial cycle has finished; until then a start runs one (again).
    initial_done: bool = False
    quarantine_reason: str | None = None
    #: When a quarantined job is tried again (None: not quarantined).
    next_attempt_at: float | None = None
    #: How many quarantine retries in a row failed (widens the schedule).
    quarantine_count: int = 0
    #: When the last reconcile cycle finished (None: never), for the schedule.
    reconciled_at: float | None = None


@dataclass(frozen=True, slots=True)
class CycleRecord:
    id: str
    job: str
    kind: CycleKind
    state: CycleState
    started_at: float
    finished_at: float | None = None
    #: Objects the cycle will look at (None while unknown, as for incremental work).
    total: int | None = None
    done: int = 0
    #: Counts by outcome: created, linked, updated, disabled, deleted, unlinked, staged,
    #: skipped, failed, unchanged.
    counts: dict[str, int] = field(default_factory=dict)
    #: Where a stopped initial or reconcile cycle resumes (the engine's own JSON value).
    checkpoint: Any = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Shadow:
    """What the job last wrote for one linked directory entry: the target's ``anchor`` and
    the target attribute values as written (group members as target anchors)."""

    job: str
    kind: EntryKind
    entry_id: str
    anchor: str
    values: dict[str, Any]
    #: The directory entry's version these values came from (0: matched, never written).
    source_version: int
    state: ShadowState = ShadowState.LINKED
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class RetryRecord:
    """An entry whose last operation failed and how the engine will try it again."""

    job: str
    kind: EntryKind
    entry_id: str
    attempts: int
    error_class: str
    error: str
    first_failed_at: float
    #: When to try again; None: not until the source entry changes (invalid data).
    next_attempt_at: float | None
    #: The entry's version when it failed (a newer version is tried at once).
    source_version: int


@dataclass(frozen=True, slots=True)
class StagedOperation:
    """A disable or delete held by the deletion guard until an administrator decides."""

    id: int
    job: str
    cycle: str
    kind: EntryKind
    entry_id: str
    anchor: str
    #: ``disable`` or ``delete``.
    action: str
    reason: str
    display: str
    staged_at: float
    decision: StagedDecision = StagedDecision.PENDING
    decided_at: float | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One provisioning log entry: one action on one object. ``changes`` maps each written
    target attribute to ``[old, new]``; ``steps`` are ``{"step", "outcome", "detail"}``."""

    job: str
    cycle: str
    kind: EntryKind
    entry_id: str
    action: LogAction
    status: LogStatus
    at: float
    source_name: str = ""
    anchor: str | None = None
    reason: str | None = None
    error_class: str | None = None
    changes: dict[str, list[Any]] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0
    #: Set by the store when it is read back.
    id: int | None = None


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Filters of :meth:`~relay.store.base.Store.query_logs`; all optional, ANDed.
    ``entry`` matches the entry id or the source name (userName / displayName, exact,
    case-insensitive). Newest first; ``before_id`` pages back from an earlier page's last id.
    """

    job: str | None = None
    entry: str | None = None
    cycle: str | None = None
    action: LogAction | None = None
    status: LogStatus | None = None
    since: float | None = None
    until: float | None = None
    before_id: int | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class CycleWrite:
    """What one processed batch changes, written in ONE transaction by
    :meth:`~relay.store.base.Store.record_batch`: shadows put or dropped, retries put or
    cleared, deprovisions staged, log entries added and the cycle's progress."""

    job: str
    shadows: tuple[Shadow, ...] = ()
    #: (kind, entry_id) of shadows to drop.
    unlinked: tuple[tuple[EntryKind, str], ...] = ()
    retries: tuple[RetryRecord, ...] = ()
    #: (kind, entry_id) whose retry record goes (the entry succeeded or left scope).
    cleared: tuple[tuple[EntryKind, str], ...] = ()
    #: Staged operations to add (``id`` is ignored: the store numbers them).
    staged: tuple[StagedOperation, ...] = ()
    #: Ids of staged operations that are done with (carried out, rejected, or moot).
    unstaged: tuple[int, ...] = ()
    logs: tuple[LogEntry, ...] = ()
    #: The cycle whose ``done`` grows by ``done`` and whose ``counts`` grow by ``counts``.
    cycle: str | None = None
    done: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    #: A new checkpoint for ``cycle`` (None: keep the old one).
    checkpoint: Any = None
    #: A new cursor for the job (None: keep it); only grows.
    cursor: int | None = None
