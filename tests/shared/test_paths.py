"""Where configuration and data live: explicit folders, then the environment, then the
platform's site or user folders."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from shared.paths import Paths


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty environment: a throwaway home and XDG folders, no Hatchway variables."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    for name in ("HATCHWAY_CONFIG_DIR", "HATCHWAY_DATA_DIR", "HATCHWAY_SITE"):
        monkeypatch.delenv(name, raising=False)
    return home


def test_site_mode_on_linux_uses_the_system_folders(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shared.paths.sys.platform", "linux")
    monkeypatch.setenv("HATCHWAY_SITE", "1")

    paths = Paths.resolve()

    assert paths.config_dir == Path("/etc/hatchway")
    assert paths.data_dir == Path("/var/lib/hatchway")


@pytest.mark.parametrize("site", ["0", ""])
def test_user_mode_uses_the_user_folders(
    home: Path, monkeypatch: pytest.MonkeyPatch, site: str
) -> None:
    monkeypatch.setenv("HATCHWAY_SITE", site)

    paths = Paths.resolve()

    assert paths.config_dir == Path(platformdirs.user_config_dir("hatchway", appauthor=False))
    assert paths.data_dir == Path(platformdirs.user_data_dir("hatchway", appauthor=False))
    for folder in (paths.config_dir, paths.data_dir):
        assert home in folder.parents
        assert folder.name in ("hatchway", "log", "logs")


def test_environment_overrides_the_defaults(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HATCHWAY_SITE", "1")
    monkeypatch.setenv("HATCHWAY_CONFIG_DIR", str(tmp_path / "env-config"))
    monkeypatch.setenv("HATCHWAY_DATA_DIR", str(tmp_path / "env-data"))

    paths = Paths.resolve()

    assert paths.config_dir == tmp_path / "env-config"
    assert paths.data_dir == tmp_path / "env-data"


def test_each_folder_is_overridden_on_its_own(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HATCHWAY_SITE", "0")
    monkeypatch.setenv("HATCHWAY_DATA_DIR", str(tmp_path / "env-data"))

    paths = Paths.resolve()

    assert paths.config_dir == Path(platformdirs.user_config_dir("hatchway", appauthor=False))
    assert paths.data_dir == tmp_path / "env-data"


def test_explicit_folders_override_the_environment(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HATCHWAY_CONFIG_DIR", str(tmp_path / "env-config"))
    monkeypatch.setenv("HATCHWAY_DATA_DIR", str(tmp_path / "env-data"))

    paths = Paths.resolve(config_dir=tmp_path / "arg-config", data_dir=str(tmp_path / "arg-data"))

    assert paths.config_dir == tmp_path / "arg-config"
    assert paths.data_dir == tmp_path / "arg-data"
    assert isinstance(paths.data_dir, Path)
