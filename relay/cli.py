"""The ``hatchway`` command: ``relay ...``, ``agent ...``, ``demo``, and the commands
over the admin API (``job ...``, ``logs``, ``agents ...``).

Errors reach the user as one line on stderr with a non-zero exit status, never a stack
trace: 2 for bad settings or usage, 1 for anything else that failed (an error answered by
the admin API, a relay that cannot be reached). Output whose reader went away
(``hatchway logs | head``) ends the command quietly with 141, as a shell reports a command
that a closed pipe stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence
from dataclasses import replace

from agent import cli as agent_cli
from relay import app as relay_app
from relay.api import cli as api_cli
from relay.api import tokens_cli as api_tokens
from relay.directory import cli as directory_cli
from relay.directory import tokens as scim_tokens
from relay.engine import cli as job_cli
from relay.engine import gallery_cli
from relay.settings import RelaySettings, parse_listen
from relay.store.base import AgentRecord, Store, TokenRecord
from relay.store.configured import run_on_store
from shared import __version__, logs
from shared.cli import add_folder_options, paths_from, when
from shared.exceptions import HatchwayError, SettingsError
from shared.paths import Paths
from shared.protocol.messages import valid_name
from shared.settings import parse_duration as seconds_in


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``1h``, ``7d`` (or plain seconds) into seconds, more than zero."""
    try:
        seconds = seconds_in(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration longer than zero")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hatchway", description="Provision users and groups into the apps people need."
    )
    parser.add_argument("--version", action="version", version=f"hatchway {__version__}")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--log-json", action="store_true", help="JSON log lines even in a terminal")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    relay = sub.add_parser("relay", help="the relay")
    rsub = relay.add_subparsers(dest="relay_command", required=True, metavar="COMMAND")

    def with_dirs(
        p: argparse.ArgumentParser, default: str | None = None
    ) -> argparse.ArgumentParser:
        return add_folder_options(p, "relay.toml", default=default)

    serve = with_dirs(rsub.add_parser("serve", help="run the relay"))
    serve.add_argument(
        "--listen", help="HOST:PORT to bind (default from relay.toml, 127.0.0.1:8080)"
    )
    serve.set_defaults(handler=_serve)

    token = rsub.add_parser("token", help="agent registration tokens")
    tsub = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    create = with_dirs(tsub.add_parser("create", help="issue a one-time registration token"))
    create.add_argument("--name", required=True, help="the name the agent will have")
    create.add_argument("--ttl", type=parse_duration, default=3600.0, help="validity (default 1h)")
    create.set_defaults(handler=_token_create)
    with_dirs(tsub.add_parser("list", help="list tokens")).set_defaults(handler=_token_list)

    agents = with_dirs(rsub.add_parser("agents", help="list agents with their state"))
    agents.set_defaults(handler=_agents)
    asub = agents.add_subparsers(dest="agents_command", metavar="COMMAND")
    # SUPPRESS: folders given before 'revoke' (to 'agents') must not be reset by its defaults.
    revoke = with_dirs(
        asub.add_parser("revoke", help="revoke an agent: it can no longer connect"),
        default=argparse.SUPPRESS,
    )
    revoke.add_argument("name")
    revoke.set_defaults(handler=_revoke)
    scim_tokens.add_commands(rsub)
    api_tokens.add_commands(rsub)

    agent_cli.add_commands(sub)
    gallery_cli.add_commands(sub)
    directory_cli.add_commands(sub)
    job_cli.add_commands(sub)
    api_cli.add_commands(sub)

    demo = sub.add_parser("demo", help="the provisioning story, end to end")
    demo.add_argument("--once", action="store_true", help="exit when the demo is done")
    demo.add_argument("--workdir", help="folder for the demo's files (default: a temporary one)")
    demo.set_defaults(handler=_demo)
    return parser


