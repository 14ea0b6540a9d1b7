"""The LDAP connector: users and groups in an LDAP directory (OpenLDAP, 389 DS, AD LDS),
through ldap3.

The anchor is the entry's DN. It is built from a template with the naming attribute's value
escaped (RFC 4514), changes when that value changes (a rename, whose new DN ``update``
returns), and is what group member attributes hold, so adding a member needs no lookup.
entryUUID would survive renames, but every operation would first have to search for the
entry's DN, and member values would have to be translated both ways.

ldap3 blocks, so every request runs in a small pool of worker threads, each owning one
connection (:mod:`agent.connectors.ldap_pool`); paged searches keep a connection of their own
(:mod:`agent.connectors.ldap_paging`). The other modules are named for what they hold:
``ldap_settings``, ``ldap_names`` (DNs and escaping), ``ldap_filters`` (search filters),
``ldap_schema`` (the directory's schema and value conversion), ``ldap_changes`` (deltas as
modify requests) and ``ldap_errors`` (error classes).
"""

from __future__ import annotations

import asyncio
import math
import ssl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Self

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPNoSuchObjectResult, LDAPOperationResult

from agent.connectors.ldap_changes import Membership, Placeholders, Plan, Value, modify, plan
from agent.connectors.ldap_errors import classify, shortened
from agent.connectors.ldap_filters import compile_filter, escape_filter_value
from agent.connectors.ldap_names import (
    DnTemplate,
    Rdn,
    escape_value,
    is_attribute_name,
    join,
    split_first,
)
from agent.connectors.ldap_paging import PagedSearches
from agent.connectors.ldap_pool import ConnectionPool, unbind_quietly
from agent.connectors.ldap_schema import (
    WRITE_ONLY,
    DirectorySchema,
    decode_value,
    encode_value,
    read_schema,
)
from agent.connectors.ldap_settings import Deprovision, LdapSettings, Scope
from shared.connector import (
    GROUP,
    USER,
    Action,
    Attributes,
    AttributeType,
    Connector,
    ConnectorObject,
    Delta,
    Filter,
    Operation,
    OperationResult,
    Page,
    Scalar,
    Schema,
    SearchResult,
    failed,
    run_operation,
)
from shared.exceptions import ErrorClass, InvalidDataError, NotFoundError
from shared.settings import Table

#: Result codes that refuse a DN: invalidDNSyntax, namingViolation.
_DN_REFUSED = frozenset({34, 64})
#: Attributes never returned: the connector sets the first, and passwords are write-only.
_HIDDEN = frozenset({"objectclass", WRITE_ONLY.lower()})


@dataclass(frozen=True, slots=True)
class _Kind:
    """One contract object class as this directory keeps it."""

    name: str
    template: DnTemplate
    object_classes: tuple[str, ...]
    membership: Membership | None = None

    @property
    def class_filter(self) -> str:
        parts = "".join(f"(objectClass={escape_filter_value(c)})" for c in self.object_classes)
        return f"(&{parts})"


