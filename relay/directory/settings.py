"""The SCIM endpoint's settings: the ``[scim]`` table of ``relay.toml``.

Example::

    [scim]
    max_payload_bytes = 1048576
    max_bulk_operations = 1000
    default_page_size = 100
    max_page_size = 1000
    token_cache_seconds = 5.0
    public_url = "https://relay.example.com"   # behind a TLS-terminating proxy

    # Custom User extension schemas: attribute name = type ("string", "boolean", "integer",
    # "decimal", "dateTime", "reference" or "binary"; "[]" after it for a list of them).
    [scim.extensions."urn:ietf:params:scim:schemas:extension:acme:2.0:User"]
    badgeNumber = "string"
    isContractor = "boolean"
    costCenters = "string[]"
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from dataclasses import dataclass

from shared.settings import Table

ATTRIBUTE_TYPES = ("string", "boolean", "integer", "decimal", "dateTime", "reference", "binary")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_URN = re.compile(r"urn:[A-Za-z0-9][A-Za-z0-9.:_-]{0,200}", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CustomExtension:
    """A User extension schema the identity providers send (Entra ID's and Okta's custom
    attributes): its URN and its attributes as ``(name, type, multi-valued)``."""

    urn: str
    attributes: tuple[tuple[str, str, bool], ...]


@dataclass(frozen=True, slots=True)
class ScimSettings:
    #: Largest request body, in bytes, for any request (Bulk included); a bigger one gets
    #: 413. Advertised as ``bulk.maxPayloadSize``.
    max_payload_bytes: int = 1_048_576
    #: Most operations in one Bulk request; more gets 413. Advertised as
    #: ``bulk.maxOperations``.
    max_bulk_operations: int = 1000
    #: Page size of a list or search that does not ask for one.
    default_page_size: int = 100
    #: Largest page a list or search returns, whatever ``count`` asks. Advertised as
    #: ``filter.maxResults``.
    max_page_size: int = 1000
    #: Seconds a verified bearer token is remembered, so requests need not look it up; a
    #: revoked token stops working within this time.
    token_cache_seconds: float = 5.0
    #: Custom User extension schemas accepted besides the enterprise one.
    extensions: tuple[CustomExtension, ...] = ()
    #: The relay's address as identity providers reach it, for ``meta.location`` and
    #: ``$ref`` in answers. Unset, it is taken from each request, which is wrong behind a
    #: proxy that terminates TLS or rewrites the host.
    public_url: str | None = None

    @classmethod
    def load(cls, table: Table) -> ScimSettings:
        defaults = cls()
        settings = cls(
            max_payload_bytes=table.integer(
                "max_payload_bytes",
                defaults.max_payload_bytes,
                minimum=65_536,
                maximum=100 * 1_048_576,
            ),
            max_bulk_operations=table.integer(
                "max_bulk_operations", defaults.max_bulk_operations, minimum=1, maximum=100_000
            ),
            default_page_size=table.integer(
                "default_page_size", defaults.default_page_size, minimum=1, maximum=100_000
            ),
            max_page_size=table.integer(
                "max_page_size", defaults.max_page_size, minimum=1, maximum=100_000
            ),
            token_cache_seconds=table.number(
                "token_cache_seconds", defaults.token_cache_seconds, minimum=0
            ),
        )
        settings = dataclasses.replace(
            settings, extensions=_extensions(table), public_url=_public_url(table)
        )
        if settings.default_page_size > settings.max_page_size:
            raise table.error("default_page_size", "must not exceed max_page_size")
        table.reject_unknown()
        return settings


def _public_url(table: Table) -> str | None:
    text = table.optional_string("public_url")
    if text is None:
        return None
    url = urllib.parse.urlsplit(text)
    if url.scheme not in ("https", "http") or not url.hostname or url.query or url.fragment:
        raise table.error(
            "public_url",
            f"must be an http or https URL like https://relay.example.com, not {text!r}",
        )
    return text.rstrip("/")


def _extensions(table: Table) -> tuple[CustomExtension, ...]:
    found = []
    reserved = (
        "urn:ietf:params:scim:schemas:core:",
        "urn:ietf:params:scim:schemas:extension:enterprise:",
    )
    for urn, attributes in table.tables("extensions"):
        where = f"extensions.{urn}"
        if not _URN.fullmatch(urn) or urn.lower().startswith(reserved):
            raise table.error(
                where,
                "must be a schema URN of your own,"
                " like urn:ietf:params:scim:schemas:extension:acme:2.0:User",
            )
        parsed = []
        for name in attributes.data:
            kind = attributes.string(name, required=True)
            if not _ATTRIBUTE_NAME.fullmatch(name):
                raise attributes.error(
                    name, "is not an attribute name (a letter, then letters, digits, '_' or '-')"
                )
            base = kind.removesuffix("[]")
            if base not in ATTRIBUTE_TYPES:
                raise attributes.error(
                    name,
                    f"must be one of {', '.join(ATTRIBUTE_TYPES)} (with [] for a list),"
                    f" not {kind!r}",
                )
            parsed.append((name, base, kind.endswith("[]")))
        if not parsed:
            raise table.error(where, "has no attributes")
        found.append(CustomExtension(urn, tuple(parsed)))
    return tuple(found)
