"""Where a protocol version stands: current, deprecated (still spoken) or unsupported."""

from __future__ import annotations

import pytest

from shared.protocol import messages
from shared.protocol.messages import SUPPORTED_VERSIONS, VersionStatus, version_status


def test_every_supported_version_is_current_unless_deprecated() -> None:
    assert set(SUPPORTED_VERSIONS) >= messages.DEPRECATED_VERSIONS
    for version in SUPPORTED_VERSIONS:
        expected = (
            VersionStatus.DEPRECATED
            if version in messages.DEPRECATED_VERSIONS
            else VersionStatus.CURRENT
        )
        assert version_status(version) is expected


def test_a_deprecated_version_is_still_spoken_but_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messages, "DEPRECATED_VERSIONS", frozenset({1}))
    assert version_status(1) is VersionStatus.DEPRECATED


def test_a_version_this_build_does_not_speak_is_unsupported() -> None:
    assert version_status(max(SUPPORTED_VERSIONS) + 1) is VersionStatus.UNSUPPORTED
    assert version_status(0) is VersionStatus.UNSUPPORTED
