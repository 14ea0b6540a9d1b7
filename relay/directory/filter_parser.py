"""SCIM filters (RFC 7644 §3.4.2.2) parsed into :mod:`relay.directory.query` trees.

A recursive-descent parser over a small tokenizer, with the RFC's precedence (``not`` binds
tighter than ``and``, ``and`` tighter than ``or``), grouping, value paths and attribute paths
with schema URNs. Attribute names are checked against the resource type's schemas and
normalised to their spelling, so the stores never see a name they do not know. Filters come
from the network: length, nesting depth and the number of comparisons are bounded, and any
fault is a 400 ``invalidFilter``, never an exception of another kind.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from math import inf

from relay.directory.errors import ScimError, invalid_filter
from relay.directory.query import (
    And,
    AttributePath,
    Compare,
    CompareOp,
    Filter,
    Not,
    Or,
    Present,
    ValuePath,
)
from relay.directory.schemas import Attribute, ResourceType, Returned, Type

#: Longest filter text accepted, in characters.
MAX_FILTER_LENGTH = 4096
#: Deepest nesting of parentheses, ``not`` and value paths.
MAX_DEPTH = 16
#: Most comparisons (``eq``, ``pr``, ...) in one filter.
MAX_COMPARISONS = 100

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<punct>[()\[\]])
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![A-Za-z0-9_$:.-]))
  | (?P<word>[A-Za-z_$][A-Za-z0-9_$:.\-]*)
    """,
    re.VERBOSE | re.DOTALL,
)

