"""The version ``hatchway --version`` prints and agents report."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import shared
from shared.version import UNKNOWN, checkout_version, installed_version


def test_the_version_is_the_installed_distributions() -> None:
    assert installed_version() == version("hatchway") == shared.__version__


def test_a_checkout_that_was_never_installed_reads_pyproject(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "hatchway"\nversion = "2.3.4"\n')
    assert checkout_version(pyproject) == "2.3.4+checkout"


def test_without_metadata_or_pyproject_the_version_is_unknown(tmp_path: Path) -> None:
    assert checkout_version(tmp_path / "pyproject.toml") == UNKNOWN
    broken = tmp_path / "broken.toml"
    broken.write_text("[project\n")
    assert checkout_version(broken) == UNKNOWN
    nameless = tmp_path / "nameless.toml"
    nameless.write_text("[tool.x]\n")
    assert checkout_version(nameless) == UNKNOWN
