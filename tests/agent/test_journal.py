"""The agent's on-disk journal of operations, keyed by idempotency key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.exceptions import JournalError
from agent.journal import Journal
from shared.connector import (
    AttributeInfo,
    AttributeType,
    ConnectorObject,
    ObjectClassInfo,
    OperationError,
    OperationResult,
    Schema,
)
from shared.exceptions import ErrorClass

NOW = 1_700_000_000.0
DAY = 86400.0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


FULL = OperationResult(
    key="k-full",
    anchor="uid=ada,ou=people",
    object=ConnectorObject(
        "uid=ada,ou=people",
        {
            "name": "Ada Lovelace ✓",
            "mail": ["ada@example.com", "ada@example.org"],
            "age": 36,
            "ratio": 1.5,
            "active": True,
            "manager": None,
        },
    ),
    objects=[ConnectorObject("a1", {"n": "one"}), ConnectorObject("a2", {})],
    cookie="next-page",
    schema=Schema(
        (
            ObjectClassInfo(
                "user",
                naming_attribute="name",
                attributes=(
                    AttributeInfo("name", required=True, unique=True),
                    AttributeInfo("mail", multi_valued=True),
                    AttributeInfo("age", AttributeType.INTEGER, updatable=False),
                ),
            ),
        )
    ),
)
FAILED = OperationResult(
    key="k-failed",
    error=OperationError(ErrorClass.THROTTLED, "slow down", attribute="mail", retry_after=2.5),
)
PLAIN = OperationResult(key="k-plain", anchor="42")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "journal.sqlite3"


@pytest.fixture
def journal(journal_path: Path, clock: Clock) -> Iterator[Journal]:
    j = Journal(journal_path, clock=clock)
    j.open()
    yield j
    j.close()


async def test_finished_keys_return_their_results_and_started_keys_are_in_doubt(
    journal: Journal,
) -> None:
    await journal.start(["k-full", "k-failed", "k-plain", "k-running"])
    await journal.finish([FULL, FAILED, PLAIN])

    found = await journal.lookup(["k-full", "k-failed", "k-plain", "k-running", "k-unknown"])

    assert found == {"k-full": FULL, "k-failed": FAILED, "k-plain": PLAIN, "k-running": None}
    assert "k-unknown" not in found
    full = found["k-full"]
    assert full is not None
    assert full.ok
    assert not full.replayed
    failed = found["k-failed"]
    assert failed is not None
    assert failed.error is not None
    assert failed.error.error_class is ErrorClass.THROTTLED
    assert failed.error.retry_after == 2.5
    assert failed.error.attribute == "mail"


async def test_an_empty_lookup(journal: Journal) -> None:
    assert await journal.lookup([]) == {}


async def test_starting_a_finished_key_again_keeps_its_result(journal: Journal) -> None:
    await journal.start(["k-plain"])
    await journal.finish([PLAIN])
    await journal.start(["k-plain"])
    assert await journal.lookup(["k-plain"]) == {"k-plain": PLAIN}


async def test_a_lookup_of_many_keys(journal: Journal) -> None:
    keys = [f"key-{i:05d}" for i in range(1200)]
    await journal.start(keys)
    done = [OperationResult(key, anchor=f"anchor-{key}") for key in keys[::2]]
    await journal.finish(done)

    asked = [*keys, *(f"unknown-{i}" for i in range(30))]
    found = await journal.lookup(asked)

    assert len(found) == 1200
    for i, key in enumerate(keys):
        if i % 2 == 0:
            assert found[key] == OperationResult(key, anchor=f"anchor-{key}")
        else:
            assert found[key] is None, key


async def test_prune_forgets_entries_older_than_the_retention(
    journal: Journal, clock: Clock
) -> None:
    await journal.start(["old", "old-finished-late"])
    clock.now = NOW + 2 * DAY
    await journal.start(["recent"])
    await journal.finish([OperationResult("old-finished-late", anchor="x")])

    clock.now = NOW + 3 * DAY
    removed = await journal.prune(older_than=2 * DAY)

    assert removed == 1
    found = await journal.lookup(["old", "old-finished-late", "recent"])
    assert found == {
        "old-finished-late": OperationResult("old-finished-late", anchor="x"),
        "recent": None,
    }

    clock.now = NOW + 10 * DAY
    assert await journal.prune(older_than=DAY) == 2
    assert await journal.lookup(["old-finished-late", "recent"]) == {}


async def test_reopening_keeps_the_entries(journal_path: Path, clock: Clock) -> None:
    first = Journal(journal_path, clock=clock)
    first.open()
    await first.start(["k-full", "k-plain", "k-running"])
    await first.finish([FULL, PLAIN])
    first.close()

    again = Journal(journal_path, clock=clock)
    again.open()
    try:
        found = await again.lookup(["k-full", "k-plain", "k-running"])
    finally:
        again.close()
    assert found == {"k-full": FULL, "k-plain": PLAIN, "k-running": None}


async def test_a_closed_journal_refuses_calls(journal_path: Path) -> None:
    j = Journal(journal_path)
    with pytest.raises(JournalError, match="closed"):
        await j.lookup(["x"])


def test_a_journal_under_a_file_is_a_journal_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    path = blocker / "journal.sqlite3"

    with pytest.raises(JournalError) as info:
        Journal(path).open()
    assert str(path) in str(info.value)


def test_a_folder_in_place_of_the_journal_is_a_journal_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    path.mkdir()

    with pytest.raises(JournalError) as info:
        Journal(path).open()
    assert str(path) in str(info.value)


def test_a_file_that_is_not_a_journal_is_a_journal_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"this is not an SQLite database, just some text " * 100)

    with pytest.raises(JournalError) as info:
        Journal(path).open()
    assert str(path) in str(info.value)
