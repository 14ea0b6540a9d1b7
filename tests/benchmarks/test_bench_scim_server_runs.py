"""The SCIM server benchmark still runs end to end (a smoke test: no figure is judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("bench_scim_server.py")


@pytest.mark.timeout(300)
def test_quick_benchmark_prints_every_figure_beside_its_baseline() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for figure, baseline in (
        ("GET /Users?filter=userName eq, p50", "(SQL lookup)"),
        ("GET /Users?filter=userName eq, p99", "(SQL lookup)"),
        ("POST /Users, 16 concurrent clients", "rows/s (executemany)"),
    ):
        row = next((line for line in done.stdout.splitlines() if figure in line), None)
        assert row is not None, done.stdout
        assert baseline in row, row
        assert row.count("|") == 7, row  # value, baseline, ratio, target and verdict present
