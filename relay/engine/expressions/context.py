"""What an evaluation may need besides the source object: a clock, randomness, the target.

``SelectUniqueValue`` asks the target whether a candidate is free, which only the engine can
do (through the connector's search), so the engine puts an ``is_unique`` callback here.
Entra ID checks uniqueness on the mapping's target attribute; here too: the engine sets
``target_attribute`` to the attribute the mapping writes, and the callback receives
``(target_attribute, candidate)``.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class EvaluationContext:
    """Clock, random source and target look-ups for one mapping's evaluations.

    ``now`` feeds ``Now()`` (default: the system clock in UTC); ``random`` feeds ``Guid()``
    and ``RandomString()`` (default: the operating system's generator; tests pass a seeded
    ``random.Random``); ``is_unique(target_attribute, candidate)`` answers whether the target
    has no object with that value (default: none, so ``SelectUniqueValue`` fails);
    ``target_attribute`` is the mapping's target attribute that ``is_unique`` is asked about.
    """

    now: Callable[[], datetime] = _utc_now
    random: random.Random = field(default_factory=random.SystemRandom)
    is_unique: Callable[[str, str], Awaitable[bool]] | None = None
    target_attribute: str = ""


class IgnoreFlow:
    """The type of :data:`IGNORE_FLOW`; one instance only."""

    def __repr__(self) -> str:
        return "IGNORE_FLOW"

    def __bool__(self) -> bool:
        return False


IGNORE_FLOW: Final = IgnoreFlow()
"""Returned by ``IgnoreFlowIfNullOrEmpty`` on a null or empty value: the mapping must leave
the target attribute out of the operation (neither set nor cleared)."""


class IgnoreFlowSignal(Exception):
    """Raised by IgnoreFlowIfNullOrEmpty wherever it is nested, caught where evaluation
    starts and turned into IGNORE_FLOW; it never leaves the package."""


DEFAULT_CONTEXT: Final = EvaluationContext()
