"""Prints an expression tree back as text that parses to the same tree."""

from __future__ import annotations

from typing import Protocol

from relay.engine.expressions.nodes import (
    Attribute,
    Call,
    Comparison,
    Constant,
    Missing,
    Node,
    NumberLiteral,
    StringLiteral,
)


class _HasTree(Protocol):
    @property
    def tree(self) -> Node: ...


def format_expression(node: Node | _HasTree) -> str:
    """The text of a tree (or of a compiled expression's tree) in canonical spacing."""
    tree: Node = node if isinstance(node, _NODE_TYPES) else node.tree
    return _format(tree)


def quote(value: str) -> str:
    """A string constant as Entra ID writes it: backslash and quote escaped by a backslash."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _format(node: Node) -> str:
    if isinstance(node, StringLiteral):
        return quote(node.value)
    if isinstance(node, Attribute):
        return f"[{node.reference}]"
    if isinstance(node, Call):
        return f"{node.name}({', '.join(_format(argument) for argument in node.arguments)})"
    if isinstance(node, NumberLiteral):
        return str(node.value)
    if isinstance(node, Constant):
        return node.name
    if isinstance(node, Comparison):
        return f"{_format(node.left)} {node.operator} {_format(node.right)}"
    assert isinstance(node, Missing)
    return ""


_NODE_TYPES = (StringLiteral, NumberLiteral, Constant, Attribute, Missing, Call, Comparison)
