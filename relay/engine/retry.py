"""How the engine acts on a failed operation, and when it tries again.

A connector reports every failure with an :class:`~shared.exceptions.ErrorClass`; what
the engine does about it depends on that class and on what it was trying to do. A
failure that time may cure is retried with a growing, jittered delay; one that only a
change in the directory can cure (values the target refuses) waits for that change, so a
broken object costs nothing while it stays broken; refused credentials stop the whole
job (quarantine), because every other operation would fail the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from shared.connector import Action
from shared.exceptions import ErrorClass


class Reaction(StrEnum):
    """What the engine does after an operation failed."""

    #: Try the same operation again later (RetryPolicy's delay).
    RETRY = "retry"
    #: The object already exists in the target: find it by its matching attributes and link.
    MATCH = "match"
    #: The linked object was removed behind the job's back: drop the link and create it.
    RECREATE = "recreate"
    #: A delete found nothing to delete: the job got what it wanted, counts as done.
    GONE = "gone"
    #: Sending the same again would fail again: wait until the directory entry changes.
    SKIP_UNTIL_CHANGED = "skip_until_changed"
    #: Nothing will work (credentials refused): stop the job until it is fixed.
    QUARANTINE = "quarantine"


_ALWAYS = {
    ErrorClass.UNAVAILABLE: Reaction.RETRY,
    ErrorClass.TIMEOUT: Reaction.RETRY,
    ErrorClass.THROTTLED: Reaction.RETRY,
    # An unexpected failure in the agent or connector says nothing about the data; it may
    # be a transient fault, and a bug gets fixed by an upgrade, so keep trying.
    ErrorClass.INTERNAL: Reaction.RETRY,
    ErrorClass.INVALID_DATA: Reaction.SKIP_UNTIL_CHANGED,
    ErrorClass.AUTHENTICATION: Reaction.QUARANTINE,
}


def reaction(error_class: ErrorClass, action: Action) -> Reaction:
    """The engine's reaction to ``error_class`` from an operation doing ``action``.

    Conflict and not-found depend on the action: a conflict on create means the account is
    already there (match it), while on update it means a unique value is taken by another
    object, which only a change of the source can resolve; not-found on update means the
    account was deleted behind the job's back (recreate), on delete that the job's wish is
    already true, and on create that something the object needs (a parent OU) is missing,
    which again waits for a change.
    """
    fixed = _ALWAYS.get(error_class)
    if fixed is not None:
        return fixed
    if error_class is ErrorClass.CONFLICT:
        return Reaction.MATCH if action is Action.CREATE else Reaction.SKIP_UNTIL_CHANGED
    if error_class is ErrorClass.NOT_FOUND:
        if action is Action.UPDATE:
            return Reaction.RECREATE
        if action is Action.DELETE:
            return Reaction.GONE
        return Reaction.SKIP_UNTIL_CHANGED
    raise ValueError(f"no reaction is defined for error class {error_class!r}")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff for retried operations.

    The delay doubles (``factor``) from ``base`` seconds up to ``maximum``, and is spread by
    up to ``jitter`` of itself either way, so objects that failed together (a target that
    was down) do not all come back in the same second.
    """

    #: Seconds before the first retry.
    base: float = 5.0
    #: How much each further failure multiplies the delay.
    factor: float = 2.0
    #: The longest delay, in seconds (one hour).
    maximum: float = 3600.0
    #: The share of the delay by which it is randomly moved earlier or later.
    jitter: float = 0.1

    def delay(
        self,
        attempts: int,
        retry_after: float | None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1 for the first); a
        target's ``retry_after`` (Retry-After) is a floor, as asking sooner is pointless."""
        try:
            backoff = self.base * self.factor ** max(attempts - 1, 0)
        except OverflowError:
            backoff = self.maximum
        backoff = min(backoff, self.maximum)
        backoff *= 1.0 + self.jitter * (2.0 * rand() - 1.0)
        return max(backoff, retry_after or 0.0)


@dataclass(frozen=True, slots=True)
class QuarantinePolicy:
    """When a job is stopped because its target keeps failing, and when it is tried again.

    The caller counts failures that are not about the data (unavailable, timeout,
    internal...), since bad values in a few objects say nothing about the target.
    """

    #: The share of failed operations (among at least ``minimum_operations``) that
    #: quarantines the job.
    failure_share: float = 0.5
    #: Fewer operations than this never quarantine a job: two failures out of three say
    #: too little.
    minimum_operations: int = 20
    #: Seconds between attempts on a quarantined job: each failed attempt moves one step
    #: along, the last step repeats (1 minute up to a day).
    schedule: tuple[float, ...] = (60, 300, 900, 3600, 4 * 3600, 24 * 3600)

    def should_quarantine(self, failed: int, total: int) -> bool:
        """Whether ``failed`` of ``total`` operations failing quarantines the job."""
        return total >= max(self.minimum_operations, 1) and failed >= total * self.failure_share

    def next_attempt(self, count: int, now: float) -> float:
        """When to try a job again whose ``count`` previous attempts (since it was
        quarantined) failed."""
        return now + self.schedule[min(max(count, 0), len(self.schedule) - 1)]
