"""SCIM attribute paths (RFC 7644 section 3.10) compiled into functions of a source object.

``[urn:]attribute[.sub]`` and ``[urn:]attribute[filter][.sub]``, where the filter takes
``eq ne co sw ew gt ge lt le pr``, ``and``, ``or``, ``not (...)`` and parentheses. Attribute
names and string comparisons are case-insensitive, as SCIM's are. A filtered path that
matches one value gives that value and several give a list; an unfiltered path into a
multi-valued attribute gives a list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from relay.engine.exceptions import ExpressionSyntaxError

if TYPE_CHECKING:
    from relay.engine.source import Resolver, Source, Value

CORE_SCHEMAS = (
    "urn:ietf:params:scim:schemas:core:2.0:user",
    "urn:ietf:params:scim:schemas:core:2.0:group",
)


def field(container: Mapping[str, Any], name: str) -> Any:
    """A SCIM attribute of a complex value; names compare case-insensitively (RFC 7643 2.1)."""
    value = container.get(name)
    if value is not None or name in container:
        return value
    size = len(name)
    folded = name.casefold()
    for key in container:
        if len(key) == size and key.casefold() == folded:
            return container[key]
    return None


def is_mapping(value: Any) -> bool:
    return value.__class__ is dict or isinstance(value, Mapping)


def present(value: Any) -> Value:
    """Absent, empty strings and empty lists read as ``None``: Entra has no empty attributes."""
    if not value and (value == "" or value == [] or value == {}):
        return None
    return value  # type: ignore[no-any-return]


Predicate: TypeAlias = Callable[[Mapping[str, Any]], bool]

MAX_FILTER_DEPTH = 20
"""The deepest nesting of parentheses in a value-path filter."""

_OPERATORS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")


def _compare(operator: str, actual: Any, expected: Any) -> bool:
    if actual is None:
        return operator == "ne" and expected is not None
    if isinstance(actual, str) and isinstance(expected, str):
        actual, expected = actual.casefold(), expected.casefold()
    if operator == "eq":
        return bool(actual == expected)
    if operator == "ne":
        return bool(actual != expected)
    if operator in ("co", "sw", "ew"):
        if not isinstance(actual, str) or not isinstance(expected, str):
            return False
        if operator == "co":
            return expected in actual
        return actual.startswith(expected) if operator == "sw" else actual.endswith(expected)
    try:
        if operator == "gt":
            return bool(actual > expected)
        if operator == "ge":
            return bool(actual >= expected)
        if operator == "lt":
            return bool(actual < expected)
        return bool(actual <= expected)
    except TypeError:
        return False


class _PathParser:
    """Parses ``[urn:]attr[.sub]`` and ``[urn:]attr[filter][.sub]`` (RFC 7644 3.10)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    # -- helpers
    def _error(self, expected: str) -> ExpressionSyntaxError:
        if self.pos >= len(self.text):
            return ExpressionSyntaxError(self.pos, expected, "the end of the reference")
        return ExpressionSyntaxError(self.pos, expected, repr(self.text[self.pos]))

    def _skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def _name(self) -> str:
        start = self.pos
        text = self.text
        while self.pos < len(text) and (text[self.pos].isalnum() or text[self.pos] in "_-$"):
            self.pos += 1
        if self.pos == start:
            raise self._error("an attribute name")
        return text[start : self.pos]

    # -- grammar
    def resolver(self) -> Resolver:
        text = self.text
        urn: str | None = None
        head = text.split("[", 1)[0]
        if head[:4].lower() == "urn:":
            urn, _, _ = head.rpartition(":")
            if not urn or urn.endswith(":"):
                raise ExpressionSyntaxError(
                    len(head), "an attribute name after the schema URN", "the end of the reference"
                )
            self.pos = len(urn) + 1
        self._skip_spaces()
        attribute = self._name()
        predicate: Predicate | None = None
        if self.pos < len(text) and text[self.pos] == "[":
            self.pos += 1
            predicate = self._filter()
            self._skip_spaces()
            if self.pos >= len(text) or text[self.pos] != "]":
                raise self._error("']' closing the filter")
            self.pos += 1
        sub: str | None = None
        if self.pos < len(text) and text[self.pos] == ".":
            self.pos += 1
            sub = self._name()
        self._skip_spaces()
        if self.pos != len(text):
            raise self._error("'.', '[' or the end of the reference")
        return _path_resolver(urn, attribute, predicate, sub)

    def _filter(self) -> Predicate:
        left = self._conjunction()
        while self._keyword("or"):
            right = self._conjunction()
            left = (lambda a, b: lambda e: a(e) or b(e))(left, right)
        return left

    def _conjunction(self) -> Predicate:
        left = self._factor()
        while self._keyword("and"):
            right = self._factor()
            left = (lambda a, b: lambda e: a(e) and b(e))(left, right)
        return left

    def _keyword(self, word: str) -> bool:
        self._skip_spaces()
        end = self.pos + len(word)
        if self.text[self.pos : end].lower() == word and (
            end < len(self.text) and self.text[end] in " ("
        ):
            self.pos = end
            return True
        return False

    def _factor(self) -> Predicate:
        self._skip_spaces()
        if self._keyword("not"):
            self._skip_spaces()
            if self.pos >= len(self.text) or self.text[self.pos] != "(":
                raise self._error("'(' after not")
            inner = self._group()
            return lambda e: not inner(e)
        if self.pos < len(self.text) and self.text[self.pos] == "(":
            return self._group()
        name = self._name()
        self._skip_spaces()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos].isalpha():
            self.pos += 1
        operator = self.text[start : self.pos].lower()
        if operator == "pr":
            return lambda e: present(field(e, name)) is not None
        if operator not in _OPERATORS:
            self.pos = start
            raise self._error("a filter operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)")
        expected = self._literal()
        if operator == "eq" and isinstance(expected, str):
            folded = expected.casefold()

            def equals(element: Mapping[str, Any]) -> bool:
                actual = field(element, name)
                return actual.__class__ is str and actual.casefold() == folded

            return equals
        return lambda e: _compare(operator, field(e, name), expected)

    def _group(self) -> Predicate:
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            raise self._error(f"at most {MAX_FILTER_DEPTH} nested parentheses in a filter")
        self.pos += 1
        inner = self._filter()
        self.depth -= 1
        self._skip_spaces()
        if self.pos >= len(self.text) or self.text[self.pos] != ")":
            raise self._error("')'")
        self.pos += 1
        return inner

    def _literal(self) -> Any:
        self._skip_spaces()
        text = self.text
        if self.pos < len(text) and text[self.pos] == '"':
            chars: list[str] = []
            self.pos += 1
            while self.pos < len(text) and text[self.pos] != '"':
                if text[self.pos] == "\\" and self.pos + 1 < len(text):
                    self.pos += 1
                chars.append(text[self.pos])
                self.pos += 1
            if self.pos >= len(text):
                raise self._error("'\"' closing the string")
            self.pos += 1
            return "".join(chars)
        start = self.pos
        while self.pos < len(text) and (text[self.pos].isalnum() or text[self.pos] in ".-+"):
            self.pos += 1
        word = text[start : self.pos]
        keywords: dict[str, Any] = {"true": True, "false": False, "null": None}
        if word.lower() in keywords:
            return keywords[word.lower()]
        try:
            return int(word)
        except ValueError:
            try:
                return float(word)
            except ValueError:
                self.pos = start
                raise self._error("a string, number, true, false or null") from None


