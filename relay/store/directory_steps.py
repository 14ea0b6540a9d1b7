"""The directory's reads and writes as SQL steps, shared by the SQLite and PostgreSQL stores.

Each operation is a generator that yields :class:`Sql` statements and receives their rows,
without doing any I/O itself (as the ``websockets`` protocol core does): the SQLite store
drives it in its worker thread, the PostgreSQL store with ``await``. The store runs the whole
generator in one transaction, so a write and its change-log rows commit together, and a
failure anywhere (a conflict, a missing member, a version mismatch) leaves nothing behind.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from relay.directory.query import Query
from relay.exceptions import Conflict, InvalidEntry, NotFound, PreconditionFailed, UnknownMember
from relay.store.base import Assignment, Change, Entry, EntryKind, Member, MemberChange
from relay.store.directory_dialects import Dialect
from relay.store.directory_sql import translate

Rows = list[tuple[Any, ...]]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sql:
    text: str
    params: Sequence[Any] = ()
    many: bool = False  # params is a sequence of parameter rows for executemany


Steps = Generator[Sql, Rows, Any]

ENTRY_COLUMNS = "e.id, e.kind, e.resource, e.version, e.created_at, e.modified_at"
#: Ids per statement in reads by many ids: far below SQLite's limit on parameters, and
#: the size of the engine's batches.
ID_CHUNK = 500
_RESERVED = ("id", "meta", "members")
_NAME_ATTRIBUTE = {EntryKind.USER: "userName", EntryKind.GROUP: "displayName"}


def chunks(ids: Sequence[T]) -> list[list[T]]:
    """``ids`` without repeats, in lists of at most :data:`ID_CHUNK`."""
    unique = list(dict.fromkeys(ids))
    return [unique[start : start + ID_CHUNK] for start in range(0, len(unique), ID_CHUNK)]


def marks(chunk: Sequence[Any]) -> str:
    return ", ".join("?" for _ in chunk)


def entry_from_row(row: Sequence[Any]) -> Entry:
    resource = row[2] if isinstance(row[2], dict) else json.loads(row[2])
    return Entry(EntryKind(row[1]), row[0], resource, row[3], row[4], row[5])


def name_key(kind: EntryKind, resource: dict[str, Any]) -> str:
    """The lower-cased userName (users) or displayName (groups) that lookups and the
    uniqueness of user names use."""
    attribute = _NAME_ATTRIBUTE[kind]
    name = resource.get(attribute)
    if not isinstance(name, str) or not name.strip():
        raise InvalidEntry(f"a {kind} needs a non-empty string {attribute}")
    return name.lower()


#: A NUL character as ``json.dumps`` writes it: ``\u0000`` after an even number of
#: backslashes (``\\u0000`` is the text "\u0000", not a NUL).
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def resource_json(resource: dict[str, Any]) -> str:
    """The resource as the stores keep it. A NUL character is refused here, for both
    stores alike: PostgreSQL cannot keep one (the write would fail as a store error), and
    SQLite should not keep what a move to PostgreSQL would lose."""
    text = json.dumps(resource)
    if _NUL.search(text):
        raise InvalidEntry("a value holds a NUL character, which the store cannot keep")
    return text


def check_resource(kind: EntryKind, resource: dict[str, Any]) -> tuple[str, str | None]:
    if not isinstance(resource, dict):
        raise InvalidEntry(f"a {kind} is a JSON object, not {type(resource).__name__}")
    reserved = [key for key in _RESERVED if key in resource]
    if reserved:
        raise InvalidEntry(f"the store keeps {', '.join(reserved)} itself; leave it out")
    external_id = resource.get("externalId")
    if external_id is not None and not isinstance(external_id, str):
        raise InvalidEntry("externalId must be a string")
    return name_key(kind, resource), external_id


class DirectorySteps:
    """The operations, parametrised by the store's SQL dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def sql(self, text: str, params: Sequence[Any] = (), *, many: bool = False) -> Sql:
        return Sql(self.dialect.placeholders(text), params, many)

    # Helpers ------------------------------------------------------------------------------

    def _log(
        self, now: float, kind: EntryKind, entry_id: str, action: str, detail: dict[str, Any]
    ) -> Steps:
        yield self.sql(
            "INSERT INTO directory_changes (at, kind, entry_id, action, detail)"
            f" VALUES (?, ?, ?, ?, {self.dialect.json_param})",
            (now, kind.value, entry_id, action, json.dumps(detail)),
        )

    def _row(self, kind: EntryKind, entry_id: str) -> Steps:
        rows = yield self.sql(
            f"SELECT {ENTRY_COLUMNS} FROM directory_entries e WHERE e.id = ? AND e.kind = ?",
            (entry_id, kind.value),
        )
        if not rows:
            raise NotFound(f"no {kind} with id {entry_id!r}")
        return entry_from_row(rows[0])

    def _check_name_free(self, key: str, entry_id: str | None) -> Steps:
        rows = yield self.sql(
            "SELECT id FROM directory_entries WHERE kind = 'user' AND name_key = ?", (key,)
        )
        if rows and rows[0][0] != entry_id:
            raise Conflict(f"a user with userName {key!r} exists already (id {rows[0][0]})")

    def _existing(self, ids: Sequence[str]) -> Steps:
        found: dict[str, str] = {}
        wanted = list(dict.fromkeys(ids))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = yield self.sql(
                f"SELECT id, kind FROM directory_entries WHERE id IN ({marks})", chunk
            )
            found.update((row[0], row[1]) for row in rows)
        missing = [entry_id for entry_id in wanted if entry_id not in found]
        if missing:
            raise UnknownMember(f"no user or group with id {', '.join(map(repr, missing))}")
        return found

    def _set_members(self, group_id: str, change: MemberChange) -> Steps:
        """Apply ``change``; returns the ids added and removed."""
        rows = yield self.sql(
            "SELECT member_id FROM directory_members WHERE group_id = ?", (group_id,)
        )
        current = [row[0] for row in rows]
        wanted = list(current) if change.replace is None else list(dict.fromkeys(change.replace))
        wanted += [member for member in change.add if member not in wanted]
        removing = set(change.remove)
        wanted = [member for member in wanted if member not in removing]
        if group_id in wanted:
            raise InvalidEntry("a group cannot be a member of itself")
        present = set(current)
        added = [member for member in wanted if member not in present]
        kept = set(wanted)
        removed = [member for member in current if member not in kept]
        if added:
            yield from self._existing(added)
            yield self.sql(
                "INSERT INTO directory_members (group_id, member_id) VALUES (?, ?)",
                [(group_id, member) for member in added],
                many=True,
            )
        if removed:
            yield self.sql(
                "DELETE FROM directory_members WHERE group_id = ? AND member_id = ?",
                [(group_id, member) for member in removed],
                many=True,
            )
        return added, removed

    # Writes -------------------------------------------------------------------------------

    def create(
        self, kind: EntryKind, resource: dict[str, Any], members: Sequence[str], now: float
    ) -> Steps:
        key, external_id = check_resource(kind, resource)
        if members and kind is not EntryKind.GROUP:
            raise InvalidEntry("only groups have members")
        # A taken userName fails the insert on the unique index, which each store turns
        # into Conflict: no look-up first.
        entry_id = str(uuid.uuid4())
        yield self.sql(
            "INSERT INTO directory_entries (id, kind, name_key, external_id, resource, version,"
            f" created_at, modified_at) VALUES (?, ?, ?, ?, {self.dialect.json_param}, 1, ?, ?)",
            (entry_id, kind.value, key, external_id, resource_json(resource), now, now),
        )
        yield from self._log(now, kind, entry_id, "created", {"version": 1})
        if members:
            added, _ = yield from self._set_members(entry_id, MemberChange(add=tuple(members)))
            yield from self._log(
                now, kind, entry_id, "members", {"added": added, "removed": [], "version": 1}
            )
        return Entry(kind, entry_id, resource, 1, now, now)

    def update(
        self,
        kind: EntryKind,
        entry_id: str,
        resource: dict[str, Any] | None,
        members: MemberChange | None,
        if_version: int | None,
        now: float,
    ) -> Steps:
        entry: Entry = yield from self._row(kind, entry_id)
        if if_version is not None and if_version != entry.version:
            raise PreconditionFailed(
                f"{kind} {entry_id} is at version {entry.version}, not {if_version}"
            )
        if members is not None and kind is not EntryKind.GROUP:
            raise InvalidEntry("only groups have members")
        changed_resource = resource is not None and resource != entry.resource
        version = entry.version + 1
        added: list[str] = []
        removed: list[str] = []
        if members is not None:
            added, removed = yield from self._set_members(entry_id, members)
        if not changed_resource and not added and not removed:
            return entry
        if changed_resource:
            assert resource is not None
            key, external_id = check_resource(kind, resource)
            if kind is EntryKind.USER:
                yield from self._check_name_free(key, entry_id)
            yield self.sql(
                "UPDATE directory_entries SET name_key = ?, external_id = ?,"
                f" resource = {self.dialect.json_param}, version = ?, modified_at = ?"
                " WHERE id = ?",
                (key, external_id, resource_json(resource), version, now, entry_id),
            )
            yield from self._log(now, kind, entry_id, "updated", {"version": version})
        else:
            yield self.sql(
                "UPDATE directory_entries SET version = ?, modified_at = ? WHERE id = ?",
                (version, now, entry_id),
            )
        if added or removed:
            yield from self._log(
                now,
                kind,
                entry_id,
                "members",
                {"added": added, "removed": removed, "version": version},
            )
        stored = entry.resource if resource is None else resource
        return Entry(kind, entry_id, stored, version, entry.created_at, now)

    def delete(self, kind: EntryKind, entry_id: str, if_version: int | None, now: float) -> Steps:
        entry: Entry = yield from self._row(kind, entry_id)
        if if_version is not None and if_version != entry.version:
            raise PreconditionFailed(
                f"{kind} {entry_id} is at version {entry.version}, not {if_version}"
            )
        groups = yield self.sql(
            "UPDATE directory_entries SET version = version + 1, modified_at = ?"
            " WHERE id IN (SELECT group_id FROM directory_members WHERE member_id = ?)"
            " RETURNING id, version",
            (now, entry_id),
        )
        yield self.sql("DELETE FROM directory_entries WHERE id = ?", (entry_id,))
        for group_id, group_version in sorted(groups):
            yield from self._log(
                now,
                EntryKind.GROUP,
                group_id,
                "members",
                {"added": [], "removed": [entry_id], "version": group_version},
            )
        yield from self._log(now, kind, entry_id, "deleted", {"version": entry.version})

    def assign(
        self, job: str, kind: EntryKind, entry_id: str, role: str | None, now: float
    ) -> Steps:
        yield from self._row(kind, entry_id)
        rows = yield self.sql(
            "SELECT role FROM directory_assignments WHERE job = ? AND entry_id = ?",
            (job, entry_id),
        )
        if rows and rows[0][0] == role:
            return
        yield self.sql(
            "INSERT INTO directory_assignments (job, entry_id, role) VALUES (?, ?, ?)"
            " ON CONFLICT (job, entry_id) DO UPDATE SET role = excluded.role",
            (job, entry_id, role),
        )
        yield from self._log(now, kind, entry_id, "assigned", {"job": job, "role": role})

    def unassign(self, job: str, kind: EntryKind, entry_id: str, now: float) -> Steps:
        rows = yield self.sql(
            "DELETE FROM directory_assignments WHERE job = ? AND entry_id = ?"
            " AND entry_id IN (SELECT id FROM directory_entries WHERE kind = ?) RETURNING role",
            (job, entry_id, kind.value),
        )
        if not rows:
            raise NotFound(f"{kind} {entry_id!r} is not assigned to job {job!r}")
        yield from self._log(now, kind, entry_id, "unassigned", {"job": job, "role": rows[0][0]})

    # Reads --------------------------------------------------------------------------------

    def get(self, kind: EntryKind, entry_id: str) -> Steps:
        entry = yield from self._row(kind, entry_id)
        return entry

    def query(self, kind: EntryKind, query: Query) -> Steps:
        """A page and the total; the total is counted only when the page cannot tell it (a
        full page, or an empty one past the start), so a lookup by name is one statement."""
        condition, where_params, order, order_params = translate(self.dialect, kind, query)
        paging = ""
        page_params: list[Any] = []
        if query.count is not None:
            paging = " LIMIT ?"
            page_params.append(max(query.count, 0))
        if query.start_index > 1:
            paging += " OFFSET ?" if paging else " LIMIT -1 OFFSET ?"
            page_params.append(query.start_index - 1)
        if paging.startswith(" LIMIT -1") and self.dialect.name != "sqlite":
            paging = " OFFSET ?"
        rows = yield self.sql(
            f"SELECT {ENTRY_COLUMNS} FROM directory_entries e WHERE e.kind = ? AND {condition}"
            f" ORDER BY {order}{paging}",
            [kind.value, *where_params, *order_params, *page_params],
        )
        skipped = query.start_index - 1
        full = query.count is not None and len(rows) >= query.count
        if full or (not rows and skipped > 0):
            counted = yield self.sql(
                f"SELECT count(*) FROM directory_entries e WHERE e.kind = ? AND {condition}",
                [kind.value, *where_params],
            )
            total = int(counted[0][0])
        else:
            total = skipped + len(rows)
        return [entry_from_row(row) for row in rows], total

    def members(self, group_id: str, expand: bool) -> Steps:
        yield from self._row(EntryKind.GROUP, group_id)
        display, display_params = self._display_sql()
        if expand:
            rows = yield self.sql(
                "WITH RECURSIVE reach(id) AS ("
                " SELECT member_id FROM directory_members WHERE group_id = ?"
                " UNION SELECT m.member_id FROM reach r"
                " JOIN directory_members m ON m.group_id = r.id)"
                f" SELECT e.id, e.kind, {display} FROM reach r"
                " JOIN directory_entries e ON e.id = r.id WHERE e.kind = 'user' ORDER BY e.id",
                [group_id, *display_params],
            )
        else:
            rows = yield self.sql(
                f"SELECT e.id, e.kind, {display} FROM directory_members m"
                " JOIN directory_entries e ON e.id = m.member_id WHERE m.group_id = ?"
                " ORDER BY e.id",
                [*display_params, group_id],
            )
        return [Member(row[0], EntryKind(row[1]), row[2] or "") for row in rows]

    def _display_sql(self) -> tuple[str, list[Any]]:
        params: list[Any] = []
        user = self.dialect.text_at("e.resource", ["userName"], params)
        group = self.dialect.text_at("e.resource", ["displayName"], params)
        return f"CASE e.kind WHEN 'user' THEN {user} ELSE {group} END", params

    def groups_of(self, entry_id: str) -> Steps:
        rows = yield self.sql(
            "SELECT group_id FROM directory_members WHERE member_id = ? ORDER BY group_id",
            (entry_id,),
        )
        return [row[0] for row in rows]

    def changes_after(self, seq: int, limit: int) -> Steps:
        rows = yield self.sql(
            "SELECT seq, at, kind, entry_id, action, detail FROM directory_changes"
            " WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [
            Change(
                int(row[0]),
                row[1],
                EntryKind(row[2]),
                row[3],
                row[4],
                row[5] if isinstance(row[5], dict) else json.loads(row[5]),
            )
            for row in rows
        ]

    def latest(self) -> Steps:
        rows = yield self.sql("SELECT COALESCE(MAX(seq), 0) FROM directory_changes")
        return int(rows[0][0])

    def assignments(self, job: str) -> Steps:
        rows = yield self.sql(
            "SELECT a.job, e.kind, a.entry_id, a.role FROM directory_assignments a"
            " JOIN directory_entries e ON e.id = a.entry_id WHERE a.job = ? ORDER BY a.entry_id",
            (job,),
        )
        return [Assignment(row[0], EntryKind(row[1]), row[2], row[3]) for row in rows]

    def assigned_users(self, job: str) -> Steps:
        rows = yield self.sql(
            "WITH RECURSIVE reach(id) AS ("
            " SELECT entry_id FROM directory_assignments WHERE job = ?"
            " UNION SELECT m.member_id FROM reach r"
            " JOIN directory_members m ON m.group_id = r.id)"
            " SELECT e.id FROM reach r JOIN directory_entries e ON e.id = r.id"
            " WHERE e.kind = 'user' ORDER BY e.id",
            (job,),
        )
        return [row[0] for row in rows]

    # Reads for the engine -------------------------------------------------------------------

    def entries_page(self, kind: EntryKind, after_id: str, limit: int) -> Steps:
        rows = yield self.sql(
            f"SELECT {ENTRY_COLUMNS} FROM directory_entries e"
            " WHERE e.kind = ? AND e.id > ? ORDER BY e.id LIMIT ?",
            (kind.value, after_id, limit),
        )
        return [entry_from_row(row) for row in rows]

    def entries(self, kind: EntryKind, ids: Sequence[str]) -> Steps:
        found: dict[str, Entry] = {}
        for chunk in chunks(ids):
            rows = yield self.sql(
                f"SELECT {ENTRY_COLUMNS} FROM directory_entries e"
                f" WHERE e.kind = ? AND e.id IN ({marks(chunk)})",
                [kind.value, *chunk],
            )
            found.update((row[0], entry_from_row(row)) for row in rows)
        return found

    def members_of(self, group_ids: Sequence[str]) -> Steps:
        found: dict[str, list[Member]] = {group_id: [] for group_id in group_ids}
        display, display_params = self._display_sql()
        for chunk in chunks(group_ids):
            rows = yield self.sql(
                f"SELECT m.group_id, e.id, e.kind, {display} FROM directory_members m"
                " JOIN directory_entries e ON e.id = m.member_id"
                f" WHERE m.group_id IN ({marks(chunk)}) ORDER BY m.group_id, e.id",
                [*display_params, *chunk],
            )
            for row in rows:
                found[row[0]].append(Member(row[1], EntryKind(row[2]), row[3] or ""))
        return found

    def groups_of_entries(self, entry_ids: Sequence[str]) -> Steps:
        found: dict[str, list[str]] = {entry_id: [] for entry_id in entry_ids}
        for chunk in chunks(entry_ids):
            rows = yield self.sql(
                "SELECT member_id, group_id FROM directory_members"
                f" WHERE member_id IN ({marks(chunk)}) ORDER BY member_id, group_id",
                chunk,
            )
            for member_id, group_id in rows:
                found[member_id].append(group_id)
        return found

    def effective_assignments(self, job: str, kind: EntryKind, entry_ids: Sequence[str]) -> Steps:
        """Walks up from the entries through the groups they are in (``UNION`` keeps nested
        cycles finite) and joins the job's assignments on the way: the cost follows the
        entries' memberships. Rank 0 is the entry's own assignment, 1 a group it is directly
        in, 2 a group further up; the lowest rank wins, then the lowest group id."""
        best: dict[str, tuple[int, str, str | None]] = {}
        for chunk in chunks(entry_ids):
            rows = yield self.sql(
                "WITH RECURSIVE up(entry_id, group_id) AS ("
                " SELECT m.member_id, m.group_id FROM directory_entries e"
                " JOIN directory_members m ON m.member_id = e.id"
                f" WHERE e.kind = ? AND e.id IN ({marks(chunk)})"
                " UNION SELECT u.entry_id, m.group_id FROM up u"
                " JOIN directory_members m ON m.member_id = u.group_id)"
                " SELECT a.entry_id, a.entry_id, a.role, 0 FROM directory_entries e"
                " JOIN directory_assignments a ON a.entry_id = e.id AND a.job = ?"
                f" WHERE e.kind = ? AND e.id IN ({marks(chunk)})"
                " UNION ALL SELECT u.entry_id, u.group_id, a.role, CASE WHEN EXISTS ("
                "  SELECT 1 FROM directory_members d"
                "  WHERE d.member_id = u.entry_id AND d.group_id = u.group_id) THEN 1 ELSE 2 END"
                " FROM up u JOIN directory_assignments a ON a.entry_id = u.group_id AND a.job = ?"
                " WHERE u.group_id <> u.entry_id",
                [kind.value, *chunk, job, kind.value, *chunk, job],
            )
            for entry_id, assigned_id, role, rank in rows:
                candidate = (int(rank), assigned_id, role)
                if entry_id not in best or candidate[:2] < best[entry_id][:2]:
                    best[entry_id] = candidate
        return {
            entry_id: Assignment(job, kind if rank == 0 else EntryKind.GROUP, assigned_id, role)
            for entry_id, (rank, assigned_id, role) in best.items()
        }
