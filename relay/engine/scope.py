"""Scope: which directory users and groups a job provisions.

A job provisions either everyone ("all users and groups") or only those assigned to it
("assigned only"), and within that only the objects that pass its scoping filters, with
Entra ID's operators and rules: the clauses of one filter are ANDed, the filters are ORed,
no filter means everything passes, and a null or empty value matches no operator but
``IS NULL``.

Two things go beyond Entra ID: a clause on a multi-valued attribute looks at every value
(any value matching is enough; for the negated operators no value may match), and the
reference ``memberOf`` reads the groups the object is a member of.

Everything that can be wrong in a filter (an unknown operator, a missing or superfluous
value, a value that is not an integer where one is needed, a regular expression) is
refused when the filter is built, with a :class:`ScopingError` naming the filter and the
clause; evaluating a clause never raises. Regular expressions are compiled once with RE2,
whose matching time is linear in the input, so no pattern can stall a cycle by
backtracking; patterns RE2 refuses (look-around, back-references) are refused on save.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import re2

from relay.engine.exceptions import ExpressionError, ScopingError
from relay.engine.source import Source, compile_reference

#: The reference that reads the groups an object is a member of, not an attribute.
MEMBER_OF = "memberOf"


class ScopeMode(StrEnum):
    """Which directory objects a job considers before its filters apply."""

    ASSIGNED = "assigned"
    ALL = "all"


class Operator(StrEnum):
    """Entra ID's scoping operators, under the names its Graph API and portal use."""

    EQUALS = "EQUALS"
    NOT_EQUALS = "NOT EQUALS"
    IS_TRUE = "IS TRUE"
    IS_FALSE = "IS FALSE"
    IS_NULL = "IS NULL"
    IS_NOT_NULL = "IS NOT NULL"
    REGEX_MATCH = "REGEX MATCH"
    NOT_REGEX_MATCH = "NOT REGEX MATCH"
    GREATER_THAN = "Greater_Than"
    GREATER_THAN_OR_EQUALS = "Greater_Than_OR_EQUALS"
    LESS_THAN = "Less_Than"
    LESS_THAN_OR_EQUALS = "Less_Than_OR_EQUALS"
    INCLUDES = "Includes"
    ENDS_WITH = "ENDS_WITH"
    CONTAINED_IN = "&"
    NOT_CONTAINED_IN = "!&"

    @classmethod
    def parse(cls, text: str) -> Operator:
        """The operator a name stands for, ignoring case and ``_`` against space, so
        ``NOT_EQUALS``, ``not equals`` and ``Greater_Than`` are all accepted; raises
        :class:`ScopingError` for any other name."""
        operator = _OPERATORS.get(_fold(text))
        if operator is None:
            raise ScopingError(
                f"unknown operator {text!r}; the operators are "
                + ", ".join(repr(o.value) for o in cls)
            )
        return operator

    @property
    def unary(self) -> bool:
        return self in _UNARY


def _fold(text: str) -> str:
    return " ".join(text.replace("_", " ").split()).upper()


_OPERATORS = {_fold(o.value): o for o in Operator}
_UNARY = frozenset({Operator.IS_TRUE, Operator.IS_FALSE, Operator.IS_NULL, Operator.IS_NOT_NULL})
_NEGATED = frozenset({Operator.NOT_EQUALS, Operator.NOT_REGEX_MATCH, Operator.NOT_CONTAINED_IN})
_INTEGER = frozenset(
    {
        Operator.GREATER_THAN,
        Operator.GREATER_THAN_OR_EQUALS,
        Operator.LESS_THAN,
        Operator.LESS_THAN_OR_EQUALS,
    }
)


@dataclass(frozen=True, slots=True)
class Clause:
    """One condition on one source attribute.

    ``values`` holds the operand: none for the unary operators (``IS TRUE``, ``IS NULL``,
    ...), usually one otherwise. With several, the clause holds if any of them satisfies
    the operator (for the negated operators: if none satisfies its positive form).
    """

    attribute: str
    operator: Operator
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScopingFilter:
    """Clauses that must all hold; ``name`` is the administrator's title for it."""

    name: str
    clauses: tuple[Clause, ...]