class LdapConnector(Connector):
    """Users and groups in an LDAP directory."""

    type_name = "ldap"

    def __init__(self, name: str, settings: LdapSettings) -> None:
        self.name = name
        self.settings = settings
        self._kinds = {USER: _Kind(USER, settings.user_template, settings.user_object_classes)}
        if settings.group_template is not None:
            placeholder = settings.empty_group_member if settings.dn_members else None
            self._kinds[GROUP] = _Kind(
                GROUP,
                settings.group_template,
                settings.group_object_classes,
                Membership(settings.member_attribute, placeholder),
            )
        self._pool = ConnectionPool(
            name=name, size=settings.pool_size, connect=self._connect, classify=classify
        )
        self._paging = PagedSearches(
            self._pool,
            timeout=settings.page_timeout,
            limit=2 * settings.pool_size,
            classify=lambda exc, dn: classify(exc, dn=dn),
        )
        self._schema: DirectorySchema | None = None
        self._schema_lock = asyncio.Lock()
        self._placeholders: Placeholders | None = None
        if settings.group_template is not None and settings.dn_members:
            self._placeholders = Placeholders(
                settings.member_attribute, settings.empty_group_member
            )

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any], *, source: str) -> Self:
        return cls(
            name, LdapSettings.load(Table(settings, source=source, prefix=f"connectors.{name}"))
        )

    async def test(self) -> None:
        """Bind, find the containers, and find the object classes in the schema."""
        await self._pool.run(self._check_containers)
        await self.schema()

    async def schema(self) -> Schema:
        found = await self._directory_schema(refresh=True)
        classes = []
        for kind in self._kinds.values():
            optional = () if kind.membership is None else (kind.membership.attribute,)
            classes.append(
                found.describe(
                    kind.name, kind.object_classes, kind.template.naming_attribute, optional
                )
            )
        return Schema(tuple(classes))

    async def create(self, object_class: str, attributes: Attributes) -> str:
        kind = self._kind(object_class)
        found = await self._directory_schema()
        dn, entry = _entry(kind, attributes, found)
        naming = kind.template.naming_attribute
        await self._pool.run(partial(_add, naming, dn, kind.object_classes, entry))
        placeholders = self._placeholders_of(kind)
        if placeholders is not None:
            placeholders.created(dn, entry.get(placeholders.attribute, []))
        return dn

    async def update(self, object_class: str, anchor: str, deltas: Sequence[Delta]) -> str:
        kind = self._kind(object_class, anchor)
        found = await self._directory_schema()
        placeholders = self._placeholders_of(kind)
        changes = plan(
            deltas,
            naming_attribute=kind.template.naming_attribute,
            current_name=partial(_name_in, kind, anchor),
            encode=partial(_encode, found),
            membership=kind.membership,
            may_hold_placeholder=placeholders is not None and placeholders.may_hold(anchor),
        )
        names = [d.attribute for d in deltas]
        refilled, new_dn = await self._pool.run(partial(_update, kind, anchor, changes, names))
        if placeholders is not None:
            placeholders.updated(anchor, new_dn, changes, refilled)
        return new_dn

    async def delete(self, object_class: str, anchor: str) -> None:
        kind = self._kind(object_class, anchor)
        await self._pool.run(partial(_deprovision, self.settings, kind, anchor))
        placeholders = self._placeholders_of(kind)
        if placeholders is not None:
            placeholders.deleted(anchor)

    async def get(self, object_class: str, anchor: str) -> ConnectorObject:
        kind = self._kind(object_class, anchor)
        found = await self._directory_schema()
        entry = await self._pool.run(partial(_read, kind, anchor))
        return self._object(kind, found, entry)

    async def search(self, object_class: str, flt: Filter | None, page: Page) -> SearchResult:
        kind = self._kind(object_class)
        if page.size < 1:
            raise InvalidDataError(f"a page holds at least one object, not {page.size}")
        text = kind.class_filter if flt is None else f"(&{kind.class_filter}{compile_filter(flt)})"
        found = await self._directory_schema()
        scope = ldap3.SUBTREE if self.settings.search_scope is Scope.SUBTREE else ldap3.LEVEL
        request = (kind.template.container, text, scope, ("*",))
        entries, cookie = await self._paging.page(request, page.size, page.cookie)
        return SearchResult([self._object(kind, found, e) for e in entries], cookie)

    async def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        """Runs of creates go to the pool's connections side by side; anything else runs
        alone, in order. A run ends before a create whose DN is already in it."""
        results: list[OperationResult] = []
        for run in _runs(operations, self._kinds):
            results.extend(await self._run_together(run))
        return results

    async def _run_together(self, run: list[Operation]) -> list[OperationResult]:
        """The first operation alone: if the directory cannot be reached or refuses the
        credentials, the others get the same answer without trying it hundreds of times."""
        first = await run_operation(self, run[0])
        error = first.error
        if error is not None and (
            error.error_class.retryable or error.error_class is ErrorClass.AUTHENTICATION
        ):
            return [first, *failed(run[1:], error)]
        rest = await asyncio.gather(*(run_operation(self, op) for op in run[1:]))
        return [first, *rest]

    async def close(self) -> None:
        await self._paging.close()
        await self._pool.close()

    def _kind(self, object_class: str, anchor: str | None = None) -> _Kind:
        if anchor is not None and _no_utf8(anchor):
            raise InvalidDataError("the anchor is not valid Unicode (a lone surrogate)")
        kind = self._kinds.get(object_class)
        if kind is None:
            served = ", ".join(repr(k) for k in self._kinds)
            raise InvalidDataError(f"object class {object_class!r} is not served; only {served}")
        return kind

    async def _directory_schema(self, *, refresh: bool = False) -> DirectorySchema:
        async with self._schema_lock:
            if self._schema is None or refresh:
                self._schema = await self._pool.run(read_schema)
            return self._schema

    def _check_containers(self, conn: ldap3.Connection) -> None:
        for kind in self._kinds.values():
            container = kind.template.container
            try:
                conn.search(container, "(objectClass=*)", ldap3.BASE, attributes=["1.1"])
            except LDAPNoSuchObjectResult as exc:
                raise NotFoundError(
                    f"the container {container} of the {kind.name} DN template does not exist"
                ) from exc
            except LDAPOperationResult as exc:
                raise classify(exc, dn=container) from exc

    def _object(
        self, kind: _Kind, found: DirectorySchema, entry: dict[str, Any]
    ) -> ConnectorObject:
        attributes: Attributes = {}
        raw: dict[str, list[bytes]] = entry["raw_attributes"]
        placeholders = self._placeholders_of(kind)
        for name, values in raw.items():
            if name.lower() in _HIDDEN:
                continue
            definition = found.attribute(name)
            kept = values
            if placeholders is not None and name.lower() == placeholders.attribute.lower():
                kept = placeholders.without(entry["dn"], values)
            if not kept:
                continue
            if definition is None:
                attributes[name] = [decode_value(v, AttributeType.STRING) for v in kept]
            elif definition.single_value:
                attributes[name] = decode_value(kept[0], definition.type)
            else:
                attributes[name] = [decode_value(v, definition.type) for v in kept]
        return ConnectorObject(entry["dn"], attributes)

    def _placeholders_of(self, kind: _Kind) -> Placeholders | None:
        return self._placeholders if kind.name == GROUP else None

    def _connect(self) -> ldap3.Connection:
        """A new bound connection (blocking: runs in a worker)."""
        settings = self.settings
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED if settings.verify_certificate else ssl.CERT_NONE,
            ca_certs_file=None if settings.ca_file is None else str(settings.ca_file),
        )
        server = ldap3.Server(
            settings.url, get_info=ldap3.NONE, tls=tls, connect_timeout=settings.connect_timeout
        )
        conn = ldap3.Connection(
            server,
            user=settings.bind_dn,
            password=settings.password.reveal(),
            raise_exceptions=True,
            # ldap3 packs it into SO_RCVTIMEO as whole seconds.
            receive_timeout=math.ceil(settings.receive_timeout),
            auto_referrals=False,
            check_names=False,
        )
        try:
            conn.open()
            if settings.start_tls:
                conn.start_tls()
            conn.bind()
        except LDAPException:
            unbind_quietly(conn)
            raise
        return conn


