"""``POST /agent/v1/register``: an agent trades a one-time token for a place on the relay.

The agent sends its new public key with the token; the relay answers with its own signing
key, which the agent pins. Refusals carry a stable code and a sentence for the console.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from relay.exceptions import RegistrationError
from relay.keys import RELAY_KEY, STORE
from shared.protocol import signing
from shared.protocol.messages import SUPPORTED_VERSIONS

log = structlog.get_logger("relay.registration")

MAX_BODY = 16 * 1024


def _refuse(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


async def register(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _refuse(413, "bad_request", "request body too large")
    try:
        body = await request.json()
    except ValueError:
        return _refuse(400, "bad_request", "the body is not JSON")
    if not isinstance(body, dict):
        return _refuse(400, "bad_request", "the body must be a JSON object")
    token, key_text = body.get("token"), body.get("public_key")
    software = body.get("software")
    if not isinstance(software, str):
        software = "unknown"
    if not isinstance(token, str) or not isinstance(key_text, str):
        return _refuse(400, "bad_request", "'token' and 'public_key' are required strings")
    try:
        key = signing.public_key_from_text(key_text)
    except ValueError as exc:
        return _refuse(400, "bad_request", str(exc))
    app = request.app
    try:
        record = await app[STORE].redeem_token(token, key_text, software)
    except RegistrationError as exc:
        log.warning("registration refused", reason=exc.code, detail=exc.detail, peer=request.remote)
        return _refuse(401 if exc.code == "invalid_token" else 403, exc.code, exc.detail)
    log.info(
        "agent registered", agent=record.name, key=signing.fingerprint(key), peer=request.remote
    )
    return web.json_response(
        {
            "agent": record.name,
            "relay_public_key": signing.public_key_text(app[RELAY_KEY].public_key()),
            "versions": list(SUPPORTED_VERSIONS),
        }
    )
