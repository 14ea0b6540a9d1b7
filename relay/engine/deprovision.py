"""Deprovisioning: what happens to a linked object whose entry left the scope or the
directory, and to the staged deprovisions an administrator rejected.

A deprovision disables or deletes the account (the job's ``[deprovision]`` settings), or
with ``skip_out_of_scope_deletions`` only unlinks it. Every disable and delete passes the
deletion guard: the processor carries it out, stages it for an administrator, or defers it
to the caller, which counts a whole burst against the guard (:class:`Deprovisions`). A
rejected deprovision leaves the object held, untouched until its entry changes again.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from relay.engine import plan
from relay.engine.job import DISABLE
from relay.engine.operations import delete_operation, update_operation
from relay.store.base import EntryKind
from relay.store.engine_records import (
    CycleWrite,
    LogAction,
    LogEntry,
    LogStatus,
    Shadow,
    ShadowState,
    StagedOperation,
)
from shared.connector import Delta, DeltaKind, Scalar

if TYPE_CHECKING:
    from relay.engine.job import Deprovision, JobSettings
    from relay.engine.scope import Scope
    from relay.engine.work import Call, Work
    from relay.store.base import Store


class Deprovisions(StrEnum):
    """What :meth:`~relay.engine.processor.Processor.process` does with the disables and
    deletes it decides on."""

    #: Carry them out now.
    SEND = "send"
    #: Store them as staged operations (with a STAGED log entry) for an administrator.
    STAGE = "stage"
    #: Neither: return them as deferred outcomes for the caller to decide (the guard).
    DEFER = "defer"


def disable_change(settings: Deprovision) -> tuple[str, Scalar]:
    """The attribute and value that disable an account (job settings refuse "disable"
    without an attribute)."""
    assert settings.disable_attribute is not None
    return settings.disable_attribute, settings.disable_value


def enable_again(settings: Deprovision, shadow: Shadow, mapped: dict[str, Any]) -> None:
    """Give a disabled account back in scope the opposite of the disable value, when the
    mappings do not set the disable attribute themselves."""
    attribute = settings.disable_attribute
    if shadow.state is ShadowState.DISABLED and attribute and plan.empty(mapped.get(attribute)):
        value = settings.disable_value
        mapped[attribute] = (not value) if isinstance(value, bool) else None


def plan_deprovision(
    w: Work, call: Call, job: JobSettings, scope: Scope, object_class: str, now: float
) -> None:
    """Decide what ``w``, linked but out of scope or deleted from the directory, comes to:
    held, unlinked, already disabled, or a disable or delete to carry out, stage or
    defer (see :class:`Deprovisions`)."""
    shadow = w.shadow
    assert shadow is not None
    settings = job.deprovision
    deleted = w.loaded is None
    w.anchor = shadow.anchor
    if shadow.state is ShadowState.HELD and (deleted or w.version == shadow.source_version):
        w.step("deprovision", "held", "an administrator rejected it")
        w.finish(
            LogStatus.SKIPPED,
            reason="held: an administrator rejected its deprovisioning",
            logged=call.explain,
        )
        return
    if w.loaded is None:
        reason = "deleted from the directory"
    else:
        reason = f"out of scope: {scope.explain(w.loaded.source, assigned=w.loaded.assigned)}"
    if not deleted and settings.skip_out_of_scope_deletions:
        w.action = LogAction.UNLINK
        w.step("deprovision", "unlink", reason)
        if not call.candidates:
            w.drop_shadow = True
            w.finish(LogStatus.SUCCESS, reason=f"{reason}; left in the target")
        return
    if settings.action(w.kind.value) == DISABLE:
        if shadow.state is ShadowState.DISABLED:
            w.action = LogAction.NONE
            w.step("deprovision", "already disabled")
            if not call.candidates:
                w.finish(LogStatus.SUCCESS, reason="already disabled", logged=call.explain)
            return
        w.action = LogAction.DISABLE
    else:
        w.action = LogAction.DELETE
    w.candidate = True
    w.reason = reason
    w.step("deprovision", w.action.value, reason)
    if call.candidates:
        return
    if call.dry_run:
        w.attributes = dict([disable_change(settings)]) if w.action is LogAction.DISABLE else None
        w.finish(LogStatus.SUCCESS, reason=reason)
        return
    if call.deprovisions is Deprovisions.DEFER:
        w.deferred = True
        w.finish(LogStatus.SKIPPED, reason=f"{reason}; deferred to the deletion guard")
        return
    if (w.kind, w.entry_id) in call.pending:
        w.finish(LogStatus.SKIPPED, reason=f"{reason}; already staged", logged=False)
        return
    if call.deprovisions is Deprovisions.STAGE:
        w.staged = StagedOperation(
            id=0,
            job=job.name,
            cycle=call.cycle,
            kind=w.kind,
            entry_id=w.entry_id,
            anchor=shadow.anchor,
            action=w.action.value,
            reason=reason,
            display=w.name,
            staged_at=now,
        )
        w.finish(LogStatus.STAGED, reason=f"{reason}; waits for an administrator")
        return
    if w.action is LogAction.DISABLE:
        attribute, value = disable_change(settings)
        w.attributes = {attribute: value}
        w.changes = plan.changes({attribute: shadow.values.get(attribute)}, w.attributes)
        deltas = (Delta(attribute, DeltaKind.REPLACE, (value,)),)
        w.ops = [update_operation(job.name, w, object_class, shadow.anchor, deltas, "disable")]
    else:
        w.ops = [delete_operation(job.name, w, object_class, shadow.anchor, shadow.source_version)]


async def hold(store: Store, job: str, staged: Sequence[StagedOperation], now: float) -> None:
    """Record rejected staged operations: their shadows turn HELD, left alone until the
    entry changes again, and the operations leave the stage."""
    if not staged:
        return
    shadows: list[Shadow] = []
    logs: list[LogEntry] = []
    for kind in (EntryKind.USER, EntryKind.GROUP):
        ops = [s for s in staged if s.kind is kind]
        if not ops:
            continue
        ids = [s.entry_id for s in ops]
        found = await store.get_shadows(job, kind, ids)
        entries = await store.get_entries(kind, ids)
        for op in ops:
            shadow = found.get(op.entry_id)
            entry = entries.get(op.entry_id)
            if shadow is not None and shadow.state is not ShadowState.DISABLED:
                # The version the rejection saw: a later change of the entry lifts it. An
                # account disabled meanwhile stays so, to be enabled again with its entry.
                version = entry.version if entry is not None else shadow.source_version
                shadows.append(
                    Shadow(
                        job=shadow.job,
                        kind=shadow.kind,
                        entry_id=shadow.entry_id,
                        anchor=shadow.anchor,
                        values=shadow.values,
                        source_version=version,
                        state=ShadowState.HELD,
                        updated_at=now,
                    )
                )
            logs.append(
                LogEntry(
                    job=job,
                    cycle=op.cycle,
                    kind=kind,
                    entry_id=op.entry_id,
                    action=LogAction.DISABLE if op.action == DISABLE else LogAction.DELETE,
                    status=LogStatus.SKIPPED,
                    at=now,
                    source_name=op.display,
                    anchor=op.anchor,
                    reason="rejected by an administrator: held until the entry changes",
                )
            )
    await store.record_batch(
        CycleWrite(
            job=job,
            shadows=tuple(shadows),
            unstaged=tuple(s.id for s in staged),
            logs=tuple(logs),
        )
    )
