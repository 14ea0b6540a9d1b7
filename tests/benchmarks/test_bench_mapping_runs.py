"""The mapping benchmark still runs end to end (a smoke test: no figure is judged here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.report import quick_rows

SCRIPT = Path(__file__).with_name("bench_mapping.py")


@pytest.mark.timeout(300)
def test_quick_benchmark_prints_every_figure_beside_its_baseline() -> None:
    rows = quick_rows(SCRIPT, ("scope + map 10,000 users", "time per user"))
    assert all("(dict copy)" in row for row in rows.values()), rows
