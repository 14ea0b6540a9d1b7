"""The handshake: hello -> challenge -> auth -> welcome, version negotiation, and each side
checking the other's proof. Frames move in memory between the two state machines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.connector import Operation, OperationResult
from shared.protocol import signing
from shared.protocol.agent import AgentProtocol, AgentState
from shared.protocol.events import Closing, ConnectorInfo, HelloReceived, Welcomed
from shared.protocol.messages import (
    AGENT_PROOF,
    BATCH_PROOF,
    RELAY_PROOF,
    CloseCode,
    Limits,
    MessageType,
    close_reason,
    parse_frame,
)
from shared.protocol.relay import RelayProtocol, RelayState
from tests.shared.protocol.peers import (
    AGENT_NAME,
    CONNECTORS,
    FakeClock,
    Link,
    MakeLink,
    closed_with,
    decode,
    frame,
    hello_frame,
)

# The happy path ------------------------------------------------------------------------


def test_full_handshake_opens_both_ends(make_link: MakeLink) -> None:
    link = make_link()
    hello, welcomed = link.handshake()

    assert hello == HelloReceived(
        agent=AGENT_NAME, version=1, software="hatchway-agent/test", connectors=CONNECTORS
    )
    assert welcomed == Welcomed(session="s-1", limits=Limits())
    assert link.relay.state is RelayState.OPEN
    assert link.agent.state is AgentState.OPEN
    assert link.relay.agent == AGENT_NAME
    assert link.agent.session == "s-1"
    assert link.relay.can_send
    assert link.relay.close is None
    assert link.agent.close is None


def test_handshake_frames_carry_the_documented_fields(make_link: MakeLink) -> None:
    link = make_link()
    link.handshake()
    hello, auth = (decode(f) for f in link.sent_to_relay)
    challenge, welcome = (decode(f) for f in link.sent_to_agent)

    assert hello == {
        "v": 1,
        "type": "hello",
        "id": hello["id"],
        "agent": AGENT_NAME,
        "versions": [1],
        "nonce": hello["nonce"],
        "software": "hatchway-agent/test",
        "connectors": [{"name": "hr", "type": "sql"}, {"name": "directory", "type": "ldap"}],
    }
    assert len(signing.b64decode(hello["nonce"])) == 32
    assert set(challenge) == {"v", "type", "id", "nonce", "signature"}
    assert challenge["type"] == "challenge"
    assert len(signing.b64decode(challenge["nonce"])) == 32
    assert len(signing.b64decode(challenge["signature"])) == 64
    assert set(auth) == {"v", "type", "id", "signature"}
    assert auth["type"] == "auth"
    assert welcome == {
        "v": 1,
        "type": "welcome",
        "id": welcome["id"],
        "session": "s-1",
        "window": 8,
        "max_frame_bytes": 8 * 1024 * 1024,
        "max_batch_operations": 1000,
        "max_value_chars": 256 * 1024,
        "batch_ttl": 120.0,
    }
    # ids are unique per sender and connection
    assert hello["id"] != auth["id"]
    assert challenge["id"] != welcome["id"]


def test_proofs_sign_the_documented_bytes(make_link: MakeLink) -> None:
    """Pins the exact signed bytes that docs/protocol.md specifies for other agents."""
    link = make_link()
    link.handshake()
    hello, auth = (decode(f) for f in link.sent_to_relay)
    challenge = decode(link.sent_to_agent[0])
    agent_nonce = signing.b64decode(hello["nonce"])
    relay_nonce = signing.b64decode(challenge["nonce"])
    name = AGENT_NAME.encode()

    relay_proof = b"hatchway-relay-proof-v1\n" + name + b"\n" + agent_nonce
    agent_proof = b"hatchway-agent-proof-v1\n" + name + b"\n" + relay_nonce + b"\n" + agent_nonce
    assert relay_proof.startswith(RELAY_PROOF)
    assert agent_proof.startswith(AGENT_PROOF)
    assert signing.verify(link.relay_key.public_key(), challenge["signature"], relay_proof)
    assert signing.verify(link.agent_key.public_key(), auth["signature"], agent_proof)


@pytest.mark.parametrize("name", ["filiale-zürich", "a b", "line\nbreak", "", "x" * 101])
def test_agent_names_outside_the_safe_alphabet_are_refused(name: str) -> None:
    """Names are signed with newline separators: only [A-Za-z0-9._-]{1,100} is allowed."""
    key = Ed25519PrivateKey.generate()
    with pytest.raises(ValueError, match="agent name"):
        AgentProtocol(name, key, key.public_key())


def test_agent_adopts_tighter_relay_limits_but_never_looser(make_link: MakeLink) -> None:
    relay_limits = Limits(
        max_frame_bytes=1_000_000, max_batch_operations=5000, window=3, batch_ttl=60
    )
    agent_limits = Limits(max_frame_bytes=2_000_000, max_batch_operations=50, clock_skew=5)
    link = make_link(relay_limits=relay_limits, agent_limits=agent_limits)
    _, welcomed = link.handshake()

    assert welcomed.limits == Limits(
        max_frame_bytes=1_000_000,  # the relay's, tighter
        max_batch_operations=50,  # the agent's own, tighter
        max_value_chars=256 * 1024,
        window=3,  # the relay's window and TTL apply as announced
        batch_ttl=60.0,
        clock_skew=5,  # never announced: the agent's own
    )
    assert link.agent.limits == welcomed.limits


# Version negotiation -------------------------------------------------------------------


@pytest.mark.parametrize("offered", [[2], [], [0, 3, 99]])
def test_no_common_version_closes_with_4002_listing_versions(
    relay_key: Ed25519PrivateKey, offered: list[int]
) -> None:
    relay = RelayProtocol(relay_key)
    closing = closed_with(
        relay.receive(hello_frame(versions=offered)), CloseCode.UNSUPPORTED_VERSION
    )
    assert closing.reason == (
        f"no common protocol version: agent offers {offered}, relay speaks [1]"
    )
    assert relay.state is RelayState.CLOSED
    assert relay.data_to_send() == []


def test_agent_offering_only_version_2_is_refused(make_link: MakeLink) -> None:
    link = make_link(versions=[2])
    link.agent.start()
    closing = closed_with(link.to_relay(), CloseCode.UNSUPPORTED_VERSION)
    assert decode(link.sent_to_relay[0])["versions"] == [2]
    assert "[2]" in closing.reason
    assert "[1]" in closing.reason
    assert CloseCode(closing.code).permanent


def test_agent_offering_1_and_2_negotiates_1(make_link: MakeLink) -> None:
    link = make_link(versions=[1, 2])
    hello, _ = link.handshake()
    assert hello.version == 1
    assert decode(link.sent_to_relay[0])["versions"] == [1, 2]
    # Every frame after the hello uses the negotiated version, on both sides.
    assert [decode(f)["v"] for f in link.sent_to_agent] == [1, 1]
    assert decode(link.sent_to_relay[1])["v"] == 1


def test_non_integer_versions_are_ignored(relay_key: Ed25519PrivateKey) -> None:
    relay = RelayProtocol(relay_key)
    events = relay.receive(hello_frame(versions=["1", 1.0, None, 1]))
    assert events == [HelloReceived(AGENT_NAME, 1, "test-agent/1", ())]


def test_boolean_version_is_not_a_version(relay_key: Ed25519PrivateKey) -> None:
    """JSON true is not 1: the relay must not negotiate it (and then stamp v=true)."""
    relay = RelayProtocol(relay_key)
    events = relay.receive(hello_frame(versions=[True]))
    closing = closed_with(events, CloseCode.UNSUPPORTED_VERSION)
    assert closing.reason == "no common protocol version: agent offers [True], relay speaks [1]"


def test_agent_refuses_a_version_it_did_not_offer(make_link: MakeLink) -> None:
    link = make_link()
    link.agent.start()
    link.to_relay()
    link.relay.challenge(link.agent_key.public_key())
    challenge = decode(link.relay.data_to_send()[0])
    challenge["v"] = 2
    closing = closed_with(link.agent.receive(json.dumps(challenge)), CloseCode.UNSUPPORTED_VERSION)
    assert closing.reason == "relay chose unoffered version 2"
    assert link.agent.data_to_send() == []  # no auth answer


def test_frames_after_negotiation_must_keep_the_version(link: Link) -> None:
    closing = closed_with(link.relay.receive(frame("draining", v=2)), CloseCode.UNSUPPORTED_VERSION)
    assert closing.reason == "frame version 2 was not negotiated"


# The relay's proof, checked by the agent -------------------------------------------------


def test_wrong_pinned_relay_key_closes_with_4005(make_link: MakeLink) -> None:
    link = make_link(pinned=Ed25519PrivateKey.generate())
    link.agent.start()
    link.to_relay()
    link.relay.challenge(link.agent_key.public_key())

    closing = closed_with(link.to_agent(), CloseCode.RELAY_KEY_MISMATCH)
    assert "pinned" in closing.reason
    assert CloseCode(closing.code).permanent
    assert link.agent.state is AgentState.CLOSED
    assert link.agent.data_to_send() == []  # the agent never signs for an impostor


def test_relay_proof_for_another_agent_name_is_refused(
    make_link: MakeLink, relay_key: Ed25519PrivateKey
) -> None:
    """The proof binds the agent's name: a signature the relay made for another agent (over
    the same nonce) does not convince this one."""
    link = make_link()
    link.agent.start()
    nonce = signing.b64decode(decode(link.agent.data_to_send()[0])["nonce"])
    signature = signing.sign(relay_key, RELAY_PROOF + b"another-agent\n" + nonce)
    challenge = frame("challenge", nonce=signing.b64encode(bytes(32)), signature=signature)
    closed_with(link.agent.receive(challenge), CloseCode.RELAY_KEY_MISMATCH)


def test_relay_proof_over_an_old_nonce_is_refused(make_link: MakeLink) -> None:
    """A challenge captured from an earlier connection does not answer a new hello."""
    first = make_link()
    first.agent.start()
    first.to_relay()
    first.relay.challenge(first.agent_key.public_key())
    old_challenge = first.relay.data_to_send()[0]

    second = make_link()
    second.agent.start()
    closed_with(second.agent.receive(old_challenge), CloseCode.RELAY_KEY_MISMATCH)


def test_challenge_with_a_malformed_signature_is_a_key_mismatch(make_link: MakeLink) -> None:
    link = make_link()
    link.agent.start()
    challenge = frame("challenge", nonce=signing.b64encode(bytes(32)), signature="not base64!")
    closed_with(link.agent.receive(challenge), CloseCode.RELAY_KEY_MISMATCH)


# The agent's proof, checked by the relay -------------------------------------------------


def test_agent_signing_with_another_key_closes_with_4001(make_link: MakeLink) -> None:
    link = make_link()
    link.agent.start()
    link.to_relay()
    link.relay.challenge(Ed25519PrivateKey.generate().public_key())  # the key on record
    assert link.to_agent() == []

    closing = closed_with(link.to_relay(), CloseCode.AUTHENTICATION_FAILED)
    assert closing.reason == (
        f"agent {AGENT_NAME!r} failed the challenge: signature does not match its key"
    )
    assert CloseCode(closing.code).permanent
    assert link.relay.state is RelayState.CLOSED
    assert link.relay.data_to_send() == []  # no welcome


def test_auth_replayed_from_an_earlier_connection_is_refused(make_link: MakeLink) -> None:
    """The agent's proof covers the relay's fresh nonce, so a captured auth is useless."""
    first = make_link()
    first.handshake()
    old_auth = first.sent_to_relay[1]

    second = make_link()
    second.relay.receive(first.sent_to_relay[0])  # the same hello, replayed too
    second.relay.challenge(second.agent_key.public_key())
    closed_with(second.relay.receive(old_auth), CloseCode.AUTHENTICATION_FAILED)


def test_auth_without_signature_is_a_protocol_error(make_link: MakeLink) -> None:
    link = make_link()
    link.agent.start()
    link.to_relay()
    link.relay.challenge(link.agent_key.public_key())
    closing = closed_with(link.relay.receive(frame("auth")), CloseCode.PROTOCOL_ERROR)
    assert closing.reason == "auth: missing or malformed 'signature'"


# Hello validation and the adapter's decisions ----------------------------------------------


@pytest.mark.parametrize(
    ("hello", "reason"),
    [
        (hello_frame(nonce="%%%"), "hello: nonce is not base64"),
        (hello_frame(nonce=signing.b64encode(bytes(15))), "hello: nonce shorter than 16 bytes"),
        (hello_frame(agent=""), "hello: an agent name is 1 to 100 letters"),
        (hello_frame(agent="x" * 101), "hello: an agent name is 1 to 100 letters"),
        (hello_frame(agent="zürich"), "hello: an agent name is 1 to 100 letters"),
        (hello_frame(agent=7), "hello: missing or malformed 'agent'"),
        (hello_frame(versions="1"), "hello: missing or malformed 'versions'"),
        (hello_frame(connectors=["hr"]), "hello: malformed connector"),
        (hello_frame(connectors=[{"name": "hr"}]), "missing or malformed 'type'"),
        (frame("hello", agent="a", versions=[1], nonce="A" * 24), "'connectors'"),
    ],
)
def test_malformed_hello_is_refused_with_a_reason(
    relay_key: Ed25519PrivateKey, hello: str, reason: str
) -> None:
    relay = RelayProtocol(relay_key)
    closing = closed_with(relay.receive(hello), CloseCode.PROTOCOL_ERROR)
    assert reason in closing.reason


def test_hello_software_is_optional_and_bounded(relay_key: Ed25519PrivateKey) -> None:
    relay = RelayProtocol(relay_key)
    [hello] = relay.receive(frame("hello", agent="a", versions=[1], nonce="A" * 24, connectors=[]))
    assert isinstance(hello, HelloReceived)
    assert hello.software == "unknown"

    relay = RelayProtocol(relay_key)
    [hello] = relay.receive(hello_frame(software="s" * 500))
    assert isinstance(hello, HelloReceived)
    assert hello.software == "s" * 100


def test_agent_name_of_100_characters_is_accepted(make_link: MakeLink) -> None:
    hello, _ = make_link(name="n" * 100).handshake()
    assert hello.agent == "n" * 100


@pytest.mark.parametrize(
    "code", [CloseCode.UNKNOWN_AGENT, CloseCode.AGENT_REVOKED, CloseCode.HANDSHAKE_TIMEOUT]
)
def test_adapter_refuses_an_agent_after_hello(make_link: MakeLink, code: CloseCode) -> None:
    link = make_link()
    link.agent.start()
    link.to_relay()
    closing = link.relay.fail(code, f"no agent named {AGENT_NAME!r} is registered")

    assert closing == Closing(code, f"no agent named {AGENT_NAME!r} is registered")
    assert link.relay.close == closing
    assert link.relay.state is RelayState.CLOSED
    assert link.relay.data_to_send() == []
    assert link.relay.receive(hello_frame()) == []


def test_challenge_is_only_valid_right_after_hello(
    relay_key: Ed25519PrivateKey, agent_key: Ed25519PrivateKey
) -> None:
    relay = RelayProtocol(relay_key)
    with pytest.raises(RuntimeError, match="right after HelloReceived"):
        relay.challenge(agent_key.public_key())


def test_relay_waits_for_the_adapter_between_hello_and_challenge(make_link: MakeLink) -> None:
    """Until the adapter calls challenge(), an early auth is out of order."""
    link = make_link()
    link.agent.start()
    link.to_relay()
    closing = closed_with(
        link.relay.receive(frame("auth", signature="x")), CloseCode.PROTOCOL_ERROR
    )
    assert closing.reason == "unexpected 'auth' in state hello_received"


def test_second_hello_is_a_protocol_error(link: Link) -> None:
    closing = closed_with(link.relay.receive(hello_frame()), CloseCode.PROTOCOL_ERROR)
    assert closing.reason == "unexpected 'hello' in state open"


def test_relay_generates_a_session_id_when_none_is_given(relay_key: Ed25519PrivateKey) -> None:
    first, second = RelayProtocol(relay_key), RelayProtocol(relay_key)
    assert len(first.session) == 16
    assert first.session != second.session


def test_agent_nonce_is_fresh_per_connection(
    relay_key: Ed25519PrivateKey, agent_key: Ed25519PrivateKey
) -> None:
    nonces = set()
    for _ in range(2):
        agent = AgentProtocol(AGENT_NAME, agent_key, relay_key.public_key(), clock=FakeClock())
        agent.start()
        nonces.add(decode(agent.data_to_send()[0])["nonce"])
    assert len(nonces) == 2


# Close codes and reasons -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "permanent"),
    [
        (CloseCode.NORMAL, False),
        (CloseCode.GOING_AWAY, False),
        (CloseCode.MESSAGE_TOO_BIG, False),
        (CloseCode.INTERNAL_ERROR, False),
        (CloseCode.PROTOCOL_ERROR, False),
        (CloseCode.AUTHENTICATION_FAILED, True),
        (CloseCode.UNSUPPORTED_VERSION, True),
        (CloseCode.UNKNOWN_AGENT, True),
        (CloseCode.AGENT_REVOKED, True),
        (CloseCode.RELAY_KEY_MISMATCH, True),
        (CloseCode.REPLACED, False),
        (CloseCode.HANDSHAKE_TIMEOUT, False),
        (CloseCode.BAD_BATCH_SIGNATURE, False),
        (CloseCode.REPLAYED_BATCH, False),
    ],
)
def test_permanent_close_codes(code: CloseCode, permanent: bool) -> None:
    assert code.permanent is permanent


def test_close_codes_are_the_documented_numbers() -> None:
    assert {c.name: c.value for c in CloseCode} == {
        "NORMAL": 1000,
        "GOING_AWAY": 1001,
        "MESSAGE_TOO_BIG": 1009,
        "INTERNAL_ERROR": 1011,
        "PROTOCOL_ERROR": 4000,
        "AUTHENTICATION_FAILED": 4001,
        "UNSUPPORTED_VERSION": 4002,
        "UNKNOWN_AGENT": 4003,
        "AGENT_REVOKED": 4004,
        "RELAY_KEY_MISMATCH": 4005,
        "REPLACED": 4006,
        "HANDSHAKE_TIMEOUT": 4008,
        "BAD_BATCH_SIGNATURE": 4011,
        "REPLAYED_BATCH": 4012,
    }


@pytest.mark.parametrize("glyph", ["é", "東", "😀"])
def test_close_reason_fits_123_bytes_for_a_long_multibyte_reason(
    relay_key: Ed25519PrivateKey, glyph: str
) -> None:
    relay = RelayProtocol(relay_key)
    full = f"no agent named {glyph * 200!r} is registered"
    closing = relay.fail(CloseCode.UNKNOWN_AGENT, full)
    assert len(closing.reason.encode()) <= 123
    assert full.startswith(closing.reason)  # cut whole characters, never half of one


@pytest.mark.parametrize("text", ["", "short", "a" * 123, "é" * 100, "😀" * 40, "x" * 10_000])
def test_close_reason_is_a_utf8_prefix_of_at_most_123_bytes(text: str) -> None:
    reason = close_reason(text)
    assert len(reason.encode()) <= 123
    assert text.startswith(reason)
    if len(text.encode()) <= 120:
        assert reason == text


def test_adapter_fail_reason_is_cut_too(relay_key: Ed25519PrivateKey) -> None:
    relay = RelayProtocol(relay_key)
    closing = relay.fail(CloseCode.UNKNOWN_AGENT, "no agent named " + "ß" * 300)
    assert len(closing.reason.encode()) <= 123


def test_agent_name_that_is_not_unicode_is_refused_at_hello(relay_key: Ed25519PrivateKey) -> None:
    """A JSON escape can smuggle a lone surrogate into a name, which has no UTF-8 form to
    sign: the relay refuses it at the hello instead of failing later in challenge()."""
    relay = RelayProtocol(relay_key)
    text = hello_frame(agent="x").replace('"agent": "x"', '"agent": "x\\ud800"')
    closing = closed_with(relay.receive(text), CloseCode.PROTOCOL_ERROR)
    assert closing.reason.startswith("hello: an agent name is 1 to 100 letters")


def test_connector_info_round_trips_through_hello(make_link: MakeLink) -> None:
    connectors = (ConnectorInfo("büro", "scim"),)
    hello, _ = make_link(connectors=connectors).handshake()
    assert hello.connectors == connectors


# The specification's worked example -------------------------------------------------------

SPEC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"


def test_the_specifications_worked_example_verifies() -> None:
    """docs/protocol.md §18 gives fixed keys and real frames as test vectors for other
    implementations; they must stay true to this one."""
    text = SPEC.read_text(encoding="utf-8")
    relay_key = Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex("9b74b8e91fc2eb1d52d6ef214bd548dc1540011a54a516b6843911e34bdc2a75")
    )
    agent_key = Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex("7106a542ee412b55f926c6d62525aca14e1fb8a4bbaabd2317b72194c00b2f58")
    )
    assert signing.public_key_text(relay_key.public_key()) in text
    assert signing.public_key_text(agent_key.public_key()) in text

    frames: dict[str, list[dict[str, Any]]] = {}
    for line in text.splitlines():
        if line.strip().startswith('{"v":1'):
            message = parse_frame(line.strip(), Limits())
            frames.setdefault(message["type"], []).append(message)
    assert set(frames) == {t.value for t in MessageType}

    name = frames["hello"][0]["agent"].encode()
    agent_nonce = signing.b64decode(frames["hello"][0]["nonce"])
    relay_nonce = signing.b64decode(frames["challenge"][0]["nonce"])
    assert signing.verify(
        relay_key.public_key(),
        frames["challenge"][0]["signature"],
        RELAY_PROOF + name + b"\n" + agent_nonce,
    )
    assert signing.verify(
        agent_key.public_key(),
        frames["auth"][0]["signature"],
        AGENT_PROOF + name + b"\n" + relay_nonce + b"\n" + agent_nonce,
    )
    assert len(frames["batch"]) == 2
    for batch in frames["batch"]:
        assert signing.verify(
            relay_key.public_key(), batch["signature"], BATCH_PROOF + batch["payload"].encode()
        )
        for op in json.loads(batch["payload"])["operations"]:
            Operation.from_wire(op)
    for results in frames["results"]:
        for result in results["results"]:
            OperationResult.from_wire(result)
