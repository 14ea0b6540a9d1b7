"""Named parameters become ``?`` markers; quoted text, comments and casts are left alone."""

from __future__ import annotations

import pytest

from agent.connectors.sql_statements import NamedStatement


@pytest.mark.parametrize(
    ("text", "sql", "names"),
    [
        ("SELECT :a, :b, :a", "SELECT ?, ?, ?", ("a", "b", "a")),
        ("WHERE x = ':a' AND y = :b", "WHERE x = ':a' AND y = ?", ("b",)),
        ("WHERE x = 'it''s :a' AND y = :b", "WHERE x = 'it''s :a' AND y = ?", ("b",)),
        ('SELECT ":a" FROM t WHERE id = :id', 'SELECT ":a" FROM t WHERE id = ?', ("id",)),
        ("SELECT `:a` FROM t WHERE id = :id", "SELECT `:a` FROM t WHERE id = ?", ("id",)),
        ("SELECT :a::text", "SELECT ?::text", ("a",)),
        ("SELECT :a -- :b\n, :c", "SELECT ? -- :b\n, ?", ("a", "c")),
        ("SELECT /* :b\n */ :c", "SELECT /* :b\n */ ?", ("c",)),
        ("SELECT x:y", "SELECT x:y", ()),
        ("SELECT :_x1, :Ab", "SELECT ?, ?", ("_x1", "Ab")),
        ("SELECT 1", "SELECT 1", ()),
    ],
)
def test_named_parameters_become_markers(text: str, sql: str, names: tuple[str, ...]) -> None:
    statement = NamedStatement.parse(text)
    assert (statement.sql, statement.names) == (sql, names)


def test_bind_follows_marker_order_and_binds_null_for_missing_names() -> None:
    statement = NamedStatement.parse("UPDATE t SET a = :a, b = :b WHERE id = :id OR :a IS NULL")
    assert statement.bind({"id": 7, "a": "x"}) == ["x", None, 7, "x"]
