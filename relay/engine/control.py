"""The changes administrators make to provisioning jobs, written to the store in one place.

The admin API calls these (and so does anything else that changes a job), so a job file is
always checked before it is stored, and start, pause, resume and restart mean the same
whoever asks. They only write the store: a running engine acts on the change at its next
control round, which a caller inside the relay brings forward with
:meth:`relay.engine.engine.Engine.notice`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from enum import StrEnum

from relay.engine import job as jobs
from relay.store.base import Store
from relay.store.engine_records import CycleState, JobRecord, JobState, StagedDecision
from shared.exceptions import SettingsError

#: How a job file given as text is named in the errors about it.
JOB_FILE = "job file"
#: Running cycles a restart stops at most (a job runs one at a time; more are leftovers
#: of relays that died).
RESTART_CYCLES = 100

#: What a start, resume or restart clears: a quarantine and its retry schedule.
_CLEARED = {"quarantine_reason": None, "next_attempt_at": None, "quarantine_count": 0}


class Steer(StrEnum):
    """What an administrator can ask of a job's state."""

    #: Run the job: an initial cycle, then following changes.
    START = "start"
    #: Stop writing to the target; the job resumes where it stopped.
    PAUSE = "pause"
    #: Run a paused or quarantined job again.
    RESUME = "resume"
    #: Start over with a fresh initial cycle (existing links are kept).
    RESTART = "restart"


async def create(
    store: Store, spec_text: str, name: str | None = None, *, source: str = JOB_FILE
) -> JobRecord:
    """A new job (state ``created``: nothing runs until it is started). ``name`` wins
    over the file's ``name`` key. Raises :class:`SettingsError` naming ``source`` and the
    key for a bad job file, and :class:`~relay.exceptions.Conflict` for a taken name."""
    settings = jobs.parse(spec_text, source=source, name=name)
    return await store.create_job(settings.name, spec_text)


async def update(store: Store, name: str, spec_text: str, *, source: str = JOB_FILE) -> JobRecord:
    """Replace job ``name``'s file; the job keeps its name whatever the file's ``name``
    key says. A running engine replaces the job's task with one for the new version.
    Raises :class:`SettingsError` and :class:`~relay.exceptions.NotFound`."""
    await store.get_job(name)
    jobs.parse(spec_text, source=source, name=name)
    return await store.update_job(name, spec=spec_text)


async def delete(store: Store, name: str) -> None:
    """Drop the job and what the engine keeps for it; the accounts it made in the target
    are left as they are. Raises :class:`~relay.exceptions.NotFound`."""
    await store.delete_job(name)


async def steer(store: Store, name: str, command: Steer | str) -> tuple[JobState, JobRecord]:
    """Carry out ``command`` and return the state before it with the job after it. A
    start or resume of a running job changes nothing (the job comes back as it was);
    start, resume and restart clear a quarantine; a restart stops the job's running
    cycles and has it run a fresh initial cycle. Raises :class:`ValueError` for a
    command that is not a :class:`Steer`."""
    command = Steer(command)
    record = await store.get_job(name)
    if command in (Steer.START, Steer.RESUME):
        if record.state is JobState.RUNNING:
            return record.state, record
        changed = await store.update_job(name, state=JobState.RUNNING, **_CLEARED)
    elif command is Steer.PAUSE:
        changed = await store.update_job(name, state=JobState.PAUSED)
    else:
        running = await store.list_cycles(name, state=CycleState.RUNNING, limit=RESTART_CYCLES)
        for cycle in running:
            await store.update_cycle(cycle.id, state=CycleState.STOPPED)
        changed = await store.update_job(
            name, state=JobState.RUNNING, initial_done=False, **_CLEARED
        )
    return record.state, changed


async def decide(
    store: Store, name: str, decision: StagedDecision, ids: Sequence[int] | None = None
) -> int:
    """Approve or reject the job's pending staged deprovisions ``ids`` (None: all
    pending); returns how many were decided. The job's task carries out approved ones and
    holds rejected ones. Raises :class:`~relay.exceptions.NotFound` for an unknown job."""
    await store.get_job(name)
    return await store.decide_staged(name, decision, ids)


def connection_text(record: JobRecord) -> str:
    """Where the job writes, as people read it: "agent / connector", "built-in /
    connector", or "(invalid: ...)" for a stored file that no longer parses."""
    return _connection_text(record.name, record.spec)


@functools.lru_cache(maxsize=1024)
def _connection_text(name: str, spec: str) -> str:
    # Parsing a job file compiles its mappings (about 0.1 ms): a list of jobs would
    # parse every file on every refresh of the dashboard.
    try:
        settings = jobs.parse(spec, source=f"job {name}", name=name)
    except SettingsError as exc:
        return f"(invalid: {exc})"
    agent = settings.connection.agent or "built-in"
    return f"{agent} / {settings.connection.connector}"
