"""One object's way through the processor, and what it comes to.

A :class:`Work` carries one directory object through a batch: what was read for it, the
operations it waits on, and what is to be recorded. :func:`cycle_write` turns a batch of
them into the ONE store write that records it, and each becomes an :class:`Outcome`, what
the processor's callers see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from relay.store.base import EntryKind
from relay.store.engine_records import (
    CycleWrite,
    LogAction,
    LogEntry,
    LogStatus,
    RetryRecord,
    Shadow,
    ShadowState,
    StagedOperation,
)
from shared.connector import Attributes, Equals, Operation, OperationError

if TYPE_CHECKING:
    from relay.engine.deprovision import Deprovisions
    from relay.engine.mapping import Links
    from relay.engine.matching import MatchIndex
    from relay.engine.sources import Loaded

#: The counter of ``CycleRecord.counts`` each successful action adds to.
_SUCCESS_COUNTERS = {
    LogAction.CREATE: "created",
    LogAction.LINK: "linked",
    LogAction.UPDATE: "updated",
    LogAction.DISABLE: "disabled",
    LogAction.DELETE: "deleted",
    LogAction.UNLINK: "unlinked",
    LogAction.NONE: "unchanged",
}
_STATUS_COUNTERS = {
    LogStatus.STAGED: "staged",
    LogStatus.SKIPPED: "skipped",
    LogStatus.FAILURE: "failed",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one object (or, in a dry run, what would happen).

    ``deferred`` outcomes (:attr:`Deprovisions.DEFER`) were neither carried out nor
    recorded. ``attributes`` are the planned target attributes, given in dry runs and
    explained runs. ``steps`` (explained runs) are ``{"step", "outcome", "detail"}``.
    """

    kind: EntryKind
    entry_id: str
    action: LogAction
    status: LogStatus
    anchor: str | None = None
    reason: str | None = None
    error: str | None = None
    error_class: str | None = None
    changes: dict[str, list[Any]] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    attributes: Attributes | None = None
    deferred: bool = False
    #: Directory ids the object references (a manager) that had no anchor in the target
    #: yet: what was written lacks them, so the object is worth processing again once
    #: they are provisioned.
    unresolved: frozenset[str] = frozenset()

    @property
    def counter(self) -> str:
        """The name this outcome is counted under in a cycle's counts."""
        if self.status is LogStatus.SUCCESS:
            return _SUCCESS_COUNTERS[self.action]
        return _STATUS_COUNTERS[self.status]


@dataclass(slots=True)
class Call:
    """One :meth:`~relay.engine.processor.Processor.process` call's options and tallies."""

    #: The cycle logs and counts go to ("" records nothing: deprovision candidates).
    cycle: str
    deprovisions: Deprovisions
    dry_run: bool
    explain: bool
    retrying: bool
    index: Mapping[EntryKind, MatchIndex]
    #: (kind, entry id) -> ids of staged operations the batch takes off the stage.
    unstage: Mapping[tuple[EntryKind, str], Sequence[int]] = field(default_factory=dict)
    #: (kind, entry id) already waiting for a decision: not staged twice.
    pending: set[tuple[EntryKind, str]] = field(default_factory=set)
    #: Only tell which refs would be deprovisioned; no operations, no writes.
    candidates: bool = False
    #: Operations sent, and those that failed for reasons other than the data.
    operations: int = 0
    failures: int = 0
    first_failure: str = ""
    #: Users created or linked in this call, and users whose references lacked an anchor.
    created: set[str] = field(default_factory=set)
    unresolved: dict[str, set[str]] = field(default_factory=dict)
    #: False for a second look at objects already counted in this call: progress counts
    #: each object once.
    counted: bool = True


