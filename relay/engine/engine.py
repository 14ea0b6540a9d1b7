"""The provisioning engine: the service inside the relay that runs jobs.

It keeps one task per running job and follows what administrators change through the
store (``relay.engine.control`` writes there): a job's state and version are looked at every
``control_interval`` seconds, or at once when the admin API calls :meth:`Engine.notice`, and
a changed job file, a pause or a restart replaces the job's task. A job task runs the
initial cycle until it is done, then follows the change log for as long as the job runs,
carrying out approved deprovisions and reconciling on the job's schedule.

Nothing a job does can stop the engine: an error in a job task is logged and the job tried
again with backoff, or quarantined when its target refuses the relay (and tried again on
the quarantine schedule).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import structlog

from relay.engine import job as jobs
from relay.engine.builtin import BuiltinAgent
from relay.engine.cycles import JobRun, Ref, read_schemas
from relay.engine.exceptions import EngineError, Quarantine, TargetUnavailable
from relay.engine.guard import over_threshold
from relay.engine.incremental import Incremental
from relay.engine.initial import run_initial
from relay.engine.observer import EngineObserver
from relay.engine.processor import Deprovisions, Outcome, Processor
from relay.engine.reconcile import delete_unmatched, run_reconcile
from relay.engine.settings import EngineSettings
from relay.engine.status import Progress, find_entry, progress
from relay.engine.target import BuiltinTarget, HubTarget, Target
from relay.exceptions import NotFound
from relay.hub.hub import Hub
from relay.store.base import EntryKind, Store
from relay.store.engine_records import (
    CycleKind,
    CycleRecord,
    CycleState,
    CycleWrite,
    JobRecord,
    JobState,
    LogAction,
    LogStatus,
    StagedDecision,
)
from shared.exceptions import HatchwayError, SettingsError

log = structlog.get_logger("relay.engine")

#: Seconds between purges of provisioning logs past retention.
PURGE_INTERVAL = 3600.0
#: Planned actions a dry run lists by default.
DRY_RUN_LIMIT = 100
#: The actions the deletion guard counts.
_DEPROVISIONS = (LogAction.DISABLE.value, LogAction.DELETE.value)


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    """An outcome as JSON, for the admin API."""
    return {
        "kind": str(outcome.kind),
        "entry_id": outcome.entry_id,
        "action": str(outcome.action),
        "status": str(outcome.status),
        "anchor": outcome.anchor,
        "reason": outcome.reason,
        "error": outcome.error,
        "changes": outcome.changes,
        "steps": outcome.steps,
        "attributes": outcome.attributes,
    }


class Engine:
    def __init__(
        self,
        store: Store,
        hub: Hub,
        builtin: BuiltinAgent | None,
        settings: EngineSettings,
        *,
        clock: Callable[[], float] = time.time,
        observer: EngineObserver | None = None,
    ) -> None:
        """``observer`` is told outcomes, latencies and cycle ends (the relay's metrics);
        None tells nobody."""
        self.store = store
        self.hub = hub
        self.builtin = builtin
        self.settings = settings
        self.clock = clock
        self.observer = observer or EngineObserver()
        self._tasks: dict[str, JobTask] = {}
        #: Set by :meth:`notice`: the control loop looks again without waiting.
        self._wake = asyncio.Event()
        #: Jobs looked at since the start: a job paused while no relay ran has its
        #: cycles ended at the first look.
        self._seen: set[str] = set()
        self._control: asyncio.Task[None] | None = None
        self._purged_at = 0.0

    async def start(self) -> None:
        self._control = asyncio.create_task(self._watch(), name="engine-control")
        log.info("engine started")

    async def stop(self) -> None:
        """Cancel every task and wait for them: unfinished initial cycles stay running in
        the store and resume from their checkpoint on the next start."""
        tasks: list[asyncio.Task[None]] = []
        if self._control is not None:
            tasks.append(self._control)
            self._control = None
        tasks += [t.task for t in self._tasks.values()]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            await _ended(task)
        log.info("engine stopped")

    # The control loop -----------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            # Cleared before the round: a notice during it brings on another one.
            self._wake.clear()
            try:
                await self.look()
            except Exception:
                log.exception("engine control round failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.control_interval)

    def notice(self, job: str | None = None) -> None:
        """Act on an administrator's change now rather than within ``control_interval``:
        the control loop looks at the jobs at once, and ``job``'s task, if it runs here,
        stops waiting for directory changes (to carry out approved deprovisions)."""
        self._wake.set()
        current = self._tasks.get(job) if job is not None else None
        if current is not None:
            current.nudged.set()

    async def look(self) -> None:
        """One round of the control loop: start, replace or stop job tasks as the jobs
        say, purge old logs."""
        records = {r.name: r for r in await self.store.list_jobs()}
        for name in list(self._tasks):
            if name not in records:
                await self._drop(name)
        for record in records.values():
            await self._sync(record)
        now = self.clock()
        if now - self._purged_at >= PURGE_INTERVAL:
            self._purged_at = now
            purged = await self.store.purge_logs(now - self.settings.log_retention_days * 86400.0)
            if purged:
                log.info("provisioning logs purged", count=purged)

    async def _sync(self, record: JobRecord) -> None:
        if record.name not in self._seen:
            self._seen.add(record.name)
            if record.state is JobState.PAUSED:
                await self._pause_cycles(record.name)
        current = self._tasks.get(record.name)
        if current is not None:
            changed = current.version is not None and current.version != record.version
            if not changed and not current.task.done():
                return
            # A task that noticed the change itself has ended already; either way it goes.
            await self._drop(record.name)
            if changed and record.state is JobState.PAUSED:
                await self._pause_cycles(record.name)
        due = record.state is JobState.RUNNING or (
            record.state is JobState.QUARANTINED
            and record.next_attempt_at is not None
            and record.next_attempt_at <= self.clock()
        )
        if due:
            self._tasks[record.name] = JobTask(self, record)

    async def _pause_cycles(self, name: str) -> None:
        """A paused job's incremental and reconcile cycles end (its status would otherwise
        show one running at a falling rate); an unfinished initial cycle stays, to resume
        from its checkpoint."""
        for cycle in await self.store.list_cycles(name, state=CycleState.RUNNING, limit=50):
            if cycle.kind is not CycleKind.INITIAL:
                self.observer.ended(
                    await self.store.update_cycle(
                        cycle.id, state=CycleState.STOPPED, error="paused"
                    )
                )

    async def _drop(self, name: str) -> None:
        current = self._tasks.pop(name, None)
        if current is None:
            return
        current.task.cancel()
        await _ended(current.task)

    # Jobs ----------------------------------------------------------------------------

    def target_for(self, settings: jobs.JobSettings) -> Target:
        connection = settings.connection
        if connection.agent is not None:
            return HubTarget(self.hub, connection.agent, connection.connector)
        if self.builtin is None:
            raise TargetUnavailable("this relay runs no built-in agent")
        return BuiltinTarget(self.builtin, connection.connector)

    async def prepare(self, name: str) -> JobRun:
        """A job ready to run: its file read, its target asked for its schema and its
        mappings compiled against it."""
        record = await self.store.get_job(name)
        settings = jobs.parse(record.spec, source=f"job {name!r}", name=name)
        target = self.target_for(settings)
        schemas = await read_schemas(target, name, timeout=self.settings.send_timeout)
        mappers = settings.definition.mappers(schemas)
        processor = Processor(
            self.store,
            settings,
            target,
            mappers,
            self.settings,
            clock=self.clock,
            observer=self.observer,
        )
        return JobRun(self.store, settings, target, mappers, processor, self.settings, self.clock)

    async def _run_for(self, name: str) -> JobRun:
        current = self._tasks.get(name)
        if current is not None and current.run is not None:
            return current.run
        return await self.prepare(name)

    # Public operations ---------------------------------------------------------------

    async def provision(self, job: str, kind: EntryKind, entry: str) -> dict[str, Any]:
        """Provision one user or group now, whatever its schedule, and explain each step.
        ``entry`` is the id, userName or displayName."""
        run = await self._run_for(job)
        entry_id = await self._resolve(kind, entry)
        current = self._tasks.get(job)
        cycle = current.cycle if current is not None else None
        if cycle is not None and cycle.kind is not CycleKind.INCREMENTAL:
            # Counted in an initial or reconcile cycle, the run would push its progress
            # past its total.
            cycle = None
        own = cycle is None
        if cycle is None:
            cycle = await self.store.start_cycle(job, CycleKind.INCREMENTAL, total=1)
        try:
            outcomes = await run.processor.process(
                [(kind, entry_id)],
                cycle=cycle,
                deprovisions=Deprovisions.SEND,
                explain=True,
                retrying=True,
            )
        finally:
            if own:
                self.observer.ended(await self.store.update_cycle(cycle.id, state=CycleState.DONE))
        return outcome_json(outcomes[0])

    async def dry_run(self, job: str, limit: int = DRY_RUN_LIMIT) -> dict[str, Any]:
        """What a full cycle would do now, without writing anything: counts by action and
        status and the first ``limit`` planned changes."""
        run = await self._run_for(job)
        cycle = CycleRecord(
            id="",
            job=job,
            kind=CycleKind.INITIAL,
            state=CycleState.RUNNING,
            started_at=self.clock(),
        )
        counts: Counter[str] = Counter()
        planned: list[dict[str, Any]] = []
        total = 0

        async def plan(refs: list[Ref]) -> None:
            nonlocal total
            outcomes = await run.processor.process(refs, cycle=cycle, dry_run=True)
            for outcome in outcomes:
                total += 1
                counts[f"{outcome.action}:{outcome.status}"] += 1
                if outcome.action is not LogAction.NONE and len(planned) < limit:
                    planned.append(outcome_json(outcome))

        page_size = self.settings.batch_size
        for kind in run.kinds():
            after = ""
            while page := await self.store.entries_page(kind, after_id=after, limit=page_size):
                await plan([(kind, e.id) for e in page])
                after = page[-1].id
            after = ""
            while shadows := await self.store.shadows_page(
                job, kind, after_id=after, limit=page_size
            ):
                after = shadows[-1].entry_id
                present = await self.store.get_entries(kind, [s.entry_id for s in shadows])
                gone = [(kind, s.entry_id) for s in shadows if s.entry_id not in present]
                if gone:
                    await plan(gone)
        answer: dict[str, Any] = {"total": total, "planned": planned}
        # The deletion guard, as a cycle would apply it: too many deprovisions are staged.
        deprovisions = sum(n for key, n in counts.items() if key.split(":")[0] in _DEPROVISIONS)
        linked = await self.store.count_shadows(job)
        if deprovisions and over_threshold(run.job.guard, deprovisions, linked):
            for key in [k for k in counts if k.split(":")[0] in _DEPROVISIONS]:
                action = key.split(":")[0]
                counts[f"{action}:{LogStatus.STAGED}"] += counts.pop(key)
            for item in planned:
                if item.get("action") in _DEPROVISIONS:
                    item["status"] = LogStatus.STAGED.value
            answer["guard"] = (
                f"{deprovisions} deprovisions of {linked} linked objects exceed the deletion"
                " guard: a cycle would stage them for approval"
            )
        answer["counts"] = dict(sorted(counts.items()))
        return answer

    def reconcile_now(self, job: str) -> None:
        """Ask the job's task to reconcile at its next chance. Raises
        :class:`~relay.engine.exceptions.EngineError` when the job is not running here."""
        current = self._tasks.get(job)
        if current is None or current.task.done():
            raise EngineError(f"job {job!r} is not running in this relay")
        current.reconcile.set()
        current.nudged.set()

    async def progress(self, job: str) -> Progress | None:
        """The job's current cycle's progress; None when it runs no cycle here."""
        current = self._tasks.get(job)
        if current is None or current.cycle is None:
            return None
        cycle = await self.store.get_cycle(current.cycle.id)
        if cycle.state is not CycleState.RUNNING:
            # The task keeps its last cycle until the next one starts (an initial cycle
            # that has just finished, say): an idle job shows no progress.
            return None
        return progress(cycle, self.clock())

    def running_cycles(self) -> list[CycleRecord]:
        """The initial and reconcile cycles this relay's job tasks run now, as the tasks
        last saw them (no store read: a metrics scrape asks for every job at once).
        Incremental work is left out: its cycle records roll over every hour. A task that
        has ended (quarantined) or waits to try again after a failure runs none."""
        return [
            current.cycle
            for current in self._tasks.values()
            if not current.task.done()
            and current.cycle is not None
            and current.cycle.state is CycleState.RUNNING
            and current.cycle.kind is not CycleKind.INCREMENTAL
        ]

    def in_flight_since(self, job: str, kind: EntryKind, entry_id: str) -> float | None:
        """When the object's operations went to the target, if they are there now (None:
        not in flight, or the job does not run here)."""
        current = self._tasks.get(job)
        if current is None or current.run is None:
            return None
        return current.run.processor.in_flight.get((kind, entry_id))

    async def _resolve(self, kind: EntryKind, entry: str) -> str:
        """The entry's id; raises :class:`~relay.exceptions.NotFound` when no entry has
        that id or name, or several have that name."""
        found = await find_entry(self.store, kind, entry)
        if found is None:
            name = "userName" if kind is EntryKind.USER else "displayName"
            raise NotFound(f"no {kind} {entry!r} in the directory (by id or {name})")
        return found.id


async def _ended(task: asyncio.Task[None]) -> None:
    """Wait for a task that was told to stop. One that had failed before is logged, not
    raised: it must not keep the engine from stopping the others, nor end a control round
    before the other jobs are looked at."""
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise  # the wait itself was cancelled, not the task
    except Exception:
        log.exception("engine task failed", task=task.get_name())


class JobTask:
    """The task running one job, from the job's version it was started for."""

    def __init__(self, engine: Engine, record: JobRecord) -> None:
        self.engine = engine
        self.name = record.name
        #: The job version this task runs; None while the task changes the job's state
        #: itself (so the control loop does not take its own write for an admin's).
        self.version: int | None = record.version
        self.trial = record.state is JobState.QUARANTINED
        self.quarantine_count = record.quarantine_count
        self.run: JobRun | None = None
        self.cycle: CycleRecord | None = None
        self.reconcile = asyncio.Event()
        #: Set by :meth:`Engine.notice`: stop waiting for directory changes.
        self.nudged = asyncio.Event()
        self.task = asyncio.create_task(self._main(), name=f"engine-job-{record.name}")

    async def _main(self) -> None:
        settings = self.engine.settings
        attempts = 0
        while True:
            try:
                await self._work()
            except Quarantine as exc:
                await self._quarantine(exc.reason)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempts += 1
                delay = settings.retry.delay(attempts, None)
                if isinstance(exc, HatchwayError):
                    log.warning(
                        "job failed; trying again", job=self.name, error=str(exc), delay=delay
                    )
                else:
                    log.exception("job failed; trying again", job=self.name, delay=delay)
                if self.trial or isinstance(exc, SettingsError):
                    await self._quarantine(str(exc))
                    return
                await self._failed(f"{exc}; trying again in {delay:.0f} s")
                await asyncio.sleep(delay)
            else:
                return

    async def _work(self) -> None:
        engine, store = self.engine, self.engine.store
        run = await engine.prepare(self.name)
        self.run = run
        record = await store.get_job(self.name)
        if not record.initial_done:
            self.cycle = await run_initial(run, on_cycle=self._on_cycle)
            record = await store.get_job(self.name)
        incremental = Incremental(run, record.cursor)
        started = engine.clock()
        while True:
            if await self._superseded():
                return
            self.nudged.clear()
            await incremental.step()
            self.cycle = incremental.cycle or self.cycle
            if self.trial:
                await self._recovered()
            await self._staged(run, incremental)
            if self._reconcile_due(record, started):
                self.reconcile.clear()
                self.cycle = await run_reconcile(run, on_cycle=self._on_cycle)
                record = await store.update_job(self.name, reconciled_at=engine.clock())
                self.cycle = incremental.cycle
            if incremental.caught_up:
                await self._rest(incremental)

    async def _rest(self, incremental: Incremental) -> None:
        """Wait for directory changes or ``control_interval``; a nudge ends the wait."""
        waiting = asyncio.ensure_future(incremental.wait(self.engine.settings.control_interval))
        nudged = asyncio.ensure_future(self.nudged.wait())
        try:
            await asyncio.wait((waiting, nudged), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            nudged.cancel()
            await asyncio.wait((waiting, nudged))
        if not waiting.cancelled():
            waiting.result()  # a store failure while waiting is the job's failure

    def _on_cycle(self, cycle: CycleRecord) -> None:
        self.cycle = cycle

    async def _superseded(self) -> bool:
        """Whether an administrator changed the job (its file, its state) since this task
        began. The task then ends before it writes more, so a directory change made just
        after a new job file is not written with the old one while the control loop has
        not looked yet; the control loop starts the task of the new version."""
        try:
            record = await self.engine.store.get_job(self.name)
        except NotFound:
            return True
        return self.version is not None and record.version != self.version

    def _reconcile_due(self, record: JobRecord, started: float) -> bool:
        if self.reconcile.is_set():
            return True
        interval = self.run.job.schedule.reconcile if self.run is not None else None
        if interval is None:
            return False
        last = record.reconciled_at if record.reconciled_at is not None else started
        return self.engine.clock() - last >= interval

    async def _staged(self, run: JobRun, incremental: Incremental) -> None:
        store = self.engine.store
        approved = await store.list_staged(self.name, decision=StagedDecision.APPROVED)
        if approved:
            log.info("carrying out approved deprovisions", job=self.name, count=len(approved))
            cycle = await incremental.current_cycle()
            # Unmatched target objects (reconcile) have no entry: deleted by anchor.
            unmatched = [s for s in approved if not s.entry_id]
            entries = [s for s in approved if s.entry_id]
            if entries:
                await run.processor.carry_out(entries, cycle=cycle)
            if unmatched:
                await delete_unmatched(
                    run,
                    cycle,
                    [(s.kind, s.anchor, s.display) for s in unmatched],
                    unstaged=[s.id for s in unmatched],
                )
        rejected = await store.list_staged(self.name, decision=StagedDecision.REJECTED)
        unmatched_rejected = [s.id for s in rejected if not s.entry_id]
        if unmatched_rejected:
            await store.record_batch(CycleWrite(job=self.name, unstaged=tuple(unmatched_rejected)))
        rejected = [s for s in rejected if s.entry_id]
        if rejected:
            await run.processor.hold(rejected)

    async def _recovered(self) -> None:
        self.version = None
        record = await self.engine.store.update_job(
            self.name,
            state=JobState.RUNNING,
            quarantine_reason=None,
            next_attempt_at=None,
            quarantine_count=0,
        )
        self.version = record.version
        self.trial = False
        log.info("quarantined job recovered", job=self.name)

    async def _quarantine(self, reason: str) -> None:
        engine = self.engine
        count = self.quarantine_count + 1 if self.trial else 0
        next_attempt = engine.settings.quarantine.next_attempt(count, engine.clock())
        log.warning("job quarantined", job=self.name, reason=reason, next_attempt_at=next_attempt)
        if self.cycle is not None and self.cycle.kind is not CycleKind.INITIAL:
            engine.observer.ended(
                await engine.store.update_cycle(
                    self.cycle.id, state=CycleState.STOPPED, error=reason
                )
            )
        self.version = None
        await engine.store.update_job(
            self.name,
            state=JobState.QUARANTINED,
            quarantine_reason=reason,
            next_attempt_at=next_attempt,
            quarantine_count=count,
        )

    async def _failed(self, error: str) -> None:
        """Show why the job is not progressing: the current cycle ends failed (a new one
        starts with the next attempt); with no cycle yet, a failed one says it."""
        store = self.engine.store
        cycle = self.cycle
        if cycle is None:
            record = await store.get_job(self.name)
            kind = CycleKind.INCREMENTAL if record.initial_done else CycleKind.INITIAL
            cycle = await store.start_cycle(self.name, kind)
        if cycle.kind is not CycleKind.INITIAL or self.cycle is None:
            self.engine.observer.ended(
                await store.update_cycle(cycle.id, state=CycleState.FAILED, error=error)
            )
        else:
            await store.update_cycle(cycle.id, error=error)
        self.cycle = None
