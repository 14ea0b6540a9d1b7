"""The connector contract: the types every connector speaks and the interface it implements.

Shaped after ConnId (the framework behind midPoint and Syncope) but async. Operations and
results also travel between relay and agent, so each type converts to and from plain JSON
values; ``from_wire`` raises :class:`ValueError` with the offending field named, and the
protocol layer turns that into a protocol error.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Self

from shared.exceptions import ConnectorError, ErrorClass, HatchwayError

USER = "user"
GROUP = "group"

#: A single attribute value as it travels on the wire.
Scalar = str | int | float | bool | None
#: Attribute values keyed by attribute name; multi-valued attributes hold lists.
Attributes = dict[str, Scalar | list[Scalar]]


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    GET = "get"
    SEARCH = "search"
    TEST = "test"
    SCHEMA = "schema"


#: Actions by wire value: a dict lookup is cheaper than calling the enum.
_ACTIONS = {a.value: a for a in Action}
_NEEDS_ANCHOR = frozenset({Action.UPDATE, Action.DELETE, Action.GET})


class DeltaKind(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"
    CLEAR = "clear"


class AttributeType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    BINARY = "binary"
    REFERENCE = "reference"


def _wrong_type(value: Any, kind: type | tuple[type, ...]) -> bool:
    """JSON's true and false are ints to Python; they are never numbers on the wire."""
    if isinstance(value, bool):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        return bool not in kinds
    return not isinstance(value, kind)


def _require(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ValueError(f"{where}: missing {key!r}")
    value = data[key]
    if _wrong_type(value, kind):
        raise ValueError(f"{where}: {key!r} has the wrong type")
    return value


def _optional(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = data.get(key)
    if value is not None and _wrong_type(value, kind):
        raise ValueError(f"{where}: {key!r} has the wrong type")
    return value


def _object(data: Any, where: str) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: must be an object")


def _scalar(value: Any, where: str) -> Scalar:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"{where}: a value must be a string, number, boolean or null")


def _attributes(value: Any, where: str) -> Attributes:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: attributes must be an object")
    out: Attributes = {}
    for name, item in value.items():
        if item is None or type(item) in _SCALAR_TYPES:
            out[name] = item
        elif isinstance(item, list):
            out[name] = [
                v if type(v) in _SCALAR_TYPES else _scalar(v, f"{where}.{name}") for v in item
            ]
        else:
            out[name] = _scalar(item, f"{where}.{name}")
    return out


#: The exact types of valid values: ``type(v) in`` is cheaper than ``_scalar``'s checks.
_SCALAR_TYPES = frozenset({str, int, float, bool})


@dataclass(frozen=True, slots=True)
class AttributeInfo:
    name: str
    type: AttributeType = AttributeType.STRING
    multi_valued: bool = False
    required: bool = False
    unique: bool = False
    updatable: bool = True
    #: False when ``search`` leaves the attribute out and only ``get`` reads it (ConnId's
    #: "not returned by default"), as a SQL group's members: reconciling reads such
    #: attributes object by object instead of taking their absence for emptiness.
    returned_by_default: bool = True

    def as_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type.value,
            "multi_valued": self.multi_valued,
            "required": self.required,
            "unique": self.unique,
            "updatable": self.updatable,
        }
        if not self.returned_by_default:
            out["returned_by_default"] = False
        return out

    @classmethod
    def from_wire(cls, data: Any) -> Self:
        where = "attribute"
        _object(data, where)
        type_text = _require(data, "type", str, where)
        try:
            kind = AttributeType(type_text)
        except ValueError as exc:
            raise ValueError(f"{where}: unknown type {type_text!r}") from exc
        return cls(
            name=_require(data, "name", str, where),
            type=kind,
            multi_valued=bool(data.get("multi_valued", False)),
            required=bool(data.get("required", False)),
            unique=bool(data.get("unique", False)),
            updatable=bool(data.get("updatable", True)),
            returned_by_default=bool(data.get("returned_by_default", True)),
        )


@dataclass(frozen=True, slots=True)
class ObjectClassInfo:
    """One object class of a target; ``naming_attribute`` identifies an object by name
    (ConnId's ``__NAME__``), which is how an in-doubt create is matched after a crash."""

    name: str
    naming_attribute: str
    attributes: tuple[AttributeInfo, ...]

    def as_wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "naming_attribute": self.naming_attribute,
            "attributes": [a.as_wire() for a in self.attributes],
        }

    @classmethod
    def from_wire(cls, data: Any) -> Self:
        where = "object class"
        _object(data, where)
        return cls(
            name=_require(data, "name", str, where),
            naming_attribute=_require(data, "naming_attribute", str, where),
            attributes=tuple(
                AttributeInfo.from_wire(a) for a in _require(data, "attributes", list, where)
            ),
        )