@dataclass(slots=True, eq=False)
class Work:
    """One object's way through a batch."""

    kind: EntryKind
    entry_id: str
    #: The entry's version, or for a deleted entry its shadow's.
    version: int
    name: str
    loaded: Loaded | None
    shadow: Shadow | None
    retry: RetryRecord | None
    links: Links | None
    steps: list[dict[str, Any]] | None
    action: LogAction = LogAction.NONE
    ops: list[Operation] = field(default_factory=list)
    filters: list[Equals] = field(default_factory=list)
    #: Attributes written (create) or mapped (update, link): the planned attributes.
    attributes: Attributes | None = None
    #: The values compared against: the shadow's, or the matched object's.
    old: dict[str, Any] = field(default_factory=dict)
    anchor: str | None = None
    conflicted: bool = False
    #: The linked object vanished from the target; it is being created again.
    recreate: bool = False
    #: A create answered from the agent's journal made an object that is gone since: the
    #: create is sent again, under a fresh key.
    replaced: bool = False
    # -- the result
    status: LogStatus | None = None
    reason: str | None = None
    error: OperationError | None = None
    changes: dict[str, list[Any]] = field(default_factory=dict)
    new_shadow: Shadow | None = None
    drop_shadow: bool = False
    new_retry: RetryRecord | None = None
    clear_retry: bool = False
    staged: StagedOperation | None = None
    deferred: bool = False
    logged: bool = True
    quarantine: str | None = None
    candidate: bool = False
    unresolved: frozenset[str] = frozenset()

    def step(self, name: str, outcome: str, detail: Any = None) -> None:
        if self.steps is not None:
            self.steps.append({"step": name, "outcome": outcome, "detail": detail})

    def finish(
        self,
        status: LogStatus,
        *,
        reason: str | None = None,
        logged: bool = True,
    ) -> None:
        self.status = status
        self.reason = reason
        self.logged = logged
        self.ops = []
        if status is not LogStatus.FAILURE and self.retry is not None:
            self.clear_retry = True

    def outcome(self, *, planned: bool) -> Outcome:
        """The outcome; ``planned`` gives the planned attributes with it."""
        assert self.status is not None
        return Outcome(
            kind=self.kind,
            entry_id=self.entry_id,
            action=self.action,
            status=self.status,
            anchor=self.anchor,
            reason=self.reason,
            error=self.error.message if self.error is not None else None,
            error_class=self.error.error_class.value if self.error is not None else None,
            changes=self.changes,
            steps=self.steps or [],
            attributes=self.attributes if planned else None,
            deferred=self.deferred,
            unresolved=self.unresolved,
        )

    def shadow_for(
        self,
        job: str,
        anchor: str,
        values: dict[str, Any],
        version: int,
        state: ShadowState,
        now: float,
    ) -> Shadow:
        """A shadow of this object to record."""
        return Shadow(
            job=job,
            kind=self.kind,
            entry_id=self.entry_id,
            anchor=anchor,
            values=values,
            source_version=version,
            state=state,
            updated_at=now,
        )


def cycle_write(
    job: str,
    kind: EntryKind,
    works: Sequence[Work],
    outcomes: Sequence[Outcome],
    call: Call,
    now: float,
    duration_ms: float,
) -> CycleWrite:
    """Everything one batch changed, as ONE store write: shadows, retries, staged
    operations, logs and the cycle's counts. Deferred works are left for the caller."""
    shadows: list[Shadow] = []
    unlinked: list[tuple[EntryKind, str]] = []
    retries: list[RetryRecord] = []
    cleared: list[tuple[EntryKind, str]] = []
    staged: list[StagedOperation] = []
    unstaged: list[int] = []
    logs: list[LogEntry] = []
    counts: dict[str, int] = {}
    done = 0
    for w, outcome in zip(works, outcomes, strict=True):
        ref = (kind, w.entry_id)
        unstaged += call.unstage.get(ref, ())
        if w.deferred:
            continue
        done += call.counted
        counts[outcome.counter] = counts.get(outcome.counter, 0) + 1
        if w.new_shadow is not None:
            shadows.append(w.new_shadow)
        elif w.drop_shadow:
            unlinked.append(ref)
        if w.new_retry is not None:
            retries.append(w.new_retry)
        elif w.clear_retry:
            cleared.append(ref)
        if w.staged is not None:
            staged.append(w.staged)
        if w.logged or call.explain:
            logs.append(
                LogEntry(
                    job=job,
                    cycle=call.cycle,
                    kind=kind,
                    entry_id=w.entry_id,
                    action=w.action,
                    status=outcome.status,
                    at=now,
                    source_name=w.name,
                    anchor=w.anchor,
                    reason=w.reason,
                    error_class=outcome.error_class,
                    changes=w.changes,
                    steps=w.steps or [],
                    duration_ms=duration_ms,
                )
            )
    return CycleWrite(
        job=job,
        shadows=tuple(shadows),
        unlinked=tuple(unlinked),
        retries=tuple(retries),
        cleared=tuple(cleared),
        staged=tuple(staged),
        unstaged=tuple(unstaged),
        logs=tuple(logs),
        cycle=call.cycle or None,
        done=done,
        counts=counts,
    )
