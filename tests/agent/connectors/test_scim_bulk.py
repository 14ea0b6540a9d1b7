"""Bulk requests stay within maxOperations and maxPayloadSize; results are read by bulkId;
a Bulk the service refuses as too large or unsupported is sent as single creates."""

from __future__ import annotations

import time

import pytest

from agent.connectors.scim_bulk import bulk_body, bulk_create, chunks, fits_alone, outcomes
from shared.connector import USER, Action, Operation
from shared.exceptions import ConflictError
from tests.agent.connectors.scim_helpers import scim, user
from tests.servers.scim import ScimServer
from tests.servers.scim_standin import BEARER, Fault, running_standin


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


async def test_apply_sends_creates_in_bulk_requests_within_the_limits(
    scim_server: ScimServer,
) -> None:
    connector = scim(scim_server.base_url, token=scim_server.token, bulk_max_operations=3)
    try:
        tag = time.monotonic_ns()
        ops = [Operation(f"k{i}", Action.CREATE, USER, attributes=user(f"bulk-{tag}-{i}"))
               for i in range(7)]  # fmt: skip
        await connector.create(USER, user(f"bulk-{tag}-existing"))
        ops.append(Operation("dup", Action.CREATE, USER, attributes=user(f"bulk-{tag}-existing")))
        ops.append(Operation("bad", Action.CREATE, USER, attributes=user("b", active="no")))
        results = await connector.apply(ops)
        assert [r.key for r in results] == [op.key for op in ops]
        assert all(r.anchor for r in results[:7]), [r.error for r in results]
        assert results[7].error is not None
        assert results[7].error.error_class.value == "conflict"
        assert results[8].error is not None
        assert results[8].error.attribute == "active"
        for i, result in enumerate(results[:7]):
            assert result.anchor is not None
            assert (await connector.get(USER, result.anchor)).attributes["userName"] == (
                f"bulk-{tag}-{i}"
            )
    finally:
        await connector.close()


@pytest.mark.parametrize("status", [413, 501])
async def test_a_bulk_refused_as_too_large_or_unsupported_is_sent_as_single_creates(
    status: int,
) -> None:
    async with running_standin(bulk=True) as standin:
        connector = scim(standin.base_url, token=BEARER)
        try:
            first = [Operation(f"b{i}", Action.CREATE, USER, attributes=user(f"bulk-{i}"))
                     for i in range(2)]  # fmt: skip
            results = await connector.apply(first)
            assert [r.error for r in results] == [None, None]
            assert len(standin.requests("POST", "/v2/Bulk")) == 1
            assert standin.requests("POST", "/v2/Users") == []
            standin.fail(
                "POST", "/v2/Bulk", Fault("status", status, body=f'{{"status": "{status}"}}')
            )
            ops = [Operation(f"k{i}", Action.CREATE, USER, attributes=user(f"single-{i}"))
                   for i in range(3)]  # fmt: skip
            results = await connector.apply(ops)
            assert [r.key for r in results] == ["k0", "k1", "k2"]
            assert [r.error for r in results] == [None, None, None]
            refused = standin.requests("POST", "/v2/Bulk")[-1]
            assert [o["data"]["userName"] for o in refused.body["Operations"]] == [
                "single-0", "single-1", "single-2"
            ]  # fmt: skip
            singles = standin.requests("POST", "/v2/Users")
            assert sorted(s.body["userName"] for s in singles) == [
                "single-0",
                "single-1",
                "single-2",
            ]
            stored = standin.resources["Users"]
            assert len(stored) == 5, "each user created exactly once"
            for op, result in zip(ops, results, strict=True):
                assert result.anchor is not None
                assert op.attributes is not None
                assert stored[result.anchor]["userName"] == op.attributes["userName"]
        finally:
            await connector.close()
