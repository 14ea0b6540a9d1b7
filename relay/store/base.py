"""The store interface the relay's parts program against.

Implementations: :mod:`relay.store.sqlite` (the default, one file in the data folder) and
:mod:`relay.store.postgresql`. Every method is a coroutine; implementations over blocking
drivers run them in a thread.

The directory (users, groups, memberships, assignments of entries to jobs) keeps a change
log: every write and its change-log rows commit in one transaction, and the sequence
numbers of the log only grow, in commit order, so a reader that follows
:meth:`Store.changes_after` never misses a change.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from relay.directory.query import Query
    from relay.store.engine_records import (
        CycleKind,
        CycleRecord,
        CycleState,
        CycleWrite,
        JobRecord,
        LogEntry,
        LogQuery,
        RetryRecord,
        Shadow,
        StagedDecision,
        StagedOperation,
    )


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    agent_name: str
    created_at: float
    expires_at: float
    used_at: float | None = None


@dataclass(frozen=True, slots=True)
class AgentRecord:
    name: str
    public_key: str
    registered_at: float
    revoked_at: float | None = None
    software: str = ""
    protocol_version: int | None = None
    connectors: list[dict[str, str]] = field(default_factory=list)
    session: str | None = None
    connected_at: float | None = None
    last_seen_at: float | None = None
    disconnected_at: float | None = None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.session is not None:
            return "connected"
        if self.connected_at is None:
            return "registered"
        return "disconnected"


class EntryKind(StrEnum):
    USER = "user"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class Entry:
    """A user or group of the directory.

    ``resource`` is the SCIM resource as stored: ``schemas``, ``userName`` (users) or
    ``displayName`` (groups), ``externalId`` and every other attribute, extensions under
    their URN; WITHOUT ``id``, ``meta`` and (for groups) ``members``, which the store keeps
    itself. ``version`` starts at 1 and grows by one per change (the SCIM ETag is
    ``W/"<version>"``).
    """

    kind: EntryKind
    id: str
    resource: dict[str, Any]
    version: int
    created_at: float
    modified_at: float


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    kind: EntryKind
    display: str = ""


@dataclass(frozen=True, slots=True)
class MemberChange:
    """A change to a group's member list; ``replace`` sets it exactly (then ``add`` and
    ``remove`` apply after it)."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    replace: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One row of the change log.

    ``action`` is ``created``, ``updated``, ``deleted``, ``members`` (``detail`` holds
    ``added`` and ``removed`` member ids; a deleted entry leaves the groups it was in with a
    ``members`` row each), ``assigned`` or ``unassigned`` (``detail`` holds ``job`` and
    ``role``). ``version`` in ``detail`` is the entry's version after the change. Deleting an
    entry also drops its assignments and its own members; its ``deleted`` row stands for those.
    """

    seq: int
    at: float
    kind: EntryKind
    entry_id: str
    action: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Assignment:
    job: str
    kind: EntryKind
    entry_id: str
    role: str | None = None


@dataclass(frozen=True, slots=True)
class EntryWrite:
    """One write of :meth:`Store.write_entries`: a create (``entry_id`` None), an update
    (``resource`` and/or ``members`` given) or a delete (``delete`` true)."""

    kind: EntryKind
    entry_id: str | None = None
    resource: dict[str, Any] | None = None
    members: MemberChange | None = None
    if_version: int | None = None
    delete: bool = False


# Tokens ----------------------------------------------------------------------------------

#: The visible start of every agent registration token, so a leaked one is easy to recognise.
REGISTRATION_TOKEN_PREFIX = "hwt_"  # noqa: S105 - a prefix, not a secret
#: The visible start of every SCIM bearer token.
SCIM_TOKEN_PREFIX = "hws_"  # noqa: S105 - a prefix, not a secret
#: The visible start of every admin API token.
API_TOKEN_PREFIX = "hwa_"  # noqa: S105 - a prefix, not a secret


def hash_token(token: str) -> str:
    """What the stores keep of a token, and look tokens up by.

    A token is 32 random bytes, so an unsalted SHA-256 is enough to make a stolen database
    useless. Looking the hash up in an index is also what keeps the check safe from timing:
    how long a lookup takes can only tell an attacker about the hash of the guess, which
    they cannot steer towards a stored one, so no comparison of token text ever happens.
    """
    return hashlib.sha256(token.encode()).hexdigest()


# SCIM clients (the SCIM server's part of the store) ----------------------------------


@dataclass(frozen=True, slots=True)
class ScimToken:
    """A bearer token of a SCIM client (an identity provider pushing to ``/scim/v2``)."""

    id: str
    client: str
    created_at: float
    revoked_at: float | None = None


# Admin API tokens --------------------------------------------------------------------------


class ApiRole(StrEnum):
    """What an admin API token may do: ``viewer`` reads, ``admin`` also changes."""

    VIEWER = "viewer"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A named bearer token of the admin API and dashboard (the store keeps its hash)."""

    id: str
    name: str
    role: ApiRole
    created_at: float
    revoked_at: float | None = None