def _path_resolver(
    urn: str | None, attribute: str, predicate: Predicate | None, sub: str | None
) -> Resolver:
    core = urn is None or urn.casefold() in CORE_SCHEMAS

    def container(source: Source) -> Mapping[str, Any] | None:
        if core:
            return source.resource
        found = field(source.resource, urn)  # type: ignore[arg-type]
        return found if isinstance(found, Mapping) else None

    if predicate is None and sub is None:

        def plain(source: Source) -> Value:
            holder = source.resource if core else container(source)
            return None if holder is None else present(field(holder, attribute))

        return plain

    general = _nested_resolver(container, attribute, predicate, sub)
    if predicate is None and sub is not None:

        def dotted(source: Source) -> Value:
            # The common case (name.givenName) without the general path's checks.
            holder = source.resource if core else container(source)
            value = None if holder is None else holder.get(attribute)
            if value.__class__ is dict:
                found = value.get(sub)
                if found is not None:
                    return present(found)
            return general(source)

        return dotted
    return general


def _nested_resolver(
    container: Callable[[Source], Mapping[str, Any] | None],
    attribute: str,
    predicate: Predicate | None,
    sub: str | None,
) -> Resolver:

    def nested(source: Source) -> Value:
        holder = container(source)
        if holder is None:
            return None
        value = field(holder, attribute)
        if value is None:
            return None
        if value.__class__ is not list:
            if not is_mapping(value) or (predicate is not None and not predicate(value)):
                return None
            return present(field(value, sub)) if sub is not None else dict(value)
        picked: list[Any] = []
        for element in value:
            if not is_mapping(element) or (predicate is not None and not predicate(element)):
                continue
            if sub is None:
                picked.append(dict(element))
            else:
                found = present(field(element, sub))
                if found is not None:
                    picked.append(found)
        if not picked:
            return None
        if predicate is not None and len(picked) == 1:
            return picked[0]  # type: ignore[no-any-return]
        return picked

    return nested


def compile_path(text: str) -> Resolver:
    """A SCIM path's text as a function of a source; raises ExpressionSyntaxError."""
    return _PathParser(text).resolver()
