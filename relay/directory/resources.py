"""Users and groups as SCIM resources: what clients write, checked and normalised, and what
the server answers, rendered with ``meta`` and projected by ``attributes`` /
``excludedAttributes``.

A stored resource (:attr:`relay.store.base.Entry.resource`) is the normalised form: names in
the schema's spelling, values of the schema's types, extension attributes under their URN,
no ``id``, ``meta``, ``password``, ``groups`` or ``members`` (the store keeps ids and
memberships itself; Hatchway holds no passwords), and ``schemas`` listing the core schema
and the extensions that carry values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from relay.directory.errors import invalid_syntax, invalid_value
from relay.directory.filter_parser import split_path
from relay.directory.schemas import (
    GROUP_SCHEMA,
    USER_SCHEMA,
    Attribute,
    Mutability,
    ResourceType,
    Returned,
    Type,
)
from relay.store.base import Entry, Member

_CORE_SCHEMAS = frozenset(s.lower() for s in (USER_SCHEMA, GROUP_SCHEMA))
_NOT_STORED = frozenset({"id", "meta", "password", "groups", "members"})
_MAX_MEMBERS_PER_REQUEST = 10_000


def etag(version: int) -> str:
    return f'W/"{version}"'


def parse_etag(text: str) -> int | None:
    """The version in ``W/"3"`` (or ``"3"``); None if it is not one of ours."""
    value = text.strip().removeprefix("W/").strip('"')
    return int(value) if value.isdigit() and len(value) < 19 else None


def timestamp(at: float) -> str:
    """Seconds since the epoch as the ISO 8601 text SCIM uses, in UTC, to the millisecond."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def coerce(attribute: Attribute, value: Any, where: str, *, single: bool = False) -> Any:
    """``value`` checked against ``attribute`` and converted to its type (Entra's "True" and
    "False" strings become booleans); None when it carries nothing. ``single`` takes one
    value of a multi-valued attribute. Raises invalidValue or invalidSyntax."""
    if value is None:
        return None
    if attribute.multi_valued and not single:
        if not isinstance(value, list):
            raise invalid_value(f"{where} must be a list")
        items = [
            coerce(attribute, item, f"{where}[{i}]", single=True) for i, item in enumerate(value)
        ]
        kept = [item for item in items if item not in (None, {})]
        return kept or None
    if attribute.type == Type.COMPLEX:
        if not isinstance(value, dict):
            raise invalid_value(f"{where} must be an object")
        result: dict[str, Any] = {}
        for key, item in value.items():
            sub = attribute.sub(key)
            if sub is None:
                raise invalid_syntax(f"{where} has no sub-attribute {key!r}")
            if sub.mutability == Mutability.READ_ONLY:
                continue
            converted = coerce(sub, item, f"{where}.{sub.name}")
            if converted is not None:
                result[sub.name] = converted
        return result
    return _simple(attribute, value, where)


def _simple(attribute: Attribute, value: Any, where: str) -> Any:
    kind = attribute.type
    if kind == Type.BOOLEAN:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise invalid_value(f"{where} must be true or false")
        return value
    if kind == Type.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid_value(f"{where} must be a whole number")
        return value
    if kind == Type.DECIMAL:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid_value(f"{where} must be a number")
        return value
    if not isinstance(value, str):
        raise invalid_value(f"{where} must be a string")
    if kind == Type.DATE_TIME:
        try:
            datetime.fromisoformat(value)
        except ValueError as exc:
            raise invalid_value(f"{where} is not an ISO 8601 date and time") from exc
    return value


@dataclass(frozen=True, slots=True)
class Written:
    """A resource as a client wrote it (POST, PUT): the stored form, and for groups the
    member ids it names (None when it names none)."""

    resource: dict[str, Any]
    members: tuple[str, ...] | None


