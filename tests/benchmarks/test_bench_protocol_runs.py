"""The protocol benchmark still runs end to end (a smoke test: no figure is judged here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.report import quick_rows

SCRIPT = Path(__file__).with_name("bench_protocol.py")


@pytest.mark.timeout(300)
def test_quick_benchmark_prints_every_figure_beside_its_baseline() -> None:
    quick_rows(
        SCRIPT,
        (
            "throughput, batches of 500, window 8",
            "round trip of 1 operation, p50",
            "round trip of 1 operation, p99",
            "relay memory per idle agent",
        ),
    )
