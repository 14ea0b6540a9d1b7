"""Contract attribute names as SCIM attribute paths.

A contract attribute name is a SCIM attribute path (RFC 7644 section 3.10), one of:

- ``userName``, ``active``: a simple attribute (a list if the schema says multi-valued);
- ``name.givenName``: a sub-attribute of a single-valued complex attribute;
- ``emails``, ``members``: the ``value`` sub-attributes of a multi-valued complex attribute,
  as a list (group members are the members' anchors, their SCIM ids);
- ``emails[type eq "work"].value``: one sub-attribute of the element of a given ``type``,
  single-valued;
- any of these after an extension's URN and a colon, such as
  ``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`` or
  ``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value``.

The grammar is :mod:`shared.scim_filter`'s. Names are matched case-insensitively, as SCIM
attribute names are, and checked against ``/Schemas`` when the service serves it, so a typo
is refused before anything is sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from agent.connectors.scim_discovery import ResourceType, SchemaAttribute
from shared.connector import GROUP, USER, AttributeInfo, AttributeType, ObjectClassInfo, Scalar
from shared.exceptions import InvalidDataError
from shared.scim_filter import Compare, CompareOp, ScimFilterError, parse_path

#: The attribute that names an object of each class (ConnId's ``__NAME__``).
NAMING = {USER: "userName", GROUP: "displayName"}
#: The group attribute whose values are member anchors; it gets no per-type names.
MEMBERS = "members"

_TYPES = {
    "string": AttributeType.STRING,
    "boolean": AttributeType.BOOLEAN,
    "decimal": AttributeType.DECIMAL,
    "integer": AttributeType.INTEGER,
    "dateTime": AttributeType.DATETIME,
    "binary": AttributeType.BINARY,
    "reference": AttributeType.REFERENCE,
}

#: Attributes every resource has besides its schema's (RFC 7643 section 3.1).
_EXTERNAL_ID = SchemaAttribute("externalId")
#: RFC 7643's multi-valued complex attributes, for a service without /Schemas.
_KNOWN_MULTI = frozenset(
    {
        "emails",
        "phonenumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509certificates",
        "members",
    }
)


class Shape(Enum):
    SIMPLE = "simple"
    SIMPLE_MULTI = "simple, multi-valued"
    SUB = "sub-attribute"
    VALUES = "values of a multi-valued complex attribute"
    TYPED = "sub-attribute of the element of one type"


@dataclass(frozen=True, slots=True)
class AttributePath:
    """Where one contract attribute lives in a SCIM resource."""

    name: str
    #: The extension URN holding the attribute; None for the resource type's core schema.
    schema: str | None
    attribute: str
    shape: Shape
    type_value: str | None = None
    sub: str | None = None
    #: The definition of the value's attribute, when the service describes its schemas.
    info: SchemaAttribute | None = None
    writable: bool = True

    @property
    def multi_valued(self) -> bool:
        return self.shape in (Shape.SIMPLE_MULTI, Shape.VALUES)

    def scim_path(self) -> str:
        """The path in PATCH operations and filters."""
        head = f"{self.schema}:{self.attribute}" if self.schema else self.attribute
        if self.shape is Shape.TYPED:
            return f"{head}[type eq {quote(self.type_value)}].{self.sub}"
        if self.shape is Shape.SUB:
            return f"{head}.{self.sub}"
        return head

    def element_path(self, value: Scalar) -> str:
        """The path of the elements of a multi-valued attribute that hold ``value``."""
        head = f"{self.schema}:{self.attribute}" if self.schema else self.attribute
        return f"{head}[value eq {quote(value)}]"

    def check(self, value: Scalar) -> Any:
        """The value as JSON, refused with the attribute named when its type is wrong."""
        if value is None or self.info is None:
            return value
        wanted = self.info.type
        ok = {
            "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "decimal": isinstance(value, int | float) and not isinstance(value, bool),
        }.get(wanted, isinstance(value, str))
        if not ok:
            raise InvalidDataError(
                f"{self.name}: the service wants a {wanted} value, not {value!r}",
                attribute=self.name,
            )
        return value


def writable_values(path: AttributePath, values: tuple[Scalar, ...]) -> list[Any]:
    """The values of a delta, checked; a read-only attribute is refused."""
    if not path.writable:
        raise InvalidDataError(
            f"{path.name}: the service does not let clients write it", attribute=path.name
        )
    if not path.multi_valued and len(values) > 1:
        raise InvalidDataError(
            f"{path.name} is single-valued: one value, not {len(values)}", attribute=path.name
        )
    return [path.check(v) for v in values]


def quote(value: Scalar) -> str:
    """A filter comparison value: JSON, as RFC 7644's filter grammar takes it."""
    return json.dumps(value, ensure_ascii=False)


