"""``hatchway agent service ...`` off Windows, and where ProgramData is."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent.service_cli import DEFAULT_PROGRAM_DATA, program_data
from relay.cli import main


@pytest.mark.parametrize("action", ["install", "start", "stop", "remove"])
def test_off_windows_the_service_commands_say_windows_only(action: str, capsys) -> None:
    assert main(["agent", "service", action]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hatchway: error: 'hatchway agent service' manages a Windows service")
    assert "Windows only" in err and "installer/linux/install.sh" in err


def test_the_command_line_does_not_import_pywin32() -> None:
    code = "import sys, relay.cli; sys.exit('agent.windows_service' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"ProgramData": "D:\\Data"}, "D:\\Data"),
        ({"PROGRAMDATA": "E:\\Data"}, "E:\\Data"),
        ({}, DEFAULT_PROGRAM_DATA),
    ],
)
def test_programdata_comes_from_the_environment(environ: dict[str, str], expected: str) -> None:
    assert program_data(environ) == expected
