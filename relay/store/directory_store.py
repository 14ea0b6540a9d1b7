"""The directory half of :class:`~relay.store.base.Store`, shared by both implementations.

A store supplies :meth:`DirectoryMethods._steps`, which runs one operation of
:mod:`relay.store.directory_steps` in one transaction; this class turns the interface's
methods into those operations and lets waiters know about new changes.

Waking: a write through this store object wakes :meth:`wait_for_changes` at once (an
:class:`asyncio.Event` per generation of changes); PostgreSQL also wakes it through
LISTEN/NOTIFY for writes by other processes and nodes. As a safety net for writes the
store cannot hear of (another process writing the SQLite file, such as ``hatchway directory
import``), a waiter also looks at the change log every ``change_poll_interval`` seconds.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from relay.directory.query import Query
from relay.store.base import (
    Assignment,
    Change,
    Entry,
    EntryKind,
    EntryWrite,
    Member,
    MemberChange,
    Store,
)
from relay.store.directory_batches import write_many
from relay.store.directory_dialects import Dialect
from relay.store.directory_steps import DirectorySteps, Steps


class ChangeSignal:
    """Generations of changes: waiters take the current event, a change sets it and starts
    a new generation, so no wake-up falls between a check and a wait."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        return self._event

    def notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()


class DirectoryMethods(Store):
    clock: Callable[[], float]
    #: Seconds between looks at the change log while waiting, for writes this store object
    #: does not hear of; set by each store.
    change_poll_interval: float
    _directory: DirectorySteps
    _signal: ChangeSignal

    def _init_directory(self, dialect: Dialect, change_poll_interval: float) -> None:
        self._directory = DirectorySteps(dialect)
        self._signal = ChangeSignal()
        self.change_poll_interval = change_poll_interval

    @abc.abstractmethod
    async def _steps(self, steps: Steps, *, write: bool) -> Any:
        """Run ``steps`` to the end in one transaction (serialised with other writers when
        ``write``) and return its result; roll back if it raises."""

    async def _write(self, steps: Steps) -> Any:
        result = await self._steps(steps, write=True)
        self._signal.notify()
        return result

    async def create_entry(
        self, kind: EntryKind, resource: dict[str, Any], *, members: Sequence[str] = ()
    ) -> Entry:
        entry: Entry = await self._write(
            self._directory.create(kind, resource, list(members), self.clock())
        )
        return entry

    async def get_entry(self, kind: EntryKind, entry_id: str) -> Entry:
        entry: Entry = await self._steps(self._directory.get(kind, entry_id), write=False)
        return entry

    async def update_entry(
        self,
        kind: EntryKind,
        entry_id: str,
        *,
        resource: dict[str, Any] | None = None,
        members: MemberChange | None = None,
        if_version: int | None = None,
    ) -> Entry:
        steps = self._directory.update(kind, entry_id, resource, members, if_version, self.clock())
        entry: Entry = await self._write(steps)
        return entry

    async def delete_entry(
        self, kind: EntryKind, entry_id: str, *, if_version: int | None = None
    ) -> None:
        await self._write(self._directory.delete(kind, entry_id, if_version, self.clock()))

    async def write_entries(self, writes: Sequence[EntryWrite]) -> list[Entry | None]:
        if not writes:
            return []
        results: list[Entry | None] = await self._write(
            write_many(self._directory, writes, self.clock())
        )
        return results

    async def query_entries(self, kind: EntryKind, query: Query) -> tuple[list[Entry], int]:
        page: tuple[list[Entry], int] = await self._steps(
            self._directory.query(kind, query), write=False
        )
        return page

    async def group_members(self, group_id: str, *, expand: bool = False) -> list[Member]:
        members: list[Member] = await self._steps(
            self._directory.members(group_id, expand), write=False
        )
        return members

    async def member_groups(self, entry_id: str) -> list[str]:
        groups: list[str] = await self._steps(self._directory.groups_of(entry_id), write=False)
        return groups

    async def changes_after(self, seq: int, *, limit: int = 500) -> list[Change]:
        changes: list[Change] = await self._steps(
            self._directory.changes_after(seq, limit), write=False
        )
        return changes

    async def latest_change(self) -> int:
        latest: int = await self._steps(self._directory.latest(), write=False)
        return latest

    async def wait_for_changes(self, seq: int, *, timeout: float = 30.0) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._signal.current()
            latest = await self.latest_change()
            if latest > seq:
                return latest
            remaining = deadline - loop.time()
            if remaining <= 0:
                return seq
            # A timeout ends a poll round (or the caller's wait): look again above.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, self.change_poll_interval))

    async def assign(
        self, job: str, kind: EntryKind, entry_id: str, *, role: str | None = None
    ) -> None:
        await self._write(self._directory.assign(job, kind, entry_id, role, self.clock()))

    async def unassign(self, job: str, kind: EntryKind, entry_id: str) -> None:
        await self._write(self._directory.unassign(job, kind, entry_id, self.clock()))

    async def assignments(self, job: str) -> list[Assignment]:
        found: list[Assignment] = await self._steps(self._directory.assignments(job), write=False)
        return found

    async def assigned_users(self, job: str) -> list[str]:
        users: list[str] = await self._steps(self._directory.assigned_users(job), write=False)
        return users

    # Reads for the engine -------------------------------------------------------------------

    async def entries_page(
        self, kind: EntryKind, *, after_id: str = "", limit: int = 1000
    ) -> list[Entry]:
        page: list[Entry] = await self._steps(
            self._directory.entries_page(kind, after_id, limit), write=False
        )
        return page

    async def get_entries(self, kind: EntryKind, ids: Sequence[str]) -> dict[str, Entry]:
        if not ids:
            return {}
        found: dict[str, Entry] = await self._steps(self._directory.entries(kind, ids), write=False)
        return found

    async def members_of(self, group_ids: Sequence[str]) -> dict[str, list[Member]]:
        if not group_ids:
            return {}
        found: dict[str, list[Member]] = await self._steps(
            self._directory.members_of(group_ids), write=False
        )
        return found

    async def groups_of(self, entry_ids: Sequence[str]) -> dict[str, list[str]]:
        if not entry_ids:
            return {}
        found: dict[str, list[str]] = await self._steps(
            self._directory.groups_of_entries(entry_ids), write=False
        )
        return found

    async def effective_assignments(
        self, job: str, kind: EntryKind, entry_ids: Sequence[str]
    ) -> dict[str, Assignment]:
        if not entry_ids:
            return {}
        found: dict[str, Assignment] = await self._steps(
            self._directory.effective_assignments(job, kind, entry_ids), write=False
        )
        return found