class Store(abc.ABC):
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date; refuse a schema newer than this code."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def create_token(self, agent_name: str, ttl: float) -> tuple[TokenRecord, str]:
        """Issue a one-time registration token for ``agent_name``; returns the record and
        the token text, which is shown once and stored only as a hash."""

    @abc.abstractmethod
    async def list_tokens(self) -> list[TokenRecord]: ...

    @abc.abstractmethod
    async def redeem_token(self, token: str, public_key: str, software: str) -> AgentRecord:
        """Use a token to register (or re-register) its agent with ``public_key``.

        Atomic: of two concurrent redemptions of one token, exactly one succeeds. Raises
        :class:`~relay.exceptions.RegistrationError`.
        """

    @abc.abstractmethod
    async def get_agent(self, name: str) -> AgentRecord | None: ...

    @abc.abstractmethod
    async def list_agents(self) -> list[AgentRecord]: ...

    @abc.abstractmethod
    async def revoke_agent(self, name: str) -> AgentRecord:
        """Raises :class:`~relay.exceptions.NotFound` for an unknown name."""

    @abc.abstractmethod
    async def agent_connected(
        self,
        name: str,
        *,
        session: str,
        software: str,
        protocol_version: int,
        connectors: list[dict[str, str]],
    ) -> None: ...

    @abc.abstractmethod
    async def agent_disconnected(self, name: str, session: str) -> None:
        """Record a disconnect, unless a newer session of the agent has taken over."""

    @abc.abstractmethod
    async def forget_sessions(self) -> None:
        """On start: no agent is connected to a relay that has just started."""

    # Directory ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def create_entry(
        self, kind: EntryKind, resource: dict[str, Any], *, members: Sequence[str] = ()
    ) -> Entry:
        """Add a user or group with a new UUID as its id.

        Raises :class:`~relay.exceptions.Conflict` if a user with the same ``userName``
        (compared case-insensitively) exists (group display names need not be unique, as
        RFC 7643 says), :class:`~relay.exceptions.NotFound` if a member id does not exist,
        :class:`~relay.exceptions.InvalidEntry` if ``resource`` lacks ``userName`` (users)
        or ``displayName`` (groups) or holds ``id``, ``meta`` or ``members``.
        """

    @abc.abstractmethod
    async def get_entry(self, kind: EntryKind, entry_id: str) -> Entry:
        """Raises :class:`~relay.exceptions.NotFound`."""

    @abc.abstractmethod
    async def update_entry(
        self,
        kind: EntryKind,
        entry_id: str,
        *,
        resource: dict[str, Any] | None = None,
        members: MemberChange | None = None,
        if_version: int | None = None,
    ) -> Entry:
        """Replace the resource (if given) and change the members (groups) in one
        transaction with their change-log rows. A write that changes nothing keeps the
        version and logs nothing. Raises :class:`~relay.exceptions.PreconditionFailed` if
        ``if_version`` is not the current version, and the errors of :meth:`create_entry`.
        """

    @abc.abstractmethod
    async def delete_entry(
        self, kind: EntryKind, entry_id: str, *, if_version: int | None = None
    ) -> None:
        """Delete an entry with its memberships and assignments. Raises
        :class:`~relay.exceptions.NotFound` and :class:`~relay.exceptions.PreconditionFailed`."""

    @abc.abstractmethod
    async def write_entries(self, writes: Sequence[EntryWrite]) -> list[Entry | None]:
        """Run several writes in ONE transaction (all or nothing), for imports; returns the
        entry after each write (None for a delete). Raises what the single writes raise."""

    @abc.abstractmethod
    async def query_entries(self, kind: EntryKind, query: Query) -> tuple[list[Entry], int]:
        """A page of the entries that match ``query.filter`` and the number of all matches.

        String comparisons follow the attribute's caseExact (``id``, ``externalId`` and
        member values exact; others not). ``query.count`` None returns every match from
        ``start_index`` on (the SCIM server applies its own default page size). Without
        ``sort_by`` entries come in the order they were created. Raises
        :class:`~relay.exceptions.InvalidQuery` for a filter the store cannot run.
        """

    @abc.abstractmethod
    async def group_members(self, group_id: str, *, expand: bool = False) -> list[Member]:
        """The direct members of a group; ``expand`` flattens nested groups to their users
        (each user once; cycles are safe). Raises :class:`~relay.exceptions.NotFound`."""

    @abc.abstractmethod
    async def member_groups(self, entry_id: str) -> list[str]:
        """The ids of the groups an entry is a direct member of."""

    @abc.abstractmethod
    async def changes_after(self, seq: int, *, limit: int = 500) -> list[Change]:
        """Change-log rows with a sequence number above ``seq``, in order, at most ``limit``."""

    @abc.abstractmethod
    async def wait_for_changes(self, seq: int, *, timeout: float = 30.0) -> int:
        """Return the latest sequence number as soon as it is above ``seq``, or ``seq``
        after ``timeout`` seconds (default 30). Woken by writes, not by a tight poll."""

    @abc.abstractmethod
    async def latest_change(self) -> int:
        """The sequence number of the newest change-log row (0 if none)."""

    @abc.abstractmethod
    async def assign(
        self, job: str, kind: EntryKind, entry_id: str, *, role: str | None = None
    ) -> None:
        """Assign a user or group to a job (again: change the role). Raises
        :class:`~relay.exceptions.NotFound` for an unknown entry."""

    @abc.abstractmethod
    async def unassign(self, job: str, kind: EntryKind, entry_id: str) -> None:
        """Raises :class:`~relay.exceptions.NotFound` if the entry is not assigned."""

    @abc.abstractmethod
    async def assignments(self, job: str) -> list[Assignment]: ...

    @abc.abstractmethod
    async def assigned_users(self, job: str) -> list[str]:
        """Users assigned directly or through (nested) groups, each once, sorted."""

    # SCIM clients (the SCIM server's part of the store) ----------------------------------

    @abc.abstractmethod
    async def create_scim_client(self, client: str) -> tuple[ScimToken, str]:
        """Issue a bearer token for SCIM client ``client`` (a client may hold several, to
        rotate); returns the record and the token text, shown once and stored as a hash."""

    @abc.abstractmethod
    async def verify_scim_token(self, token: str) -> str | None:
        """The client a token belongs to, or None if it is unknown or revoked."""

    @abc.abstractmethod
    async def list_scim_clients(self) -> list[ScimToken]:
        """Every SCIM token, revoked ones included, oldest first."""

    @abc.abstractmethod
    async def revoke_scim_client(self, client: str) -> int:
        """Revoke every token of ``client``; returns how many. Raises
        :class:`~relay.exceptions.NotFound` if the client has no token in force."""

    # Admin API tokens ----------------------------------------------------------------------

    @abc.abstractmethod
    async def create_api_token(self, name: str, role: ApiRole) -> tuple[ApiToken, str]:
        """Issue an admin API token; returns the record and the token text
        (``hwa_...``), shown once and stored as a hash. Raises
        :class:`~relay.exceptions.Conflict` if a token named ``name`` is in force."""

    @abc.abstractmethod
    async def list_api_tokens(self) -> list[ApiToken]:
        """Every API token, revoked ones included, oldest first."""

    @abc.abstractmethod
    async def revoke_api_token(self, name: str) -> int:
        """Revoke the token named ``name``; returns how many (1). Raises
        :class:`~relay.exceptions.NotFound` if no token of that name is in force."""

    @abc.abstractmethod
    async def verify_api_token(self, token: str) -> ApiToken | None:
        """The token record of ``token``, or None if it is unknown or revoked."""

    # Directory reads for the engine --------------------------------------------------------

    @abc.abstractmethod
    async def entries_page(
        self, kind: EntryKind, *, after_id: str = "", limit: int = 1000
    ) -> list[Entry]:
        """Entries of ``kind`` with an id above ``after_id``, by id, at most ``limit``: a
        full read in pages whose cost does not grow with the page number."""

    @abc.abstractmethod
    async def get_entries(self, kind: EntryKind, ids: Sequence[str]) -> dict[str, Entry]:
        """The entries of ``kind`` among ``ids`` by id; missing ids are left out."""

    @abc.abstractmethod
    async def members_of(self, group_ids: Sequence[str]) -> dict[str, list[Member]]:
        """The direct members of each group (an empty list for a group without members or
        missing), in one query."""

    @abc.abstractmethod
    async def groups_of(self, entry_ids: Sequence[str]) -> dict[str, list[str]]:
        """The ids of the groups each entry is a direct member of, in one query."""

    @abc.abstractmethod
    async def reports_of(self, manager_ids: Sequence[str]) -> dict[str, list[str]]:
        """The ids of the users whose enterprise ``manager`` is each of ``manager_ids``
        (managers without reports left out), by an index: a cost per manager, not per
        user in the directory."""

    @abc.abstractmethod
    async def effective_assignments(
        self, job: str, kind: EntryKind, entry_ids: Sequence[str]
    ) -> dict[str, Assignment]:
        """For each entry among ``entry_ids`` assigned to ``job``, directly or (users and
        groups) through a group it belongs to, at any depth: its assignment (the direct one
        first; through groups, ``entry_id`` names the assigned group). Entries not assigned
        are left out. Costs what the entries' own memberships cost, not the job's size."""

    # Engine: jobs ------------------------------------------------------------------------

    @abc.abstractmethod
    async def create_job(self, name: str, spec: str) -> JobRecord:
        """Raises :class:`~relay.exceptions.Conflict` if a job has that name."""

    @abc.abstractmethod
    async def get_job(self, name: str) -> JobRecord:
        """Raises :class:`~relay.exceptions.NotFound`."""

    @abc.abstractmethod
    async def list_jobs(self) -> list[JobRecord]:
        """Every job, by name."""

    @abc.abstractmethod
    async def update_job(self, name: str, **fields: Any) -> JobRecord:
        """Change the named fields of :class:`JobRecord` (not ``name``, ``version`` or
        ``created_at``) and return the job. ``version`` grows by one when ``spec`` or
        ``state`` is among them; ``cursor`` never goes back. Raises
        :class:`~relay.exceptions.NotFound`, and :class:`ValueError` for an unknown field."""

    @abc.abstractmethod
    async def delete_job(self, name: str) -> None:
        """Drop a job with its cycles, shadows, retries and staged operations;
        its provisioning logs stay until retention removes them. The target is not touched.
        Raises :class:`~relay.exceptions.NotFound`."""

    # Engine: cycles ----------------------------------------------------------------------

    @abc.abstractmethod
    async def start_cycle(
        self, job: str, kind: CycleKind, *, total: int | None = None
    ) -> CycleRecord:
        """A new running cycle with a fresh id."""

    @abc.abstractmethod
    async def get_cycle(self, cycle_id: str) -> CycleRecord:
        """Raises :class:`~relay.exceptions.NotFound`."""

    @abc.abstractmethod
    async def list_cycles(
        self,
        job: str,
        *,
        state: CycleState | None = None,
        limit: int = 20,
        before: str | None = None,
    ) -> list[CycleRecord]:
        """The job's cycles, newest first; ``before`` (a cycle id of an earlier page) pages
        back to the cycles started before it. Raises :class:`~relay.exceptions.NotFound`
        when ``before`` is not a cycle of the job."""

    @abc.abstractmethod
    async def update_cycle(
        self,
        cycle_id: str,
        *,
        state: CycleState | None = None,
        total: int | None = None,
        checkpoint: Any = None,
        error: str | None = None,
        done: int | None = None,
    ) -> CycleRecord:
        """Change what is given; a state other than running sets ``finished_at``.
        ``done`` replaces the progress count (a resumed cycle goes back to its
        checkpoint's)."""

    # Engine: shadows, retries, staged operations, logs --------------------------------------

    @abc.abstractmethod
    async def get_shadows(
        self, job: str, kind: EntryKind, entry_ids: Sequence[str]
    ) -> dict[str, Shadow]:
        """The shadows of ``entry_ids`` that exist, by entry id."""

    @abc.abstractmethod
    async def linked_entry(self, job: str, kind: EntryKind, anchor: str) -> str | None:
        """The entry whose shadow in ``job`` holds target ``anchor`` (None: none does)."""

    @abc.abstractmethod
    async def shadows_page(
        self, job: str, kind: EntryKind, *, after_id: str = "", limit: int = 1000
    ) -> list[Shadow]:
        """The job's shadows of ``kind`` with an entry id above ``after_id``, by entry id."""

    @abc.abstractmethod
    async def count_shadows(self, job: str, kind: EntryKind | None = None) -> int: ...

    @abc.abstractmethod
    async def get_retries(
        self, job: str, kind: EntryKind, entry_ids: Sequence[str]
    ) -> dict[str, RetryRecord]: ...

    @abc.abstractmethod
    async def retries_due(self, job: str, now: float, *, limit: int = 500) -> list[RetryRecord]:
        """Retries whose ``next_attempt_at`` has come, soonest first."""

    @abc.abstractmethod
    async def list_retries(self, job: str, *, limit: int = 100) -> list[RetryRecord]:
        """The job's retry records, most recent failure first."""

    @abc.abstractmethod
    async def list_staged(
        self,
        job: str,
        *,
        decision: StagedDecision | None = None,
        after_id: int = 0,
        limit: int | None = None,
    ) -> list[StagedOperation]:
        """The job's staged operations with ``decision`` (None: all), oldest first: those
        numbered after ``after_id``, at most ``limit`` (None: all)."""

    @abc.abstractmethod
    async def count_staged(self, job: str, decision: StagedDecision) -> int:
        """How many of the job's staged operations have ``decision``."""

    @abc.abstractmethod
    async def staged_counts(self, decision: StagedDecision) -> dict[str, int]:
        """How many staged operations have ``decision``, by job, in one query (for a
        metrics scrape of many jobs); jobs with none are left out."""

    @abc.abstractmethod
    async def decide_staged(
        self, job: str, decision: StagedDecision, ids: Sequence[int] | None = None
    ) -> int:
        """Approve or reject the pending staged operations ``ids`` (None: all pending);
        returns how many were decided. Ids that are not pending are ignored."""

    @abc.abstractmethod
    async def record_batch(self, write: CycleWrite) -> None:
        """Apply everything ``write`` holds in ONE transaction: a crash leaves either all
        of it or none."""

    @abc.abstractmethod
    async def query_logs(self, query: LogQuery) -> list[LogEntry]: ...

    @abc.abstractmethod
    async def purge_logs(self, older_than: float) -> int:
        """Delete log entries written before ``older_than``; returns how many."""
