"""What an import changes in the directory, worked out before anything is written, and then
written in batches.

Users are matched by ``externalId`` when the file gives one and the store has it, else by
``userName`` (ignoring case); groups likewise by ``externalId`` or ``displayName``. A matched
entry gets the file's attributes over its own (attributes the file leaves out or empty are
kept), so importing the same file again finds nothing to change: no new versions and no
change-log rows. For every group the file names, its members among the file's entries
become exactly the ones the file lists; members from elsewhere (a SCIM push) are kept.

Writes go in transactions of :data:`BATCH` entries (:meth:`Store.write_entries`), so a
running relay's writers wait at most one batch for the store; a failure stops the import
after the batches already written, and running it again finishes the job.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay.directory.import_rows import Format, ParsedFile, Record
from relay.directory.importer import read_file
from relay.directory.query import Query
from relay.directory.schemas import GROUP_SCHEMA
from relay.exceptions import ImportRefused
from relay.store.base import Entry, EntryKind, EntryWrite, MemberChange, Store

#: Entries written per transaction.
BATCH = 1000

Key = tuple[EntryKind, str]


def _key(kind: EntryKind, resource: dict[str, Any]) -> Key:
    return kind, str(resource["userName" if kind is EntryKind.USER else "displayName"]).lower()


def merged(stored: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """The file's attributes over the stored ones; extension attributes one by one."""
    result = dict(stored)
    for name, value in incoming.items():
        if name == "schemas":
            continue
        if ":" in name and isinstance(value, dict) and isinstance(stored.get(name), dict):
            result[name] = {**stored[name], **value}
        else:
            result[name] = value
    schemas = list(stored.get("schemas", []))
    schemas += [s for s in incoming.get("schemas", []) if s not in schemas]
    result["schemas"] = schemas
    return result


