"""A search filter compiled to the WHERE condition of a query on an object table."""

from __future__ import annotations

from typing import Any, assert_never

from agent.connectors.sql_columns import check_text, param
from agent.connectors.sql_dialects import LIKE_ESCAPE
from agent.connectors.sql_table import ObjectTable
from shared.connector import And, Equals, Filter, Not, Or, Present, StartsWith


def where_clause(table: ObjectTable, flt: Filter | None, params: list[Any]) -> str:
    """SQL for a filter, appending its values to ``params``."""
    if flt is None:
        return "1 = 1"
    if isinstance(flt, Equals):
        column = table.column(flt.attribute)
        if flt.value is None:
            return f"{column.sql} IS NULL"
        params.append(param(column, flt.value))
        return f"{column.sql} = ?"
    if isinstance(flt, StartsWith):
        column = table.column(flt.attribute)
        check_text(column, flt.value)
        params.append(table.dialect.like_prefix(flt.value))
        return f"{column.sql} LIKE ? ESCAPE '{LIKE_ESCAPE}'"
    if isinstance(flt, Present):
        return f"{table.column(flt.attribute).sql} IS NOT NULL"
    if isinstance(flt, And | Or):
        joiner, empty = (" AND ", "1 = 1") if isinstance(flt, And) else (" OR ", "1 = 0")
        parts = [where_clause(table, inner, params) for inner in flt.filters]
        return "(" + joiner.join(parts) + ")" if parts else empty
    if isinstance(flt, Not):
        # NOT over a comparison with NULL is NULL, which would drop rows lacking the attribute.
        return f"(CASE WHEN {where_clause(table, flt.filter, params)} THEN 1 ELSE 0 END) = 0"
    assert_never(flt)