# Work done in the pool's threads ---------------------------------------------------------


def _add(
    naming: str,
    dn: str,
    classes: tuple[str, ...],
    entry: dict[str, list[Value]],
    conn: ldap3.Connection,
) -> None:
    try:
        conn.add(dn, list(classes), entry)
    except LDAPOperationResult as exc:
        error = classify(exc, dn=dn, names=entry)
        if error.attribute is None and exc.result in _DN_REFUSED:
            error.attribute = naming  # the DN is the naming attribute's value and the template
        raise error from exc


def _update(
    kind: _Kind, dn: str, changes: Plan, names: list[str], conn: ldap3.Connection
) -> tuple[bool, str]:
    try:
        refilled = modify(conn, dn, changes.changes, changes.refill)
        if changes.new_name is None:
            return refilled, dn
        naming = kind.template.naming_attribute
        _, parent = _split(dn)
        try:
            conn.modify_dn(dn, f"{naming}={escape_value(changes.new_name)}", delete_old_dn=True)
        except LDAPOperationResult as exc:
            error = classify(exc, dn=dn, names=names)
            if error.attribute is None and exc.result in _DN_REFUSED:
                error.attribute = naming
            raise error from exc
        return refilled, join(Rdn(naming, changes.new_name), parent)
    except LDAPOperationResult as exc:
        raise classify(exc, dn=dn, names=names) from exc


