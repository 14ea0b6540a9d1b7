"""The typed keys under which the relay's resources live in the aiohttp application."""

from __future__ import annotations

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.directory.service import Directory
from relay.directory.tokens import TokenVerifier
from relay.engine.builtin import BuiltinAgent
from relay.engine.engine import Engine
from relay.hub.hub import Hub
from relay.settings import RelaySettings
from relay.store.base import Store

SETTINGS = web.AppKey("settings", RelaySettings)
STORE = web.AppKey("store", Store)
RELAY_KEY = web.AppKey("relay_key", Ed25519PrivateKey)
HUB = web.AppKey("hub", Hub)
SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("sockets")
SCIM_DIRECTORY = web.AppKey("scim_directory", Directory)
SCIM_TOKENS = web.AppKey("scim_tokens", TokenVerifier)
BUILTIN = web.AppKey("builtin", BuiltinAgent)
ENGINE = web.AppKey("engine", Engine)
