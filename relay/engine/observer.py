"""What the engine tells whoever watches it: outcomes, latencies and cycle ends.

The engine knows nothing of Prometheus: it calls an :class:`EngineObserver`, and the
relay's metrics (:class:`relay.api.metrics.Metrics`) are one. The base class does nothing,
so an engine built without an observer (as in tests) runs unchanged. Calls come from the
engine's tasks on the event loop and must return at once: an observer keeps counts in
memory and never waits.
"""

from __future__ import annotations

from collections.abc import Sequence

from relay.engine.work import Outcome
from relay.store.engine_records import CycleKind, CycleRecord, CycleState


class EngineObserver:
    """Watches the engine; every method does nothing unless a subclass says otherwise."""

    def recorded(self, job: str, target_type: str, outcomes: Sequence[Outcome]) -> None:
        """A batch's outcomes, once recorded in the store. ``target_type`` is the job's
        (``scim``, ``ldap``, ``sql``). Dry runs are not recorded, so not told."""

    def applied(self, job: str, latency: float) -> None:
        """A directory change reached the target: ``latency`` seconds from the change's
        time in the change log to the target's successful answer (incremental work)."""

    def cycle_ended(self, job: str, kind: CycleKind, state: CycleState, seconds: float) -> None:
        """A cycle ended (done, failed or stopped) after ``seconds``."""

    def ended(self, cycle: CycleRecord) -> None:
        """Tell :meth:`cycle_ended` of a cycle record the store has just ended."""
        if cycle.finished_at is not None:
            self.cycle_ended(
                cycle.job, cycle.kind, cycle.state, max(cycle.finished_at - cycle.started_at, 0.0)
            )