@dataclass(frozen=True, slots=True)
class Schema:
    object_classes: tuple[ObjectClassInfo, ...]

    def object_class(self, name: str) -> ObjectClassInfo | None:
        return next((c for c in self.object_classes if c.name == name), None)

    def as_wire(self) -> dict[str, Any]:
        return {"object_classes": [c.as_wire() for c in self.object_classes]}

    @classmethod
    def from_wire(cls, data: Any) -> Self:
        _object(data, "schema")
        classes = _require(data, "object_classes", list, "schema")
        return cls(object_classes=tuple(ObjectClassInfo.from_wire(c) for c in classes))


@dataclass(frozen=True, slots=True)
class Delta:
    """One change to one attribute: add or remove values, replace them all, or clear it."""

    attribute: str
    kind: DeltaKind
    values: tuple[Scalar, ...] = ()

    def as_wire(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "kind": self.kind.value, "values": list(self.values)}

    @classmethod
    def from_wire(cls, data: Any) -> Self:
        where = "delta"
        _object(data, where)
        kind_text = _require(data, "kind", str, where)
        try:
            kind = DeltaKind(kind_text)
        except ValueError as exc:
            raise ValueError(f"{where}: unknown kind {kind_text!r}") from exc
        values = data.get("values", [])
        if not isinstance(values, list):
            raise ValueError(f"{where}: 'values' must be a list")
        return cls(
            attribute=_require(data, "attribute", str, where),
            kind=kind,
            values=tuple(_scalar(v, where) for v in values),
        )


# Filters -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Equals:
    attribute: str
    value: Scalar
    op: ClassVar[str] = "eq"


@dataclass(frozen=True, slots=True)
class StartsWith:
    attribute: str
    value: str
    op: ClassVar[str] = "sw"


@dataclass(frozen=True, slots=True)
class Present:
    attribute: str
    op: ClassVar[str] = "pr"


@dataclass(frozen=True, slots=True)
class And:
    filters: tuple[Filter, ...]
    op: ClassVar[str] = "and"


@dataclass(frozen=True, slots=True)
class Or:
    filters: tuple[Filter, ...]
    op: ClassVar[str] = "or"


@dataclass(frozen=True, slots=True)
class Not:
    filter: Filter
    op: ClassVar[str] = "not"


Filter = Equals | StartsWith | Present | And | Or | Not

#: Deeper filters are refused: they come from the network and are walked recursively.
MAX_FILTER_DEPTH = 16


def filter_as_wire(flt: Filter) -> dict[str, Any]:
    match flt:
        case Equals(attribute, value) | StartsWith(attribute, value):
            return {"op": flt.op, "attribute": attribute, "value": value}
        case Present(attribute):
            return {"op": "pr", "attribute": attribute}
        case And(filters) | Or(filters):
            return {"op": flt.op, "filters": [filter_as_wire(f) for f in filters]}
        case Not(inner):
            return {"op": "not", "filter": filter_as_wire(inner)}
    raise TypeError(f"not a filter: {flt!r}")


def filter_from_wire(data: Any, depth: int = 0) -> Filter:
    where = "filter"
    if depth > MAX_FILTER_DEPTH:
        raise ValueError(f"{where}: nested deeper than {MAX_FILTER_DEPTH}")
    if not isinstance(data, dict):
        raise ValueError(f"{where}: must be an object")
    op = _require(data, "op", str, where)
    if op == "eq":
        return Equals(_require(data, "attribute", str, where), _scalar(data.get("value"), where))
    if op == "sw":
        return StartsWith(
            _require(data, "attribute", str, where), _require(data, "value", str, where)
        )
    if op == "pr":
        return Present(_require(data, "attribute", str, where))
    if op in ("and", "or"):
        parts = _require(data, "filters", list, where)
        if not parts:
            raise ValueError(f"{where}: {op!r} needs at least one filter")
        inner = tuple(filter_from_wire(p, depth + 1) for p in parts)
        return And(inner) if op == "and" else Or(inner)
    if op == "not":
        return Not(filter_from_wire(_require(data, "filter", dict, where), depth + 1))
    raise ValueError(f"{where}: unknown op {op!r}")


@dataclass(frozen=True, slots=True)
class Page:
    """A page request; ``cookie`` is the opaque value a previous page returned."""

    size: int = 100
    cookie: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectorObject:
    anchor: str
    attributes: Attributes = field(default_factory=dict)

    def as_wire(self) -> dict[str, Any]:
        return {"anchor": self.anchor, "attributes": self.attributes}

    @classmethod
    def from_wire(cls, data: Any) -> Self:
        where = "object"
        _object(data, where)
        return cls(
            anchor=_require(data, "anchor", str, where),
            attributes=_attributes(data.get("attributes", {}), where),
        )


