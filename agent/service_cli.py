"""``hatchway agent service install|start|stop|remove``: the agent's Windows service.

On Linux the agent runs under systemd, installed by ``installer/linux/install.sh``; these
commands say so instead of pretending. pywin32 is imported only when they run on Windows.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from agent import service
from agent.exceptions import ServiceError

#: Where ProgramData is when the environment does not say.
DEFAULT_PROGRAM_DATA = "C:\\ProgramData"


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("service", help="the agent's Windows service (Windows only)")
    actions = parser.add_subparsers(dest="service_command", required=True, metavar="COMMAND")
    install = actions.add_parser("install", help="create the service and its folders")
    install.add_argument(
        "--account",
        default=service.DEFAULT_ACCOUNT,
        help=f"account the service runs as: a virtual or group-managed service account, or "
        f"{service.LOCAL_SYSTEM} (default: {service.DEFAULT_ACCOUNT})",
    )
    install.add_argument(
        "--program-data", help="folder to create Hatchway\\ in (default: %%ProgramData%%)"
    )
    for name, text in (
        ("start", "start the service"),
        ("stop", "stop the service: batches in flight finish first"),
        ("remove", "delete the service; settings, keys and logs stay"),
    ):
        actions.add_parser(name, help=text)
    parser.set_defaults(handler=_service)


def program_data(environ: Mapping[str, str]) -> str:
    return environ.get("ProgramData") or environ.get("PROGRAMDATA") or DEFAULT_PROGRAM_DATA


def _service(args: argparse.Namespace) -> int:
    if sys.platform != "win32":
        raise ServiceError(
            "'hatchway agent service' manages a Windows service and works on Windows only; "
            "on Linux, installer/linux/install.sh installs the agent as a systemd unit"
        )
    from agent import windows_service

    if args.service_command == "install":
        folders = service.ServiceFolders.under(args.program_data or program_data(os.environ))
        windows_service.install(Path(sys.executable), folders, args.account)
        print(f"service {service.SERVICE_NAME!r} installed, running as {args.account}")
        print(f"settings: {folders.config_dir}")
        print(f"keys and data: {folders.data_dir}")
        print(f"logs: {folders.log_dir} and the Application event log")
    elif args.service_command == "start":
        windows_service.start()
        print(f"service {service.SERVICE_NAME!r} started")
    elif args.service_command == "stop":
        windows_service.stop()
        print(f"service {service.SERVICE_NAME!r} stopped")
    else:
        windows_service.remove()
        print(f"service {service.SERVICE_NAME!r} removed; settings, keys and logs were kept")
    return 0