Test = Callable[[Source], bool]


@dataclass(frozen=True, slots=True)
class Scope:
    """A job's scope for one kind of object: the mode and the filters, compiled once.

    Building a ``Scope`` checks every filter and raises :class:`ScopingError` for the
    first problem; :meth:`includes` then never raises.
    """

    mode: ScopeMode = ScopeMode.ASSIGNED
    filters: tuple[ScopingFilter, ...] = ()
    _tests: tuple[tuple[Test, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = tuple(
            tuple(_compile(flt, number, clause) for number, clause in enumerate(flt.clauses, 1))
            for flt in _checked(self.filters)
        )
        object.__setattr__(self, "_tests", compiled)

    def passes_filters(self, source: Source) -> bool:
        """Whether ``source`` passes the scoping filters (ignoring assignment)."""
        tests = self._tests
        if not tests:
            return True
        for clauses in tests:
            for test in clauses:
                if not test(source):
                    break
            else:
                return True
        return False

    def includes(self, source: Source, *, assigned: bool) -> bool:
        """Whether a job with this scope provisions ``source``; ``assigned`` says whether
        the object (directly or through a group) is assigned to the job's app."""
        if self.mode is ScopeMode.ASSIGNED and not assigned:
            return False
        return self.passes_filters(source)

    def explain(self, source: Source, *, assigned: bool) -> str | None:
        """Why ``source`` is out of scope, for an administrator asking where an object
        is; None when :meth:`includes` holds. With several filters, names each one's
        first failing clause, as any one of them passing would have let it through."""
        if self.mode is ScopeMode.ASSIGNED and not assigned:
            return "not assigned to the job"
        if not self._tests:
            return None
        reasons = []
        for flt, tests in zip(self.filters, self._tests, strict=True):
            failing = next((n for n, test in enumerate(tests) if not test(source)), None)
            if failing is None:
                return None
            reasons.append(f"scoping filter {flt.name!r}: {_describe(flt.clauses[failing])}")
        return "; ".join(reasons)


def _describe(clause: Clause) -> str:
    operand = " or ".join(repr(v) for v in clause.values)
    condition = f"{clause.attribute} {clause.operator.value}"
    return f"{condition} {operand} is false" if operand else f"{condition} is false"


def _checked(filters: Sequence[ScopingFilter]) -> Sequence[ScopingFilter]:
    names: set[str] = set()
    for flt in filters:
        if not flt.name.strip():
            raise ScopingError("a scoping filter needs a name")
        if flt.name in names:
            raise ScopingError(f"scoping filter {flt.name!r}: two filters have this name")
        names.add(flt.name)
        if not flt.clauses:
            raise ScopingError(f"scoping filter {flt.name!r}: a filter needs at least one clause")
    return filters


def _where(flt: ScopingFilter, number: int, clause: Clause) -> str:
    return f"scoping filter {flt.name!r}, clause {number} ({clause.attribute} {clause.operator})"


def _compile(flt: ScopingFilter, number: int, clause: Clause) -> Test:
    where = _where(flt, number, clause)
    if not isinstance(clause.operator, Operator):
        raise ScopingError(f"{where}: unknown operator")
    if not clause.attribute.strip():
        raise ScopingError(f"{where}: the clause names no attribute")
    if any(not isinstance(v, str) for v in clause.values):
        raise ScopingError(f"{where}: values must be strings")
    operator = clause.operator
    if operator.unary:
        if clause.values:
            raise ScopingError(f"{where}: {operator} takes no value")
    elif not clause.values:
        raise ScopingError(f"{where}: {operator} needs a value")
    read = _reader(clause.attribute, where)
    if operator is Operator.IS_NULL:
        return lambda source: _is_null(read(source))
    if operator is Operator.IS_NOT_NULL:
        return lambda source: not _is_null(read(source))
    holds = _predicate(operator, clause.values, where)
    negated = operator in _NEGATED

    def test(source: Source) -> bool:
        value = read(source)
        if value.__class__ is str:  # the common case, first
            return value != "" and holds(value)
        if value is None or value == []:
            return False
        if isinstance(value, list):
            present = [v for v in value if v is not None and v != ""]
            if not present:
                return False
            if negated:
                return all(holds(v) for v in present)
            return any(holds(v) for v in present)
        return holds(value)

    return test


def _reader(attribute: str, where: str) -> Callable[[Source], Any]:
    if attribute == MEMBER_OF:
        return lambda source: list(source.groups)
    try:
        return compile_reference(attribute)
    except ExpressionError as exc:
        raise ScopingError(f"{where}: attribute {attribute!r}: {exc}") from exc


def _is_null(value: Any) -> bool:
    if isinstance(value, list):
        return all(v is None or v == "" for v in value)
    return value is None or value == ""


def _text(value: Any) -> str | None:
    """The text a clause compares: booleans as .NET writes them, numbers in decimal."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        return str(value)
    return None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _predicate(operator: Operator, values: tuple[str, ...], where: str) -> Callable[[Any], bool]:
    """What one value must satisfy; the negated operators return the negation of their
    positive form's result across all operand values."""
    if operator is Operator.IS_TRUE:
        return lambda v: v is True or (isinstance(v, str) and v.strip().lower() == "true")
    if operator is Operator.IS_FALSE:
        return lambda v: v is False or (isinstance(v, str) and v.strip().lower() == "false")
    if operator in _INTEGER:
        return _integer_predicate(operator, values, where)
    if operator in (Operator.REGEX_MATCH, Operator.NOT_REGEX_MATCH):
        return _regex_predicate(operator, values, where)
    return _on_text(_text_test(operator, values), negated=operator in _NEGATED)


def _text_test(operator: Operator, values: tuple[str, ...]) -> Callable[[str], bool]:
    if operator in (Operator.EQUALS, Operator.NOT_EQUALS):
        return frozenset(values).__contains__
    if operator is Operator.ENDS_WITH:
        suffixes = tuple(values)
        return lambda text: text.endswith(suffixes)
    if operator is Operator.INCLUDES:
        return lambda text: any(v in text for v in values)
    # & and !&: the attribute's value occurs in the operand.
    return lambda text: any(text in v for v in values)


def _on_text(positive: Callable[[str], bool], *, negated: bool) -> Callable[[Any], bool]:
    def holds(value: Any) -> bool:
        text = value if value.__class__ is str else _text(value)
        if text is None:
            return False
        return positive(text) != negated

    return holds


def _integer_predicate(
    operator: Operator, values: tuple[str, ...], where: str
) -> Callable[[Any], bool]:
    bounds = []
    for text in values:
        bound = _integer(text)
        if bound is None:
            raise ScopingError(f"{where}: {text!r} is not an integer")
        bounds.append(bound)
    compare: Callable[[int, int], bool] = {
        Operator.GREATER_THAN: int.__gt__,
        Operator.GREATER_THAN_OR_EQUALS: int.__ge__,
        Operator.LESS_THAN: int.__lt__,
        Operator.LESS_THAN_OR_EQUALS: int.__le__,
    }[operator]

    def holds(value: Any) -> bool:
        number = _integer(value)
        return number is not None and any(compare(number, b) for b in bounds)

    return holds


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.never_capture = True
#: google-re2's ``search`` wraps the C++ match in Python (offsets, a match object) and costs
#: about five times the match itself; a clause only needs whether there is a match, so it
#: calls the compiled program's ``Match`` directly (the test suite checks both agree).
_UNANCHORED = re2._re2.RE2.Anchor.UNANCHORED


def _regex_predicate(
    operator: Operator, values: tuple[str, ...], where: str
) -> Callable[[Any], bool]:
    programs = []
    for text in values:
        try:
            programs.append(re2.compile(text, _RE2_OPTIONS)._regexp)
        except re2.error as exc:
            reason = exc.args[0] if exc.args else exc
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            raise ScopingError(
                f"{where}: the regular expression {text!r} is refused: {reason}"
                " (RE2 syntax: no look-around or back-references)"
            ) from exc

    def found(text: str) -> bool:
        data = text.encode("utf-8", "surrogatepass")
        end = len(data)
        return any(p.Match(_UNANCHORED, data, 0, end)[0][0] >= 0 for p in programs)

    return _on_text(found, negated=operator is Operator.NOT_REGEX_MATCH)
