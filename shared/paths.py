"""Where configuration, data and logs live.

platformdirs gives every path: a service (root, or ``HATCHWAY_SITE=1``) uses the site
folders (``/etc/hatchway``, ``/var/lib/hatchway`` on Linux), an interactive user the
user folders. ``--config-dir`` / ``--data-dir`` and the ``HATCHWAY_CONFIG_DIR`` /
``HATCHWAY_DATA_DIR`` variables override both, so several relays and agents can share a
machine.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "hatchway"


def _site_mode() -> bool:
    if os.environ.get("HATCHWAY_SITE") is not None:
        return os.environ["HATCHWAY_SITE"] not in ("", "0")
    return sys.platform != "win32" and os.geteuid() == 0


@dataclass(frozen=True, slots=True)
class Paths:
    config_dir: Path
    data_dir: Path

    @classmethod
    def resolve(
        cls, *, config_dir: str | Path | None = None, data_dir: str | Path | None = None
    ) -> Paths:
        """Pick the folders: explicit argument, then environment, then platformdirs."""
        site = _site_mode()
        if sys.platform.startswith("linux") and site:
            default_config = Path("/etc") / APP
            default_data = Path("/var/lib") / APP
        elif site:
            default_config = Path(platformdirs.site_config_dir(APP, appauthor=False))
            default_data = Path(platformdirs.site_data_dir(APP, appauthor=False))
        else:
            default_config = Path(platformdirs.user_config_dir(APP, appauthor=False))
            default_data = Path(platformdirs.user_data_dir(APP, appauthor=False))
        config = config_dir or os.environ.get("HATCHWAY_CONFIG_DIR") or default_config
        data = data_dir or os.environ.get("HATCHWAY_DATA_DIR") or default_data
        return cls(config_dir=Path(config), data_dir=Path(data))

    def ensure(self) -> None:
        """Create missing folders. A data folder created here will hold keys, so only its
        owner may enter it; an existing folder keeps the permissions its owner gave it."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        if not self.data_dir.exists():
            self.data_dir.mkdir(parents=True)
            os.chmod(self.data_dir, 0o700)  # not mkdir's mode, which the umask filters