@dataclass(slots=True)
class Plan:
    creates: list[tuple[Key, dict[str, Any]]] = field(default_factory=list)
    updates: list[tuple[Key, Entry, dict[str, Any]]] = field(default_factory=list)
    unchanged: int = 0
    deletes: list[Entry] = field(default_factory=list)
    #: Per group: member keys to add and to remove.
    members: dict[Key, tuple[set[Key], set[Key]]] = field(default_factory=dict)
    #: Ids of the entries that exist already, by key.
    ids: dict[Key, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def membership_changes(self) -> int:
        return sum(len(add) + len(remove) for add, remove in self.members.values())

    @property
    def writes(self) -> int:
        groups = sum(1 for add, remove in self.members.values() if add or remove)
        return len(self.creates) + len(self.updates) + len(self.deletes) + groups


class _Index:
    def __init__(self, kind: EntryKind, entries: Sequence[Entry]) -> None:
        self.kind = kind
        self.by_name: dict[str, Entry] = {}
        self.by_external: dict[str, Entry] = {}
        for entry in entries:
            self.by_name.setdefault(_key(kind, entry.resource)[1], entry)
            external = entry.resource.get("externalId")
            if isinstance(external, str):
                self.by_external.setdefault(external, entry)

    def match(self, resource: dict[str, Any]) -> Entry | None:
        external = resource.get("externalId")
        if isinstance(external, str) and external in self.by_external:
            return self.by_external[external]
        return self.by_name.get(_key(self.kind, resource)[1])


async def make_plan(
    store: Store,
    parsed: ParsedFile,
    *,
    source: str,
    delete_missing: bool = False,
    max_deletes: int = 0,
) -> Plan:
    """Compare the file with the store; raises :class:`ImportRefused` for rows that clash
    with the store, or when more users would be deleted than ``max_deletes``."""
    plan = Plan()
    users, _ = await store.query_entries(EntryKind.USER, Query())
    groups, _ = await store.query_entries(EntryKind.GROUP, Query())
    indexes = {
        EntryKind.USER: _Index(EntryKind.USER, users),
        EntryKind.GROUP: _Index(EntryKind.GROUP, groups),
    }
    problems: list[tuple[int, str]] = []
    matched: set[str] = set()
    by_source: dict[str, Key] = {}
    file_keys: set[Key] = set()

    def take(record: Record) -> Key:
        index = indexes[record.kind]
        key = _key(record.kind, record.resource)
        found = index.match(record.resource)
        if found is None:
            plan.creates.append((key, record.resource))
        else:
            renamed = index.by_name.get(key[1])
            if record.kind is EntryKind.USER and renamed is not None and renamed.id != found.id:
                problems.append(
                    (
                        record.line,
                        f"userName {record.name!r} belongs to another user ({renamed.id})",
                    )
                )
            matched.add(found.id)
            plan.ids[key] = found.id
            wanted = merged(found.resource, record.resource)
            if wanted != found.resource:
                plan.updates.append((key, found, wanted))
            else:
                plan.unchanged += 1
        if record.source_id is not None:
            by_source[record.source_id] = key
        file_keys.add(key)
        return key

    for record in parsed.records:
        take(record)
    desired: dict[Key, set[Key]] = {}
    for record in parsed.records:
        key = _key(record.kind, record.resource)
        if record.kind is EntryKind.GROUP:
            wanted = desired.setdefault(key, set())
            for reference in record.members or ():
                member = by_source.get(reference)
                if member is None:
                    plan.warnings.append(
                        f"{source}:{record.line}: member {reference!r} is not in the file; skipped"
                    )
                else:
                    wanted.add(member)
        for name in record.groups:
            group_key = (EntryKind.GROUP, name.lower())
            if group_key not in file_keys:
                resource = {"schemas": [GROUP_SCHEMA], "displayName": name}
                take(Record(record.line, EntryKind.GROUP, resource))
            desired.setdefault(group_key, set()).add(key)
    if problems:
        raise ImportRefused(source, problems)

    names = {entry.id: _key(EntryKind.USER, entry.resource) for entry in users}
    names.update({entry.id: _key(EntryKind.GROUP, entry.resource) for entry in groups})
    for group_key, wanted in desired.items():
        current: set[Key] = set()
        group_id = plan.ids.get(group_key)
        if group_id is not None:
            current = {names[m.id] for m in await store.group_members(group_id) if m.id in names}
        add = wanted - current
        remove = (current & file_keys) - wanted
        if add or remove:
            plan.members[group_key] = (add, remove)

    if delete_missing:
        plan.deletes = [entry for entry in users if entry.id not in matched]
        if len(plan.deletes) > max_deletes:
            problem = (
                f"{len(plan.deletes)} users are not in the file and would be deleted, more"
                f" than --max-deletes {max_deletes}; check the file, or raise the limit"
            )
            raise ImportRefused(source, [(0, problem)])
    return plan


async def apply_plan(
    store: Store, plan: Plan, *, progress: Callable[[int], None] = lambda done: None
) -> None:
    """Write ``plan``: entries first (so new members have ids), then memberships, then
    deletions. ``progress`` hears how many writes are done after each batch."""
    done = 0
    ids = dict(plan.ids)
    writes: list[tuple[Key, EntryWrite]] = [
        (key, EntryWrite(key[0], resource=resource)) for key, resource in plan.creates
    ] + [
        (key, EntryWrite(key[0], entry.id, resource=wanted, if_version=entry.version))
        for key, entry, wanted in plan.updates
    ]
    # Users before groups: a group's creation may name users as members later.
    writes.sort(key=lambda item: item[1].kind is EntryKind.GROUP)
    for start in range(0, len(writes), BATCH):
        chunk = writes[start : start + BATCH]
        results = await store.write_entries([write for _, write in chunk])
        for (key, _), entry in zip(chunk, results, strict=True):
            if entry is not None:
                ids[key] = entry.id
        done += len(chunk)
        progress(done)
    for group_key, (add, remove) in plan.members.items():
        change = MemberChange(add=tuple(ids[k] for k in add), remove=tuple(ids[k] for k in remove))
        await store.update_entry(EntryKind.GROUP, ids[group_key], members=change)
        done += 1
        progress(done)
    deletes = [
        EntryWrite(EntryKind.USER, e.id, delete=True, if_version=e.version) for e in plan.deletes
    ]
    for start in range(0, len(deletes), BATCH):
        await store.write_entries(deletes[start : start + BATCH])
        done += len(deletes[start : start + BATCH])
        progress(done)


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """An import builds hundreds of thousands of small dicts that hold no cycles; Python's
    cyclic collector would walk them again and again (half the time of a 100,000-row
    import), so it pauses for the import and catches up once at the end."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def import_file(
    store: Store,
    path: Path,
    *,
    file_format: Format | None = None,
    mapping: Mapping[str, str] | None = None,
    dry_run: bool = False,
    delete_missing: bool = False,
    max_deletes: int = 0,
    progress: Callable[[Plan], Callable[[int], None]] | None = None,
) -> tuple[ParsedFile, Plan]:
    """Read, check, plan and (unless ``dry_run``) write one file: ``hatchway directory
    import``. ``progress`` is given the plan and returns the callback :func:`apply_plan`
    reports to."""
    with _without_cyclic_gc():
        parsed = read_file(path, file_format, mapping)
        plan = await make_plan(
            store,
            parsed,
            source=str(path),
            delete_missing=delete_missing,
            max_deletes=max_deletes,
        )
        if not dry_run and plan.writes:
            report = progress(plan) if progress is not None else (lambda done: None)
            await apply_plan(store, plan, progress=report)
    return parsed, plan
