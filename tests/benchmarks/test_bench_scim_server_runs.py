"""The SCIM server benchmark still runs end to end (a smoke test: no figure is judged here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.report import quick_rows

SCRIPT = Path(__file__).with_name("bench_scim_server.py")


@pytest.mark.timeout(300)
def test_quick_benchmark_prints_every_figure_beside_its_baseline() -> None:
    figures = [
        "GET /Users?filter=userName eq, p50",
        "GET /Users?filter=userName eq, p99",
        "POST /Users, 16 concurrent clients",
    ]
    rows = quick_rows(SCRIPT, figures)
    assert "(SQL lookup)" in rows[figures[0]] and "(SQL lookup)" in rows[figures[1]], rows
    assert "rows/s (executemany)" in rows[figures[2]], rows
