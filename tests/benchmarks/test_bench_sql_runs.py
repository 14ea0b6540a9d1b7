"""The SQL benchmark still runs end to end (a smoke test: no figure is judged here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.report import quick_rows

SCRIPT = Path(__file__).with_name("bench_sql.py")


@pytest.mark.timeout(300)
def test_quick_benchmark_prints_every_figure_beside_its_baseline() -> None:
    figures = [f"{db}: batch creates through the connector" for db in ("postgresql", "sqlite")]
    rows = quick_rows(SCRIPT, figures)
    assert all("rows/s (pyodbc multi-row INSERT" in row for row in rows.values()), rows
