"""The directory benchmark still runs end to end (a smoke test: no figure is judged here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.report import quick_rows

SCRIPT = Path(__file__).with_name("bench_directory.py")


@pytest.mark.timeout(300)
def test_quick_benchmark_prints_every_figure_beside_its_baseline() -> None:
    figures = [
        "userName eq lookup, 5,000 users, p50",
        "userName eq lookup, 5,000 users, p99",
        "import of a 5,000-user CSV",
    ]
    rows = quick_rows(SCRIPT, figures)
    assert "(bare SELECT)" in rows[figures[0]] and "(bare SELECT)" in rows[figures[1]], rows
    assert "(executemany" in rows[figures[2]], rows
