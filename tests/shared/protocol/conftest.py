"""Fixtures for the protocol tests: keys, a hand-moved clock, and relay-agent links."""

from __future__ import annotations

from functools import partial

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.shared.protocol.peers import FakeClock, Link, MakeLink, build_link


@pytest.fixture(scope="session")
def relay_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def agent_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_link(
    relay_key: Ed25519PrivateKey, agent_key: Ed25519PrivateKey, clock: FakeClock
) -> MakeLink:
    """Build a relay and an agent (before the handshake); see :func:`build_link`."""
    return partial(build_link, relay_key, agent_key, clock)


@pytest.fixture
def link(make_link: MakeLink) -> Link:
    """A relay and an agent after a completed handshake."""
    pair = make_link()
    pair.handshake()
    return pair
