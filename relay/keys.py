"""The typed keys under which the relay's resources live in the aiohttp application."""

from __future__ import annotations

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.api.auth import ApiTokenVerifier
from relay.api.metrics import Metrics
from relay.directory.service import Directory
from relay.directory.tokens import TokenVerifier
from relay.engine.builtin import BuiltinAgent
from relay.engine.engine import Engine
from relay.hub.hub import Hub
from relay.settings import RelaySettings
from relay.store.base import ApiToken, Store

SETTINGS = web.AppKey("settings", RelaySettings)
STORE = web.AppKey("store", Store)
RELAY_KEY = web.AppKey("relay_key", Ed25519PrivateKey)
HUB = web.AppKey("hub", Hub)
SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("sockets")
SCIM_DIRECTORY = web.AppKey("scim_directory", Directory)
SCIM_TOKENS = web.AppKey("scim_tokens", TokenVerifier)
BUILTIN = web.AppKey("builtin", BuiltinAgent)
ENGINE = web.AppKey("engine", Engine)
API_TOKENS = web.AppKey("api_tokens", ApiTokenVerifier)
METRICS = web.AppKey("metrics", Metrics)
#: The API token of an admin API request (set once the token is verified).
API_TOKEN = web.RequestKey("api_token", ApiToken)
