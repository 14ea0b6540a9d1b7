"""The admin API benchmark still runs end to end (a smoke test: no figure is judged here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.report import quick_rows

SCRIPT = Path(__file__).with_name("bench_api.py")


@pytest.mark.timeout(300)
def test_quick_benchmark_prints_every_figure_beside_its_baseline() -> None:
    rows = quick_rows(
        SCRIPT,
        (
            "GET /jobs/{name}/status, p99",
            "GET /jobs/{name}/logs?entry=<userName>",
            "GET /logs?limit=1000",
            "GET /jobs (",
            "GET /overview, p99",
            "GET /metrics (",
        ),
    )
    assert "(GET /healthz)" in rows["GET /jobs/{name}/status, p99"]
    assert "(Store.query_logs in-process)" in rows["GET /jobs/{name}/logs?entry=<userName>"]
