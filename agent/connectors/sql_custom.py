"""The custom SQL and stored-procedure modes: objects read and written by named statements.

The administrator's statements (or the calls made from procedure names) take their values
as ``?`` parameters bound by name (:mod:`agent.connectors.sql_statements`). An update reads
the object, applies the deltas to it and hands the whole new state to the ``update``
statement, in one transaction. A search reads pages from ``read_page`` in anchor order and
applies the filter here, so the statements stay simple; the page cookie is the last anchor
returned. Membership changes run ``add_member`` or ``remove_member`` once per member named,
never reading the member list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, assert_never

import pyodbc

from agent.connectors.sql_columns import Column, anchor_of, param, wire
from agent.connectors.sql_mode import SqlMode
from agent.connectors.sql_pool import ConnectionPool
from agent.connectors.sql_statements import ClassStatements, NamedStatement
from agent.connectors.sql_table import decode_cookie, encode_cookie
from shared.connector import (
    GROUP,
    And,
    AttributeInfo,
    Attributes,
    AttributeType,
    ConnectorObject,
    Delta,
    DeltaKind,
    Equals,
    Filter,
    Not,
    ObjectClassInfo,
    Or,
    Page,
    Present,
    Scalar,
    Schema,
    SearchResult,
    StartsWith,
)
from shared.exceptions import ConnectorError, InvalidDataError, NotFoundError


class StatementMode(SqlMode):
    def __init__(self, statements: Mapping[str, ClassStatements], pool: ConnectionPool) -> None:
        self._classes = statements
        self._pool = pool

    async def check(self) -> None:
        """Read one page of each class: that runs the statements most likely to be wrong."""
        for statements in self._classes.values():
            await self._pool.run(partial(_read_page, statements, None, 1))

    async def schema(self) -> Schema:
        classes: list[ObjectClassInfo] = []
        for statements in self._classes.values():
            attributes = [
                AttributeInfo(
                    name,
                    unique=name in (statements.anchor_attribute, statements.naming_attribute),
                )
                for name in statements.attributes
            ]
            if statements.member_attribute is not None:
                attributes.append(
                    AttributeInfo(
                        statements.member_attribute,
                        AttributeType.REFERENCE,
                        multi_valued=True,
                        returned_by_default=False,  # only get reads the member list
                    )
                )
            classes.append(
                ObjectClassInfo(
                    statements.object_class, statements.naming_attribute, tuple(attributes)
                )
            )
        return Schema(tuple(classes))

    async def create(self, object_class: str, attributes: Attributes) -> str:
        statements = self._statements(object_class)
        values = dict(attributes)
        members: list[Any] = []
        if statements.member_attribute is not None:
            listed = values.pop(statements.member_attribute, None)
            members = _members(statements, listed if isinstance(listed, list) else [listed])
        row = _row(statements, values)

        def create(cursor: pyodbc.Cursor) -> str:
            cursor.execute(statements.create.sql, *statements.create.bind(row))
            found = _first_row(cursor)
            if found is not None:
                anchor = anchor_of(found[0])
            elif row.get(statements.anchor_attribute) is not None:
                anchor = anchor_of(row[statements.anchor_attribute])
            else:
                raise ConnectorError(
                    f"the create statement of {object_class}s returned no anchor, and no"
                    f" {statements.anchor_attribute!r} was given"
                )
            if members:
                _change_members(statements, DeltaKind.ADD, anchor, members, cursor)
            return anchor

        return await self._pool.run(create)

    async def update(self, object_class: str, anchor: str, deltas: Sequence[Delta]) -> str:
        statements = self._statements(object_class)
        member = statements.member_attribute
        column_deltas = [d for d in deltas if d.attribute != member]
        member_steps = [
            (d.kind, _members(statements, d.values)) for d in deltas if d.attribute == member
        ]
        for delta in column_deltas:
            _column(statements, delta.attribute)

        def update(cursor: pyodbc.Cursor) -> str:
            current = _read(statements, anchor, cursor)
            new_anchor = anchor
            if column_deltas:
                row = _applied(statements, current.attributes, column_deltas)
                cursor.execute(
                    statements.update.sql, *statements.update.bind({**row, "anchor": anchor})
                )
                _drain(cursor)
                renamed = row.get(statements.anchor_attribute)
                new_anchor = anchor if renamed is None else anchor_of(renamed)
            for kind, members in member_steps:
                if kind in (DeltaKind.REPLACE, DeltaKind.CLEAR):
                    held = _read_members(statements, new_anchor, cursor)
                    _change_members(statements, DeltaKind.REMOVE, new_anchor, held, cursor)
                if kind is not DeltaKind.CLEAR:
                    _change_members(statements, kind, new_anchor, members, cursor)
            return new_anchor

        return await self._pool.run(update)

    async def delete(self, object_class: str, anchor: str) -> None:
        statements = self._statements(object_class)

        def delete(cursor: pyodbc.Cursor) -> None:
            _read(statements, anchor, cursor)
            cursor.execute(statements.delete.sql, *statements.delete.bind({"anchor": anchor}))
            _drain(cursor)

        await self._pool.run(delete)

    async def get(self, object_class: str, anchor: str) -> ConnectorObject:
        statements = self._statements(object_class)

        def get(cursor: pyodbc.Cursor) -> ConnectorObject:
            found = _read(statements, anchor, cursor)
            if statements.member_attribute is None:
                return found
            members: list[Scalar] = list(_read_members(statements, anchor, cursor))
            return ConnectorObject(
                found.anchor, {**found.attributes, statements.member_attribute: members}
            )

        return await self._pool.run(get)

    async def search(self, object_class: str, flt: Filter | None, page: Page) -> SearchResult:
        statements = self._statements(object_class)
        if page.size < 1:
            raise InvalidDataError(f"a page holds at least one object, not {page.size}")
        if flt is not None:
            _check_filter(statements, flt)
        after = None if page.cookie is None else decode_cookie(page.cookie)

        def search(cursor: pyodbc.Cursor) -> SearchResult:
            position = after
            chosen: list[ConnectorObject] = []
            while True:
                rows = _read_page(statements, position, page.size, cursor)
                if position is not None and any(raw == position for raw, _ in rows):
                    raise ConnectorError(
                        f"the read_page statement of {object_class}s returned the row after"
                        " which it was asked to start: does it use :after?"
                    )
                for raw, obj in rows:
                    if flt is None or _matches(flt, obj.attributes):
                        chosen.append(obj)
                        if len(chosen) == page.size:
                            return SearchResult(chosen, encode_cookie(raw))
                    position = raw
                if len(rows) < page.size:
                    return SearchResult(chosen)

        return await self._pool.run(search)

    def column_attributes(self) -> Mapping[str, str]:
        return {name: name for s in self._classes.values() for name in s.attributes}

    def _statements(self, object_class: str) -> ClassStatements:
        found = self._classes.get(object_class)
        if found is not None:
            return found
        if object_class == GROUP:
            raise InvalidDataError(
                "object class 'group' is not served: configure the groups statements"
                " or procedures in the connector's settings"
            )
        raise InvalidDataError(
            f"object class {object_class!r} is not served; only {', '.join(self._classes)}"
        )


# Values ---------------------------------------------------------------------------------


def _column(statements: ClassStatements, attribute: str) -> Column:
    if attribute not in statements.attributes:
        raise InvalidDataError(f"unknown attribute {attribute!r}", attribute=attribute)
    return Column(attribute, attribute, "", AttributeType.STRING, required=False)


def _row(statements: ClassStatements, attributes: Attributes) -> dict[str, Any]:
    return {name: param(_column(statements, name), v) for name, v in attributes.items()}


def _members(statements: ClassStatements, listed: Sequence[Scalar]) -> list[Any]:
    assert statements.member_attribute is not None
    column = Column(statements.member_attribute, "", "", AttributeType.REFERENCE, required=False)
    return list(dict.fromkeys(param(column, v) for v in listed if v is not None))


def _applied(
    statements: ClassStatements, current: Attributes, deltas: Sequence[Delta]
) -> dict[str, Any]:
    """The object's new state: every attribute, the deltas applied to the current values."""
    row: dict[str, Any] = {name: current.get(name) for name in statements.attributes}
    for delta in deltas:
        column = _column(statements, delta.attribute)
        given = [param(column, v) for v in delta.values if v is not None]
        if delta.kind is DeltaKind.REMOVE:
            if row[delta.attribute] in given:
                row[delta.attribute] = None
            continue
        if len(given) > 1:
            raise InvalidDataError(
                f"attribute {delta.attribute!r} holds one value, not {len(given)}",
                attribute=delta.attribute,
            )
        if delta.kind is DeltaKind.CLEAR:
            row[delta.attribute] = None
        elif given or delta.kind is DeltaKind.REPLACE:
            row[delta.attribute] = given[0] if given else None
    return row


