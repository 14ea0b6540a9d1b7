"""The deletion guard's arithmetic: whether a number of deprovisions needs approval.

A cycle that reads everything (initial, reconcile) knows all its deprovisions before it
sends one, so it asks :func:`over_threshold` once. Incremental work sees deprovisions
arrive a few at a time, so a mass deletion in the directory would slip under any per-batch
threshold; :class:`DeprovisionWindow` adds up what was sent over the guard's window (an
hour by default) and judges each new burst together with it. The clock is passed in, so
the arithmetic stays pure and testable.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum

from relay.engine.job import Guard


class GuardDecision(StrEnum):
    """What happens to a burst of deprovisions."""

    SEND = "send"
    STAGE = "stage"


def over_threshold(guard: Guard, deprovisions: int, linked: int) -> bool:
    """Whether ``deprovisions`` out of ``linked`` objects (those the job has in the target)
    are too many to carry out without an administrator's approval."""
    if guard.threshold > 0 and deprovisions > guard.threshold:
        return True
    return guard.share is not None and linked > 0 and deprovisions / linked > guard.share


class DeprovisionWindow:
    """The deprovisions an incremental job sent within the last ``guard.window`` seconds."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard
        self._sent: deque[tuple[float, int]] = deque()
        self._total = 0

    def sent(self, count: int, now: float) -> None:
        """Record that ``count`` deprovisions were carried out at ``now``."""
        if count > 0:
            self._sent.append((now, count))
            self._total += count

    def in_window(self, now: float) -> int:
        """How many deprovisions were sent in the window ending at ``now``."""
        horizon = now - self._guard.window
        while self._sent and self._sent[0][0] <= horizon:
            self._total -= self._sent.popleft()[1]
        return self._total

    def decide(self, pending: int, linked: int, now: float) -> GuardDecision:
        """Send ``pending`` deprovisions or stage them, counting those already sent in the
        window; ``linked`` is how many objects the job has in the target."""
        if pending <= 0:
            return GuardDecision.SEND
        if over_threshold(self._guard, self.in_window(now) + pending, linked):
            return GuardDecision.STAGE
        return GuardDecision.SEND
