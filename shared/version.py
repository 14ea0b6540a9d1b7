"""The installed distribution's version, which ``hatchway --version`` prints and the agent
reports to the relay.

It comes from the installed metadata, so a wheel, an sdist and an editable install all
say what pip installed. A checkout that was never installed reads ``pyproject.toml``
beside the packages instead, marked ``+checkout`` so it is never taken for a release.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DISTRIBUTION = "hatchway"

#: Printed when neither the metadata nor a pyproject.toml is there.
UNKNOWN = "0+unknown"


def installed_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return checkout_version(Path(__file__).resolve().parents[1] / "pyproject.toml")


def checkout_version(pyproject: Path) -> str:
    """The version in a checkout's ``pyproject.toml``; :data:`UNKNOWN` without one."""
    try:
        with pyproject.open("rb") as fh:
            found = tomllib.load(fh).get("project", {}).get("version")
    except (OSError, tomllib.TOMLDecodeError):
        return UNKNOWN
    return f"{found}+checkout" if isinstance(found, str) else UNKNOWN