@dataclass(frozen=True, slots=True)
class SearchResult:
    objects: list[ConnectorObject]
    cookie: str | None = None


# Operations and results ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Operation:
    """One unit of work for a connector. ``key`` is the idempotency key: the agent runs an
    operation with a given key at most once and answers repeats from its journal."""

    key: str
    action: Action
    object_class: str = USER
    anchor: str | None = None
    attributes: Attributes | None = None
    deltas: tuple[Delta, ...] = ()
    filter: Filter | None = None
    page: Page | None = None

    def as_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "action": self.action.value,
            "object_class": self.object_class,
        }
        if self.anchor is not None:
            out["anchor"] = self.anchor
        if self.attributes is not None:
            out["attributes"] = self.attributes
        if self.deltas:
            out["deltas"] = [d.as_wire() for d in self.deltas]
        if self.filter is not None:
            out["filter"] = filter_as_wire(self.filter)
        if self.page is not None:
            out["page"] = {"size": self.page.size, "cookie": self.page.cookie}
        return out

    @classmethod
    def from_wire(cls, data: Any) -> Self:
        where = "operation"
        if not isinstance(data, dict):
            raise ValueError(f"{where}: must be an object")
        key = _require(data, "key", str, where)
        if not key or len(key) > 200:
            raise ValueError(f"{where}: 'key' must be 1 to 200 characters")
        action_text = _require(data, "action", str, where)
        action = _ACTIONS.get(action_text)
        if action is None:
            raise ValueError(f"{where} {key}: unknown action {action_text!r}")
        attributes = data.get("attributes")
        page = _optional(data, "page", dict, where)
        flt = data.get("filter")
        deltas = _optional(data, "deltas", list, where)
        op = cls(
            key=key,
            action=action,
            object_class=_require(data, "object_class", str, where),
            anchor=_optional(data, "anchor", str, where),
            attributes=None if attributes is None else _attributes(attributes, where),
            deltas=tuple(Delta.from_wire(d) for d in deltas) if deltas else (),
            filter=None if flt is None else filter_from_wire(flt),
            page=None
            if page is None
            else Page(
                size=int(_require(page, "size", int, where)),
                cookie=_optional(page, "cookie", str, where),
            ),
        )
        op.check()
        return op

    def check(self) -> None:
        """Refuse an operation that lacks what its action needs."""
        if self.action in _NEEDS_ANCHOR and not self.anchor:
            raise ValueError(f"operation {self.key}: {self.action} needs an anchor")
        if self.action is Action.CREATE and self.attributes is None:
            raise ValueError(f"operation {self.key}: create needs attributes")
        if self.page is not None and not 1 <= self.page.size <= 10_000:
            raise ValueError(f"operation {self.key}: page size must be 1 to 10000")


@dataclass(frozen=True, slots=True)
class OperationError:
    error_class: ErrorClass
    message: str
    attribute: str | None = None
    retry_after: float | None = None

    @classmethod
    def from_exception(cls, exc: ConnectorError) -> Self:
        return cls(exc.error_class, exc.message, exc.attribute, exc.retry_after)

    def as_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"class": self.error_class.value, "message": self.message}
        if self.attribute is not None:
            out["attribute"] = self.attribute
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        return out

    @classmethod
    def from_wire(cls, data: Any) -> Self:
        where = "error"
        if not isinstance(data, dict):
            raise ValueError(f"{where}: must be an object")
        text = _require(data, "class", str, where)
        try:
            error_class = ErrorClass(text)
        except ValueError as exc:
            raise ValueError(f"{where}: unknown class {text!r}") from exc
        retry_after = _optional(data, "retry_after", (int, float), where)
        if retry_after is not None:
            try:
                retry_after = float(retry_after)
            except OverflowError as exc:
                raise ValueError(f"{where}: 'retry_after' is out of range") from exc
            if not math.isfinite(retry_after) or retry_after < 0:
                raise ValueError(f"{where}: 'retry_after' must be a finite number of seconds")
        return cls(
            error_class=error_class,
            message=_require(data, "message", str, where),
            attribute=_optional(data, "attribute", str, where),
            retry_after=retry_after,
        )


