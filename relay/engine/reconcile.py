"""The reconcile cycle: read the target and repair what changed behind the job's back.

Incremental work trusts the shadows (what the job last wrote), so it never rereads the
target; reconciling is how changes made directly in the target are found. For each object
class the target is read in whole, then:

- a linked object whose mapped attributes differ from its shadow: the shadow is corrected
  to what the target holds and the entry processed again, so the one diffing path sends
  the update that restores the directory's values;
- a shadow whose object is gone: the shadow is emptied and the entry processed again; the
  update finds no object, and the processor creates it anew (with a fresh idempotency
  key, which dropping the shadow would not give: the agent's journal would answer the
  old create);
- an object no shadow links: matched against the directory entries in scope that have no
  shadow (and linked), or reported as unmatched, and deleted only when the job's
  ``schedule.delete_unmatched`` says so, under the deletion guard like any deprovision.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import structlog

from relay.engine.cycles import JobRun, Ref, chunks, read_failure, read_target
from relay.engine.guard import over_threshold
from relay.engine.mapping import ApplyOn, Mapper
from relay.engine.processor import Deprovisions, MatchIndex
from relay.store.base import EntryKind
from relay.store.engine_records import (
    CycleKind,
    CycleRecord,
    CycleState,
    CycleWrite,
    LogAction,
    LogEntry,
    LogStatus,
    Shadow,
    ShadowState,
    StagedDecision,
    StagedOperation,
)
from shared.connector import Action, ConnectorObject, Operation
from shared.exceptions import ErrorClass

log = structlog.get_logger("relay.engine")

UNMATCHED = "not in the directory or out of scope"


async def run_reconcile(
    run: JobRun, *, on_cycle: Callable[[CycleRecord], None] | None = None
) -> CycleRecord:
    """Run one reconcile cycle to its end and return it."""
    store = run.store
    for stale in await store.list_cycles(run.name, state=CycleState.RUNNING, limit=50):
        if stale.kind is CycleKind.RECONCILE:
            await store.update_cycle(stale.id, state=CycleState.STOPPED)
    cycle = await store.start_cycle(run.name, CycleKind.RECONCILE)
    if on_cycle is not None:
        on_cycle(cycle)
    log.info("reconcile cycle", job=run.name, cycle=cycle.id)
    deferred: list[Ref] = []
    unmatched: list[tuple[EntryKind, ConnectorObject]] = []
    for kind in run.kinds():
        objects = await _read(run, kind)
        linked, found = await _repair(run, cycle, kind, objects)
        deferred += found
        loose = {a: o for a, o in objects.items() if a not in linked}
        if loose:
            linked_now, found = await _match(run, cycle, kind, loose)
            deferred += found
            unmatched += [(kind, o) for a, o in loose.items() if a not in linked_now]
    await _report(run, cycle, unmatched)
    await _deprovision(run, cycle, deferred, unmatched)
    cycle = await store.update_cycle(cycle.id, state=CycleState.DONE)
    run.processor.observer.ended(cycle)
    log.info("reconcile cycle done", job=run.name, cycle=cycle.id, counts=cycle.counts)
    return cycle


async def _read(run: JobRun, kind: EntryKind) -> dict[str, ConnectorObject]:
    """Every object of the kind's class, with the compared attributes a search leaves out
    (a SQL group's members) read object by object, in batches."""
    objects: dict[str, ConnectorObject] = {}
    mapper = run.mappers[kind]
    object_class = mapper.mapping.object_class
    async for page in read_target(
        run.target, run.name, object_class, timeout=run.settings.send_timeout
    ):
        objects.update((o.anchor, o) for o in page)
    schema = mapper.schema
    hidden = _compared(mapper) & {
        a.name for a in (schema.attributes if schema else ()) if not a.returned_by_default
    }
    if hidden:
        for part in chunks(list(objects), run.settings.batch_size):
            ops = [
                Operation(
                    key=f"{run.name}:get:{uuid.uuid4().hex}",
                    action=Action.GET,
                    object_class=object_class,
                    anchor=anchor,
                )
                for anchor in part
            ]
            results = await run.target.run(ops, timeout=run.settings.send_timeout)
            for anchor, result in zip(part, results, strict=True):
                if result.object is not None:
                    objects[anchor] = result.object
                elif result.error is not None and result.error.error_class is ErrorClass.NOT_FOUND:
                    del objects[anchor]  # deleted between the search and the read
                else:
                    raise read_failure(run.target, f"reading {object_class} {anchor}", result)
    return objects


async def _repair(
    run: JobRun, cycle: CycleRecord, kind: EntryKind, objects: dict[str, ConnectorObject]
) -> tuple[set[str], list[Ref]]:
    """Restore drifted and deleted objects; returns the anchors the job links and the
    refs whose deprovision the processor deferred."""
    store = run.store
    compared = _compared(run.mappers[kind])
    linked: set[str] = set()
    deferred: list[Ref] = []
    after = ""
    while shadows := await store.shadows_page(
        run.name, kind, after_id=after, limit=run.settings.batch_size
    ):
        after = shadows[-1].entry_id
        corrected: list[Shadow] = []
        gone: list[Ref] = []
        now = run.clock()
        for shadow in shadows:
            found = objects.get(shadow.anchor)
            if found is None:
                if shadow.state is ShadowState.LINKED:
                    # Nothing written is there any more: the update the processor then
                    # sends finds no object, and it creates one anew.
                    gone.append((kind, shadow.entry_id))
                    corrected.append(replace(shadow, values={}, updated_at=now))
                elif shadow.state is ShadowState.DISABLED:
                    gone.append((kind, shadow.entry_id))
                continue
            linked.add(shadow.anchor)
            if shadow.state is not ShadowState.LINKED:
                continue
            observed = drifted(shadow.values, found.attributes, compared)
            if observed is not None:
                corrected.append(replace(shadow, values=observed, updated_at=now))
        # A disabled account deleted in the target leaves nothing to keep a link to.
        dropped = tuple(r for r in gone if r not in {(kind, s.entry_id) for s in corrected})
        if corrected or gone:
            await store.record_batch(
                CycleWrite(job=run.name, shadows=tuple(corrected), unlinked=dropped)
            )
            refs = [(kind, s.entry_id) for s in corrected]
            log.info(
                "reconcile repairs",
                job=run.name,
                kind=str(kind),
                drifted=len(corrected) - len(gone) + len(dropped),
                missing=len(gone),
            )
            outcomes = await run.processor.process(
                refs, cycle=cycle, deprovisions=Deprovisions.DEFER
            )
            deferred += [(o.kind, o.entry_id) for o in outcomes if o.deferred]
            linked.update(o.anchor for o in outcomes if o.anchor)
    return linked, deferred


def _compared(mapper: Mapper) -> set[str]:
    """The attributes reconcile checks: those the job writes on every update."""
    return {m.target for m in mapper.mapping.mappings if m.apply is ApplyOn.ALWAYS}


def drifted(
    written: dict[str, Any], found: dict[str, Any], compared: set[str]
) -> dict[str, Any] | None:
    """The shadow's values with what the target holds instead, for the ``compared``
    attributes that differ; None when nothing drifted."""
    observed = dict(written)
    changed = False
    for name in compared:
        if _normal(written.get(name)) != _normal(found.get(name)):
            observed[name] = found.get(name)
            changed = True
    return observed if changed else None


def _normal(value: Any) -> Any:
    """A value as compared: targets hand back what they store (1 for true, "7" for 7,
    members in any order), so representations that mean the same compare equal."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, list):
        return frozenset(_scalar(v) for v in value if v is not None and v != "")
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


async def _match(
    run: JobRun, cycle: CycleRecord, kind: EntryKind, loose: dict[str, ConnectorObject]
) -> tuple[set[str], list[Ref]]:
    """Offer the unlinked objects to the directory entries without a shadow: the processor
    links the ones that match (and creates what an entry in scope lacks)."""
    store = run.store
    index = {kind: MatchIndex.from_objects(run.mappers[kind].matching_attributes, loose.values())}
    linked: set[str] = set()
    deferred: list[Ref] = []
    after = ""
    page_size = run.settings.batch_size * run.settings.batches_in_flight
    while page := await store.entries_page(kind, after_id=after, limit=page_size):
        after = page[-1].id
        shadows = await store.get_shadows(run.name, kind, [e.id for e in page])
        refs = [(kind, e.id) for e in page if e.id not in shadows]
        if not refs:
            continue
        outcomes = await run.processor.process(
            refs, cycle=cycle, deprovisions=Deprovisions.DEFER, index=index
        )
        linked.update(o.anchor for o in outcomes if o.anchor and o.action is LogAction.LINK)
        deferred += [(o.kind, o.entry_id) for o in outcomes if o.deferred]
    return linked, deferred


def _display(run: JobRun, kind: EntryKind, obj: ConnectorObject) -> str:
    mapper = run.mappers[kind]
    for name in mapper.matching_attributes:
        value = obj.attributes.get(name)
        if value not in (None, "", []):
            return str(value)
    return obj.anchor


async def _report(
    run: JobRun, cycle: CycleRecord, unmatched: Sequence[tuple[EntryKind, ConnectorObject]]
) -> None:
    if not unmatched:
        return
    log.warning(
        "unmatched target objects",
        job=run.name,
        count=len(unmatched),
        anchors=[o.anchor for _, o in unmatched[:20]],
    )
    now = run.clock()
    logs = tuple(
        LogEntry(
            job=run.name,
            cycle=cycle.id,
            kind=kind,
            entry_id="",
            action=LogAction.NONE,
            status=LogStatus.SKIPPED,
            at=now,
            source_name=_display(run, kind, obj),
            anchor=obj.anchor,
            reason=UNMATCHED,
        )
        for kind, obj in unmatched
    )
    await run.store.record_batch(
        CycleWrite(job=run.name, logs=logs, cycle=cycle.id, counts={"unmatched": len(logs)})
    )


async def _deprovision(
    run: JobRun,
    cycle: CycleRecord,
    deferred: list[Ref],
    unmatched: Sequence[tuple[EntryKind, ConnectorObject]],
) -> None:
    """Deprovisions the repairs turned up, and unmatched objects when the job deletes
    them: sent, or all staged when the deletion guard finds them too many."""
    doomed = list(unmatched) if run.job.schedule.delete_unmatched else []
    if not deferred and not doomed:
        return
    linked = await run.store.count_shadows(run.name)
    staged = over_threshold(run.job.guard, len(deferred) + len(doomed), linked)
    mode = Deprovisions.STAGE if staged else Deprovisions.SEND
    for part in chunks(deferred, run.settings.batch_size):
        await run.processor.process(part, cycle=cycle, deprovisions=mode)
    if not doomed:
        return
    # Unmatched accounts staged by an earlier reconcile still wait for their decision:
    # staged again they would be listed (and deleted) twice; deleted now, they leave it.
    waiting = {
        (s.kind, s.anchor): s.id
        for s in await run.store.list_staged(run.name, decision=StagedDecision.PENDING)
        if not s.entry_id
    }
    if staged:
        doomed = [(kind, obj) for kind, obj in doomed if (kind, obj.anchor) not in waiting]
        if not doomed:
            return
        now = run.clock()
        ops = tuple(
            StagedOperation(
                id=0,
                job=run.name,
                cycle=cycle.id,
                kind=kind,
                entry_id="",
                anchor=obj.anchor,
                action="delete",
                reason=UNMATCHED,
                display=_display(run, kind, obj),
                staged_at=now,
            )
            for kind, obj in doomed
        )
        await run.store.record_batch(
            CycleWrite(job=run.name, staged=ops, cycle=cycle.id, counts={"staged": len(ops)})
        )
        return
    await delete_unmatched(
        run,
        cycle,
        [(kind, obj.anchor, _display(run, kind, obj)) for kind, obj in doomed],
        unstaged=[i for (kind, obj) in doomed if (i := waiting.get((kind, obj.anchor)))],
    )


async def delete_unmatched(
    run: JobRun,
    cycle: CycleRecord,
    doomed: Sequence[tuple[EntryKind, str, str]],
    *,
    unstaged: Sequence[int] = (),
) -> None:
    """Delete target objects no directory entry accounts for, given as (kind, anchor,
    display), logging each; ``unstaged`` are the staged operations this carries out."""
    if not doomed:
        if unstaged:
            await run.store.record_batch(CycleWrite(job=run.name, unstaged=tuple(unstaged)))
        return
    ops = [
        Operation(
            key=f"{run.name}:{kind}:unmatched:{anchor}:delete:{uuid.uuid4().hex[:12]}",
            action=Action.DELETE,
            object_class=run.mappers[kind].mapping.object_class,
            anchor=anchor,
        )
        for kind, anchor, _ in doomed
    ]
    results = await run.target.run(ops, timeout=run.settings.send_timeout)
    now = run.clock()
    logs = []
    counts: dict[str, int] = {}
    for (kind, anchor, display), result in zip(doomed, results, strict=True):
        ok = result.error is None or result.error.error_class == "not_found"
        key = "deleted" if ok else "failed"
        counts[key] = counts.get(key, 0) + 1
        logs.append(
            LogEntry(
                job=run.name,
                cycle=cycle.id,
                kind=kind,
                entry_id="",
                action=LogAction.DELETE,
                status=LogStatus.SUCCESS if ok else LogStatus.FAILURE,
                at=now,
                source_name=display,
                anchor=anchor,
                reason=UNMATCHED,
                error_class=None if result.error is None else str(result.error.error_class),
            )
        )
    await run.store.record_batch(
        CycleWrite(
            job=run.name,
            logs=tuple(logs),
            unstaged=tuple(unstaged),
            cycle=cycle.id,
            counts=counts,
        )
    )
