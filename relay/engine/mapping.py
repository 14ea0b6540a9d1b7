"""Attribute mappings: how a target object's attributes follow from a directory object.

An :class:`ObjectMapping` says, for one kind of directory object (users or groups), which
target object class it becomes and how each target attribute is computed: copied from a
source attribute (direct), a fixed value (constant), an expression, or nothing but a default
on create (none). It is plain data, what a job file holds; a :class:`Mapper` is the same
mapping compiled once: expressions parsed, target attributes checked against the
connector's schema, constants converted to the attribute's type. Every such problem is a
:class:`MappingError` that names the mapping, raised when the mapping is saved, never in the
middle of a cycle; evaluation can fail only on one object's values (an
:class:`~relay.engine.exceptions.EvaluationError` from an expression).

Semantics, as in Entra ID:

- ``default`` is used when an object is created and the source yields null or empty; on
  later updates such a mapping leaves the target value alone instead of clearing it.
- ``apply = "create"`` mappings only flow when the object is created.
- ``IgnoreFlowIfNullOrEmpty`` makes a mapping send nothing at all for that object.
- Matching attributes (``matching`` 1, 2, ...) find an existing target object for a source
  object: the lowest number is tried first, the first match wins.
- A ``reference`` mapping's values are directory object ids (a manager, group members): each
  is replaced by that object's anchor in the target, and ids the caller cannot resolve are
  left out; group members outside the job's scope are left out too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from relay.engine.exceptions import ExpressionError, MappingError
from relay.engine.expressions import (
    IGNORE_FLOW,
    EvaluationContext,
    Expression,
    compile_expression,
)
from relay.engine.mapping_schema import attribute_info, converted
from relay.engine.scope import ScopingFilter
from relay.engine.source import Source, compile_reference
from shared.connector import (
    GROUP,
    USER,
    Attributes,
    Equals,
    ObjectClassInfo,
    Scalar,
)


class MappingType(StrEnum):
    DIRECT = "direct"
    CONSTANT = "constant"
    EXPRESSION = "expression"
    NONE = "none"


class ApplyOn(StrEnum):
    """When a mapping flows: on every create and update, or only when creating."""

    ALWAYS = "always"
    CREATE = "create"


@dataclass(frozen=True, slots=True)
class AttributeMapping:
    """How one target attribute is computed.

    ``source`` is the source attribute reference of a direct mapping (``userPrincipalName``,
    ``name.givenName``, ``emails[type eq "work"].value``); ``expression`` the text of an
    expression mapping; ``value`` the value of a constant mapping.
    """

    target: str
    type: MappingType
    source: str = ""
    expression: str = ""
    value: Scalar = None
    default: Scalar = None
    apply: ApplyOn = ApplyOn.ALWAYS
    #: 0: not a matching attribute; 1, 2, ...: matching precedence, 1 tried first.
    matching: int = 0
    #: The values are directory object ids to resolve to target anchors.
    reference: bool = False


@dataclass(frozen=True, slots=True)
class ObjectMapping:
    """The mapping of one kind of directory object (``user`` or ``group``) to a target
    object class, with the scoping filters that apply to it."""

    kind: str
    object_class: str
    mappings: tuple[AttributeMapping, ...]
    filters: tuple[ScopingFilter, ...] = ()
    enabled: bool = True

    def mapping(self, target: str) -> AttributeMapping | None:
        return next((m for m in self.mappings if m.target == target), None)


def _always(_: str) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Links:
    """What the caller knows about other objects, for ``reference`` mappings.

    ``resolve`` gives the target anchor of a directory object by id (None when it has none
    yet); ``in_scope`` says whether a group member is in the job's scope.
    """

    resolve: Callable[[str], str | None]
    in_scope: Callable[[str], bool] = _always


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


_DIRECT, _CONSTANT, _EXPRESSION, _NONE = range(4)


@dataclass(frozen=True, slots=True)
class _Step:
    target: str
    kind: int
    #: The compiled source reference (direct), the value (constant) or the Expression.
    payload: Any
    default: Scalar
    reference: bool
    multi_valued: bool


class Mapper:
    """An :class:`ObjectMapping` compiled for evaluation, optionally checked against the
    target object class's schema (``schema``); raises :class:`MappingError` when refused."""

    def __init__(self, mapping: ObjectMapping, schema: ObjectClassInfo | None = None) -> None:
        if mapping.kind not in (USER, GROUP):
            raise MappingError(
                f"object mapping for {mapping.kind!r}: the kind must be {USER!r} or {GROUP!r}"
            )
        if schema is not None and schema.name != mapping.object_class:
            raise MappingError(
                f"object mapping for {mapping.kind}s: the schema is of object class"
                f" {schema.name!r}, not {mapping.object_class!r}"
            )
        self.mapping = mapping
        self.schema = schema
        _check_targets(mapping)
        steps = [_step(mapping, m, schema) for m in mapping.mappings]
        by_target = {s.target: s for s in steps}
        creating = [s for s in steps if s.kind != _NONE or s.default is not None]
        self._create_steps = tuple(creating)
        self._update_steps = tuple(
            s
            for s, m in zip(steps, mapping.mappings, strict=True)
            if m.apply is ApplyOn.ALWAYS and s.kind != _NONE
        )
        self._plans = {True: _plans(self._create_steps), False: _plans(self._update_steps)}
        matching = sorted((m for m in mapping.mappings if m.matching > 0), key=_precedence)
        self._matching = tuple(by_target[m.target] for m in matching)
        self.needs_target = any(
            s.kind == _EXPRESSION and s.payload.needs_target for s in self._create_steps
        )

    @property
    def matching_attributes(self) -> tuple[str, ...]:
        """The target attributes used to match, in precedence order."""
        return tuple(s.target for s in self._matching)

    def attributes(
        self,
        source: Source,
        *,
        create: bool,
        links: Links | None = None,
        context: EvaluationContext | None = None,
    ) -> Attributes:
        """The target attributes for ``source``: all of them when creating, the ``always``
        ones for an update. Mappings whose expression uses ``SelectUniqueValue`` need
        :meth:`attributes_async`."""
        out: Attributes = {}
        # This runs for every attribute of every object in a cycle, so direct mappings get a
        # loop of their own and the common case (a non-empty value, not a reference) is
        # stored inline.
        directs, others = self._plans[create]
        for target, read, plain, step in directs:
            value = read(source)
            if plain and value:
                out[target] = value
            else:
                _put(out, step, value, create, links)
        for target, kind, payload, plain, step in others:
            if kind == _EXPRESSION:
                value = payload.evaluate(source, context)
            elif kind == _CONSTANT:
                value = payload
            else:
                value = None
            if plain and value:
                out[target] = value
            else:
                _put(out, step, value, create, links)
        return out

    async def attributes_async(
        self,
        source: Source,
        *,
        create: bool,
        links: Links | None = None,
        context: EvaluationContext,
    ) -> Attributes:
        """As :meth:`attributes`, awaiting expressions that check the target for unique
        values (``SelectUniqueValue``) through ``context.is_unique``, asked about each
        mapping's own target attribute."""
        out: Attributes = {}
        for step in self._create_steps if create else self._update_steps:
            kind = step.kind
            if kind == _DIRECT:
                value = step.payload(source)
            elif kind == _CONSTANT:
                value = step.payload
            elif kind == _EXPRESSION:
                expression: Expression = step.payload
                if expression.needs_target:
                    value = await expression.evaluate_async(
                        source, replace(context, target_attribute=step.target)
                    )
                else:
                    value = expression.evaluate(source, context)
            else:
                value = None
            _put(out, step, value, create, links)
        return out

    def matching_filters(
        self,
        source: Source,
        *,
        links: Links | None = None,
        context: EvaluationContext | None = None,
    ) -> list[Equals]:
        """One equality filter per matching attribute with a value for ``source``, in
        precedence order: search the target with each in turn; the first match wins."""
        filters = []
        for step in self._matching:
            computed: Attributes = {}
            if step.kind == _DIRECT:
                value = step.payload(source)
            elif step.kind == _CONSTANT:
                value = step.payload
            else:
                value = step.payload.evaluate(source, context)
            _put(computed, step, value, True, links)
            found = computed.get(step.target)
            if isinstance(found, list):
                found = next((v for v in found if not _empty(v)), None)
            if not _empty(found):
                filters.append(Equals(step.target, found))
        return filters


