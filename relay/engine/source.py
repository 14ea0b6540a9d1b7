"""Directory users and groups as expressions and scoping filters read them.

The directory keeps SCIM 2.0 resources (RFC 7643). Mappings copied from Entra ID name
attributes the Entra way (``[surname]``, ``[userPrincipalName]``, ``[mail]``), so a reference
is either a SCIM path or an Entra ID source attribute name; :data:`ENTRA_ATTRIBUTES` is the
translation table, and ``docs/mappings.md`` ("Source attributes") prints it.

A reference's text is compiled once into a small function (and cached), because a cycle
resolves the same few references for every object in the directory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeAlias

from relay.engine.exceptions import ExpressionSyntaxError
from relay.engine.scim_paths import compile_path, field, is_mapping, present

Value: TypeAlias = "str | int | float | bool | list[Value] | dict[str, Value] | None"
"""What an attribute or an expression yields; multi-valued attributes give lists."""

Resolver: TypeAlias = Callable[["Source"], Value]

ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ENTRA_USER = "urn:ietf:params:scim:schemas:extension:Microsoft:Entra:2.0:User"
ENTRA_GROUP = "urn:ietf:params:scim:schemas:extension:Microsoft:Entra:2.0:Group"
ENTRA_ATTRIBUTES: dict[str, str] = {
    "userPrincipalName": "userName",
    "givenName": "name.givenName",
    "surname": "name.familyName",
    "displayName": "displayName",
    "jobTitle": "title",
    "accountEnabled": "active",
    "objectId": "id",
    "id": "id",
    "employeeType": "userType",
    "preferredLanguage": "preferredLanguage",
    "otherMails": 'emails[type eq "other"].value',
    "imAddresses": 'ims[type eq "work"].value',
    "telephoneNumber": 'phoneNumbers[type eq "work"].value',
    "businessPhones": 'phoneNumbers[type eq "work"].value',
    "mobile": 'phoneNumbers[type eq "mobile"].value',
    "mobilePhone": 'phoneNumbers[type eq "mobile"].value',
    "facsimileTelephoneNumber": 'phoneNumbers[type eq "fax"].value',
    "faxNumber": 'phoneNumbers[type eq "fax"].value',
    "streetAddress": 'addresses[type eq "work"].streetAddress',
    "city": 'addresses[type eq "work"].locality',
    "state": 'addresses[type eq "work"].region',
    "postalCode": 'addresses[type eq "work"].postalCode',
    "country": 'addresses[type eq "work"].country',
    "department": f"{ENTERPRISE_USER}:department",
    "employeeId": f"{ENTERPRISE_USER}:employeeNumber",
    "companyName": f"{ENTERPRISE_USER}:organization",
    "division": f"{ENTERPRISE_USER}:division",
    "costCenter": f"{ENTERPRISE_USER}:costCenter",
    "manager": f"{ENTERPRISE_USER}:manager.value",
    "physicalDeliveryOfficeName": f"{ENTRA_USER}:officeLocation",
    "officeLocation": f"{ENTRA_USER}:officeLocation",
    "userType": f"{ENTRA_USER}:userType",
    "usageLocation": f"{ENTRA_USER}:usageLocation",
    "employeeHireDate": f"{ENTRA_USER}:employeeHireDate",
    "employeeLeaveDateTime": f"{ENTRA_USER}:employeeLeaveDateTime",
    "onPremisesSamAccountName": f"{ENTRA_USER}:onPremisesSAMAccountName",
    "onPremisesImmutableId": f"{ENTRA_USER}:onPremisesImmutableId",
    "onPremisesDistinguishedName": f"{ENTRA_USER}:onPremisesDistinguishedName",
    **{
        f"extensionAttribute{n}": (
            f"{ENTRA_USER}:onPremisesExtensionAttributes.extensionAttribute{n}"
        )
        for n in range(1, 16)
    },
    "members": "members.value",
}
"""Entra ID source attribute name -> SCIM path in Hatchway's directory.

