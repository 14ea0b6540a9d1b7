"""The SCIM schemas the directory serves: User, Group and the enterprise User extension.

One table of attribute definitions (RFC 7643 §4 and §7) drives everything that depends on
an attribute's characteristics: validation of what clients write, the spelling attribute
names are normalised to, case-sensitivity of filters, the always / never returned rules of
projection, and the ``/Schemas`` and ``/ResourceTypes`` documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SERVICE_PROVIDER_CONFIG_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"


class Type(StrEnum):
    STRING = "string"
    BOOLEAN = "boolean"
    DECIMAL = "decimal"
    INTEGER = "integer"
    DATE_TIME = "dateTime"
    REFERENCE = "reference"
    BINARY = "binary"
    COMPLEX = "complex"


class Mutability(StrEnum):
    READ_ONLY = "readOnly"
    READ_WRITE = "readWrite"
    IMMUTABLE = "immutable"
    WRITE_ONLY = "writeOnly"


class Returned(StrEnum):
    ALWAYS = "always"
    NEVER = "never"
    DEFAULT = "default"
    REQUEST = "request"


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    type: Type = Type.STRING
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: Mutability = Mutability.READ_WRITE
    returned: Returned = Returned.DEFAULT
    uniqueness: str = "none"
    description: str = ""
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub_attributes: tuple[Attribute, ...] = ()

    def sub(self, name: str) -> Attribute | None:
        """The sub-attribute called ``name`` in any case, or None."""
        lowered = name.lower()
        for attribute in self.sub_attributes:
            if attribute.name.lower() == lowered:
                return attribute
        return None

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "type": self.type.value,
            "multiValued": self.multi_valued,
            "description": self.description or self.name,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability.value,
            "returned": self.returned.value,
            "uniqueness": self.uniqueness,
        }
        if self.canonical_values:
            doc["canonicalValues"] = list(self.canonical_values)
        if self.reference_types:
            doc["referenceTypes"] = list(self.reference_types)
        if self.sub_attributes:
            doc["subAttributes"] = [a.document() for a in self.sub_attributes]
        return doc


@dataclass(frozen=True, slots=True)
class Schema:
    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...]
    _by_name: dict[str, Attribute] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {a.name.lower(): a for a in self.attributes})

    def get(self, name: str) -> Attribute | None:
        return self._by_name.get(name.lower())

    def document(self, location: str) -> dict[str, Any]:
        return {
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [a.document() for a in self.attributes],
            "meta": {"resourceType": "Schema", "location": location},
        }


def _multi(
    name: str,
    value: Attribute,
    types: tuple[str, ...],
    *extra: Attribute,
    mutability: Mutability = Mutability.READ_WRITE,
) -> Attribute:
    """A multi-valued complex attribute in the RFC's usual shape: value, display, type,
    primary."""
    return Attribute(
        name,
        Type.COMPLEX,
        multi_valued=True,
        mutability=mutability,
        sub_attributes=(
            value,
            Attribute("display", mutability=mutability),
            Attribute("type", canonical_values=types, mutability=mutability),
            Attribute("primary", Type.BOOLEAN, mutability=mutability),
            *extra,
        ),
    )


_READ_ONLY = Mutability.READ_ONLY

#: Attributes every resource has (RFC 7643 §3.1); not part of any schema document.
ID = Attribute(
    "id", case_exact=True, mutability=_READ_ONLY, returned=Returned.ALWAYS, uniqueness="server"
)
EXTERNAL_ID = Attribute("externalId", case_exact=True)
META = Attribute(
    "meta",
    Type.COMPLEX,
    mutability=_READ_ONLY,
    sub_attributes=(
        Attribute("resourceType", case_exact=True, mutability=_READ_ONLY),
        Attribute("created", Type.DATE_TIME, mutability=_READ_ONLY),
        Attribute("lastModified", Type.DATE_TIME, mutability=_READ_ONLY),
        Attribute("location", Type.REFERENCE, case_exact=True, mutability=_READ_ONLY),
        Attribute("version", case_exact=True, mutability=_READ_ONLY),
    ),
)
COMMON = {a.name.lower(): a for a in (ID, EXTERNAL_ID, META)}

USER = Schema(
    USER_SCHEMA,
    "User",
    "User Account",
    (
        Attribute("userName", required=True, uniqueness="server"),
        Attribute(
            "name",
            Type.COMPLEX,
            sub_attributes=tuple(
                Attribute(n)
                for n in (
                    "formatted",
                    "familyName",
                    "givenName",
                    "middleName",
                    "honorificPrefix",
                    "honorificSuffix",
                )
            ),
        ),
        Attribute("displayName"),
        Attribute("nickName"),
        Attribute("profileUrl", Type.REFERENCE, reference_types=("external",)),
        Attribute("title"),
        Attribute("userType"),
        Attribute("preferredLanguage"),
        Attribute("locale"),
        Attribute("timezone"),
        Attribute("active", Type.BOOLEAN),
        Attribute(
            "password", case_exact=True, mutability=Mutability.WRITE_ONLY, returned=Returned.NEVER
        ),
        _multi("emails", Attribute("value"), ("work", "home", "other")),
        _multi(
            "phoneNumbers",
            Attribute("value"),
            ("work", "home", "mobile", "fax", "pager", "other"),
        ),
        _multi("ims", Attribute("value"), ("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq")),
        _multi(
            "photos",
            Attribute("value", Type.REFERENCE, case_exact=True, reference_types=("external",)),
            ("photo", "thumbnail"),
        ),
        Attribute(
            "addresses",
            Type.COMPLEX,
            multi_valued=True,
            sub_attributes=(
                *(
                    Attribute(n)
                    for n in (
                        "formatted",
                        "streetAddress",
                        "locality",
                        "region",
                        "postalCode",
                        "country",
                    )
                ),
                Attribute("type", canonical_values=("work", "home", "other")),
                Attribute("primary", Type.BOOLEAN),
            ),
        ),
        _multi(
            "groups",
            Attribute("value", mutability=_READ_ONLY),
            ("direct", "indirect"),
            Attribute(
                "$ref",
                Type.REFERENCE,
                case_exact=True,
                mutability=_READ_ONLY,
                reference_types=("Group",),
            ),
            mutability=_READ_ONLY,
        ),
        _multi("entitlements", Attribute("value"), ()),
        _multi("roles", Attribute("value"), ()),
        _multi("x509Certificates", Attribute("value", Type.BINARY, case_exact=True), ()),
    ),
)

ENTERPRISE_USER = Schema(
    ENTERPRISE_USER_SCHEMA,
    "EnterpriseUser",
    "Enterprise User",
    (
        Attribute("employeeNumber"),
        Attribute("costCenter"),
        Attribute("organization"),
        Attribute("division"),
        Attribute("department"),
        Attribute(
            "manager",
            Type.COMPLEX,
            sub_attributes=(
                Attribute("value"),
                Attribute("$ref", Type.REFERENCE, case_exact=True, reference_types=("User",)),
                Attribute("displayName", mutability=_READ_ONLY),
            ),
        ),
    ),
)

GROUP = Schema(
    GROUP_SCHEMA,
    "Group",
    "Group",
    (
        Attribute("displayName", required=True),
        Attribute(
            "members",
            Type.COMPLEX,
            multi_valued=True,
            sub_attributes=(
                Attribute("value", case_exact=True, mutability=Mutability.IMMUTABLE),
                Attribute(
                    "$ref",
                    Type.REFERENCE,
                    case_exact=True,
                    mutability=Mutability.IMMUTABLE,
                    reference_types=("User", "Group"),
                ),
                # Computed from the member's name; only on request (attributes=members.display).
                Attribute("display", mutability=_READ_ONLY, returned=Returned.REQUEST),
                Attribute(
                    "type", mutability=Mutability.IMMUTABLE, canonical_values=("User", "Group")
                ),
            ),
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class ResourceType:
    """A kind of resource the server serves: its endpoint, core schema and extensions."""

    name: str
    endpoint: str
    schema: Schema
    extensions: tuple[Schema, ...] = ()
    request_only: frozenset[str] = field(init=False, repr=False, compare=False)
    """Core attributes holding sub-attributes returned only on request (or never), which
    the default view leaves out (a group member's ``display``)."""

    def __post_init__(self) -> None:
        hidden = frozenset(
            a.name
            for a in self.schema.attributes
            if any(sub.returned in (Returned.REQUEST, Returned.NEVER) for sub in a.sub_attributes)
        )
        object.__setattr__(self, "request_only", hidden)

    def extension(self, urn: str) -> Schema | None:
        """The extension schema whose id is ``urn`` in any case, or None."""
        lowered = urn.lower()
        for extension in self.extensions:
            if extension.id.lower() == lowered:
                return extension
        return None

    def resolve(self, name: str, urn: str | None = None) -> tuple[Attribute, str | None] | None:
        """The attribute called ``name`` (any case) and its extension URN (None for the core
        schema and the common attributes), looked up in schema ``urn`` or the core one."""
        if urn is not None and urn.lower() != self.schema.id.lower():
            extension = self.extension(urn)
            if extension is None:
                return None
            found = extension.get(name)
            return None if found is None else (found, extension.id)
        found = self.schema.get(name) or COMMON.get(name.lower())
        return None if found is None else (found, None)

    def attributes(self) -> Iterator[tuple[Attribute, str | None]]:
        """Every top-level attribute with its extension URN, common ones first."""
        for attribute in COMMON.values():
            yield attribute, None
        for attribute in self.schema.attributes:
            yield attribute, None
        for extension in self.extensions:
            for attribute in extension.attributes:
                yield attribute, extension.id

    def document(self, base_url: str) -> dict[str, Any]:
        return {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.schema.description,
            "schema": self.schema.id,
            "schemaExtensions": [{"schema": e.id, "required": False} for e in self.extensions],
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base_url}/ResourceTypes/{self.name}",
            },
        }


def custom_schema(urn: str, attributes: Iterable[tuple[str, str, bool]]) -> Schema:
    """A User extension schema from the settings: ``(name, type, multi-valued)`` each."""
    parts = reversed(urn.split(":"))
    name = next((p for p in parts if p and not p[0].isdigit() and p not in ("User", "2.0")), urn)
    return Schema(
        urn,
        name,
        "Custom User extension (relay.toml [scim.extensions])",
        tuple(Attribute(name, Type(kind), multi_valued=multi) for name, kind, multi in attributes),
    )


def resource_types(extra_user_extensions: Iterable[Schema] = ()) -> tuple[ResourceType, ...]:
    """User (with the enterprise extension and any configured ones) and Group."""
    return (
        ResourceType("User", "/Users", USER, (ENTERPRISE_USER, *extra_user_extensions)),
        ResourceType("Group", "/Groups", GROUP),
    )
