"""The mappings a new job starts with, per target type: SCIM, LDAP and SQL.

Source attributes are named the Entra ID way (``userPrincipalName``, ``surname``, ``mail``),
so the defaults read like Entra ID's own and an administrator can compare them line by line;
:mod:`relay.engine.source` translates the names to Hatchway's SCIM directory.

- SCIM: Entra ID's default mapping for SCIM apps (core User schema and the enterprise
  extension), users matched on ``userName``, groups on ``displayName``.
- LDAP: ``inetOrgPerson`` users matched on ``uid``, then ``mail``, and ``groupOfNames``
  groups matched on ``cn``. ``cn`` and ``sn`` are mandatory in ``inetOrgPerson``, so they
  fall back to other attributes when the directory has no display name or surname.
- SQL: the SQL connector's default columns: users keyed by ``id`` (the anchor, left to the
  database) and named by ``user_name``, groups named by ``name`` with their ``members``.

Managers and group members are ``reference`` mappings: their directory ids become the
target's anchors (a DN in LDAP, an id in SCIM, a key in SQL).
"""

from __future__ import annotations

from collections.abc import Mapping

from relay.engine.exceptions import MappingError
from relay.engine.jobfile import JobDefinition
from relay.engine.mapping import ApplyOn, AttributeMapping, MappingType, ObjectMapping
from shared.connector import GROUP, USER, ObjectClassInfo

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _direct(
    target: str, source: str, *, matching: int = 0, reference: bool = False
) -> AttributeMapping:
    return AttributeMapping(
        target, MappingType.DIRECT, source=source, matching=matching, reference=reference
    )


def _expression(target: str, text: str, *, matching: int = 0) -> AttributeMapping:
    return AttributeMapping(target, MappingType.EXPRESSION, expression=text, matching=matching)


_SCIM_USER = (
    _direct("userName", "userPrincipalName", matching=1),
    _direct("active", "accountEnabled"),
    _direct("displayName", "displayName"),
    _direct('emails[type eq "work"].value', "mail"),
    _direct("name.givenName", "givenName"),
    _direct("name.familyName", "surname"),
    _direct("externalId", "mailNickname"),
    _direct("title", "jobTitle"),
    _direct('phoneNumbers[type eq "work"].value', "telephoneNumber"),
    _direct('phoneNumbers[type eq "mobile"].value', "mobile"),
    _direct(f"{ENTERPRISE}:employeeNumber", "employeeId"),
    _direct(f"{ENTERPRISE}:department", "department"),
    _direct(f"{ENTERPRISE}:manager", "manager", reference=True),
)
_SCIM_GROUP = (
    _direct("displayName", "displayName", matching=1),
    _direct("externalId", "objectId"),
    _direct("members", "members", reference=True),
)

_LDAP_USER = (
    _direct("uid", "mailNickname", matching=1),
    _direct("mail", "mail", matching=2),
    _expression("cn", "Coalesce([displayName], [userPrincipalName])"),
    _expression("sn", "Coalesce([surname], [mailNickname])"),
    _direct("givenName", "givenName"),
    _direct("displayName", "displayName"),
    _direct("title", "jobTitle"),
    _direct("telephoneNumber", "telephoneNumber"),
    _direct("mobile", "mobile"),
    _direct("employeeNumber", "employeeId"),
    _direct("departmentNumber", "department"),
    _direct("o", "companyName"),
    _direct("l", "city"),
    _direct("street", "streetAddress"),
    _direct("postalCode", "postalCode"),
    _direct("st", "state"),
    _direct("manager", "manager", reference=True),
)
_LDAP_GROUP = (
    _direct("cn", "displayName", matching=1),
    _direct("member", "members", reference=True),
)

_SQL_USER = (
    _direct("user_name", "userPrincipalName", matching=1),
    _direct("email", "mail"),
    _direct("display_name", "displayName"),
    _direct("given_name", "givenName"),
    _direct("family_name", "surname"),
    _direct("department", "department"),
    _direct("title", "jobTitle"),
    _direct("active", "accountEnabled"),
    AttributeMapping("external_id", MappingType.DIRECT, source="objectId", apply=ApplyOn.CREATE),
)
_SQL_GROUP = (
    _direct("name", "displayName", matching=1),
    _direct("members", "members", reference=True),
)

DEFAULTS: Mapping[str, Mapping[str, tuple[AttributeMapping, ...]]] = {
    "scim": {USER: _SCIM_USER, GROUP: _SCIM_GROUP},
    "ldap": {USER: _LDAP_USER, GROUP: _LDAP_GROUP},
    "sql": {USER: _SQL_USER, GROUP: _SQL_GROUP},
}


def default_job(target: str, schemas: Mapping[str, ObjectClassInfo] | None = None) -> JobDefinition:
    """The default mappings of a target type (``scim``, ``ldap`` or ``sql``).

    With ``schemas`` (the connector's object classes by name) the defaults are cut to what
    the target has: object classes it lacks are left out, and so are mappings to attributes
    its schema does not list (a SQL table without a ``title`` column, say). Without, the
    job marks every default mapping optional, so :meth:`JobDefinition.mappers` cuts them
    the same way once the schema is known. Raises :class:`MappingError` for an unknown
    target type.
    """
    per_kind = DEFAULTS.get(target)
    if per_kind is None:
        raise MappingError(
            f"no default mappings for target type {target!r}; the types are {', '.join(DEFAULTS)}"
        )
    objects = []
    for kind, mappings in per_kind.items():
        kept = mappings
        if schemas is not None:
            schema = schemas.get(kind)
            if schema is None:
                continue
            names = {a.name for a in schema.attributes}
            kept = tuple(m for m in mappings if m.target in names)
        objects.append(ObjectMapping(kind=kind, object_class=kind, mappings=kept))
    optional = frozenset((o.kind, m.target) for o in objects for m in o.mappings)
    return JobDefinition(target=target, objects=tuple(objects), optional=optional)
