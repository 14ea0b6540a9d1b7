"""A throwaway SCIM 2.0 service: the ``scim2-server`` package's test server, in memory.

It runs as its own process (``python -m scim2_server.testserver.cli``, the module behind the
``scim2-server`` command) on a free loopback port, serves the RFC 7643 schemas with the
enterprise extension, and requires a static bearer token. Its ServiceProviderConfig
announces PATCH, Bulk (1,000 operations, 1 MiB), filters (1,000 results) and ETags unless
another configuration is given, as the PUT-only variant does. It is a threaded wsgiref
server without keep-alive; the DESIGN measured about 650 creates/s from it.
"""

import contextlib
import json
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .ports import LOOPBACK, free_port
from .process import ThrowawayServer, running, start_server, wait_until

START_TIMEOUT = 30.0
TOKEN = "hatchway-scim-test-token"  # a throwaway server on loopback

#: A configuration without PATCH, so clients must GET and PUT; ETags stay on.
PUT_ONLY_CONFIG: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
    "patch": {"supported": False},
    "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
    "filter": {"supported": True, "maxResults": 1000},
    "changePassword": {"supported": False},
    "sort": {"supported": True},
    "etag": {"supported": True},
}


class ScimServer(ThrowawayServer):
    stop_timeout = 10.0
    host = LOOPBACK
    token = TOKEN

    def __init__(self, root: Path, port: int, config: dict[str, Any] | None = None) -> None:
        super().__init__(root, port)
        self.log_path = root / "scim2-server.log"
        self.config_path = root / "service-provider-config.json" if config else None
        if self.config_path is not None:
            self.config_path.write_text(json.dumps(config))

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v2"

    @classmethod
    def create(cls, config: dict[str, Any] | None = None) -> "ScimServer":
        return cls(Path(tempfile.mkdtemp(prefix="hatchway-scim-")), free_port(), config)

    def start(self) -> None:
        if self.running:
            return
        command: list[str | Path] = [
            sys.executable,
            "-m",
            "scim2_server.testserver.cli",
            "--hostname",
            self.host,
            "--port",
            str(self.port),
            "--bearer-token",
            self.token,
        ]
        if self.config_path is not None:
            command += ["--service-provider-config", self.config_path]
        self._process = start_server(command, log=self.log_path)
        wait_until(
            self._answers,
            what=f"scim2-server on {self.base_url}",
            timeout=START_TIMEOUT,
            log=self.log_path,
            process=self._process,
        )

    def _answers(self) -> bool:
        request = urllib.request.Request(
            f"{self.base_url}/Users?count=1", headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """A plain request with the server's token, for tests that check what it holds."""
        request = urllib.request.Request(
            f"{self.base_url}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/scim+json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            raw = answer.read()
        return json.loads(raw) if raw else None


def running_scim(
    config: dict[str, Any] | None = None,
) -> contextlib.AbstractContextManager[ScimServer]:
    """A started server that is stopped and deleted however the block ends."""
    return running(ScimServer.create(config))
