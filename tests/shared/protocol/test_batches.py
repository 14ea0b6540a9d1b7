"""Signed batches from relay to agent, and their results or refusals coming back: the
signature and replay checks, expiry (on a hand-moved clock), refusals, the window, limits
and draining."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.connector import (
    Action,
    ConnectorObject,
    Delta,
    DeltaKind,
    Equals,
    Operation,
    OperationError,
    OperationResult,
    Page,
)
from shared.exceptions import ErrorClass
from shared.protocol import signing
from shared.protocol.agent import AgentState, NonceCache
from shared.protocol.events import (
    BatchDeclined,
    BatchReceived,
    BatchRefused,
    Closing,
    Draining,
    ResultsReceived,
)
from shared.protocol.messages import BATCH_PROOF, CloseCode, Limits, RefusalReason
from shared.protocol.relay import RelayState
from tests.shared.protocol.peers import START, Link, MakeLink, closed_with, decode, frame, only

CREATE = Operation(
    "job-7:user-42:create",
    Action.CREATE,
    attributes={"userName": "ada", "displayName": "Ada Lovelace", "mail": ["ada@example.org"]},
)
UPDATE = Operation(
    "job-7:user-43:update",
    Action.UPDATE,
    anchor="uid=bob,ou=people,dc=example,dc=org",
    deltas=(Delta("mail", DeltaKind.REPLACE, ("bob@example.org",)),),
)
DELETE = Operation("job-7:group-9:delete", Action.DELETE, object_class="group", anchor="9")


# Round trip ----------------------------------------------------------------------------


def test_batch_and_results_round_trip(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE, UPDATE, DELETE])
    assert link.to_agent() == [BatchReceived("b1", "hr", [CREATE, UPDATE, DELETE])]
    assert "b1" in link.agent.in_flight

    results = [
        OperationResult(CREATE.key, anchor="42"),
        OperationResult(UPDATE.key, anchor=UPDATE.anchor, replayed=True),
        OperationResult(DELETE.key, error=OperationError(ErrorClass.NOT_FOUND, "no group 9")),
    ]
    link.agent.send_results("b1", results)
    assert "b1" not in link.agent.in_flight
    assert link.to_relay() == [ResultsReceived("b1", results)]
    assert "b1" not in link.relay.in_flight


def test_batch_frame_is_a_signed_nested_payload(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    message = decode(link.relay.data_to_send()[0])

    assert set(message) == {"v", "type", "id", "payload", "signature"}
    assert message["type"] == "batch"
    assert isinstance(message["payload"], str)
    payload = json.loads(message["payload"])
    assert payload == {
        "agent": "branch-office",
        "batch": "b1",
        "connector": "hr",
        "nonce": payload["nonce"],
        "expires": START + 120,
        "operations": [CREATE.as_wire()],
    }
    assert len(signing.b64decode(payload["nonce"])) == 16
    assert len(signing.b64decode(message["signature"])) == 64
    # The signature covers the payload string's UTF-8 bytes exactly as sent.
    assert signing.verify(
        link.relay_key.public_key(),
        message["signature"],
        b"hatchway-batch-v1\n" + message["payload"].encode(),
    )
    assert BATCH_PROOF == b"hatchway-batch-v1\n"


def test_redelivery_is_a_new_signed_frame_with_the_same_keys(
    make_link: MakeLink,
) -> None:
    """After a reconnect the relay re-signs the same batch: a fresh nonce and expiry, the
    same batch id and idempotency keys, and the agent (same nonce cache) accepts it."""
    nonces = NonceCache(clock=lambda: 0.0)  # before every expiry: nothing is forgotten
    first = make_link(nonces=nonces)
    first.handshake()
    first.relay.send_batch("b1", "hr", [CREATE])
    assert first.to_agent() == [BatchReceived("b1", "hr", [CREATE])]

    first.clock.advance(30)
    second = make_link(nonces=nonces)
    second.handshake()
    second.relay.send_batch("b1", "hr", [CREATE])
    assert second.to_agent() == [BatchReceived("b1", "hr", [CREATE])]

    old, new = (
        json.loads(decode(f)["payload"])
        for f in (first.sent_to_agent[-1], second.sent_to_agent[-1])
    )
    assert old["nonce"] != new["nonce"]
    assert new["expires"] == old["expires"] + 30
    assert old["operations"] == new["operations"]


# Signature, addressee and replay ------------------------------------------------------------


def test_tampered_payload_closes_with_4011(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [DELETE])
    message = decode(link.relay.data_to_send()[0])
    message["payload"] = message["payload"].replace('"9"', '"10"')

    closing = closed_with(link.agent.receive(json.dumps(message)), CloseCode.BAD_BATCH_SIGNATURE)
    assert closing.reason == "batch signature does not verify"
    assert link.agent.state is AgentState.CLOSED
    assert link.agent.data_to_send() == []  # no refusal, no results: nothing ran


def test_payload_reencoded_by_a_proxy_fails_verification(link: Link) -> None:
    """The signature is over the payload string, not its meaning: equivalent JSON with
    other spacing does not verify, which is why no canonical form is needed."""
    link.relay.send_batch("b1", "hr", [CREATE])
    message = decode(link.relay.data_to_send()[0])
    message["payload"] = json.dumps(json.loads(message["payload"]), indent=1)
    closed_with(link.agent.receive(json.dumps(message)), CloseCode.BAD_BATCH_SIGNATURE)


def test_batch_signed_by_another_key_closes_with_4011(link: Link) -> None:
    forged = link.forge_batch(signing_key=Ed25519PrivateKey.generate())
    closed_with(link.agent.receive(forged), CloseCode.BAD_BATCH_SIGNATURE)


@pytest.mark.parametrize("signature", ["", "not base64", signing.b64encode(bytes(64))])
def test_malformed_or_empty_signature_closes_with_4011(link: Link, signature: str) -> None:
    message = decode(link.forge_batch())
    message["signature"] = signature
    closed_with(link.agent.receive(json.dumps(message)), CloseCode.BAD_BATCH_SIGNATURE)


def test_unsigned_batch_is_a_protocol_error(link: Link) -> None:
    message = decode(link.forge_batch())
    del message["signature"]
    closing = closed_with(link.agent.receive(json.dumps(message)), CloseCode.PROTOCOL_ERROR)
    assert closing.reason == "batch: missing or malformed 'signature'"


def test_batch_signed_for_another_agent_closes_with_4011(link: Link) -> None:
    closing = closed_with(
        link.agent.receive(link.forge_batch(agent="another-agent")),
        CloseCode.BAD_BATCH_SIGNATURE,
    )
    assert closing.reason == "batch was signed for another agent"


def test_replayed_frame_closes_with_4012(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    [batch_frame] = link.relay.data_to_send()
    assert isinstance(only(link.agent.receive(batch_frame)), BatchReceived)
    link.agent.send_results("b1", [OperationResult(CREATE.key, anchor="42")])

    closing = closed_with(link.agent.receive(batch_frame), CloseCode.REPLAYED_BATCH)
    assert closing.reason == "batch b1 replays a used nonce"


def test_replay_on_a_new_connection_is_caught_by_the_shared_nonce_cache(
    make_link: MakeLink,
) -> None:
    nonces = NonceCache(clock=lambda: 0.0)  # before every expiry: nothing is forgotten
    first = make_link(nonces=nonces)
    first.handshake()
    first.relay.send_batch("b1", "hr", [CREATE])
    [captured] = first.relay.data_to_send()
    assert isinstance(only(first.agent.receive(captured)), BatchReceived)

    second = make_link(nonces=nonces)  # the agent reconnected; an attacker replays
    second.handshake()
    closing = closed_with(second.agent.receive(captured), CloseCode.REPLAYED_BATCH)
    assert "replays a used nonce" in closing.reason


def test_frames_that_fail_verification_do_not_use_up_a_nonce(make_link: MakeLink) -> None:
    """A forger cannot burn the nonce of a genuine batch it saw: only verified batches
    reach the nonce cache."""
    nonces = NonceCache(clock=lambda: 0.0)  # before every expiry: nothing is forgotten
    first = make_link(nonces=nonces)
    first.handshake()
    genuine = first.forge_batch(nonce="bm9uY2Utb2YtdGhlLWJhdGNo")
    tampered = decode(genuine)
    tampered["payload"] = tampered["payload"].replace('"test"', '"schema"')
    closed_with(first.agent.receive(json.dumps(tampered)), CloseCode.BAD_BATCH_SIGNATURE)

    second = make_link(nonces=nonces)
    second.handshake()
    assert isinstance(only(second.agent.receive(genuine)), BatchReceived)


def test_nonce_cache_remembers_across_calls() -> None:
    cache = NonceCache(clock=lambda: START)
    assert cache.add("n1", START + 120)
    assert not cache.add("n1", START + 120)
    assert cache.add("n2", START + 120)


# Expiry --------------------------------------------------------------------------------


def test_expired_batch_is_declined_and_the_relay_hears_why(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    link.clock.advance(120 + 30 + 0.5)  # TTL and the tolerated clock skew, and then some

    declined = only(link.to_agent())
    assert declined == BatchDeclined("b1", RefusalReason.EXPIRED, f"expired at {START + 120}")
    assert link.agent.state is AgentState.OPEN  # only refused: the connection stays
    assert "b1" not in link.agent.in_flight

    [refused_frame] = link.agent.data_to_send()
    refused = decode(refused_frame)
    assert refused == {
        "v": 1,
        "type": "refused",
        "id": refused["id"],
        "batch": "b1",
        "reason": "expired",
        "detail": f"expired at {START + 120}",
    }
    events = link.relay.receive(refused_frame)
    assert events == [BatchRefused("b1", RefusalReason.EXPIRED, f"expired at {START + 120}")]
    assert "b1" not in link.relay.in_flight
    assert link.relay.can_send


def test_batch_within_the_clock_skew_is_accepted(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    link.clock.advance(120 + 30)  # exactly expires + clock_skew
    assert isinstance(only(link.to_agent()), BatchReceived)


def test_agent_clock_behind_the_relay_still_accepts(make_link: MakeLink) -> None:
    link = make_link(agent_clock=lambda: START - 3600)
    link.handshake()
    link.relay.send_batch("b1", "hr", [CREATE])
    assert isinstance(only(link.to_agent()), BatchReceived)


def test_clock_skew_is_the_agents_own_setting(make_link: MakeLink) -> None:
    link = make_link(agent_limits=Limits(clock_skew=0))
    link.handshake()
    link.relay.send_batch("b1", "hr", [CREATE])
    link.clock.advance(120.001)
    assert only(link.to_agent()) == BatchDeclined(
        "b1", RefusalReason.EXPIRED, f"expired at {START + 120}"
    )


def test_an_expired_batch_replayed_is_declined_again_and_never_runs(link: Link) -> None:
    """Nonces are forgotten once their batch can no longer verify, so a replay of an
    expired batch meets the expiry check, not the nonce cache: it is declined again."""
    link.relay.send_batch("b1", "hr", [CREATE])
    [batch_frame] = link.relay.data_to_send()
    link.clock.advance(1000)
    first = only(link.agent.receive(batch_frame))
    second = only(link.agent.receive(batch_frame))
    assert isinstance(first, BatchDeclined)
    assert second == first
    assert first.reason is RefusalReason.EXPIRED


def test_the_nonce_cache_forgets_nonces_of_expired_batches() -> None:
    now = [1000.0]
    nonces = NonceCache(clock=lambda: now[0], skew=30)
    assert nonces.add("a", expires=1100)
    assert nonces.add("b", expires=2000)
    assert not nonces.add("a", expires=1100)
    now[0] = 1131  # "a" expired more than the skew ago: forgotten, "b" is not
    assert nonces.add("c", expires=2100)
    assert not nonces.add("b", expires=2000)
    assert nonces.add("a", expires=1100)


# Refusals ------------------------------------------------------------------------------


def test_unknown_connector_is_declined(link: Link) -> None:
    link.relay.send_batch("b1", "payroll", [CREATE])
    declined = only(link.to_agent())
    assert declined == BatchDeclined(
        "b1", RefusalReason.UNKNOWN_CONNECTOR, "no connector 'payroll'"
    )
    assert link.to_relay() == [
        BatchRefused("b1", RefusalReason.UNKNOWN_CONNECTOR, "no connector 'payroll'")
    ]


def test_too_many_operations_are_declined(make_link: MakeLink) -> None:
    link = make_link(agent_limits=Limits(max_batch_operations=2))
    link.handshake()
    link.relay.send_batch("b1", "hr", [CREATE, UPDATE, DELETE])
    assert only(link.to_agent()) == BatchDeclined(
        "b1", RefusalReason.INVALID_OPERATION, "a batch holds 1 to 2 operations"
    )
    refused = only(link.to_relay())
    assert isinstance(refused, BatchRefused)
    assert refused.reason is RefusalReason.INVALID_OPERATION


def test_empty_batch_is_declined(link: Link) -> None:
    declined = only(link.agent.receive(link.forge_batch(operations=[])))
    assert declined == BatchDeclined(
        "forged-1", RefusalReason.INVALID_OPERATION, "a batch holds 1 to 1000 operations"
    )


@pytest.mark.parametrize(
    ("operation", "detail"),
    [
        (
            {"key": "k1", "action": "update", "object_class": "user"},
            "operation k1: update needs an anchor",
        ),
        ({"key": "k1", "action": "rename", "object_class": "user"}, "unknown action 'rename'"),
        ({"key": "k1", "action": "create", "object_class": "user"}, "create needs attributes"),
        ("k1", "operation: must be an object"),
    ],
)
def test_invalid_operation_is_declined_with_the_reason(
    link: Link, operation: object, detail: str
) -> None:
    declined = only(link.agent.receive(link.forge_batch(operations=[operation])))
    assert isinstance(declined, BatchDeclined)
    assert declined.reason is RefusalReason.INVALID_OPERATION
    assert detail in declined.detail
    assert decode(link.agent.data_to_send()[0])["reason"] == "invalid_operation"


@pytest.mark.parametrize(
    "operation",
    [
        Operation("k1", Action.CREATE, attributes={"description": "x" * 11}),
        Operation("k1", Action.CREATE, attributes={"description": ["short", "x" * 11]}),
        Operation(
            "k1",
            Action.UPDATE,
            anchor="a",
            deltas=(Delta("description", DeltaKind.ADD, ("x" * 11,)),),
        ),
    ],
)
def test_value_longer_than_max_value_chars_is_declined(
    make_link: MakeLink, operation: Operation
) -> None:
    link = make_link(agent_limits=Limits(max_value_chars=10))
    link.handshake()
    link.relay.send_batch("b1", "hr", [operation])
    assert only(link.to_agent()) == BatchDeclined(
        "b1",
        RefusalReason.INVALID_OPERATION,
        "operation k1: attribute 'description' longer than 10 characters",
    )


def test_value_of_exactly_max_value_chars_is_accepted(make_link: MakeLink) -> None:
    link = make_link(agent_limits=Limits(max_value_chars=10))
    link.handshake()
    op = Operation("k1", Action.CREATE, attributes={"description": "é" * 10, "n": 10**12})
    link.relay.send_batch("b1", "hr", [op])
    assert only(link.to_agent()) == BatchReceived("b1", "hr", [op])


def test_adapter_can_decline_a_batch_itself(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    received = only(link.to_agent())
    assert isinstance(received, BatchReceived)
    declined = link.agent.decline("b1", RefusalReason.DRAINING, "agent is shutting down")
    assert declined == BatchDeclined("b1", RefusalReason.DRAINING, "agent is shutting down")
    assert link.to_relay() == [BatchRefused("b1", RefusalReason.DRAINING, "agent is shutting down")]


def test_refusal_detail_is_bounded(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    link.to_agent()
    link.agent.decline("b1", RefusalReason.INVALID_OPERATION, "d" * 5000)
    [refused] = link.to_relay()
    assert isinstance(refused, BatchRefused)
    assert refused.detail == "d" * 500


# Malformed payloads (signed, so the relay wrote them: a protocol error) ---------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"raw_payload": "not json"}, "batch payload is not JSON"),
        ({"raw_payload": "[1, 2]"}, "batch payload is not an object"),
        ({"agent": None}, "missing or malformed 'agent'"),
        ({"batch": None}, "missing or malformed 'batch'"),
        ({"batch": 7}, "missing or malformed 'batch'"),
        ({"expires": None}, "missing or malformed 'expires'"),
        ({"expires": "soon"}, "missing or malformed 'expires'"),
        ({"expires": True}, "missing or malformed 'expires'"),
        ({"nonce": None}, "missing or malformed 'nonce'"),
        ({"connector": None}, "missing or malformed 'connector'"),
        ({"operations": None}, "missing or malformed 'operations'"),
        ({"operations": {"key": "k1"}}, "missing or malformed 'operations'"),
    ],
)
def test_malformed_signed_payload_closes_with_4000(
    link: Link, overrides: dict[str, Any], reason: str
) -> None:
    closing = closed_with(link.agent.receive(link.forge_batch(**overrides)), 4000)
    assert reason in closing.reason


def test_malformed_payload_reason_names_the_batch(link: Link) -> None:
    closing = closed_with(link.agent.receive(link.forge_batch(expires=None)), 4000)
    assert not closing.reason.startswith("None")


def test_operation_with_a_non_object_delta_is_declined(link: Link) -> None:
    op = {"key": "k1", "action": "update", "object_class": "user", "anchor": "a", "deltas": [5]}
    declined = only(link.agent.receive(link.forge_batch(operations=[op])))
    assert declined == BatchDeclined(
        "forged-1", RefusalReason.INVALID_OPERATION, "delta: must be an object"
    )


# The window (backpressure) -------------------------------------------------------------------


def test_can_send_is_false_when_the_window_is_full(make_link: MakeLink) -> None:
    link = make_link(relay_limits=Limits(window=2))
    _, welcomed = link.handshake()
    assert welcomed.limits.window == 2

    link.relay.send_batch("b1", "hr", [CREATE])
    assert link.relay.can_send
    link.relay.send_batch("b2", "hr", [UPDATE])
    assert not link.relay.can_send
    with pytest.raises(RuntimeError, match="window"):
        link.relay.send_batch("b3", "hr", [DELETE])
    assert len(link.to_agent()) == 2

    link.agent.send_results("b2", [OperationResult(UPDATE.key, anchor="a")])
    assert isinstance(only(link.to_relay()), ResultsReceived)
    assert link.relay.can_send
    link.relay.send_batch("b3", "hr", [DELETE])
    assert not link.relay.can_send


def test_a_refusal_frees_its_window_slot(make_link: MakeLink) -> None:
    link = make_link(relay_limits=Limits(window=1))
    link.handshake()
    link.relay.send_batch("b1", "payroll", [CREATE])
    assert not link.relay.can_send
    link.to_agent()
    assert isinstance(only(link.to_relay()), BatchRefused)
    assert link.relay.can_send


def test_relay_exceeding_the_window_closes_with_4000(make_link: MakeLink) -> None:
    link = make_link(relay_limits=Limits(window=2))
    link.handshake()
    assert isinstance(only(link.agent.receive(link.forge_batch(batch="b1"))), BatchReceived)
    assert isinstance(only(link.agent.receive(link.forge_batch(batch="b2"))), BatchReceived)
    closing = closed_with(link.agent.receive(link.forge_batch(batch="b3")), 4000)
    assert closing.reason == "relay exceeded the batch window"


def test_a_batch_id_already_in_flight_closes_with_4000(link: Link) -> None:
    assert isinstance(only(link.agent.receive(link.forge_batch(batch="b1"))), BatchReceived)
    closing = closed_with(link.agent.receive(link.forge_batch(batch="b1")), 4000)
    assert closing.reason == "batch b1 is already in flight"


def test_relay_refuses_to_send_a_batch_id_already_in_flight(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    with pytest.raises((RuntimeError, ValueError)):
        link.relay.send_batch("b1", "hr", [CREATE])


def test_send_batch_checks_its_arguments(make_link: MakeLink) -> None:
    link = make_link(relay_limits=Limits(max_batch_operations=2, max_frame_bytes=4096))
    link.handshake()
    with pytest.raises(ValueError, match="1 to 2 operations"):
        link.relay.send_batch("b1", "hr", [])
    with pytest.raises(ValueError, match="1 to 2 operations"):
        link.relay.send_batch("b1", "hr", [CREATE, UPDATE, DELETE])
    huge = Operation("k1", Action.CREATE, attributes={"photo": "x" * 5000})
    with pytest.raises(ValueError, match="larger than the frame limit"):
        link.relay.send_batch("b1", "hr", [huge])
    assert link.relay.data_to_send() == []
    assert "b1" not in link.relay.in_flight


def test_send_batch_before_the_handshake_is_refused(make_link: MakeLink) -> None:
    link = make_link()
    with pytest.raises(RuntimeError):
        link.relay.send_batch("b1", "hr", [CREATE])


# Results -------------------------------------------------------------------------------


def test_results_for_an_unknown_batch_close_with_4000(link: Link) -> None:
    link.agent.send_results("nope", [OperationResult("k1")])
    closing = closed_with(link.to_relay(), 4000)
    assert closing.reason == "results for unknown batch 'nope'"
    assert link.relay.state is RelayState.CLOSED


def test_results_twice_for_one_batch_close_with_4000(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    link.to_agent()
    link.agent.send_results("b1", [OperationResult(CREATE.key, anchor="42")])
    link.agent.send_results("b1", [OperationResult(CREATE.key, anchor="42")])
    events = link.to_relay()
    assert isinstance(events[0], ResultsReceived)
    assert events[1] == Closing(4000, "results for unknown batch 'b1'")


def test_refusal_of_an_unknown_batch_closes_with_4000(link: Link) -> None:
    refused = frame("refused", batch="nope", reason="expired", detail="")
    closing = closed_with(link.relay.receive(refused), 4000)
    assert closing.reason == "refusal of unknown batch 'nope'"


def test_refusal_with_an_unknown_reason_closes_with_4000(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    refused = frame("refused", batch="b1", reason="bored")
    closing = closed_with(link.relay.receive(refused), 4000)
    assert closing.reason == "refused: unknown reason"


def test_refusal_without_detail_has_an_empty_detail(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    events = link.relay.receive(frame("refused", batch="b1", reason="expired"))
    assert events == [BatchRefused("b1", RefusalReason.EXPIRED, "")]


@pytest.mark.parametrize(
    ("results", "reason"),
    [
        ("all good", "results: missing or malformed 'results'"),
        ([{"ok": True}], "results: result: missing 'key'"),
        (
            [{"key": CREATE.key, "ok": False, "error": {"class": "meh", "message": "m"}}],
            "results: error: unknown class 'meh'",
        ),
        ([7], "results: result: must be an object"),
    ],
)
def test_malformed_results_close_with_4000(link: Link, results: object, reason: str) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    closing = closed_with(link.relay.receive(frame("results", batch="b1", results=results)), 4000)
    assert closing.reason == reason


def test_results_must_answer_every_operation(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE, UPDATE])
    link.to_agent()
    link.agent.send_results("b1", [OperationResult(CREATE.key, anchor="42")])
    closing = closed_with(link.to_relay(), 4000)
    assert closing.reason == "batch b1: 1 results for 2 operations"


def test_results_with_a_non_object_search_hit_close_with_4000(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    results = [{"key": CREATE.key, "ok": True, "objects": [5]}]
    closing = closed_with(link.relay.receive(frame("results", batch="b1", results=results)), 4000)
    assert closing.reason == "results: object: must be an object"


def test_results_larger_than_the_frame_limit_become_per_operation_errors(
    make_link: MakeLink,
) -> None:
    link = make_link(relay_limits=Limits(max_frame_bytes=4096))
    link.handshake()
    search = Operation("k-search", Action.SEARCH, filter=Equals("ou", "staff"), page=Page(500))
    get = Operation("k-get", Action.GET, anchor="7")
    link.relay.send_batch("b1", "hr", [search, get])
    link.to_agent()

    huge_page = [ConnectorObject(str(i), {"description": "x" * 100}) for i in range(100)]
    failed = OperationResult("k-get", error=OperationError(ErrorClass.NOT_FOUND, "no 7"))
    link.agent.send_results("b1", [OperationResult("k-search", objects=huge_page), failed])
    [results_frame] = link.agent.data_to_send()

    assert len(results_frame.encode()) <= 4096
    too_big = OperationError(
        ErrorClass.INVALID_DATA, "result larger than the frame limit; use smaller pages"
    )
    assert decode(results_frame)["results"] == [
        {"key": "k-search", "ok": False, "error": too_big.as_wire()},
        failed.as_wire(),  # errors are small and pass as they are
    ]
    assert link.relay.receive(results_frame) == [
        ResultsReceived("b1", [OperationResult("k-search", error=too_big), failed])
    ]
    assert not too_big.error_class.retryable  # the relay must ask for smaller pages


def test_results_frame_layout(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    link.to_agent()
    link.agent.send_results("b1", [OperationResult(CREATE.key, anchor="42", replayed=True)])
    message = decode(link.agent.data_to_send()[0])
    assert message == {
        "v": 1,
        "type": "results",
        "id": message["id"],
        "batch": "b1",
        "results": [{"key": CREATE.key, "ok": True, "anchor": "42", "replayed": True}],
    }


# Draining ------------------------------------------------------------------------------


def test_draining_stops_new_work_but_in_flight_results_still_count(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    link.to_agent()

    link.agent.drain()
    link.agent.drain()  # a second call sends nothing more
    assert link.to_relay() == [Draining()]
    assert link.relay.draining
    assert not link.relay.can_send
    with pytest.raises(RuntimeError):
        link.relay.send_batch("b2", "hr", [UPDATE])

    link.agent.send_results("b1", [OperationResult(CREATE.key, anchor="42")])
    assert link.to_relay() == [ResultsReceived("b1", [OperationResult(CREATE.key, anchor="42")])]
    assert not link.relay.can_send  # still draining: the agent is on its way out
    assert link.relay.state is RelayState.OPEN


def test_drain_before_the_handshake_sends_nothing(make_link: MakeLink) -> None:
    link = make_link()
    link.agent.drain()
    assert link.agent.data_to_send() == []


def test_a_batch_crossing_the_draining_frame_is_declined(link: Link) -> None:
    link.agent.drain()
    link.relay.send_batch("b1", "hr", [CREATE])  # sent before the relay saw "draining"
    received = only(link.to_agent())
    assert received == BatchDeclined("b1", RefusalReason.DRAINING, "the agent is shutting down")
    assert link.to_relay() == [
        Draining(),
        BatchRefused("b1", RefusalReason.DRAINING, "the agent is shutting down"),
    ]


def test_relay_and_agent_ignore_everything_after_closing(link: Link) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    [batch_frame] = link.relay.data_to_send()
    link.agent.fail(CloseCode.GOING_AWAY, "agent shutting down")
    assert link.agent.receive(batch_frame) == []
    assert link.agent.state is AgentState.CLOSED
    assert link.agent.close == Closing(1001, "agent shutting down")

    link.relay.fail(CloseCode.GOING_AWAY, "relay shutting down")
    assert link.relay.receive(frame("results", batch="b1", results=[])) == []


def test_verification_happens_before_anything_is_recorded(link: Link) -> None:
    """A batch whose signature fails is not counted in the window or the in-flight set."""
    forged = link.forge_batch(signing_key=Ed25519PrivateKey.generate(), batch="b1")
    closed_with(link.agent.receive(forged), CloseCode.BAD_BATCH_SIGNATURE)
    assert link.agent.in_flight == set()


def test_signature_is_over_the_utf8_payload_bytes(link: Link) -> None:
    op = Operation("k1", Action.CREATE, attributes={"cn": "Zoë 東京 😀"})
    link.relay.send_batch("b1", "hr", [op])
    message = decode(link.relay.data_to_send()[0])
    assert "Zoë 東京 😀" in message["payload"]  # not \u-escaped
    data = BATCH_PROOF + message["payload"].encode("utf-8")
    assert signing.verify(link.relay_key.public_key(), message["signature"], data)
    assert only(link.agent.receive(json.dumps(message))) == BatchReceived("b1", "hr", [op])


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ({"class": "throttled", "message": "slow", "retry_after": 10**400}, "out of range"),
        ({"class": "throttled", "message": "slow", "retry_after": -1}, "finite number"),
        ({"class": "throttled", "message": "slow", "retry_after": True}, "wrong type"),
    ],
)
def test_results_with_impossible_numbers_close_with_4000(
    link: Link, error: dict[str, Any], reason: str
) -> None:
    link.relay.send_batch("b1", "hr", [CREATE])
    results = [{"key": CREATE.key, "ok": False, "error": error}]
    closing = closed_with(link.relay.receive(frame("results", batch="b1", results=results)), 4000)
    assert reason in closing.reason


def test_a_boolean_page_size_is_not_a_number(link: Link) -> None:
    op = {"key": "k1", "action": "search", "object_class": "user", "page": {"size": True}}
    declined = only(link.agent.receive(link.forge_batch(operations=[op])))
    assert isinstance(declined, BatchDeclined)
    assert "'size' has the wrong type" in declined.detail


def test_a_welcome_with_a_zero_window_closes_with_4000(make_link: MakeLink) -> None:
    link = make_link(relay_limits=Limits(window=0))
    link.agent.start()
    link.to_relay()
    link.relay.challenge(link.agent_key.public_key())
    link.to_agent()
    link.to_relay()
    events = link.to_agent()
    closing = closed_with(events, 4000)
    assert closing.reason == "welcome: limits must be positive"
