"""Requests to a SCIM service: Retry-After in both of its forms (RFC 9110 10.2.3), 429 and
503 retried, faults classified, a create whose answer is lost never sent twice, requests in
flight bounded and connections kept alive (against the stand-in service)."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest

from agent.connectors.scim import ScimConnector
from agent.connectors.scim_client import retry_after
from shared.connector import USER, Page
from shared.exceptions import (
    AuthenticationError,
    ConflictError,
    ConnectorError,
    NotFoundError,
    OperationTimeoutError,
    ThrottledError,
    UnavailableError,
)
from tests.agent.connectors.scim_helpers import scim, user
from tests.servers.scim_standin import BEARER, Fault, ScimStandIn

pytestmark = pytest.mark.server


def test_retry_after_seconds_and_dates() -> None:
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({}) is None
    assert retry_after({"Retry-After": "soon"}) is None
    later = email.utils.formatdate(time.time() + 90, usegmt=True)
    wait = retry_after({"Retry-After": later})
    assert wait is not None
    assert 80 <= wait <= 91
    earlier = email.utils.formatdate(time.time() - 90, usegmt=True)
    assert retry_after({"Retry-After": earlier}) == 0.0


async def test_429_and_503_are_retried_after_retry_after(
    to_standin: ScimConnector, standin: ScimStandIn
) -> None:
    await to_standin.test()
    standin.fail("POST", "/v2/Users",
                 Fault("status", 429, {"Retry-After": "1"}), Fault("status", 503))  # fmt: skip
    started = time.monotonic()
    anchor = await to_standin.create(USER, user("throttled"))
    assert time.monotonic() - started >= 1.0
    assert len(standin.requests("POST")) == 3
    assert list(standin.resources["Users"]) == [anchor]


async def test_throttling_past_the_retries_or_the_cap_goes_back_with_retry_after(
    to_standin: ScimConnector, standin: ScimStandIn
) -> None:
    await to_standin.test()
    standin.fail("POST", "/v2/Users", Fault("status", 429, {"Retry-After": "120"}))
    with pytest.raises(ThrottledError) as caught:
        await to_standin.create(USER, user("capped"))
    assert caught.value.retry_after == 120
    assert len(standin.requests("POST")) == 1
    standin.fail("GET", "/v2/Users/x", *[Fault("status", 503, {"Retry-After": "0"})] * 4)
    with pytest.raises(UnavailableError) as unavailable:
        await to_standin.get(USER, "x")
    assert unavailable.value.retry_after == 0
    assert len(standin.requests("GET", "/v2/Users/x")) == 4  # the first try and 3 retries
    assert not standin.resources["Users"]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault("status", 500, body="<html>oops</html>"), UnavailableError),
        (Fault("status", 502, body='{"detail": "bad gateway"}'), UnavailableError),
        (Fault("malformed"), UnavailableError),
        (Fault("slow"), OperationTimeoutError),
        (Fault("drop_before"), UnavailableError),
        (Fault("status", 401), AuthenticationError),
        (Fault("status", 403), AuthenticationError),
        (Fault("status", 404), NotFoundError),
        (Fault("status", 307, {"Location": "http://elsewhere.example/v2"}), UnavailableError),
    ],
)
async def test_faults_on_reads_are_classified(
    to_standin: ScimConnector, standin: ScimStandIn, fault: Fault, error: type[ConnectorError]
) -> None:
    anchor = await to_standin.create(USER, user("read-fault"))
    standin.fail("GET", f"/v2/Users/{anchor}", fault, fault)
    with pytest.raises(error) as caught:
        await to_standin.get(USER, anchor)
    assert caught.value.message
    assert type(caught.value) is error


@pytest.mark.parametrize(
    ("fault", "stored", "error"),
    [
        (Fault("drop_after"), 1, ConflictError),
        (Fault("malformed"), 1, ConflictError),
        (Fault("drop_before"), 0, UnavailableError),
        (Fault("slow"), 0, OperationTimeoutError),
        (Fault("status", 500), 0, UnavailableError),
    ],
)
async def test_a_create_whose_answer_is_lost_is_never_sent_twice(
    to_standin: ScimConnector,
    standin: ScimStandIn,
    fault: Fault,
    stored: int,
    error: type[ConnectorError],
) -> None:
    await to_standin.test()
    standin.fail("POST", "/v2/Users", fault)
    with pytest.raises(error) as caught:
        await to_standin.create(USER, user("lost"))
    assert type(caught.value) is error
    assert len(standin.requests("POST")) == 1
    assert len(standin.resources["Users"]) == stored
    if stored:
        assert caught.value.attribute == "userName"
        assert "matched" in caught.value.message
        with pytest.raises(ConflictError):  # the engine's retry finds it, and matches
            await to_standin.create(USER, user("lost"))
    else:
        await to_standin.create(USER, user("lost"))
    assert len(standin.resources["Users"]) == 1


async def test_requests_in_flight_are_bounded_and_connections_kept_alive(
    standin: ScimStandIn,
) -> None:
    single = scim(standin.base_url, token=BEARER, max_in_flight=1)
    try:
        await single.test()
        for _ in range(5):
            await single.search(USER, None, Page(1))
    finally:
        await single.close()
    assert len(standin.seen) == 9
    assert len({s.peer for s in standin.seen}) == 1, "a request opened its own connection"
    connector = scim(standin.base_url, token=BEARER, max_in_flight=3)
    try:
        standin.gate = asyncio.Event()
        reads = asyncio.gather(*(connector.search(USER, None, Page(1)) for _ in range(12)))
        await standin.crowded(3)
        for _ in range(50):  # give further requests every chance to arrive
            await asyncio.sleep(0)
        assert standin.most_in_flight == 3
        standin.gate.set()
        await reads
        assert standin.most_in_flight == 3
    finally:
        await connector.close()
