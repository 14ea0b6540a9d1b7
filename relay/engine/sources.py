"""Directory entries as the engine sees them: each entry with what scope and mappings read
besides its own attributes (its groups, its assignment to the job, a group's members).

Everything is read for a whole batch of entries at once, a handful of store queries per
batch whatever its size, because a cycle over 100,000 users cannot afford a query per user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from relay.engine.scope import MEMBER_OF, ScopeMode
from relay.engine.source import AppRoleAssignment, Source
from relay.store.base import Entry, EntryKind

if TYPE_CHECKING:
    from relay.engine.job import JobSettings
    from relay.store.base import Store

#: The SCIM ``type`` of a group member, by kind.
MEMBER_TYPES = {EntryKind.USER: "User", EntryKind.GROUP: "Group"}


@dataclass(frozen=True, slots=True)
class Loaded:
    """An entry ready for scope and mappings; ``assigned`` says whether it is assigned to
    the job, directly or through a group (always False for a job over all users that maps
    no app role: its assignments are not read, as nothing depends on them)."""

    entry: Entry
    source: Source
    assigned: bool


def source_name(kind: EntryKind, resource: dict[str, Any]) -> str:
    """The name an administrator knows an entry by: userName or displayName."""
    value = resource.get("userName" if kind is EntryKind.USER else "displayName")
    return value if isinstance(value, str) else ""


def needs_groups(job: JobSettings, kind: EntryKind) -> bool:
    """Whether the kind's scoping filters read ``memberOf``: only then are the groups of
    each entry worth a query."""
    mapping = job.definition.object_mapping(kind.value)
    if mapping is None:
        return False
    return any(c.attribute == MEMBER_OF for f in mapping.filters for c in f.clauses)


def needs_assignments(job: JobSettings, kind: EntryKind) -> bool:
    """Whether the entries' assignments to the job matter: for the scope (assigned only)
    or for mappings that read app roles. A job over all users that maps no role skips the
    query, a third of what loading a batch costs."""
    definition = job.definition
    if definition.scope is ScopeMode.ASSIGNED:
        return True
    mapping = definition.object_mapping(kind.value)
    if mapping is None:
        return False
    return any("approle" in f"{m.source} {m.expression}".lower() for m in mapping.mappings)


async def load_sources(
    store: Store, job: JobSettings, kind: EntryKind, entries: Sequence[Entry]
) -> dict[str, Loaded]:
    """The entries as :class:`Loaded`, by id: groups with their ``members``, every entry
    with its app roles in the job and (when the scope reads ``memberOf``) the display
    names of the groups it belongs to."""
    if not entries:
        return {}
    ids = [e.id for e in entries]
    assignments = (
        await store.effective_assignments(job.name, kind, ids)
        if needs_assignments(job, kind)
        else {}
    )
    members = await store.members_of(ids) if kind is EntryKind.GROUP else {}
    group_names: dict[str, list[str]] = {}
    if needs_groups(job, kind):
        memberships = await store.groups_of(ids)
        wanted = sorted({g for groups in memberships.values() for g in groups})
        groups = await store.get_entries(EntryKind.GROUP, wanted) if wanted else {}
        names = {gid: source_name(EntryKind.GROUP, g.resource) for gid, g in groups.items()}
        group_names = {
            eid: [names[g] for g in gids if g in names] for eid, gids in memberships.items()
        }
    out: dict[str, Loaded] = {}
    for entry in entries:
        # A shallow copy with the id (and members) the store keeps apart: the mappings read
        # ``id`` (Entra's objectId) and ``members``; the stored resource is not touched.
        resource: dict[str, Any] = {**entry.resource, "id": entry.id}
        if kind is EntryKind.GROUP:
            resource["members"] = [
                {"value": m.id, "type": MEMBER_TYPES[m.kind]} for m in members.get(entry.id, ())
            ]
        assignment = assignments.get(entry.id)
        roles = (
            (AppRoleAssignment(role=assignment.role),)
            if assignment is not None and assignment.role
            else ()
        )
        source = Source(
            resource, kind=kind.value, app_roles=roles, groups=group_names.get(entry.id, ())
        )
        out[entry.id] = Loaded(entry, source, assignment is not None)
    return out
