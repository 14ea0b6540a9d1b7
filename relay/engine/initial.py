"""The initial cycle: bring the target in line with the directory the first time.

The target is read once per object class into a :class:`MatchIndex`, so an account that
already exists is found by its matching attributes without a search per object, and is
linked instead of created. Then every directory entry goes through the processor, users
before groups (so members have anchors), a page at a time; the cycle's checkpoint (the
last entry id of the last page done) is saved after each page, so a relay stopped in the
middle resumes where it was. Users whose references (a manager) named users a later page
provisioned go through once more after the users, now that those have anchors. Last, the
job's shadows whose entries are gone or out of scope are deprovisioned, all of them staged
when the deletion guard says they are too many.

The change-log position is taken before anything is read: the incremental cycle starts
there, replaying what changed during the initial cycle (harmless, thanks to the shadows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from relay.directory.query import Query
from relay.engine.cycles import JobRun, Ref, chunks, read_target
from relay.engine.guard import over_threshold
from relay.engine.processor import Deprovisions, MatchIndex
from relay.store.base import EntryKind
from relay.store.engine_records import CycleKind, CycleRecord, CycleState

log = structlog.get_logger("relay.engine")

#: The checkpoint's phase after the kinds: deprovisioning shadows.
DEPROVISION = "deprovision"


async def run_initial(
    run: JobRun, *, on_cycle: Callable[[CycleRecord], None] | None = None
) -> CycleRecord:
    """Run (or resume) the job's initial cycle to its end and return it; the job is then
    ``initial_done`` with its cursor where the cycle began. ``on_cycle`` is told the cycle
    as soon as it is known, for progress reports."""
    store = run.store
    cycle = await _resume_or_start(run)
    if on_cycle is not None:
        on_cycle(cycle)
    checkpoint = dict(cycle.checkpoint)
    cursor: int = checkpoint["cursor"]
    #: Kept in every checkpoint: where the cycle began, for the leftover scan.
    start_of = {"cursor": cursor, "since": checkpoint.get("since")}
    phases = [str(kind) for kind in run.kinds()] + [DEPROVISION]
    start = phases.index(checkpoint.get("phase", phases[0]))
    log.info("initial cycle", job=run.name, cycle=cycle.id, resumed_at=checkpoint)
    index = await build_index(run)
    page_size = run.settings.batch_size * run.settings.batches_in_flight
    for position, kind in enumerate(run.kinds()[start:], start):
        after = checkpoint.get("after", "") if checkpoint.get("phase") == kind else ""
        resumed = bool(after)
        # Users whose references named objects without an anchor yet, and those ids.
        waiting: dict[str, frozenset[str]] = {}
        while page := await store.entries_page(kind, after_id=after, limit=page_size):
            refs: list[Ref] = [(kind, e.id) for e in page]
            outcomes = await run.processor.process(
                refs, cycle=cycle, deprovisions=Deprovisions.DEFER, index=index
            )
            for outcome in outcomes:
                if outcome.unresolved:
                    waiting[outcome.entry_id] = outcome.unresolved
                else:
                    waiting.pop(outcome.entry_id, None)
            after = page[-1].id
            await _save(run, cycle, {**start_of, "phase": str(kind), "after": after})
        if kind is EntryKind.USER:
            await resolve_references(run, cycle, waiting, index=index, resumed=resumed)
        await _save(run, cycle, {**start_of, "phase": phases[position + 1]})
    await deprovision_leftovers(run, cycle)
    current = await store.get_cycle(cycle.id)
    if current.state is not CycleState.RUNNING:
        # Stopped under this task by a restart or a pause: marking it done and the job
        # initial_done would undo the restart. The job's next task decides what runs.
        log.info("initial cycle stopped meanwhile", job=run.name, cycle=cycle.id)
        return current
    cycle = await store.update_cycle(cycle.id, state=CycleState.DONE)
    run.processor.observer.ended(cycle)
    await store.update_job(run.name, initial_done=True, cursor=cursor)
    log.info("initial cycle done", job=run.name, cycle=cycle.id, counts=cycle.counts)
    return cycle


async def _resume_or_start(run: JobRun) -> CycleRecord:
    """The job's unfinished initial cycle, or a new one with its total and the change-log
    position it starts from."""
    store = run.store
    running = await store.list_cycles(run.name, state=CycleState.RUNNING, limit=50)
    found = next(
        (c for c in running if c.kind is CycleKind.INITIAL and c.checkpoint is not None), None
    )
    if found is not None:
        return await _rewind(run, found)
    cursor = await store.latest_change()
    total = 0
    for kind in run.kinds():
        _, count = await store.query_entries(kind, Query(count=0))
        total += count
    since = run.clock()
    cycle = await store.start_cycle(run.name, CycleKind.INITIAL, total=total)
    return await store.update_cycle(cycle.id, checkpoint={"cursor": cursor, "since": since})


async def _save(run: JobRun, cycle: CycleRecord, checkpoint: dict[str, Any]) -> None:
    """Save ``checkpoint`` with the cycle's progress at this point, which a resumed cycle
    goes back to."""
    so_far = await run.store.get_cycle(cycle.id)
    progress = {"done": so_far.done, "total": so_far.total}
    await run.store.update_cycle(cycle.id, checkpoint={**checkpoint, **progress})


async def _rewind(run: JobRun, cycle: CycleRecord) -> CycleRecord:
    """The interrupted cycle with its progress as its checkpoint says: the batches done
    after the checkpoint are done again on resume, and would otherwise count twice (``done``
    past ``total``)."""
    checkpoint = cycle.checkpoint
    if not isinstance(checkpoint, dict) or "done" not in checkpoint:
        return cycle  # a checkpoint taken before any page: nothing to go back to
    return await run.store.update_cycle(
        cycle.id, done=int(checkpoint["done"]), total=checkpoint.get("total")
    )


async def resolve_references(
    run: JobRun,
    cycle: CycleRecord,
    waiting: dict[str, frozenset[str]],
    *,
    index: dict[EntryKind, MatchIndex],
    resumed: bool,
) -> None:
    """Process again the users whose references (a manager) named users that a later page
    provisioned, now that those have anchors. A cycle resumed in the middle of its users
    does not know which users of the pages before the stop were waiting: when the job
    maps references, all its users go again (those already right cost no write)."""
    store = run.store
    page_size = run.settings.batch_size * run.settings.batches_in_flight
    again: list[Ref] = []
    mapper = run.mappers.get(EntryKind.USER)
    if resumed and mapper is not None and any(m.reference for m in mapper.mapping.mappings):
        after = ""
        while page := await store.entries_page(EntryKind.USER, after_id=after, limit=page_size):
            again += [(EntryKind.USER, e.id) for e in page]
            after = page[-1].id
    elif waiting:
        named = sorted({i for ids in waiting.values() for i in ids})
        linked: set[str] = set()
        for start in range(0, len(named), run.settings.batch_size):
            batch = named[start : start + run.settings.batch_size]
            linked.update(await store.get_shadows(run.name, EntryKind.USER, batch))
        again = [(EntryKind.USER, u) for u, ids in waiting.items() if ids & linked]
    if not again:
        return
    log.info("initial cycle: references resolved", job=run.name, users=len(again))
    so_far = await store.get_cycle(cycle.id)
    if so_far.total is not None:
        await store.update_cycle(cycle.id, total=so_far.total + len(again))
    for part in chunks(again, page_size):
        await run.processor.process(part, cycle=cycle, deprovisions=Deprovisions.DEFER, index=index)


async def build_index(run: JobRun) -> dict[EntryKind, MatchIndex]:
    """The target's objects of every mapped class, by their matching attributes."""
    indexes: dict[EntryKind, MatchIndex] = {}
    for kind in run.kinds():
        mapper = run.mappers[kind]
        if not mapper.matching_attributes:
            continue
        index = indexes[kind] = MatchIndex(mapper.matching_attributes)
        object_class = mapper.mapping.object_class
        async for page in read_target(
            run.target, run.name, object_class, timeout=run.settings.send_timeout
        ):
            for obj in page:
                index.add(obj)
    return indexes


