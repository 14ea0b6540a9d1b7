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
modify requests), ``ldap_adds`` (add requests, written as BER and sent several at a time),
``ldap_requests`` (the other requests the workers send) and ``ldap_errors`` (error
classes).
"""

from __future__ import annotations

import asyncio
import math
import ssl
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from typing import Any, Self

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPNoSuchObjectResult, LDAPOperationResult

from agent.connectors.ldap_adds import Add, add_entries
from agent.connectors.ldap_changes import Membership, Placeholders, plan
from agent.connectors.ldap_errors import classify
from agent.connectors.ldap_filters import compile_filter
from agent.connectors.ldap_paging import PagedSearches
from agent.connectors.ldap_pool import ConnectionPool, unbind_quietly
from agent.connectors.ldap_requests import (
    Kind,
    deprovision,
    encode,
    modify_entry,
    name_in,
    new_entry,
    read_entry,
)
from agent.connectors.ldap_schema import (
    WRITE_ONLY,
    DirectorySchema,
    decode_value,
    read_schema,
)
from agent.connectors.ldap_settings import LdapSettings, Scope
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
    OperationError,
    OperationResult,
    Page,
    Schema,
    SearchResult,
    failed,
    run_operation,
)
from shared.exceptions import ConnectorError, ErrorClass, InvalidDataError, NotFoundError
from shared.settings import Table

#: Attributes never returned: the connector sets the first, and passwords are write-only.
_HIDDEN = frozenset({"objectclass", WRITE_ONLY.lower()})


class LdapConnector(Connector):
    """Users and groups in an LDAP directory."""

    type_name = "ldap"

    def __init__(self, name: str, settings: LdapSettings) -> None:
        self.name = name
        self.settings = settings
        self._kinds = {USER: Kind(USER, settings.user_template, settings.user_object_classes)}
        if settings.group_template is not None:
            placeholder = settings.empty_group_member if settings.dn_members else None
            self._kinds[GROUP] = Kind(
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
        add = new_entry(kind, attributes, found)
        await self._pool.run(partial(add_entries, [add]))
        if add.error is not None:
            raise add.error
        self._created(kind, add)
        return add.dn

    async def update(self, object_class: str, anchor: str, deltas: Sequence[Delta]) -> str:
        kind = self._kind(object_class, anchor)
        found = await self._directory_schema()
        placeholders = self._placeholders_of(kind)
        changes = plan(
            deltas,
            naming_attribute=kind.template.naming_attribute,
            current_name=partial(name_in, kind, anchor),
            encode=partial(encode, found),
            membership=kind.membership,
            may_hold_placeholder=placeholders is not None and placeholders.may_hold(anchor),
        )
        names = [d.attribute for d in deltas]
        refilled, new_dn = await self._pool.run(partial(modify_entry, kind, anchor, changes, names))
        if placeholders is not None:
            placeholders.updated(anchor, new_dn, changes, refilled)
        return new_dn

    async def delete(self, object_class: str, anchor: str) -> None:
        kind = self._kind(object_class, anchor)
        await self._pool.run(partial(deprovision, self.settings, kind, anchor))
        placeholders = self._placeholders_of(kind)
        if placeholders is not None:
            placeholders.deleted(anchor)

    async def get(self, object_class: str, anchor: str) -> ConnectorObject:
        kind = self._kind(object_class, anchor)
        found = await self._directory_schema()
        entry = await self._pool.run(partial(read_entry, kind, anchor))
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
        """Runs of creates are shared among the pool's connections, each sending its share
        several at a time; anything else runs alone, in order. A run ends before a create
        whose DN is already in it."""
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
        return [first, *await self._create_together(run[1:])]

    async def _create_together(self, run: list[Operation]) -> list[OperationResult]:
        """Creates split among the pool's workers, each sending its share on its own
        connection several at a time (:mod:`agent.connectors.ldap_adds`)."""
        try:
            found = await self._directory_schema()
        except ConnectorError as exc:
            return failed(run, OperationError.from_exception(exc))
        results: dict[int, OperationResult] = {}
        adds: list[tuple[int, Kind, Add]] = []
        for i, op in enumerate(run):
            kind = self._kinds[op.object_class]  # a run holds creates of served classes only
            try:
                adds.append((i, kind, new_entry(kind, op.attributes or {}, found)))
            except ConnectorError as exc:
                results[i] = OperationResult(op.key, error=OperationError.from_exception(exc))
        size = self.settings.pool_size
        shares = [[add for _, _, add in adds[k::size]] for k in range(size)]
        await asyncio.gather(*(self._add_share(share) for share in shares if share))
        for i, kind, add in adds:
            if add.error is None:
                self._created(kind, add)
                results[i] = OperationResult(run[i].key, anchor=add.dn)
            else:
                results[i] = OperationResult(
                    run[i].key, error=OperationError.from_exception(add.error)
                )
        return [results[i] for i in range(len(run))]

    async def _add_share(self, adds: list[Add]) -> None:
        """Send ``adds`` on one worker; those the directory did not answer get the error
        that stopped the worker."""
        try:
            await self._pool.run(partial(add_entries, adds))
        except ConnectorError as exc:
            for add in adds:
                if not add.answered:
                    add.answered, add.error = True, exc

    async def close(self) -> None:
        await self._paging.close()
        await self._pool.close()

    def _kind(self, object_class: str, anchor: str | None = None) -> Kind:
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

    def _object(self, kind: Kind, found: DirectorySchema, entry: dict[str, Any]) -> ConnectorObject:
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

    def _created(self, kind: Kind, add: Add) -> None:
        placeholders = self._placeholders_of(kind)
        if placeholders is not None:
            placeholders.created(add.dn, add.entry.get(placeholders.attribute, []))

    def _placeholders_of(self, kind: Kind) -> Placeholders | None:
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


def _no_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def _runs(operations: Sequence[Operation], kinds: Mapping[str, Kind]) -> Iterator[list[Operation]]:
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


def _create_name(op: Operation, kinds: Mapping[str, Kind]) -> tuple[str, str] | None:
    """A create's object class and name, or None for any other operation."""
    kind = kinds.get(op.object_class)
    if op.action is not Action.CREATE or kind is None or op.attributes is None:
        return None
    naming = kind.template.naming_attribute.lower()
    value = next((v for k, v in op.attributes.items() if k.lower() == naming), None)
    return op.object_class, str(value).casefold()
