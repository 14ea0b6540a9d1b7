"""The running agent's state file, read by ``hatchway agent status`` from another process."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class AgentState:
    pid: int
    #: ``connecting``, ``connected``, ``draining`` or ``stopped``; ``unknown`` when the
    #: file could not be read (``last_error`` says why).
    state: str
    relay: str
    since: float
    session: str | None = None
    last_error: str | None = None

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> AgentState | None:
        """The recorded state, or None if there is none. A state left by a process that no
        longer runs reads as ``stopped``."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            return cls(0, "unknown", "", 0.0, None, f"cannot read {path}: {exc.strerror}")
        try:
            state = cls(**json.loads(text))
        except (ValueError, TypeError):
            return cls(0, "unknown", "", 0.0, None, f"{path} is not a state file")
        if state.state not in ("stopped", "unknown") and not _alive(state.pid):
            return cls(state.pid, "stopped", state.relay, state.since, None, "process not running")
        return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def now() -> float:
    return time.time()
