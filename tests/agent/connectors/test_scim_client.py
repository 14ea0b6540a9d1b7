"""Retry-After in both of its forms (RFC 9110 10.2.3)."""

from __future__ import annotations

import email.utils
import time

from agent.connectors.scim_client import retry_after


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