@dataclass(frozen=True, slots=True)
class OperationResult:
    """What one operation produced: an anchor, an object, a page of objects, a schema, or
    an error. ``replayed`` says the agent answered from its journal without running it."""

    key: str
    error: OperationError | None = None
    anchor: str | None = None
    object: ConnectorObject | None = None
    objects: list[ConnectorObject] | None = None
    cookie: str | None = None
    schema: Schema | None = None
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "ok": self.ok}
        if self.error is not None:
            out["error"] = self.error.as_wire()
        if self.anchor is not None:
            out["anchor"] = self.anchor
        if self.object is not None:
            out["object"] = self.object.as_wire()
        if self.objects is not None:
            out["objects"] = [o.as_wire() for o in self.objects]
        if self.cookie is not None:
            out["cookie"] = self.cookie
        if self.schema is not None:
            out["schema"] = self.schema.as_wire()
        if self.replayed:
            out["replayed"] = True
        return out

    @classmethod
    def from_wire(cls, data: Any) -> Self:
        where = "result"
        if not isinstance(data, dict):
            raise ValueError(f"{where}: must be an object")
        error = data.get("error")
        ok = data.get("ok", error is None)
        if not isinstance(ok, bool):
            raise ValueError(f"{where}: 'ok' must be true or false")
        if ok == (error is not None):
            state = "set" if error is not None else "missing"
            raise ValueError(f"{where}: 'ok' is {str(ok).lower()} but 'error' is {state}")
        obj = _optional(data, "object", dict, where)
        objects = _optional(data, "objects", list, where)
        schema = _optional(data, "schema", dict, where)
        return cls(
            key=_require(data, "key", str, where),
            error=None if error is None else OperationError.from_wire(error),
            anchor=_optional(data, "anchor", str, where),
            object=None if obj is None else ConnectorObject.from_wire(obj),
            objects=None if objects is None else [ConnectorObject.from_wire(o) for o in objects],
            cookie=_optional(data, "cookie", str, where),
            schema=None if schema is None else Schema.from_wire(schema),
            replayed=bool(data.get("replayed", False)),
        )


def failed(operations: Iterable[Operation], error: OperationError) -> list[OperationResult]:
    """The same error as the result of every operation, as when a whole batch fails."""
    return [OperationResult(op.key, error=error) for op in operations]


# The interface -------------------------------------------------------------------------


class Connector(abc.ABC):
    """A target application, as the agent's executor sees it.

    Implementations translate their client library's errors into the
    :class:`~shared.exceptions.ConnectorError` subclasses at the boundary. Blocking client
    libraries run in worker threads so one slow target cannot stall the agent's event loop.
    """

    #: The name this connector type registers under in the ``hatchway.connectors`` group.
    type_name: ClassVar[str]

    @classmethod
    @abc.abstractmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any], *, source: str) -> Self:
        """Build a connector from its ``[connectors.NAME]`` table.

        Raises :class:`~shared.exceptions.SettingsError` naming ``source`` (the file) and
        the key that is wrong.
        """

    @abc.abstractmethod
    async def test(self) -> None:
        """Check that the target is reachable and the credentials are accepted."""

    @abc.abstractmethod
    async def schema(self) -> Schema: ...

    @abc.abstractmethod
    async def create(self, object_class: str, attributes: Attributes) -> str:
        """Create an object and return its anchor (the target's own identifier)."""

    @abc.abstractmethod
    async def update(self, object_class: str, anchor: str, deltas: Sequence[Delta]) -> str:
        """Apply the deltas and return the anchor, which changes if the object was renamed."""

    @abc.abstractmethod
    async def delete(self, object_class: str, anchor: str) -> None: ...

    @abc.abstractmethod
    async def get(self, object_class: str, anchor: str) -> ConnectorObject: ...

    @abc.abstractmethod
    async def search(self, object_class: str, flt: Filter | None, page: Page) -> SearchResult: ...

    async def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        """Run a batch. Connectors with a faster path for many operations override this."""
        return [await run_operation(self, op) for op in operations]

    async def close(self) -> None:
        """Release connections and threads."""


async def run_operation(connector: Connector, op: Operation) -> OperationResult:
    """Run one operation, turning a :class:`ConnectorError` into an error result."""
    try:
        match op.action:
            case Action.CREATE:
                anchor = await connector.create(op.object_class, op.attributes or {})
                return OperationResult(op.key, anchor=anchor)
            case Action.UPDATE:
                assert op.anchor is not None
                anchor = await connector.update(op.object_class, op.anchor, op.deltas)
                return OperationResult(op.key, anchor=anchor)
            case Action.DELETE:
                assert op.anchor is not None
                await connector.delete(op.object_class, op.anchor)
                return OperationResult(op.key, anchor=op.anchor)
            case Action.GET:
                assert op.anchor is not None
                obj = await connector.get(op.object_class, op.anchor)
                return OperationResult(op.key, anchor=obj.anchor, object=obj)
            case Action.SEARCH:
                found = await connector.search(op.object_class, op.filter, op.page or Page())
                return OperationResult(op.key, objects=found.objects, cookie=found.cookie)
            case Action.TEST:
                await connector.test()
                return OperationResult(op.key)
            case Action.SCHEMA:
                return OperationResult(op.key, schema=await connector.schema())
    except ConnectorError as exc:
        return OperationResult(op.key, error=OperationError.from_exception(exc))
    raise HatchwayError(f"unhandled action {op.action!r}")
