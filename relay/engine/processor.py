"""The one path every directory object takes to the target: scope, map, match, diff against
the shadow, operation, dispatch, record.

Cycles differ only in which objects they hand to :meth:`Processor.process`. Work goes in
batches: each batch's entries, shadows, retry records and referenced anchors are read with
a few store queries, its operations go to the target in one ``Target.run`` per round (a
round of matching searches, then one of writes, and follow-ups after conflicts), and
everything it changed is recorded with ONE :meth:`~relay.store.base.Store.record_batch`,
so a crash leaves a batch either recorded or not at all. A batch that was sent but not
recorded is sent again with the same idempotency keys (:mod:`relay.engine.operations`),
and the agent answers those from its journal instead of running them twice.

Matching lives in :mod:`relay.engine.matching`, references in
:mod:`relay.engine.references`, deprovisioning and holding in
:mod:`relay.engine.deprovision`, and each object's state on its way in
:mod:`relay.engine.work`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from relay.engine import plan
from relay.engine.deprovision import (
    Deprovisions,
    disable_change,
    enable_again,
    hold,
    plan_deprovision,
)
from relay.engine.exceptions import EvaluationError, Quarantine, TargetUnavailable
from relay.engine.expressions import EvaluationContext
from relay.engine.mapping import Mapper
from relay.engine.matching import (
    MatchIndex,
    filters_detail,
    is_unique,
    naming_attribute,
    search_operations,
)
from relay.engine.observer import EngineObserver
from relay.engine.operations import create_operation, get_operation, update_operation
from relay.engine.references import read_links, reference_readers
from relay.engine.retry import Reaction, reaction
from relay.engine.source import Source
from relay.engine.sources import Loaded, load_sources, source_name
from relay.engine.work import Call, Outcome, Work, cycle_write
from relay.store.base import EntryKind
from relay.store.engine_records import (
    CycleRecord,
    LogAction,
    LogStatus,
    RetryRecord,
    ShadowState,
    StagedOperation,
)
from shared.connector import (
    Action,
    Attributes,
    ConnectorObject,
    Operation,
    OperationError,
    OperationResult,
)
from shared.exceptions import ErrorClass

if TYPE_CHECKING:
    from relay.engine.job import JobSettings
    from relay.engine.mapping import Links
    from relay.engine.scope import Scope
    from relay.engine.settings import EngineSettings
    from relay.engine.target import Target
    from relay.store.base import Store

__all__ = ["Deprovisions", "MatchIndex", "Outcome", "Processor"]

#: Users first, so groups processed in the same call find their members' anchors.
KIND_ORDER = (EntryKind.USER, EntryKind.GROUP)
#: Rounds of operations one batch may need: search, write, and after a conflict on create
#: another search and write (link and update); a create answered from the journal for an
#: object gone since takes a get and the create again.
MAX_ROUNDS = 6
#: Actions after which a user has an anchor it did not have before.
_NEW = frozenset({LogAction.CREATE, LogAction.LINK})


class Processor:
    """Carries directory objects into one job's target.

    ``mappers`` are the job's compiled mappings by kind (``user``, ``group``), checked
    against the target's schema; a kind without one is not provisioned. ``clock`` gives
    wall-clock seconds (tests pass their own); ``observer`` is told each recorded batch.
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
        observer: EngineObserver | None = None,
    ) -> None:
        self.store = store
        self.job = job
        self.target = target
        self.mappers = mappers
        self.settings = settings
        self.clock = clock
        self.observer = observer or EngineObserver()
        #: Objects whose operations are with the target now, and since when: "where is
        #: it now" tells an administrator it is in flight.
        self.in_flight: dict[tuple[EntryKind, str], float] = {}
        self._scopes: dict[EntryKind, Scope] = {
            kind: job.definition.scope_for(kind.value) for kind in KIND_ORDER
        }
        self._references = {
            kind: reference_readers(mapper)
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
        their version changes, unless they left the scope. ``index`` (initial cycles)
        replaces matching searches. A dry run sends matching searches only and writes
        nothing. Raises :class:`Quarantine` (after recording) when the target refuses the
        credentials or most operations fail for reasons other than the data.
        """
        call = Call(
            cycle=cycle.id,
            deprovisions=deprovisions,
            dry_run=dry_run,
            explain=explain,
            retrying=retrying,
            index=index or {},
        )
        if deprovisions is not Deprovisions.DEFER and not dry_run:
            # Decided but not yet carried out or held counts too: staged again, it would
            # outlive the decision and wait for another; sent by a later, smaller burst, it
            # would go past the administrator. Provisioning on demand (``explain``) is the
            # administrator acting: it goes ahead and takes the entry off the stage.
            staged = await self.store.list_staged(self.job.name)
            call.pending = {(s.kind, s.entry_id) for s in staged}
            if explain:
                asked = set(refs)
                unstage: dict[tuple[EntryKind, str], list[int]] = {}
                for op in staged:
                    if (op.kind, op.entry_id) in asked:
                        unstage.setdefault((op.kind, op.entry_id), []).append(op.id)
                call.unstage = unstage
                call.pending = set()
        return await self._process(refs, call)

    async def deprovision_candidates(
        self, refs: Sequence[tuple[EntryKind, str]]
    ) -> list[tuple[EntryKind, str]]:
        """The refs that :meth:`process` would disable or delete, without writing anything,
        so initial and reconcile cycles can count them against the guard first."""
        call = Call(
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
        call = Call(
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
        await hold(self.store, self.job.name, staged, self.clock())

    # -- batches --------------------------------------------------------------------------

    async def _process(self, refs: Sequence[tuple[EntryKind, str]], call: Call) -> list[Outcome]:
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

    async def _run_kind(self, kind: EntryKind, ids: list[str], call: Call) -> list[Outcome]:
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

    async def _batch(self, kind: EntryKind, ids: list[str], call: Call) -> list[Outcome]:
        started = time.monotonic()
        works = await self._plan_batch(kind, ids, call)
        await self._dispatch(works, call)
        now = self.clock()
        duration_ms = (time.monotonic() - started) * 1000.0
        outcomes = [w.outcome(planned=call.dry_run or call.explain) for w in works]
        if not call.dry_run:
            await self.store.record_batch(
                cycle_write(self.job.name, kind, works, outcomes, call, now, duration_ms)
            )
            self.observer.recorded(self.job.name, self.job.definition.target, outcomes)
        if kind is EntryKind.USER:
            call.created.update(
                w.entry_id for w in works if w.status is LogStatus.SUCCESS and w.action in _NEW
            )
        quarantine = next((w.quarantine for w in works if w.quarantine), None)
        if quarantine is not None:
            raise Quarantine(quarantine)
        return outcomes

    async def _plan_batch(self, kind: EntryKind, ids: list[str], call: Call) -> list[Work]:
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
                name = str(shadow.values.get(naming_attribute(self.mappers.get(kind.value))) or "")
            work = Work(
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
        call: Call,
    ) -> tuple[Links | None, dict[str, set[str]]]:
        readers = self._references.get(kind)
        if not readers or call.candidates:
            return None, {}
        return await read_links(self.store, self.job.name, kind, readers, loaded, in_scope)

    # -- deciding -------------------------------------------------------------------------

    async def _decide(self, w: Work, in_scope: bool, call: Call) -> None:
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
            if retry.next_attempt_at is None and in_scope:
                # Only the entry's values can change what the target refused. A deprovision
                # writes none of them, and leaving the scope (an unassignment) keeps the
                # version: it must not wait.
                w.step("retry", "waits for a change", retry.error)
                w.finish(
                    LogStatus.SKIPPED,
                    reason=f"waits for a change to the entry: {retry.error}",
                    logged=call.explain,
                )
                w.clear_retry = False
                return
            if (
                retry.next_attempt_at is not None
                and retry.next_attempt_at > self.clock()
                and not call.retrying
            ):
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

    def _invalid(self, w: Work, exc: EvaluationError, call: Call) -> None:
        """A mapping failed on this entry's values: like data the target refuses, it
        waits for the entry to change."""
        self._failed(w, OperationError(ErrorClass.INVALID_DATA, str(exc)), Action.UPDATE, call)

    def _why(self, w: Work) -> str | None:
        if w.steps is None or w.loaded is None:
            return None
        return self._scopes[w.kind].explain(w.loaded.source, assigned=w.loaded.assigned)

    async def _match(self, w: Work, mapper: Mapper, call: Call) -> None:
        assert w.loaded is not None
        w.filters = mapper.matching_filters(w.loaded.source, links=w.links)
        index = call.index.get(w.kind)
        if index is not None and not w.conflicted:
            found = index.claim(w.filters)
            w.step("match", "found" if found else "no match", filters_detail(w.filters))
            await self._matched(w, mapper, found, call)
        elif w.filters:
            w.action = LogAction.LINK
            w.ops = search_operations(self.job.name, w, mapper.mapping.object_class)
        else:
            w.step("match", "no matching attribute has a value")
            await self._matched(w, mapper, None, call)

    async def _matched(
        self, w: Work, mapper: Mapper, found: ConnectorObject | None, call: Call
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
            w.ops = [create_operation(self.job.name, w, mapper.mapping.object_class, attributes)]
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
            w.ops = [
                update_operation(
                    self.job.name, w, mapper.mapping.object_class, found.anchor, deltas, "link"
                )
            ]
        else:
            self._succeeded(w, found.anchor)

    def _update(self, w: Work, mapper: Mapper, source: Source) -> None:
        shadow = w.shadow
        assert shadow is not None
        mapped = mapper.attributes(source, create=False, links=w.links)
        enable_again(self.job.deprovision, shadow, mapped)
        w.attributes = mapped
        values = shadow.values
        w.old = {k: values.get(k) for k in mapped}
        deltas = plan.deltas(w.old, mapped, multi_valued=self._multi_valued[w.kind])
        w.changes = plan.changes(w.old, mapped)
        w.anchor = shadow.anchor
        if deltas:
            w.action = LogAction.UPDATE
            w.step("diff", "update", w.changes)
            w.ops = [
                update_operation(
                    self.job.name, w, mapper.mapping.object_class, shadow.anchor, deltas, "update"
                )
            ]
        else:
            w.action = LogAction.NONE
            w.step("diff", "unchanged")
            self._succeeded(w, shadow.anchor)

    def _deprovision(self, w: Work, call: Call) -> None:
        object_class = self.mappers[w.kind.value].mapping.object_class
        plan_deprovision(w, call, self.job, self._scopes[w.kind], object_class, self.clock())

    # -- sending --------------------------------------------------------------------------

    async def _dispatch(self, works: list[Work], call: Call) -> None:
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
        w: Work,
        ops: list[Operation],
        results: list[OperationResult],
        call: Call,
    ) -> None:
        mapper = self.mappers[w.kind.value]
        if ops[0].action is Action.SEARCH:
            error = next((r.error for r in results if r.error is not None), None)
            if error is not None and error.error_class is not ErrorClass.NOT_FOUND:
                self._failed(w, error, Action.SEARCH, call)
                return
            found = next((r.objects[0] for r in results if r.objects), None)
            w.step("match", "found" if found else "no match", filters_detail(w.filters))
            holder = None
            if found is not None:
                holder = await self.store.linked_entry(self.job.name, w.kind, found.anchor)
                if holder is not None and holder != w.entry_id:
                    # One target account, one directory entry: this one needs its own.
                    w.step("match", "linked to another entry", {"entry": holder})
                    found = None
            if found is None and w.conflicted:
                why = (
                    f"the account that matches is linked to entry {holder}"
                    if holder is not None
                    else "no object matches the matching attributes"
                )
                self._failed(
                    w,
                    OperationError(
                        ErrorClass.CONFLICT,
                        f"the target refused the create as a duplicate, but {why}",
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
        if op.action is Action.GET:
            self._verified(w, op, result, call)
            return
        if result.error is None:
            w.step("write", "done", {"anchor": result.anchor, "replayed": result.replayed})
            if op.action is Action.CREATE and result.replayed and result.anchor:
                # The journal answered a create made earlier with the same key: this very
                # create sent again after a crash, or one whose object is gone since (the
                # job deleted it, or someone did behind its back) and whose entry is in
                # scope again at the same version. Only the target can tell which.
                w.ops = [get_operation(self.job.name, w, op.object_class, result.anchor)]
                return
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

    def _verified(self, w: Work, op: Operation, result: OperationResult, call: Call) -> None:
        """The answer to the look at an object a replayed create made: there, the create
        is done; gone, it is sent again under a fresh key, which no journal answers."""
        assert op.anchor is not None
        error = result.error
        if error is None:
            w.step("verify", "found", {"anchor": op.anchor})
            self._succeeded(w, op.anchor)
        elif error.error_class is ErrorClass.NOT_FOUND:
            w.step("verify", "gone", {"anchor": op.anchor})
            attributes = w.attributes or {}
            w.ops = [create_operation(self.job.name, w, op.object_class, attributes, fresh=True)]
        else:
            self._failed(w, error, Action.GET, call)

    # -- results --------------------------------------------------------------------------

    def _succeeded(self, w: Work, anchor: str | None, *, gone: bool = False) -> None:
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
            attribute, value = disable_change(self.job.deprovision)
            values = {**shadow.values, attribute: value}
            w.new_shadow = w.shadow_for(
                self.job.name, anchor, values, shadow.source_version, ShadowState.DISABLED, now
            )
            w.finish(LogStatus.SUCCESS, reason=w.reason)
            return
        attributes = w.attributes or {}
        if w.recreate:
            shadow = None
        if action is LogAction.CREATE:
            values = {k: v for k, v in attributes.items() if not plan.empty(v)}
        else:
            values = dict(shadow.values) if shadow is not None else dict(w.old)
            for k, v in attributes.items():
                if plan.empty(v):
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
            w.new_shadow = w.shadow_for(
                self.job.name, anchor, values, w.version, ShadowState.LINKED, now
            )
            w.drop_shadow = False
        w.finish(
            LogStatus.SUCCESS,
            reason=w.reason if action is not LogAction.NONE else None,
            logged=action is not LogAction.NONE,
        )

    def _failed(
        self,
        w: Work,
        error: OperationError,
        action: Action,
        call: Call,
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
            w.new_shadow = w.shadow_for(
                self.job.name, w.anchor, dict(w.old), 0, ShadowState.LINKED, now
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

    # -- operations -----------------------------------------------------------------------

    async def _create_attributes(
        self, mapper: Mapper, source: Source, links: Links | None
    ) -> Attributes:
        if not mapper.needs_target:
            return mapper.attributes(source, create=True, links=links)
        object_class = mapper.mapping.object_class
        context = EvaluationContext(
            is_unique=lambda a, v: is_unique(
                self.target,
                self.job.name,
                object_class,
                a,
                v,
                timeout=self.settings.send_timeout,
            )
        )
        return await mapper.attributes_async(source, create=True, links=links, context=context)


def _unique(refs: Sequence[tuple[EntryKind, str]], kind: EntryKind) -> list[str]:
    return list(dict.fromkeys(eid for k, eid in refs if k is kind))


def _multi_valued(mapper: Mapper) -> Callable[[str], bool]:
    schema = mapper.schema
    names = (
        frozenset(a.name for a in schema.attributes if a.multi_valued) if schema else frozenset()
    )
    return names.__contains__