def _serve(args: argparse.Namespace) -> int:
    paths = paths_from(args)
    settings = RelaySettings.load(paths.config_dir / "relay.toml")
    if args.listen:
        try:
            parse_listen(args.listen)
        except ValueError as exc:
            raise SettingsError("--listen", None, str(exc)) from exc
        settings = replace(settings, listen=args.listen)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_signal(settings, paths))
    return 0


async def _serve_until_signal(settings: RelaySettings, paths: Paths) -> None:
    import signal

    task = asyncio.create_task(relay_app.serve(settings, paths.data_dir))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _token_create(args: argparse.Namespace) -> int:
    if not valid_name(args.name):
        raise SettingsError(
            "--name", None, "an agent name is 1 to 100 letters, digits, '.', '_' or '-'"
        )

    async def create(store: Store) -> tuple[AgentRecord | None, TokenRecord, str]:
        existing = await store.get_agent(args.name)
        return existing, *await store.create_token(args.name, args.ttl)

    existing, record, token = run_on_store(paths_from(args), create)
    if existing is not None and existing.revoked_at is None:
        note = f"note: agent {args.name!r} exists; this token re-registers it with a new key"
        print(note, file=sys.stderr)
    print(token)
    print(
        f"one-time token for agent {args.name!r}, valid until {when(record.expires_at)} UTC",
        file=sys.stderr,
    )
    return 0


def _token_list(args: argparse.Namespace) -> int:
    tokens = run_on_store(paths_from(args), lambda store: store.list_tokens())
    print(f"{'ID':<14}{'AGENT':<24}{'EXPIRES (UTC)':<22}USED")
    for t in tokens:
        print(f"{t.id:<14}{t.agent_name:<24}{when(t.expires_at):<22}{when(t.used_at)}")
    return 0


def _agents(args: argparse.Namespace) -> int:
    agents = run_on_store(paths_from(args), lambda store: store.list_agents())
    print(f"{'NAME':<24}{'STATE':<14}{'SINCE (UTC)':<22}{'SOFTWARE':<24}{'PROTOCOL':<18}CONNECTORS")
    for a in agents:
        since = {
            "connected": a.connected_at,
            "disconnected": a.disconnected_at,
            "revoked": a.revoked_at,
        }.get(a.state, a.registered_at)
        connectors = ",".join(f"{c['name']}({c['type']})" for c in a.connectors) or "-"
        software = a.software or "-"
        protocol = api_cli.protocol_text(a.protocol_version)
        print(f"{a.name:<24}{a.state:<14}{when(since):<22}{software:<24}{protocol:<18}{connectors}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    record = run_on_store(paths_from(args), lambda store: store.revoke_agent(args.name))
    print(f"agent {record.name!r} revoked at {when(record.revoked_at)} UTC")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from relay import demo

    if args.log_level == "info":
        # The demo's own lines tell the story, the deletion guard's warning included; keep
        # logs to errors.
        logs.configure(json=True if args.log_json else None, level="error")
    return asyncio.run(demo.run(once=args.once, workdir=args.workdir))


#: The exit status when the output's reader went away: 128 + SIGPIPE, what a shell reports
#: for a command a closed pipe stopped.
CLOSED_OUTPUT = 141


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(json=True if args.log_json else None, level=args.log_level)
    try:
        code: int = args.handler(args)
        # What is still buffered goes out here, where a closed pipe is caught below.
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_output()
        return CLOSED_OUTPUT
    except SettingsError as exc:
        print(f"hatchway: error: {api_cli.printable(str(exc))}", file=sys.stderr)
        return 2
    except HatchwayError as exc:
        # A relay's message may name an entry as the directory holds it, escapes and all.
        print(f"hatchway: error: {api_cli.printable(str(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"hatchway: error: {api_cli.printable(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


def _drop_output() -> None:
    """Send what stdout still holds to /dev/null: the interpreter flushes stdout as it exits,
    and writing into the closed pipe would print a traceback after all."""
    try:
        descriptor = sys.stdout.fileno()
    except (OSError, ValueError):
        return  # stdout is no file (captured output): nothing is flushed into a pipe at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
