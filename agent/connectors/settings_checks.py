"""Checks that more than one connector's settings need, with errors naming the key."""

from __future__ import annotations

import ssl
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from shared.settings import Table

Choice = TypeVar("Choice", bound=StrEnum)


def choice(table: Table, key: str, kind: type[Choice], default: Choice) -> Choice:
    """One of the values of ``kind``; anything else names the values allowed."""
    text = table.string(key, default.value)
    try:
        return kind(text)
    except ValueError as exc:
        allowed = ", ".join(repr(k.value) for k in kind)
        raise table.error(key, f"must be one of {allowed}, not {text!r}") from exc


def ca_file(table: Table, key: str = "ca_file") -> Path | None:
    """A PEM file of CA certificates, loaded once here so that a missing or unreadable file
    is refused when the settings load rather than at the first connection."""
    text = table.optional_string(key)
    if text is None:
        return None
    path = Path(text).expanduser()
    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise table.error(key, f"cannot load CA certificates from {text}: {exc}") from exc
    return path
