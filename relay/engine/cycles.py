"""What every cycle of one job works with, and the reads several cycles share.

A job's cycles (:mod:`relay.engine.initial`, :mod:`relay.engine.incremental`,
:mod:`relay.engine.reconcile`) all send their objects through one
:class:`~relay.engine.processor.Processor`; what differs is which objects they hand it and
how they guard deprovisions. The target is read in whole only by the initial and reconcile
cycles, a page at a time, never per object.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from relay.engine.exceptions import Quarantine, TargetUnavailable
from relay.engine.job import JobSettings
from relay.engine.mapping import Mapper
from relay.engine.processor import Processor
from relay.engine.settings import EngineSettings
from relay.engine.target import Target
from relay.store.base import EntryKind, Store
from shared.connector import (
    Action,
    ConnectorObject,
    ObjectClassInfo,
    Operation,
    OperationResult,
    Page,
)
from shared.exceptions import ErrorClass

#: Users before groups, so group members already have their anchors.
KINDS = (EntryKind.USER, EntryKind.GROUP)
#: Objects asked for per page when a cycle reads the whole target.
READ_PAGE_SIZE = 1000

Ref = tuple[EntryKind, str]
T = TypeVar("T")


@dataclass
class JobRun:
    """One job ready to run: its settings, target, compiled mappings and processor."""

    store: Store
    job: JobSettings
    target: Target
    mappers: dict[str, Mapper]
    processor: Processor
    settings: EngineSettings
    clock: Callable[[], float] = time.time

    @property
    def name(self) -> str:
        return self.job.name

    def kinds(self) -> list[EntryKind]:
        """The kinds this job maps (a job may leave groups out), users first."""
        return [kind for kind in KINDS if kind in self.mappers]


def read_failure(target: Target, what: str, result: OperationResult) -> Exception:
    """The error a failed read means for the job: refused credentials stop it, anything
    else is tried again later."""
    assert result.error is not None
    text = f"{target.name}: {what}: {result.error.error_class}: {result.error.message}"
    if result.error.error_class is ErrorClass.AUTHENTICATION:
        return Quarantine(text)
    return TargetUnavailable(text)


async def read_schemas(
    target: Target, job: str, *, timeout: float | None = 120.0
) -> dict[str, ObjectClassInfo]:
    """The target's object classes by name, asked for once per job task (the connector's
    schema decides which default mappings apply and how values are typed). Waits at most
    ``timeout`` seconds (default 120)."""
    op = Operation(key=f"{job}:schema:{uuid.uuid4().hex}", action=Action.SCHEMA)
    [result] = await target.run([op], timeout=timeout)
    if result.error is not None:
        raise read_failure(target, "reading the schema", result)
    if result.schema is None:
        raise TargetUnavailable(f"{target.name}: answered the schema request without a schema")
    return {c.name: c for c in result.schema.object_classes}


async def read_target(
    target: Target,
    job: str,
    object_class: str,
    *,
    page_size: int = READ_PAGE_SIZE,
    timeout: float | None = 120.0,
) -> AsyncIterator[list[ConnectorObject]]:
    """Every object of ``object_class`` in the target, a page at a time. Each page waits at
    most ``timeout`` seconds (default 120). Keys are fresh: a read must run, not be
    answered from the agent's journal."""
    cookie: str | None = None
    while True:
        op = Operation(
            key=f"{job}:read:{uuid.uuid4().hex}",
            action=Action.SEARCH,
            object_class=object_class,
            page=Page(size=page_size, cookie=cookie),
        )
        [result] = await target.run([op], timeout=timeout)
        if result.error is not None:
            raise read_failure(target, f"reading {object_class} objects", result)
        yield result.objects or []
        cookie = result.cookie
        if not cookie:
            return


async def expand_groups(store: Store, group_ids: Iterable[str]) -> tuple[list[str], list[str]]:
    """The users and groups inside ``group_ids`` at any depth (the groups themselves
    included), each once; nested cycles are safe. One query per level of nesting."""
    groups: dict[str, None] = dict.fromkeys(group_ids)
    users: dict[str, None] = {}
    level = list(groups)
    while level:
        members = await store.members_of(level)
        level = []
        for found in members.values():
            for member in found:
                if member.kind is EntryKind.USER:
                    users.setdefault(member.id)
                elif member.id not in groups:
                    groups[member.id] = None
                    level.append(member.id)
    return list(users), list(groups)


def ordered(refs: Iterable[Ref]) -> list[Ref]:
    """``refs`` without repeats, users first, each kind in the order first seen."""
    unique = list(dict.fromkeys(refs))
    return [r for r in unique if r[0] is EntryKind.USER] + [
        r for r in unique if r[0] is not EntryKind.USER
    ]


def chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
