"""The settings of the SCIM connector: its ``[connectors.NAME]`` table, loaded and checked."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from agent.connectors.settings_checks import ca_file, choice
from agent.settings import insecure_remote
from shared.secret import Secret
from shared.settings import Table

INSECURE_HINT = "use https://, or allow plain http with allow_insecure = true"


class AuthKind(StrEnum):
    NONE = "none"
    BEARER = "bearer"
    BASIC = "basic"
    OAUTH2 = "oauth2"


class ClientAuth(StrEnum):
    """How an OAuth 2.0 client presents its id and secret to the token endpoint."""

    BASIC = "basic"
    BODY = "body"


@dataclass(frozen=True, slots=True)
class ScimSettings:
    """The ``[connectors.NAME]`` table of a connector with ``type = "scim"``."""

    #: The service's SCIM root, such as ``https://scim.example.com/scim/v2``.
    base_url: str
    #: How requests authenticate: none, bearer, basic or oauth2.
    auth: AuthKind = AuthKind.BEARER
    #: The bearer token (``auth = "bearer"``).
    token: Secret | None = None
    #: User name and password (``auth = "basic"``).
    username: str | None = None
    password: Secret | None = None
    #: OAuth 2.0 client credentials grant (``auth = "oauth2"``).
    token_url: str | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    #: Scopes to ask the token endpoint for, space-separated; none by default.
    scope: str | None = None
    #: How the client id and secret reach the token endpoint: basic or body.
    client_auth: ClientAuth = ClientAuth.BASIC
    #: PEM file of the CAs to trust instead of the system's.
    ca_file: Path | None = None
    #: Allow plain http beyond loopback (a lab network; never across the internet).
    allow_insecure: bool = False
    #: Seconds one HTTP request may take, from sending it to the last byte of the answer.
    timeout: float = 30.0
    #: Requests in flight at once, and so connections kept open.
    max_in_flight: int = 8
    #: Retries of a request answered 429 or 503 before the error is returned.
    max_retries: int = 3
    #: The longest Retry-After the connector waits for itself; a longer one is returned
    #: to the engine as the error's retry_after.
    max_retry_wait: float = 30.0
    #: Send runs of creates in Bulk requests when the service supports Bulk.
    bulk: bool = True
    #: Operations per Bulk request at most (the service's maxOperations may be lower).
    bulk_max_operations: int = 200
    #: Resource type names serving the "user" and "group" object classes.
    user_resource_type: str = "User"
    group_resource_type: str = "Group"

    @classmethod
    def load(cls, table: Table) -> Self:
        table.optional_string("type")
        base_url = _url(table, "base_url", required=True)
        assert base_url is not None  # required=True raised otherwise
        allow_insecure = table.boolean("allow_insecure", False)
        auth = choice(table, "auth", AuthKind, AuthKind.BEARER)
        settings = cls(
            base_url=base_url.rstrip("/"),
            auth=auth,
            token=_secret(table, "token", auth is AuthKind.BEARER),
            username=_string(table, "username", auth is AuthKind.BASIC),
            password=_secret(table, "password", auth is AuthKind.BASIC),
            token_url=_url(table, "token_url", required=auth is AuthKind.OAUTH2),
            client_id=_string(table, "client_id", auth is AuthKind.OAUTH2),
            client_secret=_secret(table, "client_secret", auth is AuthKind.OAUTH2),
            scope=table.optional_string("scope"),
            client_auth=choice(table, "client_auth", ClientAuth, ClientAuth.BASIC),
            ca_file=ca_file(table),
            allow_insecure=allow_insecure,
            timeout=table.number("timeout", 30.0, minimum=0.1),
            max_in_flight=table.integer("max_in_flight", 8, minimum=1, maximum=256),
            max_retries=table.integer("max_retries", 3, minimum=0, maximum=20),
            max_retry_wait=table.number("max_retry_wait", 30.0, minimum=0.0),
            bulk=table.boolean("bulk", True),
            bulk_max_operations=table.integer("bulk_max_operations", 200, minimum=1),
            user_resource_type=_name(table, "user_resource_type", "User"),
            group_resource_type=_name(table, "group_resource_type", "Group"),
        )
        table.reject_unknown()
        unused = [
            key
            for key, kinds in _AUTH_KEYS.items()
            if key in table.data and settings.auth not in kinds
        ]
        if unused:
            raise table.error(unused[0], f"does not apply to auth = {settings.auth.value!r}")
        if not allow_insecure:
            for key in ("base_url", "token_url"):
                url = table.data.get(key)
                if isinstance(url, str) and insecure_remote(url):
                    raise table.error(key, f"is plain http beyond loopback; {INSECURE_HINT}")
        return settings


#: Which auth kinds read each credential key; a key set for another kind is a mistake.
_AUTH_KEYS = {
    "token": {AuthKind.BEARER},
    "username": {AuthKind.BASIC},
    "password": {AuthKind.BASIC},
    "token_url": {AuthKind.OAUTH2},
    "client_id": {AuthKind.OAUTH2},
    "client_secret": {AuthKind.OAUTH2},
    "scope": {AuthKind.OAUTH2},
    "client_auth": {AuthKind.OAUTH2},
}


def _url(table: Table, key: str, *, required: bool) -> str | None:
    value = table.optional_string(key)
    if value is None:
        if required:
            raise table.error(key, "is required")
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise table.error(key, f"must be an http:// or https:// URL, not {value!r}")
    if parts.query or parts.fragment:
        raise table.error(key, "must not have a query or a fragment")
    return value.strip()


def _name(table: Table, key: str, default: str) -> str:
    value = table.string(key, default)
    if not value.strip():
        raise table.error(key, "must not be empty")
    return value


def _string(table: Table, key: str, required: bool) -> str | None:
    if required:
        return table.string(key, required=True)
    return table.optional_string(key)


def _secret(table: Table, key: str, required: bool) -> Secret | None:
    value = table.secret(key, required=required)
    if value is not None and required and not value.reveal().strip():
        raise table.error(key, "must not be empty")
    return value
