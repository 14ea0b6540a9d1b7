"""SCIM PATCH (RFC 7644 §3.5.2) applied to a stored resource, without I/O.

Besides the RFC's operations this accepts what identity providers really send: Entra ID's
capitalised ``Add`` / ``Replace`` / ``Remove``, its booleans as the strings "True" and
"False", its older member removal (``{"op": "Remove", "path": "members", "value":
[{"value": id}]}``), keys that are paths inside a path-less value (``{"name.givenName":
...}``), and an ``add`` or ``replace`` through an ``eq`` value filter that matches nothing
(``emails[type eq "work"].value``), which creates the value the filter describes.

Group members never live in the resource: operations on ``members`` become one
:class:`~relay.store.base.MemberChange` for the store to apply in the same transaction.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from relay.directory.errors import invalid_syntax, invalid_value, mutability, no_target
from relay.directory.paths import PatchPath, equalities, matches, member_values, parse_path
from relay.directory.resources import check_required, coerce, member_ids, stored_schemas
from relay.directory.schemas import PATCH_OP_SCHEMA, Attribute, Mutability, ResourceType
from relay.store.base import MemberChange

#: Most operations in one PATCH request.
MAX_OPERATIONS = 1000

_OPS = ("add", "replace", "remove")


@dataclass(frozen=True, slots=True)
class Operation:
    op: str
    """``add``, ``replace`` or ``remove``, lower-cased."""
    path: PatchPath | None
    value: Any


@dataclass(frozen=True, slots=True)
class Patched:
    resource: dict[str, Any]
    members: MemberChange | None


def parse_operations(resource_type: ResourceType, body: Any) -> list[Operation]:
    """The operations of a PatchOp request body; invalidSyntax, invalidPath or invalidValue
    for a malformed one."""
    if not isinstance(body, dict):
        raise invalid_syntax("the request body must be a JSON object")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or PATCH_OP_SCHEMA not in schemas:
        raise invalid_syntax(f"'schemas' must be [{PATCH_OP_SCHEMA!r}]")
    raw = body.get("Operations", body.get("operations"))
    if not isinstance(raw, list) or not raw:
        raise invalid_syntax("'Operations' must be a non-empty list")
    if len(raw) > MAX_OPERATIONS:
        raise invalid_syntax(f"a PATCH request holds at most {MAX_OPERATIONS} operations")
    operations = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise invalid_syntax(f"Operations[{i}] must be an object")
        op = item.get("op")
        if not isinstance(op, str) or op.lower() not in _OPS:
            raise invalid_syntax(f"Operations[{i}].op must be add, replace or remove")
        raw_path = item.get("path")
        path = None if raw_path is None else parse_path(raw_path, resource_type)
        if op.lower() != "remove" and "value" not in item:
            raise invalid_value(f"Operations[{i}] ({op}) needs a value")
        operations.append(Operation(op.lower(), path, item.get("value")))
    return operations


def needs_members(operations: Sequence[Operation]) -> bool:
    """Whether applying ``operations`` needs the group's current members: only for a
    members value filter other than ``value eq "id"`` comparisons."""
    return any(
        o.path is not None
        and o.path.attribute is not None
        and o.path.attribute.name == "members"
        and o.path.value_filter is not None
        and member_values(o.path.value_filter) is None
        for o in operations
    )


def apply_patch(
    resource_type: ResourceType,
    resource: dict[str, Any],
    operations: Sequence[Operation],
    *,
    entry_id: str,
    current_members: Sequence[dict[str, Any]] | None = None,
) -> Patched:
    """The resource after ``operations``, all or nothing: any fault raises
    :class:`~relay.directory.errors.ScimError` and ``resource`` is left as it was.
    ``current_members`` (``{"value", "display", "type"}`` dicts) is needed when
    :func:`needs_members` says so."""
    state = _Patch(resource_type, copy.deepcopy(resource), entry_id, current_members)
    for operation in operations:
        state.apply(operation.op, operation.path, operation.value)
    result = state.resource
    for extension in resource_type.extensions:
        if result.get(extension.id) == {}:
            del result[extension.id]
    result["schemas"] = stored_schemas(resource_type, result)
    check_required(resource_type, result)
    return Patched(result, state.members.change())


class _MemberEdits:
    """Member operations folded into one change, in the order they were given."""

    def __init__(self) -> None:
        self.touched = False
        self.replace: list[str] | None = None
        self.add: dict[str, None] = {}
        self.remove: dict[str, None] = {}

    def set(self, ids: Sequence[str]) -> None:
        self.touched = True
        self.replace = list(dict.fromkeys(ids))
        self.add.clear()
        self.remove.clear()

    def added(self, ids: Sequence[str]) -> None:
        self.touched = True
        for member in ids:
            if self.replace is not None:
                if member not in self.replace:
                    self.replace.append(member)
            else:
                self.add[member] = None
                self.remove.pop(member, None)

    def removed(self, ids: Sequence[str]) -> None:
        self.touched = True
        gone = set(ids)
        if self.replace is not None:
            self.replace = [m for m in self.replace if m not in gone]
            return
        for member in ids:
            self.remove[member] = None
            self.add.pop(member, None)

    def change(self) -> MemberChange | None:
        if not self.touched:
            return None
        return MemberChange(
            add=tuple(self.add),
            remove=tuple(self.remove),
            replace=None if self.replace is None else tuple(self.replace),
        )


class _Patch:
    def __init__(
        self,
        resource_type: ResourceType,
        resource: dict[str, Any],
        entry_id: str,
        current_members: Sequence[dict[str, Any]] | None,
    ) -> None:
        self.resource_type = resource_type
        self.resource = resource
        self.entry_id = entry_id
        self.current_members = current_members
        self.members = _MemberEdits()

    def container(self, schema: str | None) -> dict[str, Any]:
        if schema is None:
            return self.resource
        part = self.resource.setdefault(schema, {})
        assert isinstance(part, dict)
        return part

    def apply(self, op: str, path: PatchPath | None, value: Any) -> None:
        if path is None:
            self.apply_pathless(op, value)
            return
        if path.attribute is None:
            assert path.schema is not None
            if op == "remove":
                self.resource.pop(path.schema, None)
            else:
                self.apply_pathless(op, {path.schema: value})
            return
        attribute = path.attribute
        if attribute.name == "members" and self.resource_type.name == "Group":
            self.apply_members(op, path, value)
            return
        if attribute.name == "password":
            return  # Hatchway holds no passwords; see resources.py.
        if attribute.mutability == Mutability.READ_ONLY:
            if attribute.name == "id" and value == self.entry_id and path.sub_attribute is None:
                return  # Okta repeats the id in a path-less replace.
            raise mutability(f"{attribute.name!r} is read-only")
        container = self.container(path.schema)
        if path.value_filter is not None:
            self.apply_filtered(op, container, path, value)
        elif path.sub_attribute is not None:
            self.apply_sub(op, container, attribute, path.sub_attribute, value)
        else:
            self.apply_attribute(op, container, attribute, value)
        if container.get(attribute.name) in (None, [], {}):
            container.pop(attribute.name, None)

    def apply_pathless(self, op: str, value: Any) -> None:
        if op == "remove":
            raise no_target("a remove operation needs a path")
        if not isinstance(value, dict):
            raise invalid_value(f"{op} without a path needs an object value")
        for key, item in value.items():
            if key == "schemas":
                continue
            extension = self.resource_type.extension(key) if ":" in key else None
            if extension is not None:
                if not isinstance(item, dict):
                    raise invalid_value(f"{key} must be an object")
                for name, sub_item in item.items():
                    if name == "schemas":
                        continue  # some clients send an extension as a whole object
                    sub_path = parse_path(f"{extension.id}:{name}", self.resource_type)
                    self.apply(op, sub_path, sub_item)
                continue
            if key == "meta":
                continue  # read-only and informational; clients echo it back
            self.apply(op, parse_path(key, self.resource_type), item)

    def apply_attribute(
        self, op: str, container: dict[str, Any], attribute: Attribute, value: Any
    ) -> None:
        name = attribute.name
        if op == "remove":
            if value is not None and attribute.multi_valued:
                self.remove_values(container, attribute, value)
            else:
                container.pop(name, None)
            return
        if attribute.multi_valued:
            items = coerce(attribute, value if isinstance(value, list) else [value], name) or []
            if op == "replace":
                container[name] = items
            else:
                existing = list(container.get(name, []))
                existing.extend(item for item in items if item not in existing)
                container[name] = existing
            return
        converted = coerce(attribute, _as_complex(attribute, value), name)
        if isinstance(converted, dict) and isinstance(container.get(name), dict):
            container[name] = {**container[name], **converted}  # RFC 7644 §3.5.2.1 and .3
        elif converted is None:
            container.pop(name, None)
        else:
            container[name] = converted

    def remove_values(self, container: dict[str, Any], attribute: Attribute, value: Any) -> None:
        """Entra's older form: remove the listed values of a multi-valued attribute."""
        listed = value if isinstance(value, list) else [value]
        keys = [item.get("value") if isinstance(item, dict) else item for item in listed]
        container[attribute.name] = [
            item
            for item in container.get(attribute.name, [])
            if (item.get("value") if isinstance(item, dict) else item) not in keys
        ]

    def apply_sub(
        self,
        op: str,
        container: dict[str, Any],
        attribute: Attribute,
        sub: Attribute,
        value: Any,
    ) -> None:
        if sub.mutability == Mutability.READ_ONLY:
            raise mutability(f"{attribute.name}.{sub.name} is read-only")
        converted = None if op == "remove" else coerce(sub, value, f"{attribute.name}.{sub.name}")
        if attribute.multi_valued:
            targets = list(container.get(attribute.name, []))
            if not targets and converted is not None:
                container[attribute.name] = [{sub.name: converted}]
                return
        else:
            targets = [container.setdefault(attribute.name, {})]
        for target in targets:
            if converted is None:
                target.pop(sub.name, None)
            else:
                target[sub.name] = converted
        if attribute.multi_valued:
            container[attribute.name] = [t for t in targets if t]

    def apply_filtered(
        self, op: str, container: dict[str, Any], path: PatchPath, value: Any
    ) -> None:
        attribute, sub = path.attribute, path.sub_attribute
        assert attribute is not None
        assert path.value_filter is not None
        values: list[dict[str, Any]] = list(container.get(attribute.name, []))
        hits = [i for i, v in enumerate(values) if matches(path.value_filter, v, attribute)]
        if op == "remove":
            if sub is None:
                values = [v for i, v in enumerate(values) if i not in hits]
            else:
                for i in hits:
                    values[i].pop(sub.name, None)
            container[attribute.name] = [v for v in values if v]
            return
        if sub is not None:
            if sub.mutability == Mutability.READ_ONLY:
                raise mutability(f"{attribute.name}.{sub.name} is read-only")
            update = {sub.name: coerce(sub, value, f"{attribute.name}.{sub.name}")}
        else:
            update = coerce(attribute, value, attribute.name, single=True) or {}
        if not hits:
            pinned = equalities(path.value_filter)
            if pinned is None:
                raise no_target(f"no value of {attribute.name!r} matches the filter")
            new = coerce(attribute, {**pinned, **update}, attribute.name, single=True)
            values.append(new)
        for i in hits:
            values[i] = {**values[i], **update}
        container[attribute.name] = [
            {k: v for k, v in item.items() if v is not None} for item in values
        ]

    def apply_members(self, op: str, path: PatchPath, value: Any) -> None:
        if path.sub_attribute is not None:
            raise mutability("a member's sub-attributes cannot be changed: add or remove it")
        if path.value_filter is None:
            if op == "remove":
                if value is None:
                    self.members.set([])
                else:
                    self.members.removed(member_ids(value, "value"))
            elif op == "add":
                self.members.added(member_ids(value, "value"))
            else:
                self.members.set(member_ids(value, "value"))
            return
        if op != "remove":
            raise mutability("members cannot be changed through a filter: add or remove them")
        ids = member_values(path.value_filter)
        if ids is None:
            assert path.attribute is not None
            if self.current_members is None:
                raise ValueError("needs_members() was not consulted before apply_patch()")
            ids = [
                m["value"]
                for m in self.current_members
                if matches(path.value_filter, m, path.attribute)
            ]
        self.members.removed(ids)


def _as_complex(attribute: Attribute, value: Any) -> Any:
    """Entra sends the enterprise ``manager`` as a bare id; a single-valued complex
    attribute with a ``value`` sub-attribute takes a string as that value."""
    if isinstance(value, str) and attribute.sub("value") is not None:
        return {"value": value}
    return value