_Plans = tuple[
    tuple[tuple[str, Any, bool, _Step], ...], tuple[tuple[str, int, Any, bool, _Step], ...]
]


def _plans(steps: tuple[_Step, ...]) -> _Plans:
    """The steps as tuples for :meth:`Mapper.attributes`: direct mappings apart."""
    directs = tuple((s.target, s.payload, not s.reference, s) for s in steps if s.kind == _DIRECT)
    others = tuple(
        (s.target, s.kind, s.payload, not s.reference, s) for s in steps if s.kind != _DIRECT
    )
    return directs, others


def _precedence(mapping: AttributeMapping) -> int:
    return mapping.matching


def _put(out: Attributes, step: _Step, value: Any, create: bool, links: Links | None) -> None:
    if value is IGNORE_FLOW:
        return
    if step.reference and not _empty(value):
        value = _resolve(value, links)
        if value is None:
            return  # a reference without an anchor yet: leave the target's value alone
    if _empty(value):
        if step.default is not None:
            if create:
                out[step.target] = step.default
            return
        if create:
            return
        value = [] if step.multi_valued or isinstance(value, list) else None
    out[step.target] = value


def _resolve(value: Any, links: Links | None) -> Any:
    """Directory ids (or SCIM ``{"value": id}`` items) to target anchors; ids without an
    anchor, and members out of scope, are left out."""
    if links is None:
        return [] if isinstance(value, list) else None
    if isinstance(value, list):
        anchors = []
        for item in value:
            ident = _ident(item)
            if ident is not None and links.in_scope(ident):
                anchor = links.resolve(ident)
                if anchor is not None:
                    anchors.append(anchor)
        return anchors
    ident = _ident(value)
    return None if ident is None else links.resolve(ident)


