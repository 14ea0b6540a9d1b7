"""The one path every directory object takes to the target: scope, map, match, diff against
the shadow, operation, dispatch, record.

Cycles differ only in which objects they hand to :meth:`Processor.process`. Work goes in
batches: each batch's entries, shadows, retry records and referenced anchors are read with
a few store queries, its operations go to the target in one ``Target.run`` per round (a
round of matching searches, then one of writes, and follow-ups after conflicts), and
everything it changed is recorded with ONE :meth:`~relay.store.base.Store.record_batch`,
so a crash leaves a batch either recorded or not at all. A batch that was sent but not
recorded is sent again with the same idempotency keys, and the agent answers those from
its journal instead of running them twice.

Idempotency keys read ``{job}:{kind}:{entry}:{action}:{version}:{stamp}``: ``version`` is
the entry's version (the shadow's for deprovisions) and ``stamp`` a short hash of the
operation's content and of the shadow's last write. The stamp keeps keys equal for a
redelivery (nothing was recorded in between) but different for a legitimately repeated
operation at the same entry version: a manager whose anchor became known, a user disabled
again after an assignment came and went, an operation retried after a failure the agent
journaled as final (refused credentials).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from relay.engine import plan
from relay.engine.exceptions import EvaluationError, Quarantine, TargetUnavailable
from relay.engine.expressions import EvaluationContext, Expression, compile_expression
from relay.engine.job import DISABLE
from relay.engine.mapping import Links, Mapper, MappingType
from relay.engine.retry import Reaction, reaction
from relay.engine.source import Source, compile_reference
from relay.engine.sources import Loaded, load_sources, source_name
from relay.store.base import EntryKind
from relay.store.engine_records import (
    CycleRecord,
    CycleWrite,
    LogAction,
    LogEntry,
    LogStatus,
    RetryRecord,
    Shadow,
    ShadowState,
    StagedDecision,
    StagedOperation,
)
from shared.connector import (
    Action,
    Attributes,
    ConnectorObject,
    Delta,
    DeltaKind,
    Equals,
    Operation,
    OperationError,
    OperationResult,
    Page,
    Scalar,
)
from shared.exceptions import ErrorClass

if TYPE_CHECKING:
    from relay.engine.job import JobSettings
    from relay.engine.scope import Scope
    from relay.engine.settings import EngineSettings
    from relay.engine.target import Target
    from relay.store.base import Store

#: Users first, so groups processed in the same call find their members' anchors.
KIND_ORDER = (EntryKind.USER, EntryKind.GROUP)
#: Rounds of operations one batch may need: search, write, and after a conflict on create
#: another search and write (link and update).
MAX_ROUNDS = 5


class Deprovisions(StrEnum):
    """What :meth:`Processor.process` does with the disables and deletes it decides on."""

    #: Carry them out now.
    SEND = "send"
    #: Store them as staged operations (with a STAGED log entry) for an administrator.
    STAGE = "stage"
    #: Neither: return them as deferred outcomes for the caller to decide (the guard).
    DEFER = "defer"


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
#: Actions after which a user has an anchor it did not have before.
_NEW = frozenset({LogAction.CREATE, LogAction.LINK})
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


def _fold(value: Any) -> str:
    """Matching compares text case-insensitively, as directories and most apps do."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).casefold()


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


class MatchIndex:
    """The target's objects of one class by matching value, read once by an initial cycle
    so that matching costs a dictionary look-up instead of a search per object.

    Values compare as case-insensitive text; the first object read with a value keeps it.
    """

    def __init__(self, attributes: Sequence[str]) -> None:
        self._by: dict[str, dict[str, ConnectorObject]] = {a: {} for a in attributes}

    @classmethod
    def from_objects(
        cls, attributes: Sequence[str], objects: Iterable[ConnectorObject]
    ) -> MatchIndex:
        index = cls(attributes)
        for obj in objects:
            index.add(obj)
        return index

    def add(self, obj: ConnectorObject) -> None:
        for attribute, table in self._by.items():
            value = obj.attributes.get(attribute)
            for item in value if isinstance(value, list) else (value,):
                if not _empty(item):
                    table.setdefault(_fold(item), obj)

    def lookup(self, filters: Sequence[Equals]) -> ConnectorObject | None:
        """The object the first filter (in precedence order) finds, or None."""
        for flt in filters:
            table = self._by.get(flt.attribute)
            if table is not None and not _empty(flt.value):
                found = table.get(_fold(flt.value))
                if found is not None:
                    return found
        return None

    def __len__(self) -> int:
        return max((len(t) for t in self._by.values()), default=0)


@dataclass(slots=True)
class _Call:
    """One :meth:`Processor.process` call's options and tallies."""

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
class _Work:
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


