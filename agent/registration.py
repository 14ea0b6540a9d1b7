"""``hatchway agent register``: trade a one-time token for a place on a relay.

Makes the agent's key pair (private key mode 0600 in the data folder), sends the public
key with the token, pins the relay's signing key from the answer, and writes agent.toml.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from agent.exceptions import RegistrationFailed
from agent.settings import (
    CONFIG_FILE,
    KEY_FILE,
    insecure_remote,
    relay_urls,
    write_registration,
)
from shared import __version__, keyfile
from shared.protocol import signing
from shared.settings import read_toml


@dataclass(frozen=True, slots=True)
class Registered:
    name: str
    relay_key_fingerprint: str
    config_path: Path


async def register(
    relay: str,
    token: str,
    *,
    config_dir: Path,
    data_dir: Path,
    timeout: float = 30.0,
    ca_file: str | None = None,
    allow_insecure: bool = False,
) -> Registered:
    """Register with ``relay``. ``timeout`` bounds the whole HTTP exchange, in seconds;
    ``ca_file`` verifies an ``https`` relay against that CA instead of the system's."""
    try:
        _, register_url = relay_urls(relay)
    except ValueError as exc:
        raise RegistrationFailed("bad_request", str(exc)) from exc
    if insecure_remote(relay) and not allow_insecure:
        raise RegistrationFailed(
            "insecure", f"{relay} is not encrypted; use https://, or --allow-insecure"
        )
    config_path = config_dir / CONFIG_FILE
    if config_path.exists():
        read_toml(config_path)  # a broken file must stop us before the token is spent
    key = keyfile.load_or_create_key_file(data_dir / KEY_FILE)
    body = {
        "token": token.strip(),
        "public_key": signing.public_key_text(key.public_key()),
        "software": f"hatchway-agent/{__version__}",
    }
    try:
        tls = ssl.create_default_context(cafile=ca_file)
    except OSError as exc:
        raise RegistrationFailed(
            "bad_request", f"cannot read the CA file {ca_file}: {exc}"
        ) from exc
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
            http.post(register_url, json=body, ssl=tls) as response,
        ):
            text = await response.text()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RegistrationFailed(
            "unreachable", f"cannot reach the relay at {register_url}: {exc or type(exc).__name__}"
        ) from exc
    try:
        answer = json.loads(text)
    except ValueError as exc:
        raise RegistrationFailed(
            "bad_response", f"the relay answered HTTP {status} without JSON"
        ) from exc
    if status != 200:
        code = answer.get("error", "refused") if isinstance(answer, dict) else "refused"
        detail = answer.get("detail", text[:200]) if isinstance(answer, dict) else text[:200]
        raise RegistrationFailed(str(code), str(detail))
    try:
        name = answer["agent"]
        relay_key = signing.public_key_from_text(answer["relay_public_key"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistrationFailed("bad_response", "the relay's answer lacks its key") from exc
    write_registration(
        config_path,
        name=name,
        relay=relay,
        relay_public_key=signing.public_key_text(relay_key),
        ca_file=ca_file,
        allow_insecure=allow_insecure,
    )
    return Registered(name, signing.fingerprint(relay_key), config_path)
