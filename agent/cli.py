"""``hatchway agent ...``: register, run, status, check and the Windows service."""

from __future__ import annotations

import argparse
import asyncio
import sys

from agent import check, registration, runner, service_cli
from agent.connectors import registry
from agent.settings import CONFIG_FILE, KEY_FILE, STATE_FILE, AgentSettings
from agent.state import AgentState
from shared import __version__, keyfile
from shared.cli import add_folder_options, paths_from, when
from shared.exceptions import KeyFileError
from shared.protocol import signing


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agent = subparsers.add_parser("agent", help="the on-premises agent")
    commands = agent.add_subparsers(dest="agent_command", required=True, metavar="COMMAND")

    def with_dirs(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return add_folder_options(parser, "agent.toml")

    reg = with_dirs(commands.add_parser("register", help="register with a relay using a token"))
    reg.add_argument("--relay", required=True, help="relay base URL: http(s):// or ws(s)://")
    reg.add_argument(
        "--token", required=True, help="one-time token from 'hatchway relay token create'"
    )
    reg.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    reg.add_argument("--ca-file", help="PEM CA to verify an https relay with (default: system)")
    reg.add_argument(
        "--allow-insecure",
        action="store_true",
        help="allow a plain http relay beyond loopback (test networks only)",
    )
    reg.set_defaults(handler=_register)
    with_dirs(commands.add_parser("run", help="connect to the relay and serve")).set_defaults(
        handler=_run
    )
    with_dirs(
        commands.add_parser("status", help="registration, connection, connectors")
    ).set_defaults(handler=_status)
    check_parser = with_dirs(
        commands.add_parser("check", help="validate agent.toml and test each connector")
    )
    check_parser.add_argument(
        "--timeout",
        type=float,
        default=check.DEFAULT_TIMEOUT,
        help=f"seconds each connector's test may take (default {check.DEFAULT_TIMEOUT:g})",
    )
    check_parser.set_defaults(handler=_check)
    service_cli.add_commands(commands)


def _register(args: argparse.Namespace) -> int:
    paths = paths_from(args)
    done = asyncio.run(
        registration.register(
            args.relay,
            args.token,
            config_dir=paths.config_dir,
            data_dir=paths.data_dir,
            timeout=args.timeout,
            ca_file=args.ca_file,
            allow_insecure=args.allow_insecure,
        )
    )
    print(f"registered as agent {done.name!r}")
    print(f"relay signing key pinned: {done.relay_key_fingerprint}")
    print(f"settings written to {done.config_path}")
    print("add connectors there, then run 'hatchway agent run'")
    return 0


def _run(args: argparse.Namespace) -> int:
    paths = paths_from(args)
    asyncio.run(runner.run(paths.config_dir, paths.data_dir))
    return 0


def _status(args: argparse.Namespace) -> int:
    paths = paths_from(args, create=False)
    config = paths.config_dir / CONFIG_FILE
    if not config.exists() or not (paths.data_dir / KEY_FILE).exists():
        print(f"not registered (no {config}); run 'hatchway agent register'")
        return 3
    settings = AgentSettings.load(config)
    key = keyfile.load_key_file(paths.data_dir / KEY_FILE)
    print(f"agent:      {settings.name}")
    print(f"software:   hatchway-agent/{__version__}")
    print(f"relay:      {settings.relay}")
    print(f"agent key:  {signing.fingerprint(key.public_key())}")
    relay_key = signing.public_key_from_text(settings.relay_public_key)
    print(f"relay key:  {signing.fingerprint(relay_key)}")
    state = AgentState.read(paths.data_dir / STATE_FILE)
    if state is None:
        print("state:      never run")
    elif state.state == "unknown":
        print(f"state:      unknown ({state.last_error})")
    else:
        line = f"state:      {state.state} since {when(state.since)} UTC (pid {state.pid})"
        print(line + (f"; last error: {state.last_error}" if state.last_error else ""))
    if settings.connectors:
        print("connectors:")
        for item in settings.connectors:
            print(f"  {item.name:<20} {item.type}")
    else:
        print(f"connectors: none; add [connectors.NAME] tables to {config}")
    print(f"installed connector types: {', '.join(registry.available()) or 'none'}")
    sys.stdout.flush()
    return 0 if state is not None and state.state == "connected" else 1


def _check(args: argparse.Namespace) -> int:
    paths = paths_from(args, create=False)
    config = paths.config_dir / CONFIG_FILE
    settings = AgentSettings.load(config)  # a SettingsError names the file, key and problem
    print(f"settings:   {config}: OK (agent {settings.name!r}, relay {settings.relay})")
    try:
        keyfile.load_key_file(paths.data_dir / KEY_FILE)
    except KeyFileError as exc:
        print(f"agent key:  FAILED  {exc}")
        key_ok = False
    else:
        print(f"agent key:  {paths.data_dir / KEY_FILE}: OK")
        key_ok = True
    if not settings.connectors:
        print(f"connectors: none; add [connectors.NAME] tables to {config}")
        return 0 if key_ok else 1
    print("connectors:")
    verdicts = asyncio.run(
        check.check_connectors(settings.connectors, config, timeout=args.timeout)
    )
    for verdict in verdicts:
        print(f"  {verdict.line()}")
    failed = [v for v in verdicts if not v.ok]
    if failed:
        print(f"{len(failed)} of {len(verdicts)} connectors failed")
    sys.stdout.flush()
    return 0 if key_ok and not failed else 1
