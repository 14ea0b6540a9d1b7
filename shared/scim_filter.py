"""SCIM filters and attribute paths (RFC 7644 §3.4.2.2 and §3.10) parsed into trees.

One grammar for every reader of SCIM text: the relay's SCIM server (filters from the network
and PATCH paths), the engine's source references and the SCIM connector's attribute names.
Each gives the tree its own meaning (schema checks, case rules, evaluation), so this module
only knows the syntax: names are kept as written, values as their JSON literals. Precedence
is the RFC's: ``not`` binds tighter than ``and``, ``and`` tighter than ``or``.

The text may come from the network: nesting and comparisons are bounded, the parser never
recurses deeper than the nesting it allows, and every fault is a :class:`ScimFilterError`
giving the 0-based offset of the problem.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from math import inf

from shared.exceptions import HatchwayError

#: Deepest nesting of parentheses, ``not (...)`` and value filters, unless the caller says.
MAX_DEPTH = 16
#: Most comparisons (``eq``, ``pr``, ...) in one text, unless the caller says.
MAX_COMPARISONS = 100


class ScimFilterError(HatchwayError):
    """A filter or path is refused; ``position`` is the 0-based offset of the problem."""

    def __init__(self, position: int, expected: str, found: str) -> None:
        self.position = position
        self.expected = expected
        self.found = found
        super().__init__(f"expected {expected} at character {position + 1}, found {found}")


@dataclass(frozen=True, slots=True)
class AttributePath:
    attribute: str
    """``userName``, ``name``, ``emails``; inside a value filter, the sub-attribute's name."""
    sub_attribute: str | None = None
    """``givenName`` of ``name.givenName``; None for a simple attribute."""
    schema: str | None = None
    """The URN written before the attribute, such as the enterprise user's; None if none."""


class CompareOp(StrEnum):
    EQ = "eq"
    NE = "ne"
    CO = "co"
    SW = "sw"
    EW = "ew"
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"


Literal = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Compare:
    path: AttributePath
    op: CompareOp
    value: Literal


@dataclass(frozen=True, slots=True)
class Present:
    path: AttributePath


@dataclass(frozen=True, slots=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True, slots=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True, slots=True)
class Not:
    inner: Filter


@dataclass(frozen=True, slots=True)
class ValuePath:
    """``emails[type eq "work" and value co "@x"]``: the inner filter's paths are
    sub-attributes of ``path.attribute`` and must hold for one and the same value. Inner
    paths carry the sub-attribute's name in ``attribute`` (``AttributePath("type")``), with
    ``sub_attribute`` and ``schema`` None; value paths do not nest."""

    path: AttributePath
    filter: Filter


Filter = Compare | Present | And | Or | Not | ValuePath


@dataclass(frozen=True, slots=True)
class PathExpression:
    """A PATCH path or attribute reference: ``[urn:]attribute[.sub]`` or
    ``[urn:]attribute[filter][.sub]``."""

    schema: str | None
    attribute: str
    value_filter: Filter | None = None
    sub_attribute: str | None = None


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![A-Za-z0-9_$:.-]))
  | (?P<punct>[()\[\].])
  | (?P<word>[A-Za-z_$][A-Za-z0-9_$:.\-]*)
    """,
    re.VERBOSE | re.DOTALL,
)
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$\-]*")
_LITERALS: dict[str, Literal] = {"true": True, "false": False, "null": None}
_OPERATORS = "a filter operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "punct", "string", "number", "word" or "end"
    text: str
    position: int


def _tokenize(text: str, noun: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if text[position] == '"':
                raise ScimFilterError(
                    len(text), "'\"' closing the string", f"the end of the {noun}"
                )
            raise ScimFilterError(position, f"a part of a {noun}", repr(text[position]))
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def parse_attribute_path(text: str, offset: int = 0) -> AttributePath:
    """``[URN ":"] attribute ["." sub-attribute]``; ``offset`` is where ``text`` starts in
    the text around it, for the error's position."""
    schema: str | None = None
    rest = text
    start = 0
    if text[:4].lower() == "urn:":
        schema, _, rest = text.rpartition(":")
        start = len(schema) + 1
    name, dot, sub = rest.partition(".")
    if _NAME.fullmatch(name) is None:
        found = repr(text[start:]) if text[start:] else "nothing"
        raise ScimFilterError(offset + start, "an attribute name", found)
    if dot and _NAME.fullmatch(sub) is None:
        where = start + len(name) + 1
        found = repr(text[where:]) if sub else "nothing"
        raise ScimFilterError(offset + where, "an attribute name", found)
    return AttributePath(name, sub or None, schema)


def parse_filter(
    text: str,
    *,
    max_depth: int = MAX_DEPTH,
    max_comparisons: int = MAX_COMPARISONS,
    noun: str = "filter",
) -> Filter:
    """A whole filter; ``noun`` names the text in error messages."""
    parser = _Parser(text, max_depth, max_comparisons, noun)
    result = parser.filter(inside=False)
    if parser.peek.kind != "end":
        raise parser.error(f"'and', 'or' or the end of the {noun}")
    return result


