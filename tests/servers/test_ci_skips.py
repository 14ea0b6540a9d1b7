"""The CI rule lives in tests/conftest.py; run a copy of it in a separate pytest."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]


def run_pytest(tmp_path: Path, ci: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text((TESTS_DIR / "conftest.py").read_text())
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n\n"
        "def test_runs():\n    pass\n\n"
        "@pytest.mark.skip(reason='no server here')\n"
        "def test_skipped():\n    pass\n\n"
        "@pytest.mark.xfail(reason='known')\n"
        "def test_xfail():\n    assert False\n"
    )
    # The copied conftest imports the fixtures as tests.servers (root) or servers (folder).
    env = {
        **os.environ,
        "CI": ci,
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), str(TESTS_DIR.parent)]),
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_skip_fails_the_run_in_ci(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, ci="true")
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout
    assert "skipped tests fail the run because CI is set" in result.stdout
    assert "test_skipped: no server here" in result.stdout
    assert "test_xfail" not in result.stdout.split("because CI is set")[1]


def test_skip_is_allowed_outside_ci(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, ci="")
    assert result.returncode == pytest.ExitCode.OK, result.stdout
