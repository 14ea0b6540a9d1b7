"""Directory queries (:mod:`relay.directory.query`) translated to SQL, for SQLite and PostgreSQL.

Both stores keep users and groups in one table, ``directory_entries``, with the SCIM resource
as JSON (SQLite text read with ``json_extract``/``json_each``; PostgreSQL ``jsonb`` read with
``#>``/``jsonb_array_elements``) beside a few columns for fast lookups: ``id``,
``external_id``, ``name_key`` (userName of users / displayName of groups, lower-cased in
Python) and the timestamps behind ``meta.created`` and ``meta.lastModified``.

Every value travels as a parameter, JSON paths included, and LIKE wildcards in values are
escaped, so no filter can change the SQL around it. The SQL is written with ``?``
placeholders, which :class:`~relay.store.directory_dialects.PostgresDialect` turns into
psycopg's ``%s`` (the SQL here never holds a literal ``%`` or ``?``).

Comparisons that ignore case fold both sides: SQLite through ``hw_fold`` (Python's
``str.lower``, registered on the connection), PostgreSQL through ``lower()``. A filter on a
missing attribute is false; ``ne`` and ``not`` are true for it (``NOT COALESCE(x, FALSE)``:
only negations fold SQL's NULL to false, so plain comparisons on the indexed columns stay
plain and use their index). Multi-valued attributes match when one of their values does; a
value path (``emails[type eq "work" and value co "@x"]``) needs one value that meets the
whole inner filter. Sorting on a multi-valued attribute uses its first value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from relay.directory.query import (
    And,
    AttributePath,
    Compare,
    CompareOp,
    Filter,
    Not,
    Or,
    Present,
    Query,
    ValuePath,
)
from relay.exceptions import InvalidQuery
from relay.store.base import EntryKind
from relay.store.directory_dialects import Dialect, checked_key, escape_like

# Complex multi-valued attributes of the core schemas; a path without a sub-attribute means
# their "value". "schemas" is a multi-valued list of plain strings.
COMPLEX_MULTI_VALUED = frozenset(
    {
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "entitlements",
        "roles",
        "x509Certificates",
    }
)
SIMPLE_MULTI_VALUED = frozenset({"schemas"})
# RFC 7643: strings ignore case unless the schema says caseExact; these say it.
CASE_EXACT = frozenset({("id", None), ("externalId", None), ("x509Certificates", "value")})

_SQL_OPS = {
    CompareOp.EQ: "=",
    CompareOp.GT: ">",
    CompareOp.GE: ">=",
    CompareOp.LT: "<",
    CompareOp.LE: "<=",
}


@dataclass(frozen=True, slots=True)
class _Field:
    """A single value to compare: ``text`` and ``typed`` render it (appending parameters)."""

    text: Callable[[], str]
    typed: Callable[[], str]
    present: Callable[[], str]
    column: str = "json"  # "json", "text" (a plain text column) or "time" (epoch seconds)
    case_exact: bool = False
    folded: bool = False  # the column holds lower-cased text already


@dataclass(frozen=True, slots=True)
class _Values:
    """A multi-valued attribute: rows ``FROM`` whose sub-attributes ``field`` renders."""

    source: Callable[[], str]
    field: Callable[[str | None], _Field]
    default_sub: str | None


class Translator:
    """Turns one query into a WHERE clause, ORDER BY and parameters for ``directory_entries e``."""

    def __init__(self, dialect: Dialect, kind: EntryKind) -> None:
        self.dialect = dialect
        self.kind = kind
        self.params: list[Any] = []

    # Attributes ---------------------------------------------------------------------------

    def _column(self, expr: str, column: str, *, folded: bool = False) -> _Field:
        return _Field(
            text=lambda: expr,
            typed=lambda: expr,
            present=lambda: (
                f"({expr} IS NOT NULL AND {expr} <> '')"
                if column == "text"
                else f"({expr} IS NOT NULL)"
            ),
            column=column,
            case_exact=not folded,
            folded=folded,
        )

    def _json(self, keys: list[str], case_exact: bool) -> _Field:
        d, p = self.dialect, self.params
        return _Field(
            text=lambda: d.text_at("e.resource", keys, p),
            typed=lambda: d.json_at("e.resource", keys, p),
            present=lambda: d.present_at("e.resource", keys, p),
            case_exact=case_exact,
        )

    def _resolve(self, path: AttributePath) -> _Field | _Values:
        attr, sub = path.attribute, path.sub_attribute
        if path.schema is not None:
            keys = [checked_key(path.schema), checked_key(attr)]
            if sub is None:
                # Custom extensions have multi-valued attributes ("string[]"): compare each
                # value, as for the core ones.
                return self._json_values(keys, simple=True)
            return self._json([*keys, checked_key(sub)], case_exact=False)
        if attr == "id" and sub is None:
            return self._column("e.id", "text")
        if attr == "externalId" and sub is None:
            return self._column("e.external_id", "text")
        if sub is None and (
            (attr == "userName" and self.kind is EntryKind.USER)
            or (attr == "displayName" and self.kind is EntryKind.GROUP)
        ):
            return self._column("e.name_key", "text", folded=True)
        if attr == "meta":
            if sub == "created":
                return self._column("e.created_at", "time")
            if sub == "lastModified":
                return self._column("e.modified_at", "time")
            raise InvalidQuery(f"cannot filter on meta.{sub}")
        if attr == "members" and self.kind is EntryKind.GROUP:
            return self._memberships("m.group_id = e.id", "m.member_id")
        if attr == "groups" and self.kind is EntryKind.USER:
            return self._memberships("m.member_id = e.id", "m.group_id")
        if attr in COMPLEX_MULTI_VALUED or attr in SIMPLE_MULTI_VALUED:
            return self._json_values([checked_key(attr)], simple=attr in SIMPLE_MULTI_VALUED)
        keys = [checked_key(attr)] + ([checked_key(sub)] if sub else [])
        return self._json(keys, case_exact=(attr, sub) in CASE_EXACT)

    def _json_values(self, keys: list[str], *, simple: bool) -> _Values:
        """The values at ``keys``: plain values (``simple``), or objects whose
        sub-attributes are compared (``value`` when the path names none)."""
        d, p = self.dialect, self.params
        attr = keys[-1]

        def field(sub: str | None) -> _Field:
            if sub is None:
                return _Field(
                    text=lambda: d.element_self_text,
                    typed=lambda: d.element_self,
                    present=lambda: d.element_present(None, p),
                    case_exact=False,
                )
            if simple:
                raise InvalidQuery(f"{attr} has no sub-attributes")
            return _Field(
                text=lambda: d.element_text(checked_key(sub), p),
                typed=lambda: d.element_json(checked_key(sub), p),
                present=lambda: d.element_present(checked_key(sub), p),
                case_exact=(attr, sub) in CASE_EXACT,
            )

        return _Values(
            source=lambda: d.values("e.resource", keys, p),
            field=field,
            default_sub=None if simple else "value",
        )

    def _memberships(self, join: str, value_column: str) -> _Values:
        def field(sub: str | None) -> _Field:
            if sub == "value":
                return self._column(value_column, "text")
            if sub == "type":
                expr = (
                    "(SELECT CASE x.kind WHEN 'user' THEN 'User' ELSE 'Group' END"
                    f" FROM directory_entries x WHERE x.id = {value_column})"
                )
                return replace_case(self._column(expr, "text"), case_exact=False)
            raise InvalidQuery(f"cannot filter on the member attribute {sub!r}")

        return _Values(
            source=lambda: f"directory_members m WHERE {join}",
            field=field,
            default_sub="value",
        )

    # Filters ------------------------------------------------------------------------------

    def where(self, node: Filter, values: _Values | None = None) -> str:
        if isinstance(node, And):
            return f"({self.where(node.left, values)} AND {self.where(node.right, values)})"
        if isinstance(node, Or):
            return f"({self.where(node.left, values)} OR {self.where(node.right, values)})"
        if isinstance(node, Not):
            return f"(NOT COALESCE({self.where(node.inner, values)}, FALSE))"
        if isinstance(node, ValuePath):
            if values is not None:
                raise InvalidQuery("a value path cannot hold another value path")
            target = self._resolve(AttributePath(node.path.attribute, None, node.path.schema))
            if isinstance(target, _Field) or node.path.schema is not None:
                # A complex single-valued attribute: name[givenName eq "x"] (extensions
                # have no multi-valued complex ones).
                return self.where(_prefix(node.filter, node.path), None)
            values_of = target
            return self._exists(values_of, lambda: self.where(node.filter, values_of))
        if isinstance(node, Compare | Present):
            if values is not None:
                field = values.field(_inner_sub(node.path))
                if isinstance(node, Present):
                    return field.present()
                return self._compare(field, node.op, node.value)
            target = self._resolve(node.path)
            if isinstance(target, _Field):
                if isinstance(node, Present):
                    return target.present()
                return self._compare(target, node.op, node.value)
            sub = node.path.sub_attribute or target.default_sub
            if isinstance(node, Present):
                if node.path.sub_attribute is None and target.default_sub is not None:
                    return self._exists(target, lambda: "TRUE")
                return self._exists(target, lambda: target.field(sub).present())
            if node.op is CompareOp.NE:
                eq = Compare(node.path, CompareOp.EQ, node.value)
                return f"(NOT COALESCE({self.where(eq)}, FALSE))"
            return self._exists(
                target, lambda: self._compare(target.field(sub), node.op, node.value)
            )
        raise InvalidQuery(f"not a filter: {node!r}")

    def _exists(self, values: _Values, inner: Callable[[], str]) -> str:
        source = values.source()
        condition = inner()
        joiner = " AND " if " WHERE " in source else " WHERE "
        return f"EXISTS (SELECT 1 FROM {source}{joiner}{condition})"

    def _compare(self, field: _Field, op: CompareOp, value: Any) -> str:
        if op is CompareOp.NE:
            return f"(NOT COALESCE({self._compare(field, CompareOp.EQ, value)}, FALSE))"
        d, p = self.dialect, self.params
        if value is None:
            if op is not CompareOp.EQ:
                raise InvalidQuery(f"{op} needs a value, not null")
            return f"(NOT {field.present()})"
        if field.column == "time":
            if not isinstance(value, str) or op not in _SQL_OPS:
                raise InvalidQuery(f"meta dates compare with {op} to an ISO-8601 date")
            sql = f"({field.text()} {_SQL_OPS[op]} ?)"
            p.append(_epoch(value))
            return sql
        if isinstance(value, bool | int | float) and not isinstance(value, str):
            if op not in _SQL_OPS or (isinstance(value, bool) and op is not CompareOp.EQ):
                raise InvalidQuery(f"{op} does not apply to {json.dumps(value)}")
            if field.column == "text":
                value = json.dumps(value)
            else:
                return f"({d.compare_json(field.typed, _SQL_OPS[op], value, p)})"
        if not isinstance(value, str):
            raise InvalidQuery(f"cannot compare with {value!r}")
        fold = not field.case_exact or field.folded
        expr = field.text()
        if fold and not field.folded:
            expr = d.fold(expr)
        operand = value.lower() if fold else value
        if op in _SQL_OPS:
            if op is not CompareOp.EQ:
                expr = d.ordered_text(expr)
            sql = f"({expr} {_SQL_OPS[op]} ?)"
            p.append(operand)
            return sql
        pattern = escape_like(operand)
        pattern = {
            CompareOp.CO: f"%{pattern}%",
            CompareOp.SW: f"{pattern}%",
            CompareOp.EW: f"%{pattern}",
        }[op]
        p.append(pattern)
        return f"({expr} LIKE ? ESCAPE '\\')"

    # Sorting ------------------------------------------------------------------------------

    def order_by(self, query: Query) -> str:
        if query.sort_by is None:
            return "e.pos"
        sort_by = query.sort_by
        d = self.dialect
        attr = sort_by.attribute

        def render() -> str:
            target = self._resolve(sort_by)
            if isinstance(target, _Values):
                if attr in ("members", "groups"):
                    raise InvalidQuery(f"cannot sort by {attr}")
                if sort_by.schema is not None:
                    # An extension attribute: its first value if it has several.
                    whole: list[str | int] = [checked_key(sort_by.schema), checked_key(attr)]
                    first = d.text_at("e.resource", [*whole, 0], self.params)
                    only = d.text_at("e.resource", whole, self.params)
                    return d.ordered_text(d.fold(f"COALESCE({first}, {only})"))
                keys: list[str | int] = [checked_key(attr), 0]
                if attr in COMPLEX_MULTI_VALUED:
                    keys.append(checked_key(sort_by.sub_attribute or "value"))
                return d.ordered_text(d.fold(d.text_at("e.resource", keys, self.params)))
            expr = target.text()
            if target.column == "json" and not target.case_exact:
                expr = d.fold(expr)
            return expr if target.column == "time" else d.ordered_text(expr)

        direction = "DESC" if query.descending else "ASC"
        # Entries without the attribute come last either way, then in creation order.
        missing = render()
        value = render()
        return f"({missing}) IS NULL, {value} {direction}, e.pos"


def replace_case(field: _Field, *, case_exact: bool) -> _Field:
    return _Field(
        text=field.text,
        typed=field.typed,
        present=field.present,
        column=field.column,
        case_exact=case_exact,
        folded=field.folded,
    )


def _inner_sub(path: AttributePath) -> str | None:
    """The sub-attribute an inner filter of a value path names, in either spelling the
    parser may use: ``type`` or ``emails.type``."""
    return path.sub_attribute if path.sub_attribute is not None else path.attribute


def _prefix(node: Filter, outer: AttributePath) -> Filter:
    """Rewrite ``name[givenName eq "x"]`` as ``name.givenName eq "x"``."""
    if isinstance(node, And):
        return And(_prefix(node.left, outer), _prefix(node.right, outer))
    if isinstance(node, Or):
        return Or(_prefix(node.left, outer), _prefix(node.right, outer))
    if isinstance(node, Not):
        return Not(_prefix(node.inner, outer))
    if isinstance(node, Compare | Present):
        path = AttributePath(outer.attribute, _inner_sub(node.path), outer.schema)
        if isinstance(node, Present):
            return Present(path)
        return Compare(path, node.op, node.value)
    raise InvalidQuery("a value path cannot hold another value path")


def _epoch(text: str) -> float:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError as exc:
        raise InvalidQuery(f"not an ISO-8601 date: {text!r}") from exc


def translate(
    dialect: Dialect, kind: EntryKind, query: Query
) -> tuple[str, list[Any], str, list[Any]]:
    """The WHERE condition (without the kind) and the ORDER BY for ``query``, each with its
    parameters."""
    translator = Translator(dialect, kind)
    condition = "TRUE" if query.filter is None else translator.where(query.filter)
    where_params = translator.params
    translator.params = []
    order = translator.order_by(query)
    return condition, where_params, order, translator.params