_ORDERING = {CompareOp.GT, CompareOp.GE, CompareOp.LT, CompareOp.LE}
_SUBSTRING = {CompareOp.CO, CompareOp.SW, CompareOp.EW}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "punct", "string", "number", "word" or "end"
    text: str
    position: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            snippet = text[position : position + 20]
            raise invalid_filter(f"unexpected text at character {position + 1}: {snippet!r}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def split_path(text: str) -> tuple[str | None, str, str | None]:
    """``[URN ":"] attribute ["." sub-attribute]`` into its three parts."""
    urn: str | None = None
    rest = text
    if text.lower().startswith("urn:"):
        urn, sep, rest = text.rpartition(":")
        if not sep or not urn:
            raise ValueError(f"{text!r} is not an attribute path")
    name, dot, sub = rest.partition(".")
    if not name or (dot and not sub) or "." in sub:
        raise ValueError(f"{text!r} is not an attribute path")
    return urn, name, sub or None


def resolve_path(
    text: str, resource_type: ResourceType
) -> tuple[AttributePath, Attribute, Attribute | None]:
    """An attribute path checked against the schemas, in the schema's spelling, with the
    attribute's and sub-attribute's definitions. :class:`ValueError` says what is wrong."""
    urn, name, sub = split_path(text)
    found = resource_type.resolve(name, urn)
    if found is None:
        where = f" in schema {urn}" if urn else ""
        raise ValueError(f"unknown attribute {name!r}{where}")
    attribute, schema = found
    sub_attribute: Attribute | None = None
    if sub is not None:
        sub_attribute = attribute.sub(sub)
        if sub_attribute is None:
            raise ValueError(f"unknown sub-attribute {sub!r} of {attribute.name!r}")
    path = AttributePath(
        attribute.name, None if sub_attribute is None else sub_attribute.name, schema
    )
    return path, attribute, sub_attribute


def parse_filter(text: str, resource_type: ResourceType) -> Filter:
    """Parse ``text`` for ``resource_type``; raises :class:`ScimError` (400 invalidFilter)."""
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid_filter(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    if not text.strip():
        raise invalid_filter("the filter is empty")
    parser = _Parser(tokenize(text), resource_type)
    result = parser.filter(0, None)
    if parser.peek.kind != "end":
        raise parser.error("expected 'and', 'or' or the end of the filter")
    return result


def parse_value_filter(text: str, resource_type: ResourceType, parent: Attribute) -> Filter:
    """The filter inside ``parent[...]`` of a PATCH path: its paths are ``parent``'s
    sub-attributes. Raises :class:`ScimError` (400 invalidFilter)."""
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid_filter(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    if not text.strip():
        raise invalid_filter("the value filter is empty")
    parser = _Parser(tokenize(text), resource_type)
    result = parser.filter(1, parent)
    if parser.peek.kind != "end":
        raise parser.error("expected 'and', 'or' or ']'")
    return result


class _Parser:
    def __init__(self, tokens: list[Token], resource_type: ResourceType) -> None:
        self.tokens = tokens
        self.index = 0
        self.resource_type = resource_type
        self.comparisons = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def error(self, problem: str) -> ScimError:
        token = self.peek
        found = "the end of the filter" if token.kind == "end" else repr(token.text[:40])
        return invalid_filter(f"{problem} at character {token.position + 1} (found {found})")

    def keyword(self, *words: str) -> str | None:
        token = self.peek
        if token.kind == "word" and token.text.lower() in words:
            self.advance()
            return token.text.lower()
        return None

    def expect(self, punct: str) -> None:
        if self.peek.kind != "punct" or self.peek.text != punct:
            raise self.error(f"expected {punct!r}")
        self.advance()

    def filter(self, depth: int, parent: Attribute | None) -> Filter:
        """``or`` has the lowest precedence."""
        if depth > MAX_DEPTH:
            raise self.error(f"the filter nests deeper than {MAX_DEPTH} levels")
        result = self.conjunction(depth, parent)
        while self.keyword("or"):
            result = Or(result, self.conjunction(depth, parent))
        return result

    def conjunction(self, depth: int, parent: Attribute | None) -> Filter:
        result = self.unary(depth, parent)
        while self.keyword("and"):
            result = And(result, self.unary(depth, parent))
        return result

    def unary(self, depth: int, parent: Attribute | None) -> Filter:
        token = self.peek
        if token.kind == "word" and token.text.lower() == "not":
            following = self.tokens[self.index + 1]
            if following.kind == "punct" and following.text == "(":
                self.advance()
                self.advance()
                inner = self.filter(depth + 1, parent)
                self.expect(")")
                return Not(inner)
        if token.kind == "punct" and token.text == "(":
            self.advance()
            inner = self.filter(depth + 1, parent)
            self.expect(")")
            return inner
        return self.attribute_expression(depth, parent)

    def attribute_expression(self, depth: int, parent: Attribute | None) -> Filter:
        token = self.peek
        if token.kind != "word":
            raise self.error("expected an attribute name")
        self.advance()
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise self.error(f"the filter has more than {MAX_COMPARISONS} comparisons")
        path, attribute, sub_attribute = self.path(token, parent)
        if self.peek.kind == "punct" and self.peek.text == "[":
            if parent is not None or sub_attribute is not None:
                raise self.error("value filters do not nest and take no sub-attribute")
            if attribute.type != Type.COMPLEX:
                raise self.error(f"{attribute.name!r} is not complex: it has no value filter")
            self.advance()
            inner = self.filter(depth + 1, attribute)
            self.expect("]")
            return ValuePath(path, inner)
        target = sub_attribute or attribute
        if self.keyword("pr"):
            return Present(path)
        operator = self.peek
        try:
            op = CompareOp(operator.text.lower()) if operator.kind == "word" else None
        except ValueError:
            op = None
        if op is None:
            raise self.error("expected an operator (eq ne co sw ew gt ge lt le pr)")
        self.advance()
        value = self.value()
        if target.type == Type.COMPLEX:
            value_sub = target.sub("value")
            if value_sub is None or sub_attribute is not None:
                raise self.error(f"{target.name!r} is complex: name one of its sub-attributes")
            path = AttributePath(path.attribute, value_sub.name, path.schema)
            target = value_sub
        return Compare(path, op, self.checked(target, op, value, operator))

    def path(
        self, token: Token, parent: Attribute | None
    ) -> tuple[AttributePath, Attribute, Attribute | None]:
        if parent is not None:
            found = parent.sub(token.text)
            if found is None:
                raise invalid_filter(
                    f"unknown sub-attribute {token.text!r} of {parent.name!r}"
                    f" at character {token.position + 1}"
                )
            return AttributePath(found.name), found, None
        try:
            path, attribute, sub_attribute = resolve_path(token.text, self.resource_type)
        except ValueError as exc:
            raise invalid_filter(f"{exc} at character {token.position + 1}") from exc
        if (sub_attribute or attribute).returned == Returned.NEVER:
            raise invalid_filter(f"{token.text!r} cannot be filtered on")
        return path, attribute, sub_attribute

    def value(self) -> str | int | float | bool | None:
        token = self.peek
        literal = {"true": True, "false": False, "null": None}
        if token.kind == "word" and token.text.lower() in literal:
            self.advance()
            return literal[token.text.lower()]
        if token.kind not in ("string", "number"):
            raise self.error("expected a value: a quoted string, a number, true, false or null")
        self.advance()
        if token.kind == "string":
            try:
                text: str = json.loads(token.text)
            except ValueError as exc:
                raise invalid_filter(
                    f"bad string at character {token.position + 1}: {exc}"
                ) from exc
            return text
        number: int | float = json.loads(token.text)
        out_of_range = abs(number) >= 2**63 if isinstance(number, int) else abs(number) == inf
        if out_of_range:
            raise invalid_filter(f"number out of range at character {token.position + 1}")
        return number

    def checked(
        self,
        attribute: Attribute,
        op: CompareOp,
        value: str | int | float | bool | None,
        operator: Token,
    ) -> str | int | float | bool | None:
        """The value converted to the attribute's type, or invalidFilter if it cannot be."""
        where = f"at character {operator.position + 1}"
        if attribute.type == Type.BOOLEAN:
            if op in _ORDERING or op in _SUBSTRING:
                raise invalid_filter(f"{op.value!r} does not apply to boolean {attribute.name!r}")
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            if not isinstance(value, bool) and value is not None:
                raise invalid_filter(f"{attribute.name!r} compares with true or false {where}")
            return value
        if attribute.type == Type.BINARY and op in _ORDERING:
            raise invalid_filter(f"{op.value!r} does not apply to binary {attribute.name!r}")
        if op in _SUBSTRING and not isinstance(value, str):
            raise invalid_filter(f"{op.value!r} needs a quoted string {where}")
        if value is None:
            if op not in (CompareOp.EQ, CompareOp.NE):
                raise invalid_filter(f"null only compares with eq or ne {where}")
            return None
        if attribute.type in (Type.INTEGER, Type.DECIMAL):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise invalid_filter(f"{attribute.name!r} compares with a number {where}")
            if attribute.type == Type.INTEGER and isinstance(value, float):
                raise invalid_filter(f"{attribute.name!r} compares with a whole number {where}")
            return value
        if not isinstance(value, str):
            raise invalid_filter(f"{attribute.name!r} compares with a quoted string {where}")
        if attribute.type == Type.DATE_TIME and op not in _SUBSTRING:
            try:
                datetime.fromisoformat(value)
            except ValueError as exc:
                raise invalid_filter(f"{value!r} is not an ISO 8601 date and time") from exc
        return value
