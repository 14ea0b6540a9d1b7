"""The LDAP benchmark still runs end to end (a smoke test: no figure is judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("bench_ldap.py")

pytestmark = pytest.mark.server


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
        "creates, batches of 500, pool of 4",
        "membership add, 10,000-member group, p50",
        "membership add, 10,000-member group, p90",
        "membership remove, 10,000-member group, p50",
    ):
        row = next((line for line in done.stdout.splitlines() if figure in line), None)
        assert row is not None, done.stdout
        assert row.count("|") == 7, row  # value, baseline, ratio, target and verdict present
        cells = [cell.strip() for cell in row.split("|")[2:5]]
        assert all(cells), row