async def deprovision_leftovers(run: JobRun, cycle: CycleRecord) -> None:
    """Deprovision the job's shadows whose entries left the directory or the scope: all
    counted first, then sent, or staged when the deletion guard finds them too many."""
    store = run.store
    candidates: list[Ref] = []
    # A shadow written since the cycle began belongs to an entry this cycle found in scope
    # (later changes are the incremental cycle's): only older shadows need a look, which on
    # a first cycle is none. A checkpoint from before this rule has no start: look at all.
    since = cycle.checkpoint.get("since") if isinstance(cycle.checkpoint, dict) else None
    for kind in run.kinds():
        after = ""
        while shadows := await store.shadows_page(
            run.name, kind, after_id=after, limit=run.settings.batch_size
        ):
            after = shadows[-1].entry_id
            older = [s for s in shadows if since is None or s.updated_at < since]
            if older:
                candidates += await run.processor.deprovision_candidates(
                    [(kind, s.entry_id) for s in older]
                )
    linked = await store.count_shadows(run.name)
    # Entries deferred as out of scope in the pages before were not counted as done yet;
    # with the shadows of deleted entries they are what is left.
    so_far = await store.get_cycle(cycle.id)
    await store.update_cycle(cycle.id, total=so_far.done + len(candidates))
    staged = over_threshold(run.job.guard, len(candidates), linked)
    mode = Deprovisions.STAGE if staged else Deprovisions.SEND
    if candidates:
        log.log(
            30 if staged else 20,
            "initial cycle deprovisions",
            job=run.name,
            count=len(candidates),
            staged=staged,
        )
    for part in chunks(candidates, run.settings.batch_size * run.settings.batches_in_flight):
        await run.processor.process(part, cycle=cycle, deprovisions=mode)