The paths are the ones Microsoft's "Microsoft Entra ID SCIM API schema" page gives for the
same attributes (core, enterprise and ``Microsoft:Entra:2.0:User`` extension). Names outside
the table, and names whose path into the Entra extension gives nothing, are looked up as
attributes of their own: at the top level of the resource or in any extension schema its
"schemas" lists (``extensionAttribute1`` kept at the top level, ``proxyAddresses`` or
``description`` in the Entra extensions, an organisation's own custom attributes).
"""

COMPUTED_ATTRIBUTES: dict[str, str] = {
    "mail": 'emails[type eq "work" and primary eq true].value, else the primary email\'s, '
    "else the work email's, else the first email's value",
    "mailNickname": "the resource's mailNickname (at the top level or in the Entra extension), "
    "else the local part of userName",
    "IsSoftDeleted": "True when active is False (out-of-scope objects are the engine's concern)",
    "appRoleAssignments": "the role values of the object's app role assignments in this job",
}
"""Entra ID names computed from several SCIM attributes, for the docs."""


@dataclass(frozen=True, slots=True)
class AppRoleAssignment:
    """An assignment of a user or group to a job's app, with the role it was given."""

    role: str
    display_name: str = ""
    id: str = ""


class Source:
    """A directory user or group as expressions and scoping filters read it.

    ``groups`` are the display names (or ids) of the groups the object belongs to, for
    scoping on membership; ``app_roles`` are its assignments to the job's app, which
    ``AppRoleAssignmentsComplex`` and ``SingleAppRoleAssignment`` read.
    """

    __slots__ = ("app_roles", "groups", "kind", "resource")

    def __init__(
        self,
        resource: Mapping[str, Any],
        *,
        kind: str = "user",
        app_roles: Sequence[AppRoleAssignment] = (),
        groups: Sequence[str] = (),
    ) -> None:
        self.resource = resource
        self.kind = kind
        self.app_roles = app_roles
        self.groups = groups

    def get(self, reference: str) -> Value:
        """Resolve a reference (the text inside ``[ ]``); ``None`` when absent.

        Raises :class:`ExpressionSyntaxError` when the reference is not a valid path.
        """
        return compile_reference(reference)(self)

    def __repr__(self) -> str:
        return f"Source(kind={self.kind!r}, id={self.resource.get('id')!r})"


@lru_cache(maxsize=4096)
def compile_reference(reference: str) -> Resolver:
    """Compile a reference's text into a function of a :class:`Source`, once per text.

    Raises :class:`ExpressionSyntaxError` with a position inside ``reference``.
    """
    text = reference.strip()
    if not text:
        raise ExpressionSyntaxError(0, "an attribute name", "an empty reference")
    computed = _COMPUTED.get(text.casefold())
    if computed is not None:
        return computed
    mapped = _ENTRA_FOLDED.get(text.casefold())
    if mapped is not None:
        if mapped.startswith(ENTRA_USER):
            return _first_of(compile_path(mapped), _custom_attribute(text))
        return compile_path(mapped)
    resolver = compile_path(reference)
    if "." in text or "[" in text or text.lower().startswith("urn:"):
        return resolver
    return _custom_attribute(text)


_ENTRA_FOLDED = {name.casefold(): path for name, path in ENTRA_ATTRIBUTES.items()}


def _custom_attribute(name: str) -> Resolver:
    def resolve(source: Source) -> Value:
        resource = source.resource
        value = field(resource, name)
        if value is None:
            # Extension attributes live under their schema's URN, which "schemas" lists.
            schemas = resource.get("schemas")
            for urn in schemas if schemas.__class__ is list else ():
                extension = resource.get(urn)
                if extension is not None and is_mapping(extension):
                    value = field(extension, name)
                    if value is not None:
                        break
        return present(value)

    return resolve


_ENTRA_MAIL_NICKNAME = {
    "user": compile_path(f"{ENTRA_USER}:mailNickname"),
    "group": compile_path(f"{ENTRA_GROUP}:mailNickname"),
}


def _first_of(first: Resolver, second: Resolver) -> Resolver:
    def resolve(source: Source) -> Value:
        value = first(source)
        return second(source) if value is None else value

    return resolve


def _mail(source: Source) -> Value:
    emails = field(source.resource, "emails")
    if emails.__class__ is not list or not emails:
        return None
    chosen, rank = emails[0], 0
    for email in emails:
        if is_mapping(email):
            primary, work = email.get("primary") is True, email.get("type") == "work"
            better = 3 if primary and work else 2 if primary else 1 if work else 0
            if better > rank:
                chosen, rank = email, better
                if rank == 3:
                    break
    return present(chosen.get("value") if is_mapping(chosen) else chosen)


def _mail_nickname(source: Source) -> Value:
    resource = source.resource
    extension = _ENTRA_MAIL_NICKNAME.get(source.kind)
    own = present(resource.get("mailNickname"))
    if own is None and extension is not None:
        own = extension(source)
    if own is not None:
        return own
    user_name = field(resource, "userName")
    if not isinstance(user_name, str) or not user_name:
        return None
    return user_name.split("@", 1)[0] or None


def _is_soft_deleted(source: Source) -> Value:
    return field(source.resource, "active") is False


def _app_role_assignments(source: Source) -> Value:
    return [assignment.role for assignment in source.app_roles] or None


_COMPUTED: dict[str, Resolver] = {
    "mail": _mail,
    "mailnickname": _mail_nickname,
    "issoftdeleted": _is_soft_deleted,
    "approleassignments": _app_role_assignments,
}
