"""The membership table of the table mode: one row per (group key, member key).

A membership change is one INSERT or DELETE naming the members it changes, so adding a
member to a group of 10,000 never reads the other 9,999. Adding a member twice and removing
a non-member are not errors (a redelivered change must not fail): the INSERT skips rows the
table's unique key already holds, so the table needs a primary key or unique constraint on
its two columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyodbc

from agent.connectors.sql_columns import Column, anchor_of, param
from agent.connectors.sql_dialects import Dialect

#: Members per statement: two parameters each, below every dialect's limit but SQL Server's.
CHUNK = 1000


@dataclass(frozen=True, slots=True)
class MembershipTable:
    """Its methods taking a cursor run in a worker thread, inside the pool's transaction."""

    dialect: Dialect
    sql: str
    group: Column
    member: Column

    def members(self, values: Iterable[Any]) -> list[Any]:
        """Member anchors checked and converted for the member column, each once."""
        return list(dict.fromkeys(param(self.member, v) for v in values if v is not None))

    def add(self, group: Any, members: list[Any], cursor: pyodbc.Cursor) -> None:
        columns = [self.group.sql, self.member.sql]
        size = max(1, min(CHUNK, self.dialect.max_parameters // 2))
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            sql = self.dialect.insert_ignoring_duplicates(self.sql, columns, len(chunk))
            cursor.execute(sql, *[v for m in chunk for v in (group, m)])

    def remove(self, group: Any, members: list[Any], cursor: pyodbc.Cursor) -> None:
        size = max(1, min(CHUNK, self.dialect.max_parameters - 1))
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            marks = ", ".join("?" * len(chunk))
            cursor.execute(
                f"DELETE FROM {self.sql} WHERE {self.group.sql} = ?"
                f" AND {self.member.sql} IN ({marks})",
                group,
                *chunk,
            )

    def clear_group(self, group: Any, cursor: pyodbc.Cursor) -> None:
        cursor.execute(f"DELETE FROM {self.sql} WHERE {self.group.sql} = ?", group)

    def clear_member(self, member: Any, cursor: pyodbc.Cursor) -> None:
        cursor.execute(f"DELETE FROM {self.sql} WHERE {self.member.sql} = ?", member)

    def read(self, group: Any, cursor: pyodbc.Cursor) -> list[str]:
        """Every member's anchor, in key order; only ``get`` of one group reads them."""
        rows = cursor.execute(
            f"SELECT {self.member.sql} FROM {self.sql} WHERE {self.group.sql} = ?"
            f" ORDER BY {self.member.sql}",
            group,
        ).fetchall()
        return [anchor_of(row[0]) for row in rows]
