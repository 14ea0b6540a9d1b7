"""Statements with named parameters, as the procedures and custom SQL modes configure them.

An administrator writes ``:user_name`` where a value goes; the statement is rewritten once,
when the settings load, into ODBC's ``?`` markers with the names remembered in order, so
values are always bound as parameters and never pasted into SQL text. Names inside quoted
strings, quoted identifiers and comments, and PostgreSQL's ``::type`` casts, are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from shared.settings import Table

#: Quoted text and comments (kept as they are), or a named parameter (group "name").
_TOKEN = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`|--[^\n]*|/\*.*?\*/|::"""
    r"""|(?<![\w:]):(?P<name>[A-Za-z_][A-Za-z0-9_]*)""",
    re.DOTALL,
)

#: Statements of one object class, and the parameters each may name besides attributes.
STATEMENT_PARAMETERS: dict[str, frozenset[str]] = {
    "create": frozenset(),
    "read": frozenset({"anchor"}),
    "update": frozenset({"anchor"}),
    "delete": frozenset({"anchor"}),
    "read_page": frozenset({"after", "limit"}),
}
#: Membership statements of a group class, which name no attributes.
MEMBER_PARAMETERS: dict[str, frozenset[str]] = {
    "add_member": frozenset({"group", "member"}),
    "remove_member": frozenset({"group", "member"}),
    "read_members": frozenset({"group"}),
}


@dataclass(frozen=True, slots=True)
class NamedStatement:
    """SQL with ``?`` markers, and the parameter name each marker stands for."""

    sql: str
    names: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Self:
        names: list[str] = []

        def replace(match: re.Match[str]) -> str:
            name = match.group("name")
            if name is None:
                return match.group(0)
            names.append(name)
            return "?"

        return cls(_TOKEN.sub(replace, text), tuple(names))

    def bind(self, values: Mapping[str, Any]) -> list[Any]:
        """The parameters in marker order; a name without a value binds NULL."""
        return [values.get(name) for name in self.names]


@dataclass(frozen=True, slots=True)
class ClassStatements:
    """How one object class is read and written in the procedures and custom modes.

    Rows that ``read`` and ``read_page`` return are matched to attributes by column name
    (case-insensitively), and the ``anchor_attribute`` column holds the anchor.
    """

    #: The object class, "user" or "group".
    object_class: str
    #: The attributes, in the order the procedures take them.
    attributes: tuple[str, ...]
    naming_attribute: str
    anchor_attribute: str
    create: NamedStatement
    read: NamedStatement
    update: NamedStatement
    delete: NamedStatement
    read_page: NamedStatement
    #: Groups only: the attribute holding member anchors and the statements changing it.
    member_attribute: str | None = None
    add_member: NamedStatement | None = None
    remove_member: NamedStatement | None = None
    read_members: NamedStatement | None = None


@dataclass(frozen=True, slots=True)
class ClassSettings:
    """The keys of a ``[statements.X]`` or ``[procedures.X]`` table, before any SQL is made."""

    attributes: tuple[str, ...]
    naming_attribute: str
    anchor_attribute: str
    #: Statement (or procedure name) by key: create, read, update, delete, read_page, and
    #: for groups add_member, remove_member, read_members.
    texts: Mapping[str, str]
    member_attribute: str | None

    @classmethod
    def load(cls, table: Table, *, group: bool) -> Self:
        attributes = table.string_list("attributes")
        if not attributes:
            raise table.error("attributes", "must list at least one attribute name")
        naming = table.string("naming_attribute", attributes[0])
        anchor = table.string("anchor_attribute", "id")
        member = table.string("member_attribute", "members") if group else None
        keys = [*STATEMENT_PARAMETERS, *(MEMBER_PARAMETERS if group else ())]
        texts = {key: table.string(key, required=True) for key in keys}
        table.reject_unknown()
        for key, value in (("naming_attribute", naming), ("anchor_attribute", anchor)):
            if value not in attributes:
                raise table.error(key, f"{value!r} is not one of the attributes")
        if member is not None and member in attributes:
            raise table.error("member_attribute", f"{member!r} is also a column attribute")
        return cls(attributes, naming, anchor, texts, member)

    def build(self, object_class: str, statements: Mapping[str, NamedStatement]) -> ClassStatements:
        return ClassStatements(
            object_class=object_class,
            attributes=self.attributes,
            naming_attribute=self.naming_attribute,
            anchor_attribute=self.anchor_attribute,
            create=statements["create"],
            read=statements["read"],
            update=statements["update"],
            delete=statements["delete"],
            read_page=statements["read_page"],
            member_attribute=self.member_attribute,
            add_member=statements.get("add_member"),
            remove_member=statements.get("remove_member"),
            read_members=statements.get("read_members"),
        )


def parse_statements(settings: ClassSettings, table: Table) -> dict[str, NamedStatement]:
    """The custom mode's statements, each checked to name only parameters it can get."""
    parsed: dict[str, NamedStatement] = {}
    for key, text in settings.texts.items():
        statement = NamedStatement.parse(text)
        allowed = MEMBER_PARAMETERS.get(key)
        if allowed is None:
            allowed = STATEMENT_PARAMETERS[key] | set(settings.attributes)
        unknown = [n for n in statement.names if n not in allowed]
        if unknown:
            raise table.error(
                key,
                f"names the parameter :{unknown[0]}, which is not one of"
                f" {', '.join(':' + n for n in sorted(allowed))}",
            )
        parsed[key] = statement
    return parsed
