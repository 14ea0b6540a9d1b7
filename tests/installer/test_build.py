"""The wheel and sdist build (``python -m build``) and hold everything an install needs."""

from __future__ import annotations

import tarfile
import tomllib
import zipfile
from configparser import ConfigParser
from pathlib import Path

from tests.installer.conftest import Dists

PACKAGES = ("shared", "agent", "relay")


def _source_files(source: Path, pattern: str) -> set[str]:
    return {
        p.relative_to(source).as_posix()
        for package in PACKAGES
        for p in (source / package).rglob(pattern)
        if "__pycache__" not in p.parts
    }


def test_the_wheel_holds_every_module_and_data_file(dists: Dists) -> None:
    names = set(zipfile.ZipFile(dists.wheel).namelist())
    modules = _source_files(dists.source, "*.py")
    assert {"shared/__init__.py", "agent/cli.py", "relay/cli.py"} <= modules
    assert modules <= names, sorted(modules - names)
    migrations = {
        p.relative_to(dists.source).as_posix()
        for p in (dists.source / "relay" / "store" / "migrations").glob("*/*.sql")
    }
    assert migrations, "the checkout has no migrations to look for"
    assert migrations <= names, sorted(migrations - names)
    gallery = {
        p.relative_to(dists.source).as_posix()
        for p in (dists.source / "relay" / "engine" / "gallery").glob("*.toml")
    }
    assert gallery <= names, sorted(gallery - names)
    assert not [n for n in names if n.startswith("tests/")], "tests must not be installed"


def test_the_wheel_declares_the_command_and_the_connectors(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as wheel:
        (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
        parser = ConfigParser()
        parser.read_string(wheel.read(entry_points).decode())
    assert dict(parser["console_scripts"]) == {"hatchway": "relay.cli:main"}
    connectors = dict(parser["hatchway.connectors"])
    assert connectors["sql"] == "agent.connectors.sql:SqlConnector"
    assert {"sql", "ldap", "scim"} <= set(connectors)


def test_the_version_is_the_projects(dists: Dists) -> None:
    project = tomllib.loads((dists.source / "pyproject.toml").read_text())["project"]
    assert dists.wheel.name == f"hatchway-{project['version']}-py3-none-any.whl"
    assert dists.sdist.name == f"hatchway-{project['version']}.tar.gz"


def test_the_sdist_holds_the_sources_and_migrations(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md"} <= names
    assert _source_files(dists.source, "*.py") <= names
    assert _source_files(dists.source, "*.sql") <= names
