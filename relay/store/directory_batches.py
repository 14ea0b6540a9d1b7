"""Batches of directory writes in one transaction, for imports (``hatchway directory import``
through :meth:`~relay.store.base.Store.write_entries`).

Runs of creates without members, the bulk of a first import, go in a few statements for the
lot (``executemany``) instead of one round of statements each; any other write runs as its
single-write step. Like those, the batch is a generator of :class:`Sql` steps that the store
runs in one transaction: all of it commits, or none.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from relay.exceptions import Conflict, InvalidEntry
from relay.store.base import Entry, EntryKind, EntryWrite
from relay.store.directory_steps import DirectorySteps, Steps, check_resource, resource_json


def create_many(
    directory: DirectorySteps, kind: EntryKind, resources: Sequence[dict[str, Any]], now: float
) -> Steps:
    """Entries without members, in a few statements for the lot (imports)."""
    checked = [check_resource(kind, resource) for resource in resources]
    if kind is EntryKind.USER:
        seen: set[str] = set()
        for key, _ in checked:
            if key in seen:
                raise Conflict(f"userName {key!r} is in the batch twice")
            seen.add(key)
        keys = list(seen)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = yield directory.sql(
                "SELECT name_key FROM directory_entries"
                f" WHERE kind = 'user' AND name_key IN ({marks})",
                chunk,
            )
            if rows:
                raise Conflict(f"a user with userName {rows[0][0]!r} exists already")
    ids = [str(uuid.uuid4()) for _ in resources]
    yield directory.sql(
        "INSERT INTO directory_entries (id, kind, name_key, external_id, resource, version,"
        f" created_at, modified_at) VALUES (?, ?, ?, ?, {directory.dialect.json_param}, 1, ?, ?)",
        [
            (entry_id, kind.value, key, external_id, resource_json(resource), now, now)
            for entry_id, (key, external_id), resource in zip(ids, checked, resources, strict=True)
        ],
        many=True,
    )
    detail = json.dumps({"version": 1})
    yield directory.sql(
        "INSERT INTO directory_changes (at, kind, entry_id, action, detail)"
        f" VALUES (?, ?, ?, 'created', {directory.dialect.json_param})",
        [(now, kind.value, entry_id, detail) for entry_id in ids],
        many=True,
    )
    return [
        Entry(kind, entry_id, resource, 1, now, now)
        for entry_id, resource in zip(ids, resources, strict=True)
    ]


def write_many(directory: DirectorySteps, writes: Sequence[EntryWrite], now: float) -> Steps:
    results: list[Entry | None] = []
    plain: list[EntryWrite] = []  # consecutive creates of one kind without members

    def flush() -> Steps:
        if plain:
            resources = [write.resource for write in plain if write.resource is not None]
            created = yield from create_many(directory, plain[0].kind, resources, now)
            results.extend(created)
            plain.clear()

    for write in writes:
        if (
            write.entry_id is None
            and not write.delete
            and write.resource is not None
            and write.members is None
        ):
            if plain and plain[0].kind is not write.kind:
                yield from flush()
            plain.append(write)
            continue
        yield from flush()
        if write.delete:
            if write.entry_id is None:
                raise InvalidEntry("a delete needs an entry id")
            yield from directory.delete(write.kind, write.entry_id, write.if_version, now)
            results.append(None)
        elif write.entry_id is None:
            if write.resource is None:
                raise InvalidEntry("a create needs a resource")
            assert write.members is not None
            replace = write.members.replace or ()
            members = list(replace) + list(write.members.add)
            entry = yield from directory.create(write.kind, write.resource, members, now)
            results.append(entry)
        else:
            entry = yield from directory.update(
                write.kind,
                write.entry_id,
                write.resource,
                write.members,
                write.if_version,
                now,
            )
            results.append(entry)
    yield from flush()
    return results
