"""How failures are acted on, retry delays, and quarantine."""

from __future__ import annotations

import pytest

from relay.engine.retry import QuarantinePolicy, Reaction, RetryPolicy, reaction
from shared.connector import Action
from shared.exceptions import ErrorClass

WRITES = (Action.CREATE, Action.UPDATE, Action.DELETE)


@pytest.mark.parametrize(
    ("error_class", "expected"),
    [
        (ErrorClass.UNAVAILABLE, {Action.CREATE: Reaction.RETRY}),
        (ErrorClass.TIMEOUT, {Action.CREATE: Reaction.RETRY}),
        (ErrorClass.THROTTLED, {Action.CREATE: Reaction.RETRY}),
        (ErrorClass.INTERNAL, {Action.CREATE: Reaction.RETRY}),
        (ErrorClass.INVALID_DATA, {Action.CREATE: Reaction.SKIP_UNTIL_CHANGED}),
        (ErrorClass.AUTHENTICATION, {Action.CREATE: Reaction.QUARANTINE}),
        (
            ErrorClass.CONFLICT,
            {
                Action.CREATE: Reaction.MATCH,
                Action.UPDATE: Reaction.SKIP_UNTIL_CHANGED,
                Action.DELETE: Reaction.SKIP_UNTIL_CHANGED,
            },
        ),
        (
            ErrorClass.NOT_FOUND,
            {
                Action.CREATE: Reaction.SKIP_UNTIL_CHANGED,  # a missing parent OU, say
                Action.UPDATE: Reaction.RECREATE,
                Action.DELETE: Reaction.GONE,
            },
        ),
    ],
)
def test_reactions(error_class: ErrorClass, expected: dict[Action, Reaction]) -> None:
    for action in WRITES:
        want = expected.get(action, expected[Action.CREATE])
        assert reaction(error_class, action) is want, action


def test_every_error_class_has_a_reaction_for_every_action() -> None:
    for error_class in ErrorClass:
        for action in Action:
            assert isinstance(reaction(error_class, action), Reaction)


def test_retry_delays_grow_to_the_maximum() -> None:
    policy = RetryPolicy(base=5.0, factor=2.0, maximum=3600.0, jitter=0.1)
    middle = 0.5  # a random draw of 0.5 means no jitter
    assert [policy.delay(n, None, lambda: middle) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert policy.delay(20, None, lambda: middle) == 3600.0
    assert policy.delay(10_000, None, lambda: middle) == 3600.0  # no overflow


def test_retry_delays_are_jittered_both_ways() -> None:
    policy = RetryPolicy(base=100.0, jitter=0.1)
    assert policy.delay(1, None, lambda: 0.0) == pytest.approx(90.0)
    assert policy.delay(1, None, lambda: 1.0) == pytest.approx(110.0)
    draws = {policy.delay(1, None) for _ in range(50)}
    assert all(90.0 <= d <= 110.0 for d in draws) and len(draws) > 1


def test_a_targets_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(base=5.0, jitter=0.0)
    assert policy.delay(1, 120.0) == 120.0
    assert policy.delay(1, 2.0) == 5.0


def test_quarantine_needs_enough_operations_and_a_large_share_failing() -> None:
    policy = QuarantinePolicy(failure_share=0.5, minimum_operations=20)
    assert not policy.should_quarantine(19, 19)
    assert policy.should_quarantine(10, 20)
    assert not policy.should_quarantine(9, 20)
    assert policy.should_quarantine(400, 500)
    assert not policy.should_quarantine(0, 0)


def test_quarantined_jobs_are_retried_on_a_widening_schedule() -> None:
    policy = QuarantinePolicy()
    now = 1000.0
    assert [policy.next_attempt(n, now) - now for n in range(8)] == [
        60,
        300,
        900,
        3600,
        4 * 3600,
        24 * 3600,
        24 * 3600,
        24 * 3600,
    ]
