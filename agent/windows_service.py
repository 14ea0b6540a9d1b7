"""The agent as a Windows service: the one module that calls pywin32.

Only what must touch Windows is here; folders, ACLs, command lines, the log stream and
the stop plumbing are in :mod:`agent.service`, tested on every platform. The service
manager starts ``python.exe -m agent.windows_service --config-dir ... --data-dir ...
--log-dir ...`` (the private interpreter install.ps1 sets up, not a virtualenv's
python.exe, which is a launcher that starts the real interpreter as a child process the
service manager would not recognise). ``SvcDoRun`` runs the agent in its own event loop;
``SvcStop`` sets the agent's stop event, so it drains as on SIGTERM elsewhere.

Imported only on Windows (``hatchway agent service ...`` imports it lazily).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO, cast

import pywintypes
import servicemanager
import win32service
import win32serviceutil

from agent import service
from agent.exceptions import ServiceError
from shared import logs
from shared.exceptions import HatchwayError


# pywin32 has no type hints here (and is absent off Windows): its base class is Any.
class AgentService(win32serviceutil.ServiceFramework):  # type: ignore[misc]
    _svc_name_ = service.SERVICE_NAME
    _svc_display_name_ = service.DISPLAY_NAME
    _svc_description_ = service.DESCRIPTION

    def __init__(self, args: Any) -> None:
        super().__init__(args)
        self.options = service.parse_service_arguments(sys.argv[1:])
        self.agent = service.ServiceRun(self.options.config_dir, self.options.data_dir)

    def SvcStop(self) -> None:
        self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING)
        self.agent.stop()

    def SvcDoRun(self) -> None:
        servicemanager.LogMsg(
            servicemanager.EVENTLOG_INFORMATION_TYPE,
            servicemanager.PYS_SERVICE_STARTED,
            (self._svc_name_, ""),
        )
        log = service.ServiceLog(self.options.log_dir / "agent.log", _to_event_log)
        try:
            logs.configure(json=True, level=self.options.log_level, stream=cast(TextIO, log))
            self.agent.run()
        except HatchwayError as exc:
            # Bad settings or a relay that refused the agent for good: say so where an
            # administrator looks, then let the service manager see the failure.
            servicemanager.LogErrorMsg(f"{service.DISPLAY_NAME} stopped: {exc}")
            raise
        finally:
            log.close()
        servicemanager.LogMsg(
            servicemanager.EVENTLOG_INFORMATION_TYPE,
            servicemanager.PYS_SERVICE_STOPPED,
            (self._svc_name_, ""),
        )


def _to_event_log(level: str, line: str) -> None:
    if level == "warning":
        servicemanager.LogWarningMsg(line)
    else:
        servicemanager.LogErrorMsg(line)


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    """pywin32's and the tools' errors, as the :class:`ServiceError` the CLI reports."""
    try:
        yield
    except pywintypes.error as exc:
        raise ServiceError(f"cannot {action} the service: {exc.strerror} ({exc.winerror})") from exc
    except subprocess.CalledProcessError as exc:
        output = (exc.stderr or exc.stdout or "").strip()
        raise ServiceError(f"cannot {action} the service: {exc.cmd[0]}: {output}") from exc


def install(python: Path, folders: service.ServiceFolders, account: str) -> None:
    """Create the service (automatic, delayed start) under ``account``, make the folders
    and give them their ACL, and have the service restarted after a crash."""
    with _translated("install"):
        _install(python, folders, account)


def _install(python: Path, folders: service.ServiceFolders, account: str) -> None:
    win32serviceutil.InstallService(
        None,
        service.SERVICE_NAME,
        service.DISPLAY_NAME,
        startType=win32service.SERVICE_AUTO_START,
        exeName=str(python),
        exeArgs=service.command_line(service.service_arguments(folders)),
        userName=None if account == service.LOCAL_SYSTEM else account,
        password=None,
        description=service.DESCRIPTION,
        delayedstart=True,
    )
    for folder in (folders.config_dir, folders.data_dir, folders.log_dir):
        Path(folder).mkdir(parents=True, exist_ok=True)
    _run_all([*service.acl_commands(folders, account), service.recovery_command()])


def start() -> None:
    with _translated("start"):
        win32serviceutil.StartService(service.SERVICE_NAME)


def stop() -> None:
    with _translated("stop"):
        win32serviceutil.StopService(service.SERVICE_NAME)


def remove() -> None:
    with _translated("remove"):
        win32serviceutil.RemoveService(service.SERVICE_NAME)


def _run_all(commands: Sequence[list[str]]) -> None:
    for command in commands:
        subprocess.run(command, check=True, capture_output=True, text=True)


def main() -> None:
    servicemanager.Initialize(service.SERVICE_NAME, servicemanager.__file__)
    servicemanager.PrepareToHostSingle(AgentService)
    servicemanager.StartServiceCtrlDispatcher()


if __name__ == "__main__":
    main()
