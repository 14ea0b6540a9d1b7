"""The SQL that differs between SQLite and PostgreSQL in directory queries.

:class:`~relay.store.directory_sql.Translator` writes the shape of a query; a dialect writes
the pieces that read the stored JSON (SQLite's ``json_extract``/``json_each`` over text,
PostgreSQL's ``#>``/``jsonb_array_elements`` over ``jsonb``), fold case and compare typed
JSON values. JSON paths travel as parameters too; :func:`checked_key` refuses attribute names
that no SCIM schema has, so even a path cannot carry SQL.
"""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from relay.exceptions import InvalidQuery

_KEY = re.compile(r"^[A-Za-z0-9_$:.\-]+$")


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def checked_key(name: str) -> str:
    if not _KEY.match(name):
        raise InvalidQuery(f"not an attribute name: {name!r}")
    return name


class Dialect(abc.ABC):
    """What differs between the two SQL dialects. Methods return SQL with ``?`` and append
    their parameters to ``params`` in the order the placeholders appear."""

    name = ""
    json_param = "?"

    @abc.abstractmethod
    def json_at(self, base: str, keys: Sequence[str | int], params: list[Any]) -> str:
        """The value at ``keys`` in the JSON ``base``: typed as JSON allows."""

    @abc.abstractmethod
    def text_at(self, base: str, keys: Sequence[str | int], params: list[Any]) -> str:
        """The value at ``keys`` as text (strings unquoted)."""

    @abc.abstractmethod
    def present_at(self, base: str, keys: Sequence[str], params: list[Any]) -> str: ...

    @abc.abstractmethod
    def values(self, base: str, keys: Sequence[str], params: list[Any]) -> str:
        """A FROM item ``v`` over the values at ``keys``: an array's elements, or a single
        value as one row (none if it is missing or null)."""

    @abc.abstractmethod
    def element_text(self, sub: str, params: list[Any]) -> str:
        """Sub-attribute ``sub`` of the element ``v`` as text."""

    @abc.abstractmethod
    def element_json(self, sub: str, params: list[Any]) -> str: ...

    @abc.abstractmethod
    def element_present(self, sub: str | None, params: list[Any]) -> str: ...

    #: The element ``v`` itself, as JSON and as text.
    element_self = "v.value"
    element_self_text = "v.value"

    @abc.abstractmethod
    def fold(self, expr: str) -> str: ...

    def ordered_text(self, expr: str) -> str:
        """Text compared and sorted byte-wise, as SQLite does."""
        return expr

    @abc.abstractmethod
    def compare_json(
        self, typed: Callable[[], str], op: str, value: int | float | bool, params: list[Any]
    ) -> str:
        """``typed() op value`` for a number or boolean, compared as JSON values."""

    def placeholders(self, sql: str) -> str:
        return sql


class SqliteDialect(Dialect):
    name = "sqlite"

    @staticmethod
    def path(keys: Sequence[str | int]) -> str:
        return "$" + "".join(
            f"[{k}]" if isinstance(k, int) else f'."{checked_key(k)}"' for k in keys
        )

    def json_at(self, base: str, keys: Sequence[str | int], params: list[Any]) -> str:
        params.append(self.path(keys))
        return f"json_extract({base}, ?)"

    text_at = json_at

    def present_at(self, base: str, keys: Sequence[str], params: list[Any]) -> str:
        return f"COALESCE({self.json_at(base, keys, params)} NOT IN ('', '[]', '{{}}'), FALSE)"

    def values(self, base: str, keys: Sequence[str], params: list[Any]) -> str:
        # json_each gives one row for a single value and none for a missing one.
        params.append(self.path(keys))
        return f"json_each({base}, ?) AS v"

    def element_text(self, sub: str, params: list[Any]) -> str:
        params.append(self.path([sub]))
        return "(CASE WHEN v.type = 'object' THEN json_extract(v.value, ?) END)"

    element_json = element_text

    def element_present(self, sub: str | None, params: list[Any]) -> str:
        expr = self.element_self if sub is None else self.element_text(sub, params)
        return f"COALESCE({expr} NOT IN ('', '[]', '{{}}'), FALSE)"

    def fold(self, expr: str) -> str:
        return f"hw_fold({expr})"

    def compare_json(
        self, typed: Callable[[], str], op: str, value: int | float | bool, params: list[Any]
    ) -> str:
        sql = f"{typed()} {op} ?"
        params.append(int(value) if isinstance(value, bool) else value)
        return sql


class PostgresDialect(Dialect):
    name = "postgresql"
    json_param = "?::jsonb"

    def json_at(self, base: str, keys: Sequence[str | int], params: list[Any]) -> str:
        params.append([str(checked_key(k)) if isinstance(k, str) else str(k) for k in keys])
        return f"({base} #> ?::text[])"

    def text_at(self, base: str, keys: Sequence[str | int], params: list[Any]) -> str:
        params.append([str(checked_key(k)) if isinstance(k, str) else str(k) for k in keys])
        return f"({base} #>> ?::text[])"

    def present_at(self, base: str, keys: Sequence[str], params: list[Any]) -> str:
        return (
            f"COALESCE({self.json_at(base, keys, params)} NOT IN"
            " ('\"\"'::jsonb, '[]'::jsonb, '{}'::jsonb, 'null'::jsonb), FALSE)"
        )

    def values(self, base: str, keys: Sequence[str], params: list[Any]) -> str:
        at = [self.json_at(base, keys, params) for _ in range(3)]
        return (
            f"jsonb_array_elements(CASE COALESCE(jsonb_typeof({at[0]}), 'null')"
            f" WHEN 'array' THEN {at[1]} WHEN 'null' THEN '[]'::jsonb"
            f" ELSE jsonb_build_array({at[2]}) END) AS v(value)"
        )

    def element_text(self, sub: str, params: list[Any]) -> str:
        params.append(checked_key(sub))
        return "(v.value ->> ?::text)"

    def element_json(self, sub: str, params: list[Any]) -> str:
        params.append(checked_key(sub))
        return "(v.value -> ?::text)"

    def element_present(self, sub: str | None, params: list[Any]) -> str:
        expr = self.element_self if sub is None else self.element_json(sub, params)
        return (
            f"COALESCE({expr} NOT IN"
            " ('\"\"'::jsonb, '[]'::jsonb, '{}'::jsonb, 'null'::jsonb), FALSE)"
        )

    element_self_text = "(v.value #>> '{}')"

    def fold(self, expr: str) -> str:
        return f"lower({expr})"

    def ordered_text(self, expr: str) -> str:
        return f'({expr}) COLLATE "C"'

    def compare_json(
        self, typed: Callable[[], str], op: str, value: int | float | bool, params: list[Any]
    ) -> str:
        if isinstance(value, bool):
            sql = f"{typed()} {op} ?::jsonb"
            params.append(json.dumps(value))
            return sql
        # jsonb orders values of different types by type, so guard the type first.
        guard = f"jsonb_typeof({typed()}) = 'number'"
        sql = f"({guard} AND {typed()} {op} ?::jsonb)"
        params.append(json.dumps(value))
        return sql

    def placeholders(self, sql: str) -> str:
        return sql.replace("?", "%s")