class Processor:
    """Carries directory objects into one job's target.

    ``mappers`` are the job's compiled mappings by kind (``user``, ``group``), checked
    against the target's schema; a kind without one is not provisioned. ``clock`` gives
    wall-clock seconds (tests pass their own).
    """

    def __init__(
        self,
        store: Store,
        job: JobSettings,
        target: Target,
        mappers: Mapping[str, Mapper],
        settings: EngineSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.job = job
        self.target = target
        self.mappers = mappers
        self.settings = settings
        self.clock = clock
        #: Objects whose operations are with the target now, and since when: "where is
        #: it now" tells an administrator it is in flight.
        self.in_flight: dict[tuple[EntryKind, str], float] = {}
        self._scopes: dict[EntryKind, Scope] = {
            kind: job.definition.scope_for(kind.value) for kind in KIND_ORDER
        }
        self._references = {
            kind: _reference_readers(mapper)
            for kind in KIND_ORDER
            if (mapper := mappers.get(kind.value)) is not None
        }
        self._multi_valued = {
            kind: _multi_valued(mapper)
            for kind in KIND_ORDER
            if (mapper := mappers.get(kind.value)) is not None
        }

    # -- the public interface -------------------------------------------------------------

    async def process(
        self,
        refs: Sequence[tuple[EntryKind, str]],
        *,
        cycle: CycleRecord,
        deprovisions: Deprovisions = Deprovisions.SEND,
        dry_run: bool = False,
        explain: bool = False,
        retrying: bool = False,
        index: Mapping[EntryKind, MatchIndex] | None = None,
    ) -> list[Outcome]:
        """Bring the target in line with the directory for ``refs`` (users first).

        ``retrying`` tries entries whose retry is not due yet (the retry loop, provisioning
        on demand); entries waiting for a change after refused data are still skipped until
        their version changes. ``index`` (initial cycles) replaces matching searches. A
        dry run sends matching searches only and writes nothing. Raises
        :class:`Quarantine` (after recording) when the target refuses the credentials or
        most operations fail for reasons other than the data.
        """
        call = _Call(
            cycle=cycle.id,
            deprovisions=deprovisions,
            dry_run=dry_run,
            explain=explain,
            retrying=retrying,
            index=index or {},
        )
        if deprovisions is Deprovisions.STAGE and not dry_run:
            staged = await self.store.list_staged(self.job.name, decision=StagedDecision.PENDING)
            call.pending = {(s.kind, s.entry_id) for s in staged}
        return await self._process(refs, call)

    async def deprovision_candidates(
        self, refs: Sequence[tuple[EntryKind, str]]
    ) -> list[tuple[EntryKind, str]]:
        """The refs that :meth:`process` would disable or delete, without writing anything,
        so initial and reconcile cycles can count them against the guard first."""
        call = _Call(
            cycle="",
            deprovisions=Deprovisions.DEFER,
            dry_run=True,
            explain=False,
            retrying=True,
            index={},
            candidates=True,
        )
        found: list[tuple[EntryKind, str]] = []
        for kind in KIND_ORDER:
            ids = _unique(refs, kind)
            for start in range(0, len(ids), self.settings.batch_size):
                works = await self._plan_batch(
                    kind, ids[start : start + self.settings.batch_size], call
                )
                found += [(kind, w.entry_id) for w in works if w.candidate]
        return found

    async def carry_out(
        self, staged: Sequence[StagedOperation], *, cycle: CycleRecord
    ) -> list[Outcome]:
        """Carry out approved staged operations. Each entry is looked at afresh: one back
        in scope is updated instead, one already gone is just taken off the stage."""
        unstage: dict[tuple[EntryKind, str], list[int]] = {}
        for op in staged:
            unstage.setdefault((op.kind, op.entry_id), []).append(op.id)
        call = _Call(
            cycle=cycle.id,
            deprovisions=Deprovisions.SEND,
            dry_run=False,
            explain=False,
            retrying=True,
            index={},
            unstage=unstage,
        )
        return await self._process(list(unstage), call)

    async def hold(self, staged: Sequence[StagedOperation]) -> None:
        """Rejected staged operations: their shadows turn HELD, left alone until the entry
        changes again, and the operations leave the stage."""
        if not staged:
            return
        now = self.clock()
        shadows: list[Shadow] = []
        logs: list[LogEntry] = []
        for kind in KIND_ORDER:
            ops = [s for s in staged if s.kind is kind]
            if not ops:
                continue
            ids = [s.entry_id for s in ops]
            found = await self.store.get_shadows(self.job.name, kind, ids)
            entries = await self.store.get_entries(kind, ids)
            for op in ops:
                shadow = found.get(op.entry_id)
                entry = entries.get(op.entry_id)
                if shadow is not None:
                    # The version the rejection saw: a later change of the entry lifts it.
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
                        job=self.job.name,
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
        await self.store.record_batch(
            CycleWrite(
                job=self.job.name,
                shadows=tuple(shadows),
                unstaged=tuple(s.id for s in staged),
                logs=tuple(logs),
            )
        )

    # -- batches --------------------------------------------------------------------------

    async def _process(self, refs: Sequence[tuple[EntryKind, str]], call: _Call) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for kind in KIND_ORDER:
            ids = _unique(refs, kind)
            outcomes += await self._run_kind(kind, ids, call)
            if kind is EntryKind.USER and call.unresolved and not call.dry_run:
                # Users whose manager was created in this very call: a second look now
                # that its anchor is known.
                again = sorted(
                    eid for eid, missing in call.unresolved.items() if missing & call.created
                )
                call.unresolved = {}
                call.counted = False
                outcomes += await self._run_kind(kind, again, call)
                call.counted = True
        if self.settings.quarantine.should_quarantine(call.failures, call.operations):
            raise Quarantine(
                f"{call.failures} of {call.operations} operations on {self.target.name}"
                f" failed; the first: {call.first_failure}"
            )
        return outcomes

    async def _run_kind(self, kind: EntryKind, ids: list[str], call: _Call) -> list[Outcome]:
        """The batches of one kind, up to ``batches_in_flight`` at a time; a quarantine in
        one lets the batches in flight finish and starts no more."""
        size = self.settings.batch_size
        batches = [ids[i : i + size] for i in range(0, len(ids), size)]
        if not batches:
            return []
        results: list[list[Outcome]] = [[] for _ in batches]
        queue = iter(enumerate(batches))
        stopped: list[Quarantine] = []

        async def worker() -> None:
            for number, batch in queue:
                if stopped:
                    return
                try:
                    results[number] = await self._batch(kind, batch, call)
                except Quarantine as exc:
                    stopped.append(exc)
                    return

        workers = [
            asyncio.create_task(worker())
            for _ in range(min(self.settings.batches_in_flight, len(batches)))
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        if stopped:
            raise stopped[0]
        return [outcome for batch in results for outcome in batch]

    async def _batch(self, kind: EntryKind, ids: list[str], call: _Call) -> list[Outcome]:
        started = time.monotonic()
        works = await self._plan_batch(kind, ids, call)
        await self._dispatch(works, call)
        now = self.clock()
        duration_ms = (time.monotonic() - started) * 1000.0
        outcomes = [self._outcome(w, call) for w in works]
        if not call.dry_run:
            await self.store.record_batch(
                self._write(kind, works, outcomes, call, now, duration_ms)
            )
        if kind is EntryKind.USER:
            call.created.update(
                w.entry_id for w in works if w.status is LogStatus.SUCCESS and w.action in _NEW
            )
        quarantine = next((w.quarantine for w in works if w.quarantine), None)
        if quarantine is not None:
            raise Quarantine(quarantine)
        return outcomes

    async def _plan_batch(self, kind: EntryKind, ids: list[str], call: _Call) -> list[_Work]:
        """Read what the batch needs and decide each object's first operation."""
        job = self.job.name
        entries = await self.store.get_entries(kind, ids)
        shadows = await self.store.get_shadows(job, kind, ids)
        retries = {} if call.candidates else await self.store.get_retries(job, kind, ids)
        loaded = await load_sources(self.store, self.job, kind, list(entries.values()))
        scope = self._scopes[kind]
        in_scope = {
            eid: scope.includes(item.source, assigned=item.assigned) for eid, item in loaded.items()
        }
        links, references = await self._links(kind, loaded, in_scope, call)
        works = []
        for eid in ids:
            item = loaded.get(eid)
            shadow = shadows.get(eid)
            version = (
                item.entry.version
                if item is not None
                else shadow.source_version
                if shadow is not None
                else 0
            )
            name = source_name(kind, item.entry.resource) if item is not None else ""
            if not name and shadow is not None:
                name = str(shadow.values.get(_naming(self.mappers.get(kind.value))) or "")
            work = _Work(
                kind=kind,
                entry_id=eid,
                version=version,
                name=name,
                loaded=item,
                shadow=shadow,
                retry=retries.get(eid),
                links=links,
                steps=[] if call.explain else None,
            )
            await self._decide(work, in_scope.get(eid, False), call)
            missing = references.get(eid)
            if missing:
                call.unresolved[eid] = missing
                work.unresolved = frozenset(missing)
            works.append(work)
        return works

    async def _links(
        self,
        kind: EntryKind,
        loaded: Mapping[str, Loaded],
        in_scope: Mapping[str, bool],
        call: _Call,
    ) -> tuple[Links | None, dict[str, set[str]]]:
        """Anchors of the objects the batch's references name (managers, members), read
        from their shadows in one query per kind; and, for users, which referenced
        directory objects have no anchor yet."""
        readers = self._references.get(kind)
        if not readers or call.candidates:
            return None, {}
        wanted: dict[str, EntryKind] = {}
        per_entry: dict[str, set[str]] = {}
        for eid, item in loaded.items():
            if not in_scope.get(eid):
                continue
            named = per_entry.setdefault(eid, set())
            for read in readers:
                for ident, ref_kind in _referenced(read, item.source):
                    wanted.setdefault(ident, ref_kind)
                    named.add(ident)
        anchors: dict[str, str] = {}
        for ref_kind in KIND_ORDER:
            ids = [i for i, k in wanted.items() if k is ref_kind]
            if ids:
                found = await self.store.get_shadows(self.job.name, ref_kind, ids)
                anchors.update((eid, s.anchor) for eid, s in found.items())
        missing: dict[str, set[str]] = {}
        if kind is EntryKind.USER:
            for eid, named in per_entry.items():
                lacking = {i for i in named if i not in anchors}
                if lacking:
                    missing[eid] = lacking
        return Links(resolve=anchors.get, in_scope=anchors.__contains__), missing

    # -- deciding -------------------------------------------------------------------------

    async def _decide(self, w: _Work, in_scope: bool, call: _Call) -> None:
        mapper = self.mappers.get(w.kind.value)
        if mapper is None:
            w.finish(
                LogStatus.SKIPPED, reason=f"the job does not provision {w.kind}s", logged=False
            )
            return
        if w.loaded is None:
            w.step("directory", "not found", "deleted from the directory")
        else:
            w.step("directory", "found", {"version": w.version, "name": w.name})
        if w.loaded is not None:
            w.step("scope", "in scope" if in_scope else "out of scope", self._why(w))
        if w.shadow is not None:
            w.step(
                "link",
                w.shadow.state.value,
                {"anchor": w.shadow.anchor, "since": w.shadow.updated_at},
            )
        else:
            w.step("link", "not linked")
        if not in_scope and w.shadow is None:
            reason = "not in the directory" if w.loaded is None else "out of scope"
            w.finish(LogStatus.SKIPPED, reason=reason, logged=call.explain)
            return
        if call.candidates:
            if not in_scope:
                self._deprovision(w, call)
            return
        retry = w.retry
        if retry is not None and retry.source_version == w.version:
            if retry.next_attempt_at is None:
                w.step("retry", "waits for a change", retry.error)
                w.finish(
                    LogStatus.SKIPPED,
                    reason=f"waits for a change to the entry: {retry.error}",
                    logged=call.explain,
                )
                w.clear_retry = False
                return
            if retry.next_attempt_at > self.clock() and not call.retrying:
                w.step("retry", "not due", {"at": retry.next_attempt_at})
                w.finish(LogStatus.SKIPPED, reason="a retry is not due yet", logged=call.explain)
                w.clear_retry = False
                return
        try:
            if in_scope:
                assert w.loaded is not None
                if w.shadow is None:
                    await self._match(w, mapper, call)
                else:
                    self._update(w, mapper, w.loaded.source)
            else:
                self._deprovision(w, call)
        except EvaluationError as exc:
            self._invalid(w, exc, call)

    def _invalid(self, w: _Work, exc: EvaluationError, call: _Call) -> None:
        """A mapping failed on this entry's values: like data the target refuses, it
        waits for the entry to change."""
        self._failed(w, OperationError(ErrorClass.INVALID_DATA, str(exc)), Action.UPDATE, call)

    def _why(self, w: _Work) -> str | None:
        if w.steps is None or w.loaded is None:
            return None
        return self._scopes[w.kind].explain(w.loaded.source, assigned=w.loaded.assigned)

    async def _match(self, w: _Work, mapper: Mapper, call: _Call) -> None:
        assert w.loaded is not None
        w.filters = mapper.matching_filters(w.loaded.source, links=w.links)
        index = call.index.get(w.kind)
        if index is not None and not w.conflicted:
            found = index.lookup(w.filters)
            w.step("match", "found" if found else "no match", _filters(w.filters))
            await self._matched(w, mapper, found, call)
        elif w.filters:
            object_class = mapper.mapping.object_class
            w.action = LogAction.LINK
            w.ops = [
                Operation(
                    key=self._search_key(w, n),
                    action=Action.SEARCH,
                    object_class=object_class,
                    filter=flt,
                    page=Page(size=2),
                )
                for n, flt in enumerate(w.filters)
            ]
        else:
            w.step("match", "no matching attribute has a value")
            await self._matched(w, mapper, None, call)

    async def _matched(
        self, w: _Work, mapper: Mapper, found: ConnectorObject | None, call: _Call
    ) -> None:
        assert w.loaded is not None
        source = w.loaded.source
        if found is None:
            w.action = LogAction.CREATE
            try:
                attributes = await self._create_attributes(mapper, source, w.links)
            except TargetUnavailable as exc:
                error = OperationError(ErrorClass.UNAVAILABLE, str(exc))
                self._failed(w, error, Action.SEARCH, call, counted=False)
                return
            w.attributes = attributes
            w.changes = plan.changes({}, attributes)
            w.step("map", "create", attributes)
            w.ops = [
                Operation(
                    key=self._key(w, "create", w.version, attributes),
                    action=Action.CREATE,
                    object_class=mapper.mapping.object_class,
                    attributes=attributes,
                )
            ]
            return
        w.action = LogAction.LINK
        w.anchor = found.anchor
        mapped = mapper.attributes(source, create=False, links=w.links)
        w.attributes = mapped
        w.old = {k: found.attributes.get(k) for k in mapped}
        deltas = plan.deltas(w.old, mapped, multi_valued=self._multi_valued[w.kind])
        w.changes = plan.changes(w.old, mapped)
        w.step("map", "link and update" if deltas else "link", {"anchor": found.anchor})
        if deltas:
            w.ops = [self._update_op(w, mapper, found.anchor, deltas, "link")]
        else:
            self._succeeded(w, found.anchor)

    def _update(self, w: _Work, mapper: Mapper, source: Source) -> None:
        shadow = w.shadow
        assert shadow is not None
        mapped = mapper.attributes(source, create=False, links=w.links)
        disable = self.job.deprovision.disable_attribute
        if shadow.state is ShadowState.DISABLED and disable and _empty(mapped.get(disable)):
            value = self.job.deprovision.disable_value
            mapped[disable] = (not value) if isinstance(value, bool) else None
        w.attributes = mapped
        values = shadow.values
        w.old = {k: values.get(k) for k in mapped}
        deltas = plan.deltas(w.old, mapped, multi_valued=self._multi_valued[w.kind])
        w.changes = plan.changes(w.old, mapped)
        w.anchor = shadow.anchor
        if deltas:
            w.action = LogAction.UPDATE
            w.step("diff", "update", w.changes)
            w.ops = [self._update_op(w, mapper, shadow.anchor, deltas, "update")]
        else:
            w.action = LogAction.NONE
            w.step("diff", "unchanged")
            self._succeeded(w, shadow.anchor)

    def _deprovision(self, w: _Work, call: _Call) -> None:
        shadow = w.shadow
        assert shadow is not None
        settings = self.job.deprovision
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
            why = self._scopes[w.kind].explain(w.loaded.source, assigned=w.loaded.assigned)
            reason = f"out of scope: {why}"
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
            w.attributes = dict([self._disable()]) if w.action is LogAction.DISABLE else None
            w.finish(LogStatus.SUCCESS, reason=reason)
            return
        if call.deprovisions is Deprovisions.DEFER:
            w.deferred = True
            w.finish(LogStatus.SKIPPED, reason=f"{reason}; deferred to the deletion guard")
            return
        if call.deprovisions is Deprovisions.STAGE:
            if (w.kind, w.entry_id) in call.pending:
                w.finish(LogStatus.SKIPPED, reason=f"{reason}; already staged", logged=False)
                return
            w.staged = StagedOperation(
                id=0,
                job=self.job.name,
                cycle=call.cycle,
                kind=w.kind,
                entry_id=w.entry_id,
                anchor=shadow.anchor,
                action=w.action.value,
                reason=reason,
                display=w.name,
                staged_at=self.clock(),
            )
            w.finish(LogStatus.STAGED, reason=f"{reason}; waits for an administrator")
            return
        mapper = self.mappers[w.kind.value]
        object_class = mapper.mapping.object_class
        if w.action is LogAction.DISABLE:
            attribute, value = self._disable()
            w.attributes = {attribute: value}
            w.changes = plan.changes({attribute: shadow.values.get(attribute)}, w.attributes)
            deltas = (Delta(attribute, DeltaKind.REPLACE, (value,)),)
            w.ops = [self._update_op(w, mapper, shadow.anchor, deltas, "disable")]
        else:
            w.ops = [
                Operation(
                    key=self._key(w, "delete", shadow.source_version, None),
                    action=Action.DELETE,
                    object_class=object_class,
                    anchor=shadow.anchor,
                )
            ]

    def _disable(self) -> tuple[str, Scalar]:
        """The attribute and value that disable an account (job settings refuse "disable"
        without an attribute)."""
        settings = self.job.deprovision
        assert settings.disable_attribute is not None
        return settings.disable_attribute, settings.disable_value

    # -- sending --------------------------------------------------------------------------

    async def _dispatch(self, works: list[_Work], call: _Call) -> None:
        for _ in range(MAX_ROUNDS):
            todo = [w for w in works if w.ops]
            if call.dry_run:
                for w in todo:
                    if w.ops[0].action is not Action.SEARCH:
                        w.finish(LogStatus.SUCCESS, reason=w.reason)
                todo = [w for w in todo if w.ops]
            if not todo:
                return
            operations = [op for w in todo for op in w.ops]
            sending = [(w.kind, w.entry_id) for w in todo]
            now = self.clock()
            self.in_flight.update(dict.fromkeys(sending, now))
            try:
                results = await self.target.run(operations, timeout=self.settings.send_timeout)
            except TargetUnavailable as exc:
                error = OperationError(ErrorClass.UNAVAILABLE, str(exc))
                for w in todo:
                    action = w.ops[0].action
                    w.ops = []
                    self._failed(w, error, action, call, counted=False)
                return
            finally:
                for ref in sending:
                    self.in_flight.pop(ref, None)
            if len(results) != len(operations):
                raise TargetUnavailable(
                    f"{self.target.name} answered {len(results)} results"
                    f" for {len(operations)} operations"
                )
            call.operations += len(operations)
            position = 0
            for w in todo:
                ops, w.ops = w.ops, []
                mine = results[position : position + len(ops)]
                position += len(ops)
                await self._accept(w, ops, mine, call)
        for w in works:
            if w.ops:
                action = w.ops[0].action
                w.ops = []
                self._failed(
                    w,
                    OperationError(ErrorClass.INTERNAL, "gave up after too many rounds"),
                    action,
                    call,
                )

    async def _accept(
        self,
        w: _Work,
        ops: list[Operation],
        results: list[OperationResult],
        call: _Call,
    ) -> None:
        mapper = self.mappers[w.kind.value]
        if ops[0].action is Action.SEARCH:
            error = next((r.error for r in results if r.error is not None), None)
            if error is not None and error.error_class is not ErrorClass.NOT_FOUND:
                self._failed(w, error, Action.SEARCH, call)
                return
            found = next((r.objects[0] for r in results if r.objects), None)
            w.step("match", "found" if found else "no match", _filters(w.filters))
            if found is None and w.conflicted:
                self._failed(
                    w,
                    OperationError(
                        ErrorClass.CONFLICT,
                        "the target refused the create as a duplicate, but no object"
                        " matches the matching attributes",
                    ),
                    Action.CREATE,
                    call,
                )
                return
            try:
                await self._matched(w, mapper, found, call)
            except EvaluationError as exc:
                self._invalid(w, exc, call)
            return
        op, result = ops[0], results[0]
        if result.error is None:
            w.step("write", "done", {"anchor": result.anchor, "replayed": result.replayed})
            self._succeeded(w, result.anchor or op.anchor or w.anchor)
            return
        w.step("write", result.error.error_class.value, result.error.message)
        what = reaction(result.error.error_class, op.action)
        if w.action is LogAction.DISABLE and result.error.error_class is ErrorClass.NOT_FOUND:
            what = Reaction.GONE
        if what is Reaction.GONE:
            self._succeeded(w, op.anchor, gone=True)
        elif what is Reaction.MATCH and not w.conflicted and w.filters:
            w.conflicted = True
            await self._match(w, mapper, call)
        elif what is Reaction.RECREATE and w.action is LogAction.UPDATE:
            # The shadow stays on the work: its last write keeps the new create's key apart
            # from the key of the create that made the vanished object.
            w.recreate = True
            w.drop_shadow = True
            try:
                await self._matched(w, mapper, None, call)
            except EvaluationError as exc:
                self._invalid(w, exc, call)
        else:
            self._failed(w, result.error, op.action, call)

    # -- results --------------------------------------------------------------------------

    def _succeeded(self, w: _Work, anchor: str | None, *, gone: bool = False) -> None:
        now = self.clock()
        shadow = w.shadow
        action = w.action
        if action in (LogAction.DELETE, LogAction.DISABLE) and (gone or action is LogAction.DELETE):
            w.drop_shadow = True
            w.finish(
                LogStatus.SUCCESS, reason=w.reason if not gone else f"{w.reason}; already gone"
            )
            return
        assert anchor is not None
        w.anchor = anchor
        if action is LogAction.DISABLE:
            assert shadow is not None
            attribute, value = self._disable()
            values = {**shadow.values, attribute: value}
            w.new_shadow = _shadow(
                self.job.name, w, anchor, values, shadow.source_version, ShadowState.DISABLED, now
            )
            w.finish(LogStatus.SUCCESS, reason=w.reason)
            return
        attributes = w.attributes or {}
        if w.recreate:
            shadow = None
        if action is LogAction.CREATE:
            values = {k: v for k, v in attributes.items() if not _empty(v)}
        else:
            values = dict(shadow.values) if shadow is not None else dict(w.old)
            for k, v in attributes.items():
                if _empty(v):
                    values.pop(k, None)
                else:
                    values[k] = v
        if (
            action is not LogAction.NONE
            or shadow is None
            or shadow.source_version != w.version
            or shadow.state is not ShadowState.LINKED
            or shadow.anchor != anchor
        ):
            w.new_shadow = _shadow(
                self.job.name, w, anchor, values, w.version, ShadowState.LINKED, now
            )
            w.drop_shadow = False
        w.finish(
            LogStatus.SUCCESS,
            reason=w.reason if action is not LogAction.NONE else None,
            logged=action is not LogAction.NONE,
        )

    def _failed(
        self,
        w: _Work,
        error: OperationError,
        action: Action,
        call: _Call,
        *,
        counted: bool = True,
    ) -> None:
        now = self.clock()
        what = reaction(error.error_class, action)
        old = w.retry if w.retry is not None and w.retry.source_version == w.version else None
        attempts = (old.attempts if old is not None else 0) + 1
        if what is Reaction.SKIP_UNTIL_CHANGED or what is Reaction.MATCH:
            next_at: float | None = None
            note = "waits for a change to the entry"
        else:
            delay = self.settings.retry.delay(attempts, error.retry_after)
            next_at = now + delay
            note = f"retry {attempts} in {delay:.0f} s"
        if what is Reaction.QUARANTINE:
            w.quarantine = f"{self.target.name} refused the credentials: {error.message}"
        elif what is Reaction.RETRY and counted:
            call.failures += 1
            if not call.first_failure:
                call.first_failure = f"{error.error_class.value}: {error.message}"
        w.error = error
        if w.action is LogAction.LINK and w.anchor is not None and w.shadow is None:
            # Linked, but the update failed: keep the link (version 0, the target's values)
            # so the next try updates it instead of matching again.
            w.new_shadow = _shadow(
                self.job.name, w, w.anchor, dict(w.old), 0, ShadowState.LINKED, now
            )
            w.drop_shadow = False
        w.new_retry = RetryRecord(
            job=self.job.name,
            kind=w.kind,
            entry_id=w.entry_id,
            attempts=attempts,
            error_class=error.error_class.value,
            error=error.message,
            first_failed_at=old.first_failed_at if old is not None else now,
            next_attempt_at=next_at,
            source_version=w.version,
        )
        w.step("failure", what.value, f"{error.message} ({note})")
        w.status = LogStatus.FAILURE
        w.reason = f"{error.message} ({note})"
        w.logged = True
        w.ops = []

    def _outcome(self, w: _Work, call: _Call) -> Outcome:
        assert w.status is not None
        return Outcome(
            kind=w.kind,
            entry_id=w.entry_id,
            action=w.action,
            status=w.status,
            anchor=w.anchor,
            reason=w.reason,
            error=w.error.message if w.error is not None else None,
            error_class=w.error.error_class.value if w.error is not None else None,
            changes=w.changes,
            steps=w.steps or [],
            attributes=w.attributes if call.dry_run or call.explain else None,
            deferred=w.deferred,
            unresolved=w.unresolved,
        )

    def _write(
        self,
        kind: EntryKind,
        works: list[_Work],
        outcomes: list[Outcome],
        call: _Call,
        now: float,
        duration_ms: float,
    ) -> CycleWrite:
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
                        job=self.job.name,
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
            job=self.job.name,
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

    # -- operations -----------------------------------------------------------------------

    async def _create_attributes(
        self, mapper: Mapper, source: Source, links: Links | None
    ) -> Attributes:
        if not mapper.needs_target:
            return mapper.attributes(source, create=True, links=links)
        object_class = mapper.mapping.object_class
        context = EvaluationContext(is_unique=lambda a, v: self._is_unique(object_class, a, v))
        return await mapper.attributes_async(source, create=True, links=links, context=context)

    async def _is_unique(self, object_class: str, attribute: str, value: str) -> bool:
        """``SelectUniqueValue``'s question, asked of the target."""
        op = Operation(
            key=f"{self.job.name}:unique:{uuid.uuid4().hex}",
            action=Action.SEARCH,
            object_class=object_class,
            filter=Equals(attribute, value),
            page=Page(size=1),
        )
        [result] = await self.target.run([op], timeout=self.settings.send_timeout)
        error = result.error
        if error is None:
            return not result.objects
        message = f"SelectUniqueValue could not search {self.target.name}: {error.message}"
        if reaction(error.error_class, Action.SEARCH) is Reaction.SKIP_UNTIL_CHANGED:
            raise EvaluationError(message)
        # Time may cure it (or the quarantine that refused credentials bring): try later.
        raise TargetUnavailable(message)

    def _update_op(
        self, w: _Work, mapper: Mapper, anchor: str, deltas: tuple[Delta, ...], action: str
    ) -> Operation:
        version = w.shadow.source_version if action == "disable" and w.shadow else w.version
        return Operation(
            key=self._key(w, action, version, deltas),
            action=Action.UPDATE,
            object_class=mapper.mapping.object_class,
            anchor=anchor,
            deltas=deltas,
        )

    def _key(self, w: _Work, action: str, version: int, content: Any) -> str:
        """The deterministic idempotency key (see the module's docstring)."""
        retry = w.retry
        final = (
            retry is not None
            and retry.source_version == w.version
            and not ErrorClass(retry.error_class).retryable
            and retry.error_class != ErrorClass.INTERNAL.value
        )
        stamp = repr(
            (
                content,
                w.shadow.updated_at if w.shadow is not None else None,
                retry.attempts if final and retry is not None else 0,
            )
        )
        digest = hashlib.blake2b(stamp.encode(), digest_size=6).hexdigest()
        return f"{self.job.name}:{w.kind.value}:{w.entry_id}:{action}:{version}:{digest}"

    def _search_key(self, w: _Work, number: int) -> str:
        # Searches must never be answered from the agent's journal: a fresh key each time.
        return (
            f"{self.job.name}:{w.kind.value}:{w.entry_id}:search:{number}:{uuid.uuid4().hex[:12]}"
        )


def _shadow(
    job: str,
    w: _Work,
    anchor: str,
    values: dict[str, Any],
    version: int,
    state: ShadowState,
    now: float,
) -> Shadow:
    return Shadow(
        job=job,
        kind=w.kind,
        entry_id=w.entry_id,
        anchor=anchor,
        values=values,
        source_version=version,
        state=state,
        updated_at=now,
    )


def _unique(refs: Sequence[tuple[EntryKind, str]], kind: EntryKind) -> list[str]:
    return list(dict.fromkeys(eid for k, eid in refs if k is kind))


def _filters(filters: Sequence[Equals]) -> list[dict[str, Any]]:
    return [{"attribute": f.attribute, "value": f.value} for f in filters]


def _naming(mapper: Mapper | None) -> str:
    """The attribute that names a target object, for logs of entries no longer in the
    directory: the first matching attribute."""
    if mapper is None or not mapper.matching_attributes:
        return ""
    return mapper.matching_attributes[0]


def _multi_valued(mapper: Mapper) -> Callable[[str], bool]:
    schema = mapper.schema
    names = (
        frozenset(a.name for a in schema.attributes if a.multi_valued) if schema else frozenset()
    )
    return names.__contains__


_Reader = Callable[[Source], Any]


def _reference_readers(mapper: Mapper) -> tuple[_Reader, ...]:
    """Functions giving the directory ids each reference mapping names for a source, so a
    batch can read their anchors before mapping."""
    readers: list[_Reader] = []
    for m in mapper.mapping.mappings:
        if not m.reference:
            continue
        if m.type is MappingType.DIRECT:
            readers.append(compile_reference(m.source))
        elif m.type is MappingType.EXPRESSION:
            readers.append(_evaluator(compile_expression(m.expression)))
        elif m.type is MappingType.CONSTANT:
            readers.append(_constant(m.value))
    return tuple(readers)


def _evaluator(expression: Expression) -> _Reader:
    def read(source: Source) -> Any:
        return expression.evaluate(source, None)

    return read


def _constant(value: Scalar) -> _Reader:
    def read(_: Source) -> Any:
        return value

    return read


def _referenced(read: _Reader, source: Source) -> Iterable[tuple[str, EntryKind]]:
    """The ids ``read`` names for ``source``, each with its kind: group members say
    theirs; anything else is taken for a user."""
    try:
        value = read(source)
    except EvaluationError:
        # The mapping itself fails on this object the same way and reports it.
        return ()
    kinds = _member_kinds(source)
    out = []
    for item in value if isinstance(value, list) else (value,):
        ident = item.get("value") if isinstance(item, Mapping) else item
        if isinstance(ident, str) and ident:
            out.append((ident, kinds.get(ident, EntryKind.USER)))
    return out


def _member_kinds(source: Source) -> dict[str, EntryKind]:
    members = source.resource.get("members")
    if not isinstance(members, list):
        return {}
    return {
        m["value"]: EntryKind.GROUP
        for m in members
        if isinstance(m, Mapping) and m.get("type") == "Group"
    }
