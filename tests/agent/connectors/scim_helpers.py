"""What the SCIM connector's test modules share: building a connector from settings as
``agent.toml`` would give them, and user attributes."""

from __future__ import annotations

from typing import Any

from agent.connectors.scim import ScimConnector

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
WORK_EMAIL = 'emails[type eq "work"].value'


def scim(base_url: str, **settings: Any) -> ScimConnector:
    return ScimConnector.from_settings(
        "apps", {"type": "scim", "base_url": base_url, **settings}, source="agent.toml"
    )


def user(user_name: str, /, **more: Any) -> dict[str, Any]:
    return {"userName": user_name, **more}
