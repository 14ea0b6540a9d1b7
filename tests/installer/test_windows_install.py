"""installer/windows/install.ps1, read on Linux: what it asks of ``hatchway`` must exist.

PowerShell and Windows are not available here, so the script itself never runs in these
tests (docs/install.md lists what was not run). What can be checked is its contract with
the Python side: every ``hatchway`` command line it runs parses, and it names the same
service and account as :mod:`agent.service`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent import service
from relay.cli import build_parser

SCRIPT = Path(__file__).resolve().parents[2] / "installer" / "windows" / "install.ps1"
TEXT = SCRIPT.read_text(encoding="utf-8")


def hatchway_command_lines() -> list[list[str]]:
    """Each ``Invoke-Checked $hatchway @(...)`` and ``$register = @(...)`` argument list,
    PowerShell variables replaced by a placeholder value."""
    lists = re.findall(r"Invoke-Checked \$hatchway @\(([^)]*)\)", TEXT)
    lists += re.findall(r"\$register = @\(([^)]*)\)", TEXT)
    out = []
    for body in lists:
        items = [item.strip() for item in body.split(",")]
        out.append([item.strip("'") if item.startswith("'") else "VALUE" for item in items])
    return out


def test_the_script_runs_the_commands_it_needs() -> None:
    lines = hatchway_command_lines()
    words = [" ".join(a for a in args if not a.startswith("-")) for args in lines]
    assert any(w.startswith("agent service install") for w in words)
    assert any(w.startswith("agent register") for w in words)
    assert any(w.startswith("agent service start") for w in words)


@pytest.mark.parametrize("args", hatchway_command_lines(), ids=" ".join)
def test_every_hatchway_command_line_in_the_script_parses(args: list[str]) -> None:
    if args == ["--version"]:
        with pytest.raises(SystemExit) as done:
            build_parser().parse_args(args)
        assert done.value.code == 0
    else:
        build_parser().parse_args(args)


def test_the_script_names_the_service_and_account_the_service_module_uses() -> None:
    assert f"$ServiceName = '{service.SERVICE_NAME}'" in TEXT
    assert f"[string]$Account = '{service.DEFAULT_ACCOUNT}'" in TEXT


def test_the_script_stops_at_the_first_error() -> None:
    assert "$ErrorActionPreference = 'Stop'" in TEXT
    assert "Set-StrictMode -Version Latest" in TEXT
