"""Builds directory users from Entra ID attribute names, for expression tests."""

from __future__ import annotations

from typing import Any

from relay.engine.expressions import EvaluationContext, compile_expression
from relay.engine.source import ENTRA_ATTRIBUTES, AppRoleAssignment, Source


def entra_user(app_roles: tuple[AppRoleAssignment, ...] = (), **attributes: Any) -> Source:
    """A Source whose Entra-named attributes read back the given values.

    Names in Source's Entra table are stored at their SCIM paths (``surname`` in
    ``name.familyName``, ``telephoneNumber`` in the work phone number); ``mail`` becomes the
    primary email; anything else becomes a custom attribute of its own.
    """
    resource: dict[str, Any] = {}
    for name, value in attributes.items():
        if name == "mail":
            resource["emails"] = [{"value": value, "type": "work", "primary": True}]
            continue
        path = ENTRA_ATTRIBUTES.get(name, name)
        holder = resource
        if path.startswith("urn:"):
            urn, _, path = path.rpartition(":")
            holder = resource.setdefault(urn, {})
        if "[" in path:
            attribute, rest = path.split("[", 1)
            kind = rest.split('"')[1]
            sub = rest.rsplit(".", 1)[1]
            holder.setdefault(attribute, []).append({"type": kind, sub: value})
        elif "." in path:
            attribute, sub = path.split(".", 1)
            holder.setdefault(attribute, {})[sub] = value
        else:
            holder[path] = value
    return Source(resource, app_roles=app_roles)


def evaluate(text: str, context: EvaluationContext | None = None, /, **attributes: Any) -> Any:
    """Compile ``text`` and evaluate it for a user with the given Entra attributes."""
    return compile_expression(text).evaluate(entra_user(**attributes), context)
