"""Where the ``hatchway`` CLI finds the admin API: the relay's URL, an API token and the
CA that signed an ``https`` relay's certificate.

Each comes from the first place that has it:

- URL: ``--url``, then ``HATCHWAY_URL``, then ``url`` in ``cli.toml``, then
  ``http://127.0.0.1:8080`` (a relay's default address, on the same machine);
- token: ``--token-file``, then ``HATCHWAY_TOKEN``, then ``token`` or ``token_file`` in
  ``cli.toml``;
- CA: ``ca_file`` in ``cli.toml`` (otherwise the system's CAs).

``cli.toml`` lives in the configuration folder (``HATCHWAY_CONFIG_DIR``, or the platform's:
``/etc/hatchway`` as root on Linux, ``~/.config/hatchway`` for a user), so a workstation
keeps one relay's address and a token file there, while a script sets the two variables.
"""

from __future__ import annotations

import argparse
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from relay.api.client import DEFAULT_TIMEOUT, ApiClient
from shared.exceptions import SettingsError
from shared.paths import Paths
from shared.secret import Secret
from shared.settings import DURATION_EXAMPLES, Table, parse_duration, read_toml

CLI_FILE = "cli.toml"
DEFAULT_URL = "http://127.0.0.1:8080"
URL_VARIABLE = "HATCHWAY_URL"
TOKEN_VARIABLE = "HATCHWAY_TOKEN"  # noqa: S105 - a variable's name, not a secret


@dataclass(frozen=True, slots=True)
class CliSettings:
    """What ``cli.toml`` says, with ``--url``, ``--token-file`` and the environment laid
    over it by :func:`resolve`."""

    #: The relay, ``http(s)://host:port``; the API is under its ``/api/v1``.
    url: str = DEFAULT_URL
    #: The API token (``hwa_...``); None when no place gave one.
    token: Secret | None = None
    #: PEM file of the CAs that verify an ``https`` relay; None: the system's.
    ca_file: Path | None = None
    #: The ``cli.toml`` these came from (named in errors, also when it does not exist).
    source: Path = Path(CLI_FILE)

    @classmethod
    def load(cls, path: Path) -> CliSettings:
        """The settings of the file at ``path``; the defaults when there is none."""
        if not path.exists():
            return cls(source=path)
        table = Table(read_toml(path), source=str(path))
        url = table.string("url", DEFAULT_URL)
        problem = url_problem(url)
        if problem is not None:
            raise table.error("url", problem)
        token = table.secret("token", required=False)
        token_file = table.optional_string("token_file")
        if token is not None and token_file is not None:
            raise table.error("token_file", "give token or token_file, not both")
        if token_file is not None:
            try:
                token = read_token(_beside(path, token_file))
            except ValueError as exc:
                raise table.error("token_file", str(exc)) from exc
        elif token is not None:
            text = token.reveal().strip()
            problem = "must not be empty" if not text else token_problem(text)
            if problem is not None:
                raise table.error("token", problem)
        ca_text = table.optional_string("ca_file")
        ca = None if ca_text is None else _beside(path, ca_text)
        if ca is not None:
            try:
                ssl.create_default_context(cafile=ca)
            except (OSError, ssl.SSLError) as exc:
                raise table.error(
                    "ca_file", f"cannot load CA certificates from {ca}: {exc}"
                ) from exc
        table.reject_unknown()
        return cls(url=url, token=token, ca_file=ca, source=path)

    def api_token(self) -> str:
        """The token, or a :class:`SettingsError` saying where one can be given."""
        if self.token is None:
            raise SettingsError(
                str(self.source),
                "token",
                f"no API token: set {TOKEN_VARIABLE}, give --token-file, or set token or"
                " token_file in this file (`hatchway relay api-token create` makes one)",
            )
        return self.token.reveal().strip()


def _beside(settings_file: Path, name: str) -> Path:
    """A file named in ``cli.toml``: a relative name is relative to that file's folder."""
    return (settings_file.parent / Path(name).expanduser()).resolve()


def url_problem(url: str) -> str | None:
    """What is wrong with a relay URL, or None."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed [IPv6 address
        return f"is not a URL ({exc}): {url!r}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http:// or https:// URL with a host, not {url!r}"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"must be the relay's address without a path (like {DEFAULT_URL}), not {url!r}"
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError as exc:
        return f"has a bad port: {exc}"
    return None


def read_token(path: Path) -> Secret:
    """The token in the file at ``path`` (surrounding blanks dropped); ValueError saying
    why when it cannot be used."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the token file {path}: {exc}") from exc
    if not text:
        raise ValueError(f"the token file {path} is empty")
    problem = token_problem(text)
    if problem is not None:
        raise ValueError(f"the token in {path} {problem}")
    return Secret(text)


def token_problem(token: str) -> str | None:
    """What keeps ``token`` (surrounding blanks dropped) from being sent as a bearer
    token, or None. A blank or control character inside (two lines pasted, a stray
    newline) would not fit in the request's Authorization header."""
    if any(c.isspace() or not c.isprintable() for c in token):
        return "holds blanks or control characters: a token is one word (hwa_...)"
    return None


def resolve(
    *,
    url: str | None = None,
    token_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    config_dir: Path | None = None,
) -> CliSettings:
    """The settings a command uses: ``--url`` and ``--token-file`` (given here), then the
    environment, then ``cli.toml`` in ``config_dir`` (default: the configuration folder)."""
    env = os.environ if environ is None else environ
    folder = config_dir if config_dir is not None else Paths.resolve().config_dir
    settings = CliSettings.load(folder / CLI_FILE)
    for given, where in ((url, "--url"), (env.get(URL_VARIABLE) or None, URL_VARIABLE)):
        if given is not None:
            problem = url_problem(given)
            if problem is not None:
                raise SettingsError(where, None, problem)
            settings = replace(settings, url=given)
            break
    if token_file is not None:
        try:
            token = read_token(Path(token_file).expanduser())
        except ValueError as exc:
            raise SettingsError("--token-file", None, str(exc)) from exc
        settings = replace(settings, token=token)
    elif env.get(TOKEN_VARIABLE, "").strip():
        problem = token_problem(env[TOKEN_VARIABLE].strip())
        if problem is not None:
            raise SettingsError(TOKEN_VARIABLE, None, f"the token {problem}")
        settings = replace(settings, token=Secret(env[TOKEN_VARIABLE]))
    return settings


def add_api_options(
    parser: argparse.ArgumentParser, *, timeout: float = DEFAULT_TIMEOUT
) -> argparse.ArgumentParser:
    """``--url``, ``--token-file`` and ``--timeout`` for a command that calls the API."""
    parser.add_argument(
        "--url", help=f"the relay (default: {URL_VARIABLE}, {CLI_FILE}, {DEFAULT_URL})"
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"file holding an API token (default: {TOKEN_VARIABLE}, {CLI_FILE})",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=timeout,
        metavar="SECONDS",
        help=f"how long the relay may take to answer (default {timeout:g}; or {DURATION_EXAMPLES})",
    )
    return parser


def client_from(args: argparse.Namespace) -> ApiClient:
    """The API client for a command given the options of :func:`add_api_options`."""
    settings = resolve(url=args.url, token_file=args.token_file)
    return ApiClient(
        settings.url, settings.api_token(), timeout=args.timeout, ca_file=settings.ca_file
    )


def _seconds(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be longer than zero")
    return seconds