def normalise(resource_type: ResourceType, body: Any) -> Written:
    """Check a POST or PUT body and turn it into the stored form. Read-only attributes
    (``id``, ``meta``, ``groups``) are ignored, as RFC 7644 §3.3 says."""
    if not isinstance(body, dict):
        raise invalid_syntax("the request body must be a JSON object")
    extensions = check_schemas(resource_type, body.get("schemas"))
    resource: dict[str, Any] = {}
    members: tuple[str, ...] | None = None
    for key, value in body.items():
        if key == "schemas":
            continue
        extension = resource_type.extension(key) if ":" in key else None
        if extension is not None:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise invalid_value(f"{key} must be an object")
            part = {}
            for name, item in value.items():
                if name == "schemas":
                    continue  # some clients send an extension as a whole object
                found = extension.get(name)
                if found is None:
                    raise invalid_syntax(f"unknown attribute {name!r} in {extension.id}")
                converted = coerce(found, item, name)
                if converted is not None and found.mutability != Mutability.READ_ONLY:
                    part[found.name] = converted
            if part:
                resource[extension.id] = part
            continue
        found_core = resource_type.resolve(key)
        if found_core is None:
            raise invalid_syntax(f"unknown attribute {key!r}")
        attribute = found_core[0]
        if attribute.name == "members":
            members = member_ids(value, "members")
            continue
        if attribute.name in _NOT_STORED or attribute.mutability == Mutability.READ_ONLY:
            continue
        converted = coerce(attribute, value, attribute.name)
        if converted is not None:
            resource[attribute.name] = converted
    resource["schemas"] = stored_schemas(resource_type, resource, extensions)
    check_required(resource_type, resource)
    return Written(resource, members)


def check_schemas(resource_type: ResourceType, schemas: Any) -> list[str]:
    """The extension URNs a body's ``schemas`` lists; invalidSyntax when it is missing, is
    not a list of strings, lacks the core schema or names another type's core schema."""
    core = resource_type.schema.id
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
        raise invalid_syntax(f"'schemas' must be a list that includes {core}")
    extensions = []
    seen_core = False
    for urn in schemas:
        if urn.lower() == core.lower():
            seen_core = True
            continue
        if urn.lower() in _CORE_SCHEMAS:
            raise invalid_syntax(f"schema {urn!r} is not one of the {resource_type.name} schemas")
        extension = resource_type.extension(urn)
        # Other URNs are tolerated while no attribute uses them: Entra lists its own
        # (http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group).
        if extension is not None:
            extensions.append(extension.id)
    if not seen_core:
        raise invalid_syntax(f"'schemas' must include {core}")
    return extensions


def stored_schemas(
    resource_type: ResourceType, resource: dict[str, Any], listed: Iterable[str] = ()
) -> list[str]:
    """The core schema, then each extension that carries values (or was listed)."""
    wanted = set(listed)
    return [resource_type.schema.id] + [
        e.id for e in resource_type.extensions if e.id in resource or e.id in wanted
    ]


def check_required(resource_type: ResourceType, resource: dict[str, Any]) -> None:
    for attribute in resource_type.schema.attributes:
        if attribute.required and resource.get(attribute.name) in (None, ""):
            raise invalid_value(f"{attribute.name!r} is required")


def member_ids(value: Any, where: str) -> tuple[str, ...]:
    """The ids in a list of members (``[{"value": id}, ...]``), each once, in order."""
    if value is None:
        return ()
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise invalid_value(f"{where} must be a list of {{'value': id}} objects")
    if len(value) > _MAX_MEMBERS_PER_REQUEST:
        raise invalid_value(f"{where} names more than {_MAX_MEMBERS_PER_REQUEST} members")
    ids: dict[str, None] = {}
    for i, item in enumerate(value):
        member = item.get("value") if isinstance(item, dict) else None
        if not isinstance(member, str) or not member:
            raise invalid_value(f"{where}[{i}] must be an object with a 'value' id")
        ids[member] = None
    return tuple(ids)


