"""Framing: whatever arrives on the socket, each state machine answers with events (a
Closing with the right code and a reason that says what was wrong), never an exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.connector import Action, Operation
from shared.protocol.agent import AgentProtocol, AgentState
from shared.protocol.events import Closing
from shared.protocol.messages import CloseCode, Limits, MessageType
from shared.protocol.relay import RelayProtocol, RelayState
from tests.shared.protocol.peers import (
    AGENT_NAME,
    START,
    FakeClock,
    Link,
    MakeLink,
    build_link,
    closed_with,
    frame,
    hello_frame,
)

#: Each malformed frame and the reason both ends give for it.
MALFORMED = [
    pytest.param("", "malformed JSON: Expecting value", id="empty"),
    pytest.param("{not json", "malformed JSON: Expecting property name", id="not-json"),
    pytest.param('{"v": 1, "type": "hello"', "malformed JSON", id="truncated"),
    pytest.param("[1, 2]", "a frame must be a JSON object", id="array"),
    pytest.param('"hello"', "a frame must be a JSON object", id="string"),
    pytest.param("42", "a frame must be a JSON object", id="number"),
    pytest.param("null", "a frame must be a JSON object", id="null"),
    pytest.param(b'{"v": 1, "type": "hello", "id": "a1"}', "binary frames", id="binary"),
    pytest.param('{"type": "hello", "id": "a1"}', "missing or non-integer 'v'", id="no-v"),
    pytest.param('{"v": "1", "type": "hello", "id": "a1"}', "non-integer 'v'", id="v-string"),
    pytest.param('{"v": 1.0, "type": "hello", "id": "a1"}', "non-integer 'v'", id="v-float"),
    pytest.param('{"v": true, "type": "hello", "id": "a1"}', "non-integer 'v'", id="v-bool"),
    pytest.param('{"v": 1, "id": "a1"}', "missing 'type'", id="no-type"),
    pytest.param('{"v": 1, "type": 3, "id": "a1"}', "missing 'type'", id="type-number"),
    pytest.param(
        '{"v": 1, "type": "launch", "id": "a1"}', "unknown message type 'launch'", id="unknown"
    ),
    pytest.param('{"v": 1, "type": "hello"}', "missing 'id'", id="no-id"),
    pytest.param('{"v": 1, "type": "hello", "id": 1}', "missing 'id'", id="id-number"),
]


def fresh_agent(relay_key: Ed25519PrivateKey, agent_key: Ed25519PrivateKey) -> AgentProtocol:
    agent = AgentProtocol(AGENT_NAME, agent_key, relay_key.public_key(), clock=FakeClock())
    agent.start()
    agent.data_to_send()
    return agent


# Malformed frames --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "reason"), MALFORMED)
def test_relay_closes_on_a_malformed_frame(
    relay_key: Ed25519PrivateKey, text: str | bytes, reason: str
) -> None:
    relay = RelayProtocol(relay_key)
    closing = closed_with(relay.receive(text), CloseCode.PROTOCOL_ERROR)
    assert reason in closing.reason
    assert relay.state is RelayState.CLOSED
    assert relay.close == closing


@pytest.mark.parametrize(("text", "reason"), MALFORMED)
def test_agent_closes_on_a_malformed_frame(
    relay_key: Ed25519PrivateKey, agent_key: Ed25519PrivateKey, text: str | bytes, reason: str
) -> None:
    agent = fresh_agent(relay_key, agent_key)
    closing = closed_with(agent.receive(text), CloseCode.PROTOCOL_ERROR)
    assert reason in closing.reason
    assert agent.state is AgentState.CLOSED


@pytest.mark.parametrize(("text", "reason"), MALFORMED)
def test_open_connection_closes_on_a_malformed_frame(
    link: Link, text: str | bytes, reason: str
) -> None:
    assert reason in closed_with(link.relay.receive(text), 4000).reason
    assert reason in closed_with(link.agent.receive(text), 4000).reason


def test_unknown_type_in_reason_is_cut_to_40_characters(relay_key: Ed25519PrivateKey) -> None:
    relay = RelayProtocol(relay_key)
    closing = closed_with(relay.receive(frame("x" * 1000)), 4000)
    assert closing.reason == f"unknown message type {'x' * 40!r}"


# Size limits ---------------------------------------------------------------------------


def test_oversized_frame_closes_with_1009(relay_key: Ed25519PrivateKey) -> None:
    relay = RelayProtocol(relay_key, limits=Limits(max_frame_bytes=1024))
    text = hello_frame(software="s" * 2000)
    closing = closed_with(relay.receive(text), CloseCode.MESSAGE_TOO_BIG)
    assert closing.reason == "frame larger than 1024 bytes"


def test_frame_limit_counts_utf8_bytes_not_characters(relay_key: Ed25519PrivateKey) -> None:
    limits = Limits(max_frame_bytes=1024)
    text = hello_frame(software="東" * 300)  # about 400 characters, over 1,000 bytes
    assert len(text) < 1024 < len(text.encode())
    closed_with(RelayProtocol(relay_key, limits=limits).receive(text), 1009)


def test_frame_of_exactly_the_limit_is_accepted(relay_key: Ed25519PrivateKey) -> None:
    base = hello_frame(software="")
    text = hello_frame(software="s" * (1024 - len(base.encode())))
    assert len(text.encode()) == 1024
    events = RelayProtocol(relay_key, limits=Limits(max_frame_bytes=1024)).receive(text)
    assert not any(isinstance(e, Closing) for e in events)


def test_agent_closes_on_an_oversized_frame_with_1009(link: Link) -> None:
    link.agent.limits = Limits(max_frame_bytes=2048)
    text = link.forge_batch(
        operations=[Operation("k", Action.CREATE, attributes={"a": "x" * 3000}).as_wire()]
    )
    closing = closed_with(link.agent.receive(text), CloseCode.MESSAGE_TOO_BIG)
    assert closing.reason == "frame larger than 2048 bytes"


def test_agent_enforces_the_limit_the_relay_announced(make_link: MakeLink) -> None:
    link = make_link(relay_limits=Limits(max_frame_bytes=65536))
    link.handshake()
    big = link.forge_batch(
        operations=[{"key": "k", "action": "test", "object_class": "x" * 70_000}]
    )
    closed_with(link.agent.receive(big), CloseCode.MESSAGE_TOO_BIG)


# Frames in the wrong state -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "state"),
    [
        (MessageType.RESULTS, "await_hello"),
        (MessageType.REFUSED, "await_hello"),
        (MessageType.DRAINING, "await_hello"),
        (MessageType.AUTH, "await_hello"),
        (MessageType.BATCH, "await_hello"),
        (MessageType.WELCOME, "await_hello"),
        (MessageType.CHALLENGE, "await_hello"),
    ],
)
def test_relay_refuses_anything_but_hello_first(
    relay_key: Ed25519PrivateKey, kind: MessageType, state: str
) -> None:
    closing = closed_with(RelayProtocol(relay_key).receive(frame(kind.value)), 4000)
    assert closing.reason == f"unexpected {kind.value!r} in state {state}"


@pytest.mark.parametrize(
    "kind",
    [
        MessageType.HELLO,
        MessageType.AUTH,
        MessageType.CHALLENGE,
        MessageType.WELCOME,
        MessageType.BATCH,
    ],
)
def test_open_relay_refuses_handshake_and_relay_only_frames(link: Link, kind: MessageType) -> None:
    closing = closed_with(link.relay.receive(frame(kind.value)), 4000)
    assert closing.reason == f"unexpected {kind.value!r} in state open"


@pytest.mark.parametrize(
    "kind",
    [
        MessageType.BATCH,
        MessageType.WELCOME,
        MessageType.HELLO,
        MessageType.AUTH,
        MessageType.RESULTS,
        MessageType.REFUSED,
        MessageType.DRAINING,
    ],
)
def test_agent_refuses_anything_but_a_challenge_first(
    relay_key: Ed25519PrivateKey, agent_key: Ed25519PrivateKey, kind: MessageType
) -> None:
    agent = fresh_agent(relay_key, agent_key)
    closing = closed_with(agent.receive(frame(kind.value)), 4000)
    assert closing.reason == f"unexpected {kind.value!r} in state await_challenge"


def test_agent_refuses_a_batch_before_welcome(make_link: MakeLink) -> None:
    link = make_link()
    link.agent.start()
    link.to_relay()
    link.relay.challenge(link.agent_key.public_key())
    link.to_agent()
    assert link.agent.state is AgentState.AWAIT_WELCOME

    closing = closed_with(link.agent.receive(link.forge_batch()), 4000)
    assert closing.reason == "unexpected 'batch' in state await_welcome"


@pytest.mark.parametrize("kind", [MessageType.CHALLENGE, MessageType.WELCOME, MessageType.HELLO])
def test_open_agent_refuses_handshake_frames(link: Link, kind: MessageType) -> None:
    closing = closed_with(link.agent.receive(frame(kind.value)), 4000)
    assert closing.reason == f"unexpected {kind.value!r} in state open"


def test_welcome_with_a_malformed_limit_is_a_protocol_error(make_link: MakeLink) -> None:
    link = make_link()
    link.agent.start()
    link.to_relay()
    link.relay.challenge(link.agent_key.public_key())
    link.to_agent()
    link.to_relay()
    welcome = json.loads(link.relay.data_to_send()[0])
    welcome["window"] = "eight"
    closing = closed_with(link.agent.receive(json.dumps(welcome)), 4000)
    assert closing.reason == "welcome: missing or malformed 'window'"


# After closing -------------------------------------------------------------------------


def test_after_closing_receive_returns_nothing(link: Link) -> None:
    closed_with(link.relay.receive("garbage"), 4000)
    closed_with(link.agent.receive("garbage"), 4000)
    for text in ("garbage", frame("draining"), hello_frame(), link.forge_batch()):
        assert link.relay.receive(text) == []
        assert link.agent.receive(text) == []
    assert link.relay.close == Closing(
        4000, "malformed JSON: Expecting value: line 1 column 1 (char 0)"
    )
    assert link.relay.state is RelayState.CLOSED
    assert link.agent.state is AgentState.CLOSED


def test_first_close_wins(relay_key: Ed25519PrivateKey) -> None:
    relay = RelayProtocol(relay_key)
    first = closed_with(relay.receive("[]"), 4000)
    assert relay.receive(b"binary") == []
    assert relay.close == first


# Pathological text ----------------------------------------------------------------------


@pytest.mark.parametrize("side", ["relay", "agent"])
def test_deeply_nested_json_is_a_protocol_error(
    relay_key: Ed25519PrivateKey, agent_key: Ed25519PrivateKey, side: str
) -> None:
    text = "[" * 100_000 + "]" * 100_000  # 200 kB: well under the frame limit
    machine = RelayProtocol(relay_key) if side == "relay" else fresh_agent(relay_key, agent_key)
    closing = closed_with(machine.receive(text), CloseCode.PROTOCOL_ERROR)
    assert closing.reason == "malformed JSON: nested too deeply"


@pytest.mark.parametrize("side", ["relay", "agent"])
def test_text_that_is_not_unicode_is_a_protocol_error(
    relay_key: Ed25519PrivateKey, agent_key: Ed25519PrivateKey, side: str
) -> None:
    """A lone surrogate cannot come off a real socket (websocket text is valid UTF-8), but
    an adapter bug must still not crash the state machine."""
    machine = RelayProtocol(relay_key) if side == "relay" else fresh_agent(relay_key, agent_key)
    closing = closed_with(machine.receive('{"v": 1, "type": "hello", "id": "\ud800"}'), 4000)
    assert closing.reason == "frame is not valid Unicode text"


# Property: arbitrary input never raises ----------------------------------------------------

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI never flakes
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "agent",
    "versions",
    "nonce",
    "software",
    "connectors",
    "signature",
    "session",
    "window",
    "max_frame_bytes",
    "max_batch_operations",
    "max_value_chars",
    "batch_ttl",
    "payload",
    "batch",
    "results",
    "reason",
    "detail",
]
envelopes = st.builds(
    lambda v, kind, frame_id, body: json.dumps({**body, "v": v, "type": kind, "id": frame_id}),
    st.sampled_from([1, 1, 1, 2, 0]),
    st.sampled_from([t.value for t in MessageType]),
    st.text(max_size=8),
    st.dictionaries(st.sampled_from(FIELDS), json_values | st.just("b1"), max_size=6),
)
anything = st.text() | st.binary(max_size=64) | json_values.map(json.dumps) | envelopes


def check_events(machine: RelayProtocol | AgentProtocol, events: list[Any]) -> None:
    assert isinstance(events, list)
    for event in events:
        if isinstance(event, Closing):
            assert event.code in set(CloseCode)
            assert len(event.reason.encode()) <= 123
            assert machine.close == event
    if machine.close is not None:
        assert machine.state.value == "closed"


def fuzz_link(relay_key: Ed25519PrivateKey, agent_key: Ed25519PrivateKey) -> Link:
    link = build_link(relay_key, agent_key, FakeClock(START))
    link.handshake()
    return link


@FUZZ
@given(frames=st.lists(anything, min_size=1, max_size=4))
def test_fresh_relay_never_raises(relay_key: Ed25519PrivateKey, frames: list[Any]) -> None:
    relay = RelayProtocol(relay_key)
    for text in frames:
        check_events(relay, relay.receive(text))


@FUZZ
@given(frames=st.lists(anything, min_size=1, max_size=4))
def test_fresh_agent_never_raises(
    relay_key: Ed25519PrivateKey, agent_key: Ed25519PrivateKey, frames: list[Any]
) -> None:
    agent = fresh_agent(relay_key, agent_key)
    for text in frames:
        check_events(agent, agent.receive(text))


@FUZZ
@given(frames=st.lists(anything, min_size=1, max_size=4))
def test_open_agent_never_raises(
    relay_key: Ed25519PrivateKey, agent_key: Ed25519PrivateKey, frames: list[Any]
) -> None:
    link = fuzz_link(relay_key, agent_key)
    for text in frames:
        check_events(link.agent, link.agent.receive(text))


@FUZZ
@given(frames=st.lists(anything, min_size=1, max_size=4))
def test_open_relay_never_raises(
    relay_key: Ed25519PrivateKey, agent_key: Ed25519PrivateKey, frames: list[Any]
) -> None:
    link = fuzz_link(relay_key, agent_key)
    link.relay.send_batch("b1", "hr", [Operation("k1", Action.TEST)])
    for text in frames:
        check_events(link.relay, link.relay.receive(text))


@FUZZ
@given(payload=json_values, operations=st.lists(json_values, max_size=3))
def test_agent_never_raises_on_signed_payloads(
    relay_key: Ed25519PrivateKey, agent_key: Ed25519PrivateKey, payload: Any, operations: Any
) -> None:
    """Even a relay that signs nonsense gets events back, not an exception."""
    link = fuzz_link(relay_key, agent_key)
    check_events(link.agent, link.agent.receive(link.forge_batch(raw_payload=json.dumps(payload))))
    link = fuzz_link(relay_key, agent_key)
    check_events(link.agent, link.agent.receive(link.forge_batch(operations=operations)))


# Shaped like results and operations, so that the fuzzing reaches the nested from_wire code.
result_like = st.fixed_dictionaries(
    {"key": st.text(max_size=5)},
    optional={
        name: json_values | st.lists(json_values, min_size=1, max_size=3)
        for name in ("ok", "error", "anchor", "object", "objects", "cookie", "schema", "replayed")
    },
)
operation_like = st.fixed_dictionaries(
    {
        "key": st.just("k1"),
        "action": st.sampled_from([a.value for a in Action]),
        "object_class": st.just("user"),
    },
    optional={
        name: json_values | st.lists(json_values, min_size=1, max_size=3)
        for name in ("anchor", "attributes", "deltas", "filter", "page")
    },
)


@FUZZ
@given(results=st.lists(result_like, min_size=1, max_size=3))
def test_relay_never_raises_on_results(
    relay_key: Ed25519PrivateKey, agent_key: Ed25519PrivateKey, results: list[Any]
) -> None:
    link = fuzz_link(relay_key, agent_key)
    link.relay.send_batch("b1", "hr", [Operation("k1", Action.TEST)] * len(results))
    events = link.relay.receive(frame("results", batch="b1", results=results))
    check_events(link.relay, events)


@FUZZ
@given(operations=st.lists(operation_like, min_size=1, max_size=3))
def test_agent_never_raises_on_signed_operations(
    relay_key: Ed25519PrivateKey, agent_key: Ed25519PrivateKey, operations: list[Any]
) -> None:
    link = fuzz_link(relay_key, agent_key)
    check_events(link.agent, link.agent.receive(link.forge_batch(operations=operations)))
