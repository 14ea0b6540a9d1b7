"""The relay's Prometheus metrics, and the recent throughput the dashboard charts.

Each relay application has its own :class:`~prometheus_client.CollectorRegistry` (never
the library's global one), so several relays in one process (tests) count apart. Four
kinds of figures:

- counted as they happen, told by the engine (:class:`Metrics` is its observer):
  ``hatchway_operations_total``, ``hatchway_cycle_duration_seconds``,
  ``hatchway_change_latency_seconds``;
- read from the engine's memory at scrape time: ``hatchway_cycle_running_seconds`` (a
  histogram tells a cycle's length only once it ends, too late for one that hangs);
- read from the hub at scrape time: ``hatchway_agents_connected``,
  ``hatchway_agent_batches_in_flight``, ``hatchway_agent_batches_queued``;
- read from the store at scrape time, in three cheap queries under one timeout:
  ``hatchway_agents``, ``hatchway_jobs``, ``hatchway_job_quarantined``,
  ``hatchway_staged_deprovisions``. A store that fails or does not answer leaves these out
  and sets ``hatchway_store_up`` to 0: the scrape still answers (``/readyz`` tells the
  failure).

A job's series carry its name as ``job_name``: Prometheus keeps ``job`` for its own scrape
job (it would rename ours ``exported_job``).

A scrape reads the engine, the hub and the store on the event loop, then writes the text
in a thread: with a thousand jobs the text is megabytes and takes most of a second to
write, which would otherwise hold up every agent's websocket and every API call meanwhile.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from relay.engine.observer import EngineObserver
from relay.engine.work import Outcome
from relay.exceptions import StoreError
from relay.hub.hub import Hub
from relay.store.base import Store
from relay.store.engine_records import (
    CycleKind,
    CycleRecord,
    CycleState,
    JobState,
    LogAction,
    LogStatus,
    StagedDecision,
)

log = structlog.get_logger("relay.metrics")

#: Default seconds a scrape waits for the store.
STORE_TIMEOUT = 2.0
#: Agent states as the store tells them (``AgentRecord.state``).
AGENT_STATES = ("registered", "connected", "disconnected", "revoked")
#: Cycles last from a second (on-demand runs) to a day (a first cycle of a big directory);
#: incremental cycle records roll over every hour.
CYCLE_BUCKETS = (1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400)
#: A change usually reaches the target in milliseconds; a gathered deprovision waits for
#: its burst to settle (seconds to minutes), a retry longer.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class Throughput:
    """Operations succeeded and failed, counted per ``resolution`` seconds (default 10)
    for the last ``span`` seconds (default a day): a ring of at most span / resolution
    buckets, older ones dropped as new ones come. ``clock`` gives Unix time."""

    #: Most points :meth:`series` answers with.
    MAX_POINTS = 10_000

    def __init__(
        self,
        *,
        resolution: float = 10.0,
        span: float = 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if resolution <= 0 or span < resolution:
            raise ValueError("resolution must be positive and span at least one resolution")
        self.resolution = resolution
        self.span = span
        self.clock = clock
        self._keep = math.ceil(span / resolution)
        #: [bucket index, succeeded, failed], oldest first; index = start // resolution.
        self._buckets: collections.deque[list[int]] = collections.deque()

    def add(self, succeeded: int, failed: int) -> None:
        index = math.floor(self.clock() / self.resolution)
        buckets = self._buckets
        if buckets and buckets[-1][0] >= index:
            # The same bucket, or a clock set back: counted in the newest bucket.
            buckets[-1][1] += succeeded
            buckets[-1][2] += failed
        else:
            buckets.append([index, succeeded, failed])
        while buckets[0][0] <= buckets[-1][0] - self._keep:
            buckets.popleft()

    def rate(self, seconds: float = 60) -> float:
        """Operations (succeeded and failed) per second over the last ``seconds``; the
        oldest bucket the window touches counts whole, and the time it covers with it."""
        if seconds <= 0:
            raise ValueError("seconds must be positive")
        now = self.clock()
        first = math.floor((now - seconds) / self.resolution)
        total = sum(s + f for index, s, f in self._buckets if index >= first)
        covered = now - first * self.resolution
        return total / covered if covered > 0 else 0.0

    def series(self, seconds: float, step: float) -> list[tuple[float, int, int]]:
        """``(start, succeeded, failed)`` per ``step`` seconds over the last ``seconds``,
        oldest first, steps without operations included, the last one still filling.
        ``step`` is rounded up to whole buckets (``resolution``); starts are multiples of
        it, so points stay put from one call to the next. Raises :class:`ValueError` for
        a non-positive ``seconds`` or ``step``, or more than :attr:`MAX_POINTS` points."""
        if seconds <= 0 or step <= 0:
            raise ValueError("seconds and step must be positive")
        width = max(1, math.ceil(step / self.resolution - 1e-9))
        count = max(1, math.ceil(seconds / (width * self.resolution) - 1e-9))
        if count > self.MAX_POINTS:
            raise ValueError(f"at most {self.MAX_POINTS} points")
        last = math.floor(self.clock() / self.resolution) // width * width
        first = last - (count - 1) * width
        points = [[0, 0] for _ in range(count)]
        for index, succeeded, failed in self._buckets:
            if first <= index < last + width:
                point = points[(index - first) // width]
                point[0] += succeeded
                point[1] += failed
        return [((first + i * width) * self.resolution, s, f) for i, (s, f) in enumerate(points)]


@dataclass(frozen=True, slots=True)
class StoreReading:
    """What one scrape read from the store."""

    agents: dict[str, int]
    jobs: dict[str, JobState]
    #: Deprovisions waiting for approval, by job (jobs with none left out).
    staged: dict[str, int]


class Metrics(EngineObserver):
    """The relay's metrics: the engine's observer, the engine's, the hub's and the store's
    figures at scrape time, and :attr:`throughput` for the admin API. ``clock`` (Unix time)
    is the throughput's and tells how long running cycles have run."""

    def __init__(self, hub: Hub, *, clock: Callable[[], float] = time.time) -> None:
        self.hub = hub
        self.clock = clock
        self.registry = CollectorRegistry()
        self.throughput = Throughput(clock=clock)
        self._operations = Counter(
            "hatchway_operations",
            "Object actions carried out in targets (as in the provisioning logs), by job,"
            " connector type, action and result",
            ["job_name", "connector_type", "action", "result"],
            registry=self.registry,
        )
        self._cycles = Histogram(
            "hatchway_cycle_duration_seconds",
            "Seconds from a cycle's start to its end, by job, kind and final state",
            ["job_name", "kind", "state"],
            buckets=CYCLE_BUCKETS,
            registry=self.registry,
        )
        self._latency = Histogram(
            "hatchway_change_latency_seconds",
            "Seconds from a directory change (its time in the change log) to the target's"
            " successful answer, for incremental work, by job",
            ["job_name"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    # The engine's observer ----------------------------------------------------------------

    def recorded(self, job: str, target_type: str, outcomes: Sequence[Outcome]) -> None:
        succeeded = failed = 0
        for outcome in outcomes:
            if outcome.deferred or (
                outcome.action is LogAction.NONE and outcome.status is LogStatus.SUCCESS
            ):
                continue  # not carried out yet, or nothing to do
            self._operations.labels(
                job, target_type, outcome.action.value, outcome.status.value
            ).inc()
            if outcome.status is LogStatus.SUCCESS:
                succeeded += 1
            elif outcome.status is LogStatus.FAILURE:
                failed += 1
        if succeeded or failed:
            self.throughput.add(succeeded, failed)

    def applied(self, job: str, latency: float) -> None:
        self._latency.labels(job).observe(latency)

    def cycle_ended(self, job: str, kind: CycleKind, state: CycleState, seconds: float) -> None:
        self._cycles.labels(job, kind.value, state.value).observe(seconds)

    # Scrapes --------------------------------------------------------------------------------

    async def scrape(
        self,
        store: Store,
        running: Sequence[CycleRecord],
        accept: str | None,
        *,
        timeout: float = STORE_TIMEOUT,
    ) -> tuple[bytes, str]:
        """The exposition body and its content type (the format ``accept`` asks for:
        Prometheus text, or OpenMetrics). ``running`` are the cycles the engine runs now
        (:meth:`~relay.engine.engine.Engine.running_cycles`). The store is given
        ``timeout`` seconds."""
        reading = await read_store(store, timeout=timeout)
        encode, content_type = choose_encoder(accept or "")
        # The hub's figures are read here (the engine's were, by the caller), on the loop
        # that changes them; the counters take their own locks, so the text can be written
        # in a thread.
        live = [_running(running, self.clock()), *_live(self.hub, reading)]
        snapshot = _Scrape(self.registry, live)
        return await asyncio.to_thread(encode, snapshot), content_type


async def read_store(store: Store, *, timeout: float = STORE_TIMEOUT) -> StoreReading | None:
    """Agents by state, every job's state and its deprovisions waiting for approval; None
    (logged) when the store fails or does not answer within ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            agents = await store.list_agents()
            jobs = await store.list_jobs()
            staged = await store.staged_counts(StagedDecision.PENDING)
    except TimeoutError:
        log.warning("metrics: the store did not answer", timeout=timeout)
        return None
    except StoreError as exc:
        log.warning("metrics: the store failed", error=str(exc))
        return None
    by_state = dict.fromkeys(AGENT_STATES, 0)
    for agent in agents:
        by_state[agent.state] = by_state.get(agent.state, 0) + 1
    return StoreReading(by_state, {job.name: job.state for job in jobs}, staged)


class _Scrape(CollectorRegistry):
    """What one scrape shows: the relay's counters and histograms, and the families read
    from the hub and the store for it."""

    def __init__(self, registry: CollectorRegistry, live: list[Metric]) -> None:
        super().__init__(auto_describe=False)
        self._counted = registry
        self._live = live

    def collect(self) -> Iterator[Metric]:
        yield from self._counted.collect()
        yield from self._live


def _running(cycles: Sequence[CycleRecord], now: float) -> Metric:
    """How long each running initial and reconcile cycle has run, from its start (an
    initial cycle resumed after a restart counts from its first start)."""
    running = GaugeMetricFamily(
        "hatchway_cycle_running_seconds",
        "Seconds the job's running initial or reconcile cycle has run so far",
        labels=["job_name", "kind"],
    )
    for cycle in sorted(cycles, key=lambda c: c.job):
        running.add_metric([cycle.job, cycle.kind.value], max(now - cycle.started_at, 0.0))
    return running


def _live(hub: Hub, reading: StoreReading | None) -> Iterator[Metric]:
    """The families read at scrape time: the hub's links now, and the store's
    ``reading`` (None: the store failed)."""
    connected = GaugeMetricFamily(
        "hatchway_agents_connected", "Agents with a websocket to this relay now"
    )
    connected.add_metric([], len(hub.connected_agents()))
    in_flight = GaugeMetricFamily(
        "hatchway_agent_batches_in_flight",
        "Batches sent to the agent and not answered yet",
        labels=["agent"],
    )
    queued = GaugeMetricFamily(
        "hatchway_agent_batches_queued",
        "Batches waiting for the agent (offline, or its window full)",
        labels=["agent"],
    )
    for name, link in sorted(hub.links.items()):
        in_flight.add_metric([name], len(link.sent))
        queued.add_metric([name], len(link.queue))
    yield from (connected, in_flight, queued)
    up = GaugeMetricFamily(
        "hatchway_store_up", "1 when this scrape read the store, 0 when it failed"
    )
    up.add_metric([], 0 if reading is None else 1)
    yield up
    if reading is None:
        return
    agents = GaugeMetricFamily(
        "hatchway_agents", "Registered agents by state, on every relay", labels=["state"]
    )
    for state, count in reading.agents.items():
        agents.add_metric([state], count)
    jobs = GaugeMetricFamily("hatchway_jobs", "Jobs by state", labels=["state"])
    for job_state in JobState:
        count = sum(1 for s in reading.jobs.values() if s is job_state)
        jobs.add_metric([job_state.value], count)
    quarantined = GaugeMetricFamily(
        "hatchway_job_quarantined",
        "1 while the job is quarantined (its target refused it or kept failing)",
        labels=["job_name"],
    )
    staged = GaugeMetricFamily(
        "hatchway_staged_deprovisions",
        "Deprovisions the job's deletion guard staged, waiting for approval",
        labels=["job_name"],
    )
    for name, job_state in sorted(reading.jobs.items()):
        quarantined.add_metric([name], 1 if job_state is JobState.QUARANTINED else 0)
        staged.add_metric([name], reading.staged.get(name, 0))
    yield from (agents, jobs, quarantined, staged)