def render(
    resource_type: ResourceType,
    entry: Entry,
    base_url: str,
    *,
    members: Sequence[Member] | None = None,
    groups: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The full SCIM representation of ``entry``; ``members`` / ``groups`` are included
    when given."""
    location = f"{base_url}{resource_type.endpoint}/{entry.id}"
    body: dict[str, Any] = {"schemas": entry.resource.get("schemas", [resource_type.schema.id])}
    body["id"] = entry.id
    for key, value in entry.resource.items():
        if key != "schemas":
            body[key] = value
    if members is not None:
        body["members"] = [
            {
                "value": m.id,
                "$ref": f"{base_url}/{'Users' if m.kind == 'user' else 'Groups'}/{m.id}",
                "type": "User" if m.kind == "user" else "Group",
                **({"display": m.display} if m.display else {}),
            }
            for m in members
        ]
    if groups:
        body["groups"] = [
            {"value": g, "$ref": f"{base_url}/Groups/{g}", "type": "direct"} for g in groups
        ]
    body["meta"] = {
        "resourceType": resource_type.name,
        "created": timestamp(entry.created_at),
        "lastModified": timestamp(entry.modified_at),
        "location": location,
        "version": etag(entry.version),
    }
    return body


@dataclass(frozen=True, slots=True)
class Projection:
    """The ``attributes`` or ``excludedAttributes`` of a request, resolved: each item is
    ``(schema URN or None, attribute or None for a whole extension, sub-attribute)``."""

    include: frozenset[tuple[str | None, str | None, str | None]] | None = None
    exclude: frozenset[tuple[str | None, str | None, str | None]] = frozenset()

    @classmethod
    def parse(
        cls, resource_type: ResourceType, attributes: str | None, excluded: str | None
    ) -> Projection:
        return cls(
            None if not attributes else _resolve_list(resource_type, attributes),
            frozenset() if not excluded else _resolve_list(resource_type, excluded),
        )

    def wants(self, attribute: str, schema: str | None = None) -> bool:
        """Whether the answer holds ``attribute`` (e.g. so that members need not be read)."""
        if (schema, attribute, None) in self.exclude:
            return False
        if self.include is None:
            return True
        return any(s == schema and a in (attribute, None) for s, a, _ in self.include)

    def names(self, attribute: str, schema: str | None = None) -> bool:
        """Whether ``attributes`` names ``attribute`` (or one of its sub-attributes)."""
        return self.include is not None and any(
            s == schema and a == attribute for s, a, _ in self.include
        )

    def apply(self, resource_type: ResourceType, body: dict[str, Any]) -> dict[str, Any]:
        if self.include is None and not self.exclude:
            # The default view: only sub-attributes returned on request need dropping.
            hidden = resource_type.request_only
            if not any(key in hidden for key in body):
                return body
        result: dict[str, Any] = {}
        for key, value in body.items():
            if key == "schemas":
                result[key] = value
                continue
            extension = resource_type.extension(key) if ":" in key else None
            if extension is not None:
                part = {
                    name: self._pick(resource_type, extension.id, name, item)
                    for name, item in value.items()
                    if self._keeps(resource_type, extension.id, name)
                }
                part = {k: v for k, v in part.items() if v is not None}
                if part:
                    result[key] = part
                continue
            if self._keeps(resource_type, None, key):
                picked = self._pick(resource_type, None, key, value)
                if picked is not None:
                    result[key] = picked
        return result

    def _keeps(self, resource_type: ResourceType, schema: str | None, name: str) -> bool:
        found = resource_type.resolve(name, schema)
        if found is not None and found[0].returned == Returned.ALWAYS:
            return True
        if (schema, name, None) in self.exclude or (schema, None, None) in self.exclude:
            return False
        if self.include is None:
            return True
        return any(s == schema and a in (name, None) for s, a, _ in self.include)

    def _pick(self, resource_type: ResourceType, schema: str | None, name: str, value: Any) -> Any:
        """Sub-attribute selection inside a complex value; sub-attributes returned only on
        request (a member's ``display``) stay out unless named."""
        if not isinstance(value, dict | list):
            return value
        found = resource_type.resolve(name, schema)
        attribute = None if found is None else found[0]
        named = {sub for s, a, sub in self.include or () if s == schema and a == name and sub}
        whole = (
            self.include is None
            or (schema, name, None) in self.include
            or (schema, None, None) in self.include
        )
        dropped = {sub for s, a, sub in self.exclude if s == schema and a == name and sub}

        def keeps(key: str) -> bool:
            if key in dropped:
                return False
            sub = None if attribute is None else attribute.sub(key)
            if sub is not None and sub.returned in (Returned.REQUEST, Returned.NEVER):
                return key in named
            return whole or key in named

        def pick(item: Any) -> Any:
            if not isinstance(item, dict):
                return item
            return {k: v for k, v in item.items() if keeps(k)}

        if isinstance(value, list):
            kept = [pick(v) for v in value]
            return [v for v in kept if v] or None
        return pick(value) or None


def _resolve_list(
    resource_type: ResourceType, text: str
) -> frozenset[tuple[str | None, str | None, str | None]]:
    items: set[tuple[str | None, str | None, str | None]] = set()
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        extension = resource_type.extension(name) if ":" in name else None
        if extension is not None:
            items.add((extension.id, None, None))
            continue
        try:
            urn, attr, sub = split_path(name)
        except ValueError as exc:
            raise invalid_value(f"{name!r} is not an attribute path") from exc
        found = resource_type.resolve(attr, urn)
        if found is None:
            # RFC 7644 §3.4.2.5 lets unknown names pass; they select nothing.
            continue
        attribute, schema = found
        sub_name = None
        if sub is not None:
            sub_attribute = attribute.sub(sub)
            if sub_attribute is None:
                continue
            sub_name = sub_attribute.name
        items.add((schema, attribute.name, sub_name))
    return frozenset(items)
