"""``hatchway demo --once``, the README's first command, tells its story and exits cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_once_runs_end_to_end(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "relay.cli", "demo", "--once", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "signed batch of 16 creates -> connector 'hr': 16 ok, 0 failed" in out
    assert "a mover, a leaver (disabled) and a deletion: 3 ok, 0 failed" in out
    assert "3 answered from the agent's journal" in out
    assert "(15 rows in" in out
    assert "Stopped the agent and the relay" in out
    assert "Traceback" not in done.stderr