def _ident(item: Any) -> str | None:
    if isinstance(item, Mapping):
        item = item.get("value")
    if isinstance(item, str) and item:
        return item
    return None


def _check_targets(mapping: ObjectMapping) -> None:
    seen: set[str] = set()
    precedences: dict[int, str] = {}
    for m in mapping.mappings:
        where = _where(mapping, m)
        if not m.target.strip():
            raise MappingError(f"a {mapping.kind} mapping has no target attribute")
        if m.target in seen:
            raise MappingError(f"{where}: the attribute is mapped twice")
        seen.add(m.target)
        if m.matching < 0:
            raise MappingError(f"{where}: matching precedence must be 0 (none) or 1 and up")
        if m.matching:
            other = precedences.get(m.matching)
            if other is not None:
                raise MappingError(
                    f"{where}: matching precedence {m.matching} is also given to {other!r}"
                )
            precedences[m.matching] = m.target
            if m.type is MappingType.NONE:
                raise MappingError(f"{where}: a mapping of type none cannot be used to match")


def _where(mapping: ObjectMapping, m: AttributeMapping) -> str:
    return f"{mapping.kind} mapping {m.target!r} (object class {mapping.object_class!r})"


def _step(mapping: ObjectMapping, m: AttributeMapping, schema: ObjectClassInfo | None) -> _Step:
    where = _where(mapping, m)
    info = attribute_info(where, m.target, schema)
    payload: Any
    if m.type is MappingType.DIRECT:
        if not m.source.strip():
            raise MappingError(f"{where}: a direct mapping needs a source attribute")
        try:
            kind, payload = _DIRECT, compile_reference(m.source)
        except ExpressionError as exc:
            raise MappingError(f"{where}: source attribute {m.source!r}: {exc}") from exc
    elif m.type is MappingType.CONSTANT:
        if m.value is None:
            raise MappingError(f"{where}: a constant mapping needs a value")
        kind, payload = _CONSTANT, converted(where, "value", m.value, info)
    elif m.type is MappingType.EXPRESSION:
        kind, payload = _EXPRESSION, _compiled(where, m)
    elif m.type is MappingType.NONE:
        kind, payload = _NONE, None
    else:
        raise MappingError(f"{where}: unknown mapping type {m.type!r}")
    if m.type is not MappingType.EXPRESSION and m.expression:
        raise MappingError(f"{where}: only an expression mapping has an expression")
    if m.type is not MappingType.DIRECT and m.source:
        raise MappingError(f"{where}: only a direct mapping has a source attribute")
    if m.type is not MappingType.CONSTANT and m.value is not None:
        raise MappingError(f"{where}: only a constant mapping has a value")
    if m.matching and kind == _EXPRESSION and payload.needs_target:
        raise MappingError(f"{where}: SelectUniqueValue cannot compute a matching attribute")
    default = None if m.default is None else converted(where, "default", m.default, info)
    if info is not None and not info.updatable and m.apply is ApplyOn.ALWAYS:
        raise MappingError(
            f"{where}: the target cannot update this attribute; apply it on create only"
        )
    multi = info is not None and info.multi_valued
    return _Step(m.target, kind, payload, default, m.reference, multi)


def _compiled(where: str, m: AttributeMapping) -> Expression:
    if not m.expression.strip():
        raise MappingError(f"{where}: an expression mapping needs an expression")
    try:
        return compile_expression(m.expression)
    except ExpressionError as exc:
        raise MappingError(f"{where}: expression {m.expression!r}: {exc}") from exc