def _deprovision(settings: LdapSettings, kind: _Kind, dn: str, conn: ldap3.Connection) -> None:
    mode = settings.deprovision if kind.name == USER else Deprovision.DELETE
    try:
        if mode is Deprovision.MOVE:
            rdn, _ = _split(dn)
            conn.modify_dn(dn, rdn, delete_old_dn=True, new_superior=settings.disabled_container)
        elif mode is Deprovision.ATTRIBUTE:
            attribute = settings.disabled_attribute or ""
            value = settings.disabled_value or ""
            conn.modify(dn, {attribute: [(ldap3.MODIFY_REPLACE, [value])]})
        else:
            conn.delete(dn)
    except LDAPOperationResult as exc:
        names = [] if mode is not Deprovision.ATTRIBUTE else [settings.disabled_attribute or ""]
        raise classify(exc, dn=dn, names=names) from exc


def _read(kind: _Kind, dn: str, conn: ldap3.Connection) -> dict[str, Any]:
    try:
        conn.search(dn, kind.class_filter, ldap3.BASE, attributes=["*"])
    except LDAPNoSuchObjectResult as exc:
        raise NotFoundError(f"no {kind.name} at {shortened(dn)}") from exc
    except LDAPOperationResult as exc:
        raise classify(exc, dn=dn) from exc
    entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
    if not entries:
        raise NotFoundError(
            f"the entry at {shortened(dn)} is not a {kind.name} ({kind.class_filter})"
        )
    entry: dict[str, Any] = entries[0]
    return entry


# Helpers ---------------------------------------------------------------------------------


def _name_in(kind: _Kind, anchor: str) -> str:
    try:
        return kind.template.rdn_value(anchor)
    except ValueError as exc:
        raise InvalidDataError(f"the anchor {shortened(anchor)!r} is not a DN: {exc}") from exc


def _no_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def _split(dn: str) -> tuple[str, str]:
    try:
        return split_first(dn)
    except ValueError as exc:
        raise InvalidDataError(f"the anchor {shortened(dn)!r} is not a DN: {exc}") from exc


def _encode(found: DirectorySchema, attribute: str, value: Scalar) -> Value:
    definition = found.attribute(attribute)
    kind = AttributeType.STRING if definition is None else definition.type
    return encode_value(attribute, value, kind)


def _entry(
    kind: _Kind, attributes: Attributes, found: DirectorySchema
) -> tuple[str, dict[str, list[Value]]]:
    naming = kind.template.naming_attribute
    entry: dict[str, list[Value]] = {}
    name_value: str | None = None
    for attribute, value in attributes.items():
        if not is_attribute_name(attribute):
            raise InvalidDataError(
                f"{attribute!r} is not an LDAP attribute name", attribute=attribute
            )
        if attribute.lower() == "objectclass":
            raise InvalidDataError(
                "objectClass is set by the connector's settings", attribute=attribute
            )
        values = [v for v in (value if isinstance(value, list) else [value]) if v is not None]
        if attribute.lower() == naming.lower():
            if len(values) != 1 or not isinstance(values[0], str) or not values[0]:
                raise InvalidDataError(
                    f"{attribute} names the object in its DN: it needs exactly one non-empty"
                    " text value",
                    attribute=attribute,
                )
            name_value = values[0]
        if values:
            entry[attribute] = [_encode(found, attribute, v) for v in values]
    if name_value is None:
        raise InvalidDataError(
            f"{naming} is required: it names the object in its DN", attribute=naming
        )
    membership = kind.membership
    if membership is not None and membership.placeholder is not None:
        held = {a.lower() for a in entry}
        if membership.attribute.lower() not in held:
            entry[membership.attribute] = [membership.placeholder]
    return kind.template.dn(name_value), entry


def _runs(operations: Sequence[Operation], kinds: Mapping[str, _Kind]) -> Iterator[list[Operation]]:
    run: list[Operation] = []
    names: set[tuple[str, str]] = set()
    for op in operations:
        name = _create_name(op, kinds)
        if run and (name is None or name in names):
            yield run
            run, names = [], set()
        if name is None:
            yield [op]
        else:
            run.append(op)
            names.add(name)
    if run:
        yield run


def _create_name(op: Operation, kinds: Mapping[str, _Kind]) -> tuple[str, str] | None:
    """A create's object class and name, or None for any other operation."""
    kind = kinds.get(op.object_class)
    if op.action is not Action.CREATE or kind is None or op.attributes is None:
        return None
    naming = kind.template.naming_attribute.lower()
    value = next((v for k, v in op.attributes.items() if k.lower() == naming), None)
    return op.object_class, str(value).casefold()
