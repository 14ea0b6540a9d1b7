"""The deletion guard: per-cycle thresholds and the incremental sliding window."""

from __future__ import annotations

import pytest

from relay.engine.guard import DeprovisionWindow, GuardDecision, over_threshold
from relay.engine.job import Guard


@pytest.mark.parametrize(
    ("guard", "deprovisions", "linked", "expected"),
    [
        (Guard(), 500, 10_000, False),
        (Guard(), 501, 10_000, True),
        (Guard(threshold=0), 10_000, 10_000, False),  # 0 turns the count off
        (Guard(threshold=0, share=0.3), 30, 100, False),
        (Guard(threshold=0, share=0.3), 31, 100, True),
        (Guard(share=0.3), 31, 0, False),  # no linked objects: the share says nothing
        (Guard(threshold=10, share=0.5), 11, 1000, True),  # either limit stages
        (Guard(threshold=100, share=0.5), 6, 10, True),
        (Guard(threshold=100, share=0.5), 5, 10, False),
    ],
)
def test_over_threshold(guard: Guard, deprovisions: int, linked: int, expected: bool) -> None:
    assert over_threshold(guard, deprovisions, linked) is expected


def test_the_window_adds_up_what_was_sent_within_it() -> None:
    window = DeprovisionWindow(Guard(threshold=10, window=3600.0))
    assert window.decide(10, linked=1000, now=0.0) is GuardDecision.SEND
    window.sent(6, now=0.0)
    window.sent(3, now=1800.0)
    # 9 sent in the last hour: one more is fine, two are too many.
    assert window.decide(1, linked=1000, now=1900.0) is GuardDecision.SEND
    assert window.decide(2, linked=1000, now=1900.0) is GuardDecision.STAGE
    # An hour after the first burst it no longer counts.
    assert window.in_window(3600.0) == 3
    assert window.decide(7, linked=1000, now=3600.0) is GuardDecision.SEND
    assert window.decide(8, linked=1000, now=3600.0) is GuardDecision.STAGE
    assert window.in_window(5400.0) == 0


def test_the_window_counts_shares_of_linked_objects() -> None:
    window = DeprovisionWindow(Guard(threshold=0, share=0.1, window=60.0))
    window.sent(5, now=0.0)
    assert window.decide(5, linked=100, now=30.0) is GuardDecision.SEND
    assert window.decide(6, linked=100, now=30.0) is GuardDecision.STAGE


def test_nothing_pending_is_never_staged() -> None:
    window = DeprovisionWindow(Guard(threshold=1))
    window.sent(50, now=0.0)
    assert window.decide(0, linked=100, now=1.0) is GuardDecision.SEND
    assert window.decide(1, linked=100, now=1.0) is GuardDecision.STAGE
