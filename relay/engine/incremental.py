"""The incremental cycle: follow the directory's change log, one change at a time.

Its cost follows the number of changes, not the size of the job: each change names the
entries it can affect (a membership change the group, and its members when scope can
depend on membership; an assignment the entry, and a group's members at any depth), and
only those go through the processor. Deprovisions are not sent at once: they gather for
``guard.settle`` seconds and the deletion guard's window decides whether the burst is sent
or staged, so a directory sync gone wrong cannot wipe a target one change at a time.

The cursor is saved after the changes are processed, never before, and never past a
change whose deprovision still waits to be decided: a relay that stops replays those
changes, and the shadows make the replay harmless.

The engine's observer is told how long each change took to reach the target, from the
change's time in the change log, for the entries a change names directly (a member's
entry reached through its group's change is not timed); a gathered deprovision's time
includes its wait for the burst to settle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog

from relay.engine.cycles import JobRun, Ref, chunks, expand_groups, ordered
from relay.engine.guard import DeprovisionWindow, GuardDecision
from relay.engine.processor import Deprovisions, Outcome
from relay.engine.scope import MEMBER_OF, ScopeMode
from relay.store.base import Change, EntryKind
from relay.store.engine_records import CycleKind, CycleRecord, CycleState, LogAction, LogStatus

log = structlog.get_logger("relay.engine")

#: An incremental cycle record covers at most this many seconds of work, then a new one
#: starts, so counts stay readable per hour.
CYCLE_SPAN = 3600.0
_CREATED = (LogAction.CREATE, LogAction.LINK)


class Incremental:
    """The incremental work of one job task; :meth:`step` does what is due, :meth:`wait`
    sleeps until the directory changes (or something else falls due)."""

    def __init__(self, run: JobRun, cursor: int) -> None:
        self.run = run
        self.cursor = cursor
        self.saved = cursor
        self.window = DeprovisionWindow(run.job.guard)
        #: Gathered deprovisions, with the time of the change that led to each (None:
        #: a retry or a follow-up, not timed).
        self.deferred: dict[Ref, float | None] = {}
        self.deferred_since: float | None = None
        #: The cursor before the first change whose deprovision waits (None: none waits).
        self.held_cursor: int | None = None
        self.cycle: CycleRecord | None = None
        self.caught_up = False

    async def current_cycle(self) -> CycleRecord:
        """The incremental cycle record work is counted in, rolled every hour."""
        now = self.run.clock()
        store = self.run.store
        if self.cycle is None:
            running = await store.list_cycles(self.run.name, state=CycleState.RUNNING, limit=50)
            self.cycle = next((c for c in running if c.kind is CycleKind.INCREMENTAL), None)
        if self.cycle is not None and now - self.cycle.started_at >= CYCLE_SPAN:
            ended = await store.update_cycle(self.cycle.id, state=CycleState.DONE)
            self.run.processor.observer.ended(ended)
            self.cycle = None
        if self.cycle is None:
            self.cycle = await store.start_cycle(self.run.name, CycleKind.INCREMENTAL)
        return self.cycle

    async def step(self) -> None:
        """Process the next changes, the retries that are due and, once settled, the
        deprovisions gathered; then save the cursor."""
        store, batch = self.run.store, self.run.settings.batch_size
        changes = await store.changes_after(self.cursor, limit=batch)
        self.caught_up = len(changes) < batch
        if changes:
            before = self.cursor
            changed_at: dict[Ref, float] = {}
            for change in changes:
                changed_at.setdefault((change.kind, change.entry_id), change.at)
            await self._process(await self.refs(changes), before=before, changed_at=changed_at)
            self.cursor = changes[-1].seq
        due = await store.retries_due(self.run.name, self.run.clock(), limit=batch)
        if due:
            await self._process([(r.kind, r.entry_id) for r in due], before=None, retrying=True)
        await self._settle()
        await self._save_cursor()

    async def wait(self, timeout: float) -> None:
        """Sleep until the directory changes, ``timeout`` seconds pass, or gathered
        deprovisions have settled."""
        if self.deferred_since is not None:
            left = self.deferred_since + self.run.job.guard.settle - self.run.clock()
            timeout = max(min(timeout, left), 0.0)
        if timeout > 0:
            await self.run.store.wait_for_changes(self.cursor, timeout=timeout)

    async def refs(self, changes: Sequence[Change]) -> list[Ref]:
        """The entries ``changes`` can affect for this job."""
        store = self.run.store
        out: list[Ref] = []
        members: dict[str, None] = {}
        groups: dict[str, None] = {}
        follow_members = self._scope_follows_membership()
        for change in changes:
            if change.action in ("created", "updated", "deleted"):
                out.append((change.kind, change.entry_id))
            elif change.action == "members":
                out.append((EntryKind.GROUP, change.entry_id))
                if follow_members:
                    for key in ("added", "removed"):
                        members.update(dict.fromkeys(change.detail.get(key) or ()))
            elif change.action in ("assigned", "unassigned"):
                if change.detail.get("job") != self.run.name:
                    continue
                out.append((change.kind, change.entry_id))
                if change.kind is EntryKind.GROUP:
                    groups[change.entry_id] = None
        if members:
            users = await store.get_entries(EntryKind.USER, list(members))
            out += [(EntryKind.USER, i) for i in users]
            rest = [i for i in members if i not in users]
            if rest:
                groups.update(dict.fromkeys(await store.get_entries(EntryKind.GROUP, rest)))
        if groups:
            inner_users, inner_groups = await expand_groups(store, groups)
            out += [(EntryKind.USER, i) for i in inner_users]
            out += [(EntryKind.GROUP, i) for i in inner_groups]
        kinds = set(self.run.kinds())
        return [r for r in ordered(out) if r[0] in kinds]

    def _scope_follows_membership(self) -> bool:
        """Whether adding a user to a group can bring it into scope: through an assigned
        group, or a scoping filter on ``memberOf``."""
        definition = self.run.job.definition
        if definition.scope is ScopeMode.ASSIGNED:
            return True
        return any(
            clause.attribute == MEMBER_OF
            for mapping in definition.objects
            for flt in mapping.filters
            for clause in flt.clauses
        )

    async def _process(
        self,
        refs: list[Ref],
        *,
        before: int | None,
        retrying: bool = False,
        changed_at: Mapping[Ref, float] | None = None,
    ) -> None:
        if not refs:
            return
        cycle = await self.current_cycle()
        outcomes: list[Outcome] = []
        for part in chunks(
            refs, self.run.settings.batch_size * self.run.settings.batches_in_flight
        ):
            outcomes += await self.run.processor.process(
                part, cycle=cycle, deprovisions=Deprovisions.DEFER, retrying=retrying
            )
        times = changed_at or {}
        self._defer(outcomes, before, times)
        self._observe(outcomes, times)
        await self._follow_ups(outcomes, cycle)

    def _observe(self, outcomes: Sequence[Outcome], changed_at: Mapping[Ref, float | None]) -> None:
        """Tell the observer how long the changes that reached the target took."""
        now = self.run.clock()
        for o in outcomes:
            at = changed_at.get((o.kind, o.entry_id))
            if (
                at is not None
                and o.status is LogStatus.SUCCESS
                and o.action is not LogAction.NONE
                and not o.deferred
            ):
                self.run.processor.observer.applied(self.run.name, max(now - at, 0.0))

    def _defer(
        self,
        outcomes: Sequence[Outcome],
        before: int | None,
        changed_at: Mapping[Ref, float] | None = None,
    ) -> None:
        """Gather the deprovisions the guard is to judge; while they wait, the cursor
        stays ``before`` the changes that led to them. None: no change replayed would find
        them again (retries, and follow-ups, which a replay does not repeat)."""
        deferred = [(o.kind, o.entry_id) for o in outcomes if o.deferred]
        if not deferred:
            return
        if self.deferred_since is None:
            self.deferred_since = self.run.clock()
        times = changed_at or {}
        for ref in deferred:
            self.deferred.setdefault(ref, times.get(ref))
        if before is not None and self.held_cursor is None:
            self.held_cursor = before

    async def _follow_ups(self, outcomes: Sequence[Outcome], cycle: CycleRecord) -> None:
        """An object that has just appeared in the target can now be referenced: the
        groups it belongs to get it as a member, and users whose manager it is get their
        manager."""
        created = [o for o in outcomes if o.action in _CREATED and o.status is LogStatus.SUCCESS]
        if not created:
            return
        store = self.run.store
        refs: list[Ref] = []
        groups_of = await store.groups_of([o.entry_id for o in created])
        for ids in groups_of.values():
            refs += [(EntryKind.GROUP, i) for i in ids]
        managers = [o.entry_id for o in created if o.kind is EntryKind.USER]
        if managers and self._maps_manager():
            reports = await store.reports_of(managers)
            refs += [(EntryKind.USER, i) for ids in reports.values() for i in ids]
        kinds = set(self.run.kinds())
        refs = [r for r in ordered(refs) if r[0] in kinds]
        for part in chunks(refs, self.run.settings.batch_size):
            followed = await self.run.processor.process(
                part, cycle=cycle, deprovisions=Deprovisions.DEFER
            )
            self._defer(followed, None)

    def _maps_manager(self) -> bool:
        mapper = self.run.mappers.get(EntryKind.USER)
        return mapper is not None and any(
            m.reference and m.target != "members" for m in mapper.mapping.mappings
        )

    async def _settle(self) -> None:
        """Send or stage the gathered deprovisions once the burst has settled."""
        if self.deferred_since is None:
            return
        now = self.run.clock()
        if now - self.deferred_since < self.run.job.guard.settle:
            return
        refs = list(self.deferred)
        linked = await self.run.store.count_shadows(self.run.name)
        decision = self.window.decide(len(refs), linked, now)
        mode = Deprovisions.SEND if decision is GuardDecision.SEND else Deprovisions.STAGE
        if mode is Deprovisions.STAGE:
            log.warning("deprovisions staged for approval", job=self.run.name, count=len(refs))
        cycle = await self.current_cycle()
        sent = 0
        for part in chunks(
            refs, self.run.settings.batch_size * self.run.settings.batches_in_flight
        ):
            outcomes = await self.run.processor.process(part, cycle=cycle, deprovisions=mode)
            self._observe(outcomes, self.deferred)
            sent += sum(
                1
                for o in outcomes
                if o.action in (LogAction.DISABLE, LogAction.DELETE)
                and o.status is LogStatus.SUCCESS
            )
        if sent:
            self.window.sent(sent, now)
        self.deferred.clear()
        self.deferred_since = None
        self.held_cursor = None

    async def _save_cursor(self) -> None:
        cursor = self.cursor if self.held_cursor is None else min(self.held_cursor, self.cursor)
        if cursor > self.saved:
            await self.run.store.update_job(self.run.name, cursor=cursor)
            self.saved = cursor