class Catalogue:
    """The attribute names of one resource type, from the service's schemas."""

    def __init__(
        self,
        object_class: str,
        resource_type: ResourceType,
        schemas: Mapping[str, tuple[SchemaAttribute, ...]],
    ) -> None:
        self.object_class = object_class
        self.resource_type = resource_type
        self.checked = resource_type.schema in schemas
        self._attributes: dict[str | None, dict[str, SchemaAttribute]] = {}
        self._resolved: dict[str, AttributePath] = {}
        if self.checked:
            core = (*schemas[resource_type.schema], _EXTERNAL_ID)
            self._attributes[None] = {a.name.casefold(): a for a in core}
            for urn in resource_type.extensions:
                attrs = schemas.get(urn, ())
                self._attributes[urn] = {a.name.casefold(): a for a in attrs}

    def resolve(self, name: str) -> AttributePath:
        """The path of a contract attribute name; InvalidDataError naming it if unknown."""
        path = self._resolved.get(name)
        if path is None:
            path = self._resolved[name] = self._resolve(name)
        return path

    def _resolve(self, name: str) -> AttributePath:
        try:
            parsed = parse_path(name, noun="attribute name")
        except ScimFilterError as exc:
            raise self._refuse(name, f"is not a SCIM attribute path: {exc}") from exc
        match parsed.value_filter:
            case None:
                type_value = None
            case Compare(path, CompareOp.EQ, str(type_value)) if (
                path.attribute.casefold() == "type"
            ):
                pass
            case _:
                raise self._refuse(name, 'may only pick an element by [type eq "..."]')
        urn, attr, sub = parsed.schema, parsed.attribute, parsed.sub_attribute
        schema = self._schema(name, urn)
        if not self.checked:
            return _unchecked(name, schema, attr, type_value, sub)
        definition = self._attributes.get(schema, {}).get(attr.casefold())
        if definition is None:
            where = schema or self.resource_type.schema
            raise self._refuse(name, f"is not an attribute of {where}")
        return self._shape(name, schema, definition, type_value, sub)

    def _schema(self, name: str, urn: str | None) -> str | None:
        if urn is None or urn.casefold() == self.resource_type.schema.casefold():
            return None
        for extension in self.resource_type.extensions:
            if extension.casefold() == urn.casefold():
                return extension
        if self.checked:
            raise self._refuse(name, f"names schema {urn}, which {self.object_class}s lack")
        return urn

    def _shape(
        self,
        name: str,
        schema: str | None,
        top: SchemaAttribute,
        type_value: str | None,
        sub: str | None,
    ) -> AttributePath:
        # Immutable attributes are written on create; the service refuses them in updates.
        writable = top.mutability != "readOnly"
        if top.type != "complex":
            if type_value is not None or sub is not None:
                raise self._refuse(name, f"{top.name} has no sub-attributes")
            shape = Shape.SIMPLE_MULTI if top.multi_valued else Shape.SIMPLE
            return AttributePath(name, schema, top.name, shape, info=top, writable=writable)
        if not top.multi_valued:
            leaf = top.sub(sub) if sub is not None else None
            if type_value is not None or leaf is None:
                raise self._refuse(
                    name,
                    f"name a sub-attribute of {top.name}, such as {top.name}.{_first_sub(top)}",
                )
            return AttributePath(
                name, schema, top.name, Shape.SUB, sub=leaf.name, info=leaf,
                writable=writable and leaf.mutability != "readOnly",
            )  # fmt: skip
        if type_value is None:
            value = top.sub("value")
            if sub is not None or value is None:
                raise self._refuse(
                    name, f'use {top.name} for its values, or {top.name}[type eq "work"].value'
                )
            return AttributePath(
                name, schema, top.name, Shape.VALUES, sub="value", info=value, writable=writable
            )
        leaf = top.sub(sub) if sub is not None else None
        if leaf is None or top.sub("type") is None:
            raise self._refuse(name, f"name a sub-attribute of {top.name}, such as .value")
        return AttributePath(
            name, schema, top.name, Shape.TYPED, type_value, leaf.name, leaf, writable
        )

    def _refuse(self, name: str, problem: str) -> InvalidDataError:
        return InvalidDataError(f"{self.object_class} attribute {name!r} {problem}", attribute=name)

    def describe(self) -> ObjectClassInfo:
        """The object class for ``schema()``: every name this resource type answers to, or,
        for a service without /Schemas, only what every SCIM service has."""
        naming = NAMING[self.object_class]
        if not self.checked:
            attributes: tuple[AttributeInfo, ...] = (
                AttributeInfo(naming, required=True, unique=self.object_class == USER),
            )
            if self.object_class == GROUP:
                attributes += (AttributeInfo(MEMBERS, multi_valued=True),)
            return ObjectClassInfo(self.object_class, naming, attributes)
        infos = tuple(
            info
            for schema, attributes in self._attributes.items()
            for top in attributes.values()
            for info in _infos(f"{schema}:" if schema else "", top)
        )
        return ObjectClassInfo(self.object_class, naming, infos)


