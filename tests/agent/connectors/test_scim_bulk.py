"""Bulk requests stay within maxOperations and maxPayloadSize; results are read by bulkId."""

from __future__ import annotations

from agent.connectors.scim_bulk import bulk_body, bulk_create, chunks, fits_alone, outcomes
from shared.connector import Action, Operation
from shared.exceptions import ConflictError


def creates(count: int, size: int = 10):
    return [
        bulk_create(
            Operation(f"k{i}", Action.CREATE, attributes={"userName": "x" * size}),
            "/Users",
            {"userName": "x" * size},
        )
        for i in range(count)
    ]


def test_chunks_respect_both_limits() -> None:
    items = creates(10, size=100)
    assert [len(c) for c in chunks(items, 4, 0)] == [4, 4, 2]
    budget = 256 + 3 * items[0].size
    assert [len(c) for c in chunks(items, 100, budget)] == [3, 3, 3, 1]
    assert not fits_alone(creates(1, size=5000)[0], 1000)


def test_results_are_matched_by_bulk_id_and_missing_ones_are_in_doubt() -> None:
    chunk = creates(3)
    body = bulk_body(chunk)
    assert [op["bulkId"] for op in body["Operations"]] == ["op0", "op1", "op2"]
    answer = {
        "Operations": [
            {"bulkId": "op2", "status": "409", "response": {"scimType": "uniqueness"}},
            {"bulkId": "op0", "status": "201", "location": "https://s/v2/Users/a%2Fb"},
        ]
    }
    first, second, third = outcomes(chunk, answer)
    assert first == "a/b"
    assert second is None
    assert isinstance(third, ConflictError)
