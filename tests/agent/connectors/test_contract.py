"""The contract suite as a third party runs it: the example of docs/connectors.md, copied
out of the page into a folder of its own and run by pytest in a process of its own, with
none of Hatchway's test configuration."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).parents[3] / "docs" / "connectors.md"


def documented_example() -> str:
    section = DOCS.read_text().split("### The contract suite", 1)[1]
    found = re.search(r"```python\n(# tests/test_example_contract\.py\n.*?)```", section, re.S)
    assert found is not None, "the contract suite's example is missing from docs/connectors.md"
    return found.group(1)


def test_the_documented_example_passes(tmp_path: Path) -> None:
    (tmp_path / "test_example_contract.py").write_text(documented_example())
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "-o", "asyncio_mode=auto", "--rootdir", str(tmp_path), "test_example_contract.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=100, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"\b26 passed\b", run.stdout), run.stdout[-2000:]
    assert "skipped" not in run.stdout
