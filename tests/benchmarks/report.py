"""The report every benchmark script prints, and how its smoke test reads it back.

A script prints its figures as a Markdown table (``markdown_table``), one row a figure with
its value, the baseline measured in the same run, the ratio, the target and whether it was
met, and names the machine (``machine``); ``docs/benchmarks.md`` records such tables. A
smoke test runs the script with ``--quick`` and finds each figure's row (``quick_rows``).
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

HEAD = ("figure", "value", "baseline", "ratio", "target", "met")


def machine() -> str:
    """Cores and CPU model, for the line under the table."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):  # no /proc/cpuinfo: the model stays unknown
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` 0.5 for p50, 0.99 for p99) of unsorted values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def markdown_table(rows: Iterable[Sequence[str]], head: Sequence[str] = HEAD) -> str:
    body = [tuple(row) for row in rows]
    widths = [max(len(r[i]) for r in [tuple(head), *body]) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, *(line(r) for r in body)])


def quick_rows(script: Path, figures: Iterable[str], *, timeout: float = 300) -> dict[str, str]:
    """Run ``script --quick`` and return the table row of each figure, checked to have every
    cell filled (value, baseline, ratio, target and verdict)."""
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, str] = {}
    for figure in figures:
        row = next((line for line in done.stdout.splitlines() if figure in line), None)
        assert row is not None, f"no row for {figure!r}:\n{done.stdout}"
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        assert len(cells) == len(HEAD), row
        assert all(cells), row
        found[figure] = row
    return found