def _first_sub(top: SchemaAttribute) -> str:
    return top.sub_attributes[0].name if top.sub_attributes else "value"


def _info(name: str, attr: SchemaAttribute, *, multi: bool, writable: bool) -> AttributeInfo:
    return AttributeInfo(
        name=name,
        type=_TYPES.get(attr.type, AttributeType.STRING),
        multi_valued=multi,
        required=attr.required,
        unique=attr.uniqueness != "none",
        updatable=writable and attr.mutability in ("readWrite", "writeOnly"),
    )


def _infos(prefix: str, top: SchemaAttribute) -> Iterator[AttributeInfo]:
    name = prefix + top.name
    writable = top.mutability in ("readWrite", "writeOnly")
    if top.type != "complex":
        yield _info(name, top, multi=top.multi_valued, writable=True)
        return
    if not top.multi_valued:
        for sub in top.sub_attributes:
            yield _info(f"{name}.{sub.name}", sub, multi=False, writable=writable)
        return
    value = top.sub("value")
    if value is not None:
        # Elements are added and removed whole, so the attribute's mutability counts, not
        # that of ``value`` (RFC 7643 makes members.value immutable).
        yield AttributeInfo(
            name=name,
            type=_TYPES.get(value.type, AttributeType.STRING),
            multi_valued=True,
            required=top.required,
            unique=value.uniqueness != "none",
            updatable=writable,
        )
    kind = top.sub("type")
    if kind is None or top.name == MEMBERS or not writable:
        return
    for type_value in kind.canonical_values:
        for sub in top.sub_attributes:
            if sub is not kind:
                path = f"{name}[type eq {quote(type_value)}].{sub.name}"
                yield _info(path, sub, multi=False, writable=writable)


def _unchecked(
    name: str, schema: str | None, attr: str, type_value: str | None, sub: str | None
) -> AttributePath:
    """A path on a service that describes no schemas: shaped by its form alone."""
    if type_value is not None:
        return AttributePath(name, schema, attr, Shape.TYPED, type_value, sub or "value")
    if sub is not None:
        return AttributePath(name, schema, attr, Shape.SUB, sub=sub)
    if attr.casefold() in _KNOWN_MULTI:
        return AttributePath(name, schema, attr, Shape.VALUES, sub="value")
    return AttributePath(name, schema, attr, Shape.SIMPLE)