def parse_path(
    text: str,
    *,
    max_depth: int = MAX_DEPTH,
    max_comparisons: int = MAX_COMPARISONS,
    noun: str = "path",
) -> PathExpression:
    """A PATCH path or attribute reference; ``noun`` names the text in error messages."""
    parser = _Parser(text, max_depth, max_comparisons, noun)
    token = parser.peek
    if token.kind != "word":
        raise parser.error("an attribute name")
    parser.advance()
    path = parse_attribute_path(token.text, token.position)
    value_filter: Filter | None = None
    sub = path.sub_attribute
    if sub is None and parser.at("["):
        value_filter = parser.value_filter()
        if parser.at("."):
            parser.advance()
            sub = parser.name()
    if parser.peek.kind != "end":
        if sub is not None:
            raise parser.error(f"the end of the {noun}")
        if value_filter is not None:
            raise parser.error(f"'.' or the end of the {noun}")
        raise parser.error(f"'.', '[' or the end of the {noun}")
    return PathExpression(path.schema, path.attribute, value_filter, sub)


class _Parser:
    def __init__(self, text: str, max_depth: int, max_comparisons: int, noun: str) -> None:
        self.tokens = _tokenize(text, noun)
        self.index = 0
        self.depth = 0
        self.comparisons = 0
        self.max_depth = max_depth
        self.max_comparisons = max_comparisons
        self.noun = noun

    @property
    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at(self, punct: str) -> bool:
        return self.peek.kind == "punct" and self.peek.text == punct

    def error(self, expected: str) -> ScimFilterError:
        token = self.peek
        found = f"the end of the {self.noun}" if token.kind == "end" else repr(token.text[:40])
        return ScimFilterError(token.position, expected, found)

    def keyword(self, word: str) -> bool:
        token = self.peek
        if token.kind == "word" and token.text.lower() == word:
            self.advance()
            return True
        return False

    def group(self, closing: str, expected: str, *, inside: bool) -> Filter:
        """The filter after an opening bracket, one level deeper, and its closing bracket."""
        self.depth += 1
        if self.depth > self.max_depth:
            raise self.error(f"at most {self.max_depth} nested levels")
        inner = self.filter(inside=inside)
        if not self.at(closing):
            raise self.error(expected)
        self.advance()
        self.depth -= 1
        return inner

    def value_filter(self) -> Filter:
        self.advance()
        return self.group("]", "']' closing the filter", inside=True)

    def name(self) -> str:
        token = self.peek
        if token.kind != "word" or _NAME.fullmatch(token.text) is None:
            raise self.error("an attribute name")
        self.advance()
        return token.text

    def filter(self, *, inside: bool) -> Filter:
        result = self.conjunction(inside=inside)
        while self.keyword("or"):
            result = Or(result, self.conjunction(inside=inside))
        return result

    def conjunction(self, *, inside: bool) -> Filter:
        result = self.unary(inside=inside)
        while self.keyword("and"):
            result = And(result, self.unary(inside=inside))
        return result

    def unary(self, *, inside: bool) -> Filter:
        token = self.peek
        if token.kind == "word" and token.text.lower() == "not":
            following = self.tokens[self.index + 1]
            if following.kind == "punct" and following.text == "(":
                self.advance()
                self.advance()
                return Not(self.group(")", "')'", inside=inside))
        if self.at("("):
            self.advance()
            return self.group(")", "')'", inside=inside)
        return self.attribute_expression(inside=inside)

    def attribute_expression(self, *, inside: bool) -> Filter:
        token = self.peek
        self.comparisons += 1
        if self.comparisons > self.max_comparisons:
            raise self.error(f"at most {self.max_comparisons} comparisons")
        if inside:
            path = AttributePath(self.name())
        else:
            if token.kind != "word":
                raise self.error("an attribute name")
            self.advance()
            path = parse_attribute_path(token.text, token.position)
            if self.at("["):
                if path.sub_attribute is not None:
                    raise self.error(_OPERATORS)
                return ValuePath(path, self.value_filter())
        if self.keyword("pr"):
            return Present(path)
        operator = self.peek
        try:
            op = CompareOp(operator.text.lower()) if operator.kind == "word" else None
        except ValueError:
            op = None
        if op is None:
            raise self.error(_OPERATORS)
        self.advance()
        return Compare(path, op, self.literal())

    def literal(self) -> Literal:
        token = self.peek
        if token.kind == "word" and token.text.lower() in _LITERALS:
            self.advance()
            return _LITERALS[token.text.lower()]
        if token.kind not in ("string", "number"):
            raise self.error("a string, number, true, false or null")
        self.advance()
        if token.kind == "string":
            try:
                text: str = json.loads(token.text)
            except ValueError as exc:
                raise ScimFilterError(
                    token.position, "a JSON string", repr(token.text[:40])
                ) from exc
            return text
        number: int | float = json.loads(token.text)
        out_of_range = abs(number) >= 2**63 if isinstance(number, int) else abs(number) == inf
        if out_of_range:
            raise ScimFilterError(token.position, "a 64-bit number", repr(token.text[:40]))
        return number