# Statements, run in a worker thread -------------------------------------------------------


def _first_row(cursor: pyodbc.Cursor) -> pyodbc.Row | None:
    """The first row of the first result set that has rows, if any; the rest is drained."""
    found = None
    while True:
        if cursor.description is not None and found is None:
            found = cursor.fetchone()
            if found is not None:
                cursor.fetchall()
        if not cursor.nextset():
            return found


def _drain(cursor: pyodbc.Cursor) -> None:
    # A procedure may return results nobody asked for; MariaDB refuses the next statement
    # on the connection until they are read.
    while cursor.nextset():
        pass


def _objects(
    statements: ClassStatements, cursor: pyodbc.Cursor
) -> list[tuple[Any, ConnectorObject]]:
    """The rows of the current result, each with its raw anchor value."""
    if cursor.description is None:
        raise ConnectorError("a read statement returned no result set")
    names = [d[0] for d in cursor.description]
    by_lower = {n.lower(): i for i, n in enumerate(names)}
    index = {a: by_lower[a.lower()] for a in statements.attributes if a.lower() in by_lower}
    anchor_at = index.get(statements.anchor_attribute)
    if anchor_at is None:
        raise ConnectorError(
            f"the read statements of {statements.object_class}s return no"
            f" {statements.anchor_attribute!r} column"
        )
    rows = cursor.fetchall()
    _drain(cursor)
    return [
        (
            row[anchor_at],
            ConnectorObject(anchor_of(row[anchor_at]), {a: wire(row[i]) for a, i in index.items()}),
        )
        for row in rows
    ]


