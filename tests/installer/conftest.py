"""Fixtures for the installer tests: one wheel and sdist per session, one offline bundle."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


_NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")


@dataclass(frozen=True)
class Dists:
    #: The copy of the checkout the dists were built from.
    source: Path
    wheel: Path
    sdist: Path


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """``python -m build`` of a copy of the checkout (a build writes into its source
    folder, which other test runs may share): the sdist, then the wheel built from it."""
    source = tmp_path_factory.mktemp("source") / "hatchway"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = out.glob("hatchway-*.whl")
    (sdist,) = out.glob("hatchway-*.tar.gz")
    return Dists(source, wheel, sdist)


#: The version the older wheel claims, to upgrade from.
OLDER_VERSION = "0.0.1"


@pytest.fixture(scope="session")
def older_wheel(tmp_path_factory: pytest.TempPathFactory, dists: Dists) -> Path:
    """The same code built as version 0.0.1: something to upgrade from."""
    source = tmp_path_factory.mktemp("older") / "hatchway"
    shutil.copytree(dists.source, source)
    pyproject = source / "pyproject.toml"
    text, count = re.subn(
        r'(?m)^version = "[^"]+"$', f'version = "{OLDER_VERSION}"', pyproject.read_text()
    )
    assert count == 1, "pyproject.toml has no version line to change"
    pyproject.write_text(text)
    out = tmp_path_factory.mktemp("older-dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = out.glob(f"hatchway-{OLDER_VERSION}-*.whl")
    return wheel


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory, dists: Dists) -> Path:
    """The offline bundle ``installer/build-bundle.sh`` makes from the session's wheel."""
    out = tmp_path_factory.mktemp("bundle")
    done = subprocess.run(
        [str(REPO / "installer" / "build-bundle.sh"), "--from", str(dists.wheel), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out
