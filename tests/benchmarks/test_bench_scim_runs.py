"""The SCIM benchmark still runs end to end (a smoke test: no figure is judged here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.report import quick_rows

SCRIPT = Path(__file__).with_name("bench_scim.py")

pytestmark = pytest.mark.server


@pytest.mark.timeout(300)
def test_quick_benchmark_prints_every_figure_beside_its_baseline() -> None:
    rows = quick_rows(SCRIPT, ("creates, 8 concurrent callers", "creates through apply (Bulk)"))
    assert all("plain aiohttp" in row for row in rows.values()), rows