def _read(statements: ClassStatements, anchor: str, cursor: pyodbc.Cursor) -> ConnectorObject:
    cursor.execute(statements.read.sql, *statements.read.bind({"anchor": anchor}))
    found = _objects(statements, cursor)
    if not found:
        raise NotFoundError(f"no {statements.object_class} has the anchor {anchor!r}")
    return found[0][1]


def _read_page(
    statements: ClassStatements, after: Any, limit: int, cursor: pyodbc.Cursor
) -> list[tuple[Any, ConnectorObject]]:
    statement = statements.read_page
    cursor.execute(statement.sql, *statement.bind({"after": after, "limit": limit}))
    return _objects(statements, cursor)


def _read_members(statements: ClassStatements, group: str, cursor: pyodbc.Cursor) -> list[str]:
    statement = statements.read_members
    assert statement is not None
    rows = cursor.execute(statement.sql, *statement.bind({"group": group})).fetchall()
    _drain(cursor)
    return sorted(anchor_of(row[0]) for row in rows)


def _change_members(
    statements: ClassStatements,
    kind: DeltaKind,
    group: str,
    members: Sequence[Any],
    cursor: pyodbc.Cursor,
) -> None:
    statement: NamedStatement | None = (
        statements.remove_member if kind is DeltaKind.REMOVE else statements.add_member
    )
    assert statement is not None, "only a class with a member attribute changes members"
    for member in members:
        cursor.execute(statement.sql, *statement.bind({"group": group, "member": member}))
        _drain(cursor)


# Filters, applied to rows read ------------------------------------------------------------


def _check_filter(statements: ClassStatements, flt: Filter) -> None:
    if isinstance(flt, Equals | StartsWith | Present):
        _column(statements, flt.attribute)
    elif isinstance(flt, And | Or):
        for inner in flt.filters:
            _check_filter(statements, inner)
    elif isinstance(flt, Not):
        _check_filter(statements, flt.filter)


def _matches(flt: Filter, attributes: Attributes) -> bool:
    if isinstance(flt, Equals):
        return attributes.get(flt.attribute) == flt.value
    if isinstance(flt, StartsWith):
        value = attributes.get(flt.attribute)
        return isinstance(value, str) and value.startswith(flt.value)
    if isinstance(flt, Present):
        return attributes.get(flt.attribute) is not None
    if isinstance(flt, And):
        return all(_matches(inner, attributes) for inner in flt.filters)
    if isinstance(flt, Or):
        return any(_matches(inner, attributes) for inner in flt.filters)
    if isinstance(flt, Not):
        return not _matches(flt.filter, attributes)
    assert_never(flt)
