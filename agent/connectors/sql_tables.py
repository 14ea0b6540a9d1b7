"""The table mode: users in one table, and optionally groups in another with a membership
table between them.

Each operation is one transaction. Creates of users in a batch that share their attribute
names go in multi-row INSERTs, also when the database generates their keys, where its
driver returns the inserted rows (PostgreSQL, MariaDB 10.5 and later). A group's members
are rows of the membership table: ``get`` of one group reads them, ``search`` does not (a
page of groups of 10,000 members each would be millions of rows), and a membership change
is one INSERT or DELETE of the members named.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, KeysView, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from typing import Any

import pyodbc
import structlog

from agent.connectors.sql_columns import Column, anchor_of, column_params, param
from agent.connectors.sql_filters import where_clause
from agent.connectors.sql_members import MembershipTable
from agent.connectors.sql_mode import RunOne, SqlMode
from agent.connectors.sql_pool import ConnectionPool
from agent.connectors.sql_settings import SqlSettings
from agent.connectors.sql_table import (
    ObjectTable,
    Set,
    catalogue_column,
    catalogue_columns,
    decode_cookie,
    describe_table,
    length_limits,
)
from agent.connectors.sql_updates import plan
from shared.connector import (
    GROUP,
    USER,
    Action,
    AttributeInfo,
    Attributes,
    AttributeType,
    ConnectorObject,
    Delta,
    DeltaKind,
    Filter,
    Operation,
    OperationError,
    OperationResult,
    Page,
    Schema,
    SearchResult,
    failed,
)
from shared.exceptions import AuthenticationError, ConnectorError, ErrorClass, InvalidDataError

log = structlog.get_logger("agent.connectors.sql")

#: Rows per multi-row INSERT: the batch size measured fastest on PostgreSQL (DESIGN.md).
BATCH_ROWS = 500


@dataclass(frozen=True, slots=True)
class _Bulk:
    """Creates going in multi-row INSERTs, with their checked values in column order."""

    operations: list[Operation]
    columns: list[Column]
    rows: list[tuple[Any, ...]]
    #: Each row's anchor: its key's value; None where the database generates the keys, and
    #: the rows are told apart by their naming values (distinct within the run).
    anchors: list[str] | None


@dataclass(frozen=True, slots=True)
class Tables:
    users: ObjectTable
    groups: ObjectTable | None = None
    members: MembershipTable | None = None
    #: The driver returns every row of a multi-row INSERT ... RETURNING, so creates
    #: without a key can share one.
    returning: bool = False


def describe(settings: SqlSettings, cursor: pyodbc.Cursor) -> Tables:
    """The configured tables, as the catalogue describes them."""
    dialect = settings.dialect
    users = describe_table(
        dialect,
        object_class=USER,
        table=settings.users_table,
        schema_name=settings.schema_name,
        key_column=settings.key_column,
        naming_column=settings.naming_column,
        columns=settings.columns,
        cursor=cursor,
    )
    returning = dialect.returns_inserted_rows(cursor)
    if settings.groups_table is None:
        return Tables(users, returning=returning)
    groups = describe_table(
        dialect,
        object_class=GROUP,
        table=settings.groups_table,
        schema_name=settings.schema_name,
        key_column=settings.group_key_column,
        naming_column=settings.group_naming_column,
        columns=settings.group_columns,
        cursor=cursor,
    )
    found = catalogue_columns(dialect, settings.members_table, settings.schema_name, cursor)
    limits = length_limits(dialect, settings.members_table, settings.schema_name, cursor)
    member = settings.member_attribute
    members = MembershipTable(
        dialect=dialect,
        sql=dialect.table(settings.members_table, settings.schema_name),
        group=catalogue_column(
            dialect, found, limits, settings.members_table, member, settings.members_group_column
        ),
        member=catalogue_column(
            dialect, found, limits, settings.members_table, member, settings.members_member_column
        ),
    )
    return Tables(users, groups, members, returning)


class TableMode(SqlMode):
    def __init__(self, settings: SqlSettings, pool: ConnectionPool) -> None:
        self.settings = settings
        self._pool = pool
        self._tables: Tables | None = None

    async def check(self) -> None:
        await self._described(refresh=True)

    async def schema(self) -> Schema:
        tables = await self._described(refresh=True)
        if tables.groups is None:
            return Schema((tables.users.object_class(),))
        members = AttributeInfo(
            self.settings.member_attribute,
            AttributeType.REFERENCE,
            multi_valued=True,
            returned_by_default=False,  # search leaves members out; get reads them
        )
        return Schema((tables.users.object_class(), tables.groups.object_class(members)))

    async def create(self, object_class: str, attributes: Attributes) -> str:
        tables = await self._described()
        table = self._table(tables, object_class)
        if object_class != GROUP:
            return await self._pool.run(partial(table.insert_one, table.row(attributes)))
        columns = dict(attributes)
        listed = columns.pop(self.settings.member_attribute, None)
        row = table.row(columns)
        membership = self._membership(tables)
        added = membership.members(listed if isinstance(listed, list) else [listed])

        def create_group(cursor: pyodbc.Cursor) -> str:
            anchor = table.insert_one(row, cursor)
            membership.add(table.key_param(anchor), added, cursor)
            return anchor

        return await self._pool.run(create_group)

    async def update(self, object_class: str, anchor: str, deltas: Sequence[Delta]) -> str:
        tables = await self._described()
        table = self._table(tables, object_class)
        key = table.key_param(anchor)
        member = self.settings.member_attribute if object_class == GROUP else None
        changes = plan(table, [d for d in deltas if d.attribute != member])
        new_key = changes.get(table.key)
        new_anchor = anchor_of(new_key.value) if isinstance(new_key, Set) else anchor
        member_deltas = [d for d in deltas if d.attribute == member]
        if not member_deltas:
            await self._pool.run(partial(table.update, key, anchor, changes))
            return new_anchor
        membership = self._membership(tables)
        steps = [(d.kind, membership.members(d.values)) for d in member_deltas]
        group_key = table.key_param(new_anchor)

        def update_group(cursor: pyodbc.Cursor) -> None:
            table.update(key, anchor, changes, cursor)
            for kind, members in steps:
                if kind in (DeltaKind.REPLACE, DeltaKind.CLEAR):
                    membership.clear_group(group_key, cursor)
                if kind is DeltaKind.REMOVE:
                    membership.remove(group_key, members, cursor)
                elif kind is not DeltaKind.CLEAR:
                    membership.add(group_key, members, cursor)

        await self._pool.run(update_group)
        return new_anchor

    async def delete(self, object_class: str, anchor: str) -> None:
        tables = await self._described()
        table = self._table(tables, object_class)
        key = table.key_param(anchor)
        membership = tables.members

        def delete(cursor: pyodbc.Cursor) -> None:
            # A deleted user leaves its groups, and a deleted group its members, in the same
            # transaction: no membership row outlives either end.
            if membership is not None:
                if object_class == GROUP:
                    membership.clear_group(key, cursor)
                else:
                    membership.clear_member(key, cursor)
            table.delete(key, anchor, cursor)

        await self._pool.run(delete)

    async def get(self, object_class: str, anchor: str) -> ConnectorObject:
        tables = await self._described()
        table = self._table(tables, object_class)
        key = table.key_param(anchor)
        if object_class != GROUP:
            return await self._pool.run(partial(table.get, key, anchor))
        membership = self._membership(tables)
        member = self.settings.member_attribute

        def get_group(cursor: pyodbc.Cursor) -> ConnectorObject:
            found = table.get(key, anchor, cursor)
            members: list[Any] = list(membership.read(key, cursor))
            return ConnectorObject(found.anchor, {**found.attributes, member: members})

        return await self._pool.run(get_group)

    async def search(self, object_class: str, flt: Filter | None, page: Page) -> SearchResult:
        table = self._table(await self._described(), object_class)
        if page.size < 1:
            raise InvalidDataError(f"a page holds at least one object, not {page.size}")
        params: list[Any] = []
        where = where_clause(table, flt, params)
        if page.cookie is not None:
            where = f"({where}) AND {table.key.sql} > ?"
            params.append(param(table.key, decode_cookie(page.cookie)))
        return await self._pool.run(partial(table.page, where, params, page.size))

    async def apply(
        self, operations: Sequence[Operation], run_one: RunOne
    ) -> list[OperationResult]:
        """Creates of users in a row that share their attribute names go in multi-row
        INSERTs; every other operation runs alone."""
        try:
            tables = await self._described()
        except ConnectorError as exc:
            return failed(operations, OperationError.from_exception(exc))
        users = tables.users
        results: list[OperationResult] = []
        for item in _bulk_groups(users, operations, returning=tables.returning):
            if isinstance(item, Operation):
                results.append(await run_one(item))
            else:
                results.extend(await self._create_many(users, item, run_one))
        return results

    def column_attributes(self) -> Mapping[str, str]:
        tables = self._tables
        if tables is None:
            return {}
        found = {c.name: c.attribute for c in tables.users.columns}
        if tables.groups is not None:
            for column in tables.groups.columns:
                found.setdefault(column.name, column.attribute)
        if tables.members is not None:
            for column in (tables.members.group, tables.members.member):
                found.setdefault(column.name, column.attribute)
        return found

    async def _create_many(
        self, table: ObjectTable, bulk: _Bulk, run_one: RunOne
    ) -> list[OperationResult]:
        columns = [c.sql for c in bulk.columns]
        size = max(1, min(BATCH_ROWS, table.dialect.max_parameters // len(columns)))
        results: list[OperationResult] = []
        for start in range(0, len(bulk.rows), size):
            operations = bulk.operations[start : start + size]
            rows = bulk.rows[start : start + size]
            try:
                if bulk.anchors is None:
                    naming = bulk.columns.index(table.naming)
                    anchors = await self._pool.run(
                        partial(table.insert_generating_keys, columns, rows, naming)
                    )
                    keys = [op.key for op in operations]
                    results.extend(map(OperationResult, keys, repeat(None), anchors))
                else:
                    written = _Written(operations, bulk.anchors[start : start + size])
                    await self._pool.run(partial(table.insert_many, columns, rows, written.soon()))
                    results.extend(written.results)
            except ConnectorError as exc:
                if exc.error_class.retryable or isinstance(exc, AuthenticationError):
                    results.extend(failed(operations, OperationError.from_exception(exc)))
                    continue
                if exc.error_class is ErrorClass.INTERNAL:
                    # Not a refused row (those are expected): the batch path itself failed.
                    log.warning("SQL batch create refused; creating one by one", error=str(exc))
                # Row by row, so one conflicting or refused row fails alone.
                results.extend([await run_one(op) for op in operations])
        return results

    def _table(self, tables: Tables, object_class: str) -> ObjectTable:
        if object_class == USER:
            return tables.users
        if object_class == GROUP and tables.groups is not None:
            return tables.groups
        if object_class == GROUP:
            raise InvalidDataError(
                "object class 'group' is not served: set groups_table (and the membership"
                " table's settings) in the connector's settings"
            )
        raise InvalidDataError(f"object class {object_class!r} is not served; only user, group")

    @staticmethod
    def _membership(tables: Tables) -> MembershipTable:
        assert tables.members is not None  # described with the groups table
        return tables.members

    async def _described(self, *, refresh: bool = False) -> Tables:
        if self._tables is None or refresh:
            self._tables = await self._pool.run(partial(describe, self.settings))
        return self._tables


class _Written:
    """The results of a multi-row INSERT's creates, made in the event loop while the
    database writes the rows (the driver lets go of the interpreter lock meanwhile): at
    thousands of rows, making them is a good part of the batch's own cost. They count
    only once the rows are committed."""

    def __init__(self, operations: list[Operation], anchors: list[str]) -> None:
        self._operations = operations
        self._anchors = anchors
        self.results: list[OperationResult] = []

    def soon(self) -> Callable[[], object]:
        """What the worker thread calls as it sends the rows: it has the event loop make
        the results, before it learns that the unit of work ended (the loop runs the
        worker's callbacks in the order they came)."""
        return partial(asyncio.get_running_loop().call_soon_threadsafe, self._make)

    def _make(self) -> None:
        # By position: keywords double the cost of a result.
        self.results = list(
            map(
                OperationResult,
                [op.key for op in self._operations],
                repeat(None),
                self._anchors,
            )
        )


def _bulk_groups(
    table: ObjectTable, operations: Sequence[Operation], *, returning: bool
) -> Iterator[Operation | _Bulk]:
    """Runs of creates that can share multi-row INSERTs; every other operation alone.
    ``returning``: the database returns the rows of a multi-row INSERT, so creates without
    a key can share one too."""
    run: list[Operation] = []
    attributes: list[Attributes] = []
    names: KeysView[str] | None = None
    create = Action.CREATE
    for op in operations:
        found = op.attributes
        if op.action is not create or op.object_class != USER or not found:
            yield from _checked(table, run, attributes, returning)
            run, attributes, names = [], [], None
            yield op
        elif found.keys() == names:
            run.append(op)
            attributes.append(found)
        else:
            yield from _checked(table, run, attributes, returning)
            run, attributes, names = [op], [found], found.keys()
    yield from _checked(table, run, attributes, returning)


def _checked(
    table: ObjectTable, run: list[Operation], attributes: list[Attributes], returning: bool
) -> Iterator[Operation | _Bulk]:
    """A run of creates naming the same attributes, checked column by column; a create
    with a refused value runs alone (where it fails with its own error), splitting the run.

    Without their key, creates share an INSERT only where it returns the generated keys
    (``returning``) with their naming values, by which the rows are told apart: a create
    whose naming value is null or repeats an earlier one in the run runs alone, after the
    rows before it, as it would have one at a time. A create with a null key among
    creates with keys runs alone too, and gets its generated key there."""
    if len(run) < 2:
        yield from run
        return
    names = list(attributes[0])
    try:
        columns = [table.column(name) for name in names]
    except InvalidDataError:
        yield from run
        return
    generated = table.key not in columns
    if generated and not (returning and table.naming in columns):
        yield from run
        return
    alone: set[int] = set()
    checked: list[list[Any]] = []
    for name, column in zip(names, columns, strict=True):
        values, refused = column_params(column, [found[name] for found in attributes])
        alone.update(refused)
        checked.append(values)
    anchors: list[str] | None
    if generated:
        anchors = None
        alone.update(_unmatchable(checked[columns.index(table.naming)], alone))
    else:
        keys = checked[columns.index(table.key)]
        if set(map(type, keys)) == {str}:
            anchors = keys
        else:
            alone.update(i for i, value in enumerate(keys) if value is None)
            anchors = [anchor_of(value) for value in keys]
    rows = list(zip(*checked, strict=True))
    start = 0
    for end in [*sorted(alone), len(run)]:
        if end - start == 1:
            yield run[start]
        elif end > start:
            part = None if anchors is None else anchors[start:end]
            yield _Bulk(run[start:end], columns, rows[start:end], part)
        if end < len(run):
            yield run[end]
        start = end + 1


def _unmatchable(names: list[Any], refused: set[int]) -> list[int]:
    """Positions of naming values no returned row could be matched to: null, or equal to
    an earlier one (``refused`` values are skipped: they may not even be hashable)."""
    seen: set[Any] = set()
    found: list[int] = []
    for position, name in enumerate(names):
        if position in refused:
            continue
        if name is None or name in seen:
            found.append(position)
        else:
            seen.add(name)
    return found
