"""Per-test databases on a shared throwaway server."""

import re
import uuid
from dataclasses import dataclass

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")


@dataclass(frozen=True)
class Database:
    name: str
    odbc_connection_string: str


def unique_database_name(prefix: str = "hw") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def checked_identifier(name: str) -> str:
    """Refuse names that would need quoting: they are pasted into SQL statements."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name
