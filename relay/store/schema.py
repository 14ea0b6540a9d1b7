"""The stores' versioned schema: the numbered SQL scripts in ``migrations/<dialect>``.

Each store keeps the number of the newest script it has run (SQLite in ``PRAGMA
user_version``, PostgreSQL in the table ``hatchway_schema``), runs the newer ones on open,
each in its own transaction with the version bump, and refuses a database whose version is
newer than any script here: that database was written by a newer Hatchway, and an older one
could corrupt it. Also here: how both stores read rows of the ``agents`` and ``api_tokens``
tables, which they lay out alike.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from relay.exceptions import StoreError
from relay.store.base import AgentRecord, ApiRole, ApiToken

#: The columns of ``agents`` in :class:`~relay.store.base.AgentRecord`'s order.
AGENT_COLUMNS = (
    "name, public_key, registered_at, revoked_at, software, protocol_version, connectors,"
    " session, connected_at, last_seen_at, disconnected_at"
)
#: The columns of ``api_tokens`` in :class:`~relay.store.base.ApiToken`'s order.
API_TOKEN_COLUMNS = "id, name, role, created_at, revoked_at"  # noqa: S105 - column names


def migrations(dialect: str) -> list[tuple[int, str]]:
    """The ``(version, script)`` pairs for ``dialect`` (``sqlite`` or ``postgresql``), oldest
    first."""
    folder = resources.files("relay.store").joinpath(f"migrations/{dialect}")
    found = [
        (int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found)


def check_not_newer(where: str, current: int, newest: int) -> None:
    """Raise :class:`StoreError` if the database at ``where`` is at a newer version."""
    if current > newest:
        raise StoreError(
            f"{where}: schema version {current} is newer than this relay knows ({newest});"
            " run a newer hatchway"
        )


def agent_from_row(row: tuple[Any, ...]) -> AgentRecord:
    """An agent from a row of :data:`AGENT_COLUMNS` (``connectors`` is JSON text)."""
    values = list(row)
    values[6] = json.loads(values[6])
    return AgentRecord(*values)


def api_token_from_row(row: tuple[Any, ...]) -> ApiToken:
    """An API token from a row of :data:`API_TOKEN_COLUMNS`."""
    token_id, name, role, created_at, revoked_at = row
    return ApiToken(token_id, name, ApiRole(role), created_at, revoked_at)
