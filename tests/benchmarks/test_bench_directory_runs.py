"""The directory benchmark still runs end to end (a smoke test: no figure is judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("bench_directory.py")


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
    for figure in (
        "userName eq lookup, 5,000 users, p50",
        "userName eq lookup, 5,000 users, p99",
        "import of a 5,000-user CSV",
    ):
        row = next((line for line in done.stdout.splitlines() if figure in line), None)
        assert row is not None, done.stdout
        assert row.count("|") == 7, row  # value, baseline, ratio, target and verdict present
        assert "(bare SELECT)" in row or "(executemany" in row, row
