"""The engine benchmark still runs end to end (a smoke test: no figure is judged here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.report import quick_rows

SCRIPT = Path(__file__).with_name("bench_engine.py")

pytestmark = pytest.mark.server


@pytest.mark.timeout(300)
def test_quick_benchmark_prints_every_figure_beside_its_baseline() -> None:
    rows = quick_rows(
        SCRIPT,
        (
            "initial cycle into PostgreSQL",
            "initial cycle into OpenLDAP",
            "change latency, p50",
            "change latency, p99",
            "ten changes,",
            "relay peak RSS",
        ),
    )
    assert "(connector apply, batches of 500)" in rows["initial cycle into PostgreSQL"]
    assert "(connector apply, batches of 500)" in rows["initial cycle into OpenLDAP"]
    assert "(SCIM PATCH round trip)" in rows["change latency, p50"]
    assert "users linked)" in rows["ten changes,"]
    assert "(idle after start)" in rows["relay peak RSS"]
