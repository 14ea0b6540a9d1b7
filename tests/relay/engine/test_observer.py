"""The engine tells its observer what it did: each recorded batch's outcomes, how long a
directory change took to reach the target, and each cycle's end."""

from __future__ import annotations

from collections.abc import Sequence

from relay.engine.observer import EngineObserver
from relay.engine.settings import EngineSettings
from relay.engine.work import Outcome
from relay.store.base import EntryKind, Store
from relay.store.engine_records import CycleKind, CycleState, JobState, LogAction, LogStatus
from shared.connector import USER
from tests.relay.engine.cycle_helpers import MemoryEngine, add_users, eventually, spec
from tests.relay.engine.memory_target import MemoryTarget

SETTINGS = EngineSettings(control_interval=0.05, batch_size=5, batches_in_flight=1)


class Recorder(EngineObserver):
    def __init__(self) -> None:
        self.outcomes: list[tuple[str, str, LogAction, LogStatus, bool]] = []
        self.latencies: list[tuple[str, float]] = []
        self.cycles: list[tuple[str, CycleKind, CycleState, float]] = []

    def recorded(self, job: str, target_type: str, outcomes: Sequence[Outcome]) -> None:
        self.outcomes += [(job, target_type, o.action, o.status, o.deferred) for o in outcomes]

    def applied(self, job: str, latency: float) -> None:
        self.latencies.append((job, latency))

    def cycle_ended(self, job: str, kind: CycleKind, state: CycleState, seconds: float) -> None:
        self.cycles.append((job, kind, state, seconds))


async def test_the_observer_is_told_outcomes_latencies_and_cycle_ends(store: Store) -> None:
    [ada, bob, _] = await add_users(store, 3)
    await store.create_job("mem", spec())  # deletes users; deprovisions settle for 0.2 s
    await store.update_job("mem", state=JobState.RUNNING)
    target = MemoryTarget()
    recorder = Recorder()
    engine = MemoryEngine(store, target, SETTINGS)
    engine.observer = recorder
    await engine.start()
    try:

        async def initial_done() -> bool:
            return (await store.get_job("mem")).initial_done

        await eventually(initial_done, what="the initial cycle")
        [(job, kind, state, seconds)] = recorder.cycles
        assert (job, kind, state) == ("mem", CycleKind.INITIAL, CycleState.DONE)
        assert 0 <= seconds < 30
        create = ("mem", "sql", LogAction.CREATE, LogStatus.SUCCESS, False)
        assert recorder.outcomes == [create] * 3
        assert recorder.latencies == []  # the initial cycle follows no change

        entry = await store.get_entry(EntryKind.USER, ada)
        await store.update_entry(
            EntryKind.USER, ada, resource={**entry.resource, "displayName": "Ada Lovelace"}
        )
        await eventually(lambda: recorder.latencies, what="the update's latency")
        [(job, latency)] = recorder.latencies
        assert job == "mem"
        [change] = [c for c in await store.changes_after(0) if c.action == "updated"]
        assert change.entry_id == ada
        assert 0 <= latency <= engine.clock() - change.at
        assert ("mem", "sql", LogAction.UPDATE, LogStatus.SUCCESS, False) in recorder.outcomes

        # A delete waits for its burst to settle: its latency includes the wait.
        await store.delete_entry(EntryKind.USER, bob)
        await eventually(lambda: len(recorder.latencies) == 2, what="the delete's latency")
        assert recorder.latencies[1][1] >= 0.2
        deletes = [o for o in recorder.outcomes if o[2] is LogAction.DELETE]
        assert deletes == [
            ("mem", "sql", LogAction.DELETE, LogStatus.SKIPPED, True),  # gathered
            ("mem", "sql", LogAction.DELETE, LogStatus.SUCCESS, False),  # carried out
        ]

        await store.update_job("mem", state=JobState.PAUSED)
        await eventually(lambda: len(recorder.cycles) == 2, what="the paused cycle's end")
        assert recorder.cycles[1][:3] == ("mem", CycleKind.INCREMENTAL, CycleState.STOPPED)
    finally:
        await engine.stop()
    assert set(target.by_name(USER)) == {"user000@example.com", "user002@example.com"}
