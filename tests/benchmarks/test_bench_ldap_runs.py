"""The LDAP benchmark still runs end to end (a smoke test: no figure is judged here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.report import quick_rows

SCRIPT = Path(__file__).with_name("bench_ldap.py")

pytestmark = pytest.mark.server


@pytest.mark.timeout(300)
def test_quick_benchmark_prints_every_figure_beside_its_baseline() -> None:
    rows = quick_rows(
        SCRIPT,
        (
            "creates, batches of 500, pool of 4",
            "membership add, 10,000-member group, p50",
            "membership add, 10,000-member group, p90",
            "membership remove, 10,000-member group, p50",
        ),
    )
    assert "ldap3 add loop" in rows["creates, batches of 500, pool of 4"]
