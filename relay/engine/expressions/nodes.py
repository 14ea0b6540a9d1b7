"""The expression tree: immutable nodes, compared by content and not by position.

``position`` (0-based offset in the text) is kept for error messages but left out of
equality, so a tree parsed from printed text equals the tree it was printed from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class StringLiteral:
    """A constant in double quotes: ``"United States"``."""

    value: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class NumberLiteral:
    """An integer constant: ``7``, ``-10``, or VBA hexadecimal ``&HF7``."""

    value: int
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Constant:
    """A named VBA constant: ``vbTextCompare``, ``vbBinaryCompare``, ``True``, ``False``."""

    name: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Attribute:
    """A reference to a source attribute: ``[givenName]``, ``[emails[type eq "work"].value]``."""

    reference: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Missing:
    """An omitted optional argument, as in ``Replace([mail], "@contoso.com", , , "", , )``."""

    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    """A function call; ``name`` is spelled as in Entra ID's reference."""

    name: str
    arguments: tuple[Node, ...]
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Comparison:
    """``left = right`` and the other comparisons IIF's condition may use."""

    operator: str
    left: Node
    right: Node
    position: int = field(default=0, compare=False)


Node: TypeAlias = StringLiteral | NumberLiteral | Constant | Attribute | Missing | Call | Comparison

COMPARISON_OPERATORS = ("<>", "<=", ">=", "=", "<", ">")
CONSTANTS = {"vbBinaryCompare": 0, "vbTextCompare": 1, "True": True, "False": False}
"""Named constants and their values; names are case-sensitive, as Entra's syntax is."""
