"""The stored-procedure mode: the database's own procedures add, read, update and delete.

Each configured procedure becomes one call statement with its parameters in a fixed order,
so the mode runs exactly like the custom SQL mode (:mod:`agent.connectors.sql_custom`)
once the calls are made. The orders, which the procedures must follow:

============== ====================================================
create         every attribute, in the order of ``attributes``
read           anchor
update         anchor, then every attribute in the order of ``attributes``
delete         anchor
read_page      after (the last anchor of the previous page, NULL first), limit
add_member     group anchor, member anchor
remove_member  group anchor, member anchor
read_members   group anchor
============== ====================================================

On PostgreSQL procedures cannot return rows, so they are functions called with
``SELECT * FROM name(...)``; MariaDB and SQL Server use ``CALL``. SQLite has none.
"""

from __future__ import annotations

from agent.connectors.sql_dialects import Dialect
from agent.connectors.sql_statements import ClassSettings, NamedStatement
from shared.settings import Table

_FIXED: dict[str, tuple[str, ...]] = {
    "read": ("anchor",),
    "delete": ("anchor",),
    "read_page": ("after", "limit"),
    "add_member": ("group", "member"),
    "remove_member": ("group", "member"),
    "read_members": ("group",),
}


def parameter_names(key: str, attributes: tuple[str, ...]) -> tuple[str, ...]:
    """The parameters, in order, that the procedure configured under ``key`` takes."""
    if key == "create":
        return attributes
    if key == "update":
        return ("anchor", *attributes)
    return _FIXED[key]


def procedure_statements(
    dialect: Dialect, schema_name: str | None, settings: ClassSettings, table: Table
) -> dict[str, NamedStatement]:
    """One call statement per configured procedure name."""
    calls: dict[str, NamedStatement] = {}
    for key, name in settings.texts.items():
        names = parameter_names(key, settings.attributes)
        try:
            procedure = dialect.table(name, schema_name)
        except ValueError as exc:
            raise table.error(key, "must be a procedure name without NUL characters") from exc
        calls[key] = NamedStatement(dialect.call(procedure, len(names)), names)
    return calls
