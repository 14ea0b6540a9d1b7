"""Deltas as LDAP modify requests, and running them.

Adding and removing values are per-value modifications (MODIFY_ADD, MODIFY_DELETE of just
the given values), so a group's member list is never read, however large. Adding a value that
is there or removing one that is not is no error: when the directory answers
attributeOrValueExists or noSuchAttribute, the request is redone change by change and value
by value, and those two answers are taken as "already so" for a single value.

Groups whose class requires a member (groupOfNames, groupOfUniqueNames) get a placeholder
member when their last member goes, in the same request, and lose it when a member comes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import ldap3
from ldap3.core.exceptions import (
    LDAPAttributeOrValueExistsResult,
    LDAPNoSuchAttributeResult,
    LDAPObjectClassViolationResult,
)

from agent.connectors.ldap_errors import attribute_in
from agent.connectors.ldap_names import DnKey, dn_key, is_attribute_name
from shared.connector import Delta, DeltaKind, Scalar
from shared.exceptions import InvalidDataError

Value = str | bytes


@dataclass(frozen=True, slots=True)
class Change:
    attribute: str
    operation: str  # ldap3.MODIFY_ADD, MODIFY_DELETE or MODIFY_REPLACE
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Membership:
    """How a group class keeps members: which attribute, and the placeholder member of a
    class that requires one (``None`` for posixGroup)."""

    attribute: str
    placeholder: str | None


@dataclass(frozen=True, slots=True)
class Plan:
    changes: tuple[Change, ...]
    #: The naming attribute's new value, when the object is to be renamed.
    new_name: str | None
    #: The placeholder member to add if the changes would leave the group empty.
    refill: Change | None


def plan(
    deltas: Sequence[Delta],
    *,
    naming_attribute: str,
    current_name: Callable[[], str],
    encode: Callable[[str, Scalar], Value],
    membership: Membership | None,
    may_hold_placeholder: bool,
) -> Plan:
    changes: list[Change] = []
    new_name: str | None = None
    members = membership.attribute.lower() if membership is not None else None
    placeholder = membership.placeholder if membership is not None else None
    for delta in deltas:
        name = delta.attribute
        if not is_attribute_name(name):
            raise InvalidDataError(f"{name!r} is not an LDAP attribute name", attribute=name)
        if name.lower() == "objectclass":
            raise InvalidDataError("objectClass is set by the connector's settings", attribute=name)
        values = tuple(encode(name, v) for v in delta.values if v is not None)
        if name.lower() == naming_attribute.lower():
            new_name = _rename(delta, current_name())
            continue
        filling = placeholder is not None and name.lower() == members
        match delta.kind:
            case DeltaKind.ADD if values:
                changes.append(Change(name, ldap3.MODIFY_ADD, values))
                if filling and may_hold_placeholder:
                    changes.append(Change(name, ldap3.MODIFY_DELETE, (placeholder or "",)))
            case DeltaKind.REMOVE if values:
                # Never an empty MODIFY_DELETE: to LDAP that means "remove every value".
                changes.append(Change(name, ldap3.MODIFY_DELETE, values))
            case DeltaKind.REPLACE | DeltaKind.CLEAR:
                kept = values if delta.kind is DeltaKind.REPLACE else ()
                if filling and not kept:
                    kept = (placeholder or "",)
                changes.append(Change(name, ldap3.MODIFY_REPLACE, kept))
    refill = None
    if placeholder is not None and membership is not None:
        refill = Change(membership.attribute, ldap3.MODIFY_ADD, (placeholder,))
    return Plan(tuple(changes), new_name, refill)


def _rename(delta: Delta, current: str) -> str | None:
    values = [v for v in delta.values if v is not None]
    if (
        delta.kind is not DeltaKind.REPLACE
        or len(values) != 1
        or not isinstance(values[0], str)
        or not values[0]
    ):
        raise InvalidDataError(
            f"{delta.attribute} names the object (it is in its DN): it can only be replaced"
            " with one non-empty text value, which renames the object",
            attribute=delta.attribute,
        )
    new = values[0]
    return None if new == current else new


def modify(
    conn: ldap3.Connection, dn: str, changes: Sequence[Change], refill: Change | None
) -> bool:
    """Apply ``changes`` to ``dn``; True if the placeholder member had to be added."""
    if not changes:
        return False
    try:
        conn.modify(dn, _request(changes))
    except LDAPObjectClassViolationResult as exc:
        said = exc.message or ""
        if refill is None or attribute_in(said, [refill.attribute]) != refill.attribute:
            raise
        modify(conn, dn, [*changes, refill], None)
        return True
    except (LDAPAttributeOrValueExistsResult, LDAPNoSuchAttributeResult) as exc:
        split = list(_one_by_one(changes))
        if len(split) > 1:
            return any([modify(conn, dn, [change], refill) for change in split])
        if _already_so(split[0], exc):
            return False
        raise
    return False


def _already_so(change: Change, exc: Exception) -> bool:
    if len(change.values) != 1:
        return False
    if change.operation == ldap3.MODIFY_ADD:
        return isinstance(exc, LDAPAttributeOrValueExistsResult)
    if change.operation == ldap3.MODIFY_DELETE:
        return isinstance(exc, LDAPNoSuchAttributeResult)
    return False


def _one_by_one(changes: Iterable[Change]) -> Iterable[Change]:
    for change in changes:
        if change.operation == ldap3.MODIFY_REPLACE or len(change.values) <= 1:
            yield change
        else:
            for value in change.values:
                yield Change(change.attribute, change.operation, (value,))


def _request(changes: Iterable[Change]) -> dict[str, list[tuple[str, list[Value]]]]:
    out: dict[str, list[tuple[str, list[Value]]]] = {}
    for change in changes:
        out.setdefault(change.attribute, []).append((change.operation, list(change.values)))
    return out


class Placeholders:
    """The groups that may hold the placeholder member, so that the next member added
    removes it in the same request (an add cannot ask "only if present" without a read).

    This process remembers the groups it wrote the placeholder into, and those a read
    showed it in; a placeholder written elsewhere stays beside new members until a read
    shows it. Reads never return it either way.
    """

    def __init__(self, attribute: str, placeholder: str) -> None:
        self.attribute = attribute
        self.placeholder = placeholder
        self._key = dn_key(placeholder)
        self._groups: set[DnKey] = set()

    def may_hold(self, dn: str) -> bool:
        return _key(dn) in self._groups

    def created(self, dn: str, members: Sequence[Value]) -> None:
        if list(members) == [self.placeholder]:
            self._note(dn, True)

    def updated(self, dn: str, new_dn: str, changes: Plan, refilled: bool) -> None:
        holds = self.may_hold(dn)
        for change in changes.changes:
            if change.attribute.lower() != self.attribute.lower():
                continue
            if change.operation == ldap3.MODIFY_REPLACE:
                holds = change.values == (self.placeholder,)
            elif change.operation == ldap3.MODIFY_ADD:
                holds = False
        self._note(dn, False)
        self._note(new_dn, holds or refilled)

    def deleted(self, dn: str) -> None:
        self._note(dn, False)

    def without(self, dn: str, values: list[bytes]) -> list[bytes]:
        """The member values of ``dn`` as read, less the placeholder."""
        kept = [v for v in values if not self._is_placeholder(v)]
        if len(kept) != len(values):
            self._note(dn, True)
        return kept

    def _is_placeholder(self, raw: bytes) -> bool:
        try:
            return dn_key(raw.decode()) == self._key
        except (UnicodeDecodeError, ValueError):
            return False

    def _note(self, dn: str, holds: bool) -> None:
        key = _key(dn)
        if key is None:
            return
        if holds:
            self._groups.add(key)
        else:
            self._groups.discard(key)


def _key(dn: str) -> DnKey | None:
    """The DN's comparison key, or None for text that is no DN (the directory says so)."""
    try:
        return dn_key(dn)
    except ValueError:
        return None
