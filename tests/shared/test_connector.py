"""The connector contract's wire forms: operations, results, filters and schemas survive a
JSON round trip, and from_wire refuses anything else with a message naming the field."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.connector import (
    GROUP,
    MAX_FILTER_DEPTH,
    USER,
    Action,
    And,
    AttributeInfo,
    AttributeType,
    Connector,
    ConnectorObject,
    Delta,
    DeltaKind,
    Equals,
    Filter,
    Not,
    ObjectClassInfo,
    Operation,
    OperationError,
    OperationResult,
    Or,
    Page,
    Present,
    Schema,
    SearchResult,
    StartsWith,
    filter_as_wire,
    filter_from_wire,
    run_operation,
)
from shared.exceptions import (
    ConflictError,
    ConnectorError,
    ErrorClass,
    NotFoundError,
    ThrottledError,
)


def over_json(data: Any) -> Any:
    """What the other end sees: the value after a JSON encoding and decoding."""
    return json.loads(json.dumps(data, ensure_ascii=False))


SCHEMA = Schema(
    (
        ObjectClassInfo(
            USER,
            "userName",
            (
                AttributeInfo("userName", required=True, unique=True),
                AttributeInfo("emails", multi_valued=True),
                AttributeInfo("active", AttributeType.BOOLEAN),
                AttributeInfo("employeeNumber", AttributeType.INTEGER, updatable=False),
                AttributeInfo("manager", AttributeType.REFERENCE),
                AttributeInfo("photo", AttributeType.BINARY),
                AttributeInfo("hired", AttributeType.DATETIME),
                AttributeInfo("salary", AttributeType.DECIMAL),
            ),
        ),
        ObjectClassInfo(
            GROUP,
            "cn",
            (
                AttributeInfo("cn", required=True),
                AttributeInfo(
                    "member", AttributeType.REFERENCE, multi_valued=True, returned_by_default=False
                ),
            ),
        ),
    )
)

OPERATIONS = [
    Operation(
        "job-1:user-1:create",
        Action.CREATE,
        attributes={
            "userName": "ada",
            "emails": ["ada@example.org", "ada@home.example"],
            "active": True,
            "employeeNumber": 42,
            "salary": 1234.5,
            "manager": None,
            "nickname": "Zoë 東京",
        },
    ),
    Operation(
        "job-1:user-2:update",
        Action.UPDATE,
        anchor="uid=bob,ou=people,dc=example,dc=org",
        deltas=(
            Delta("emails", DeltaKind.ADD, ("bob@example.org",)),
            Delta("emails", DeltaKind.REMOVE, ("old@example.org",)),
            Delta("title", DeltaKind.REPLACE, ("Engineer",)),
            Delta("manager", DeltaKind.CLEAR),
        ),
    ),
    Operation("job-1:group-9:delete", Action.DELETE, object_class=GROUP, anchor="9"),
    Operation("job-1:user-3:get", Action.GET, anchor="3"),
    Operation(
        "job-1:match:1",
        Action.SEARCH,
        filter=And((Equals("userName", "ada"), Not(Present("disabled")))),
        page=Page(size=50, cookie="opaque-cookie"),
    ),
    Operation("job-1:reconcile:1", Action.SEARCH, object_class=GROUP),
    Operation("probe-1", Action.TEST),
    Operation("schema-1", Action.SCHEMA),
]

RESULTS = [
    OperationResult("k-create", anchor="42"),
    OperationResult("k-replayed", anchor="42", replayed=True),
    OperationResult("k-get", anchor="3", object=ConnectorObject("3", {"userName": "ada"})),
    OperationResult(
        "k-search",
        objects=[ConnectorObject("1", {"emails": ["a@x", "b@x"]}), ConnectorObject("2")],
        cookie="next",
    ),
    OperationResult("k-search-empty", objects=[]),
    OperationResult("k-schema", schema=SCHEMA),
    OperationResult("k-test"),
    OperationResult(
        "k-throttled",
        error=OperationError(ErrorClass.THROTTLED, "slow down", retry_after=2.5),
    ),
    OperationResult(
        "k-invalid",
        error=OperationError(ErrorClass.INVALID_DATA, "bad mail", attribute="emails"),
    ),
]


# Round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.key)
def test_operation_round_trips(op: Operation) -> None:
    assert Operation.from_wire(over_json(op.as_wire())) == op


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: r.key)
def test_result_round_trips(result: OperationResult) -> None:
    assert OperationResult.from_wire(over_json(result.as_wire())) == result


def test_operation_wire_form_omits_what_is_absent() -> None:
    assert Operation("k", Action.TEST).as_wire() == {
        "key": "k",
        "action": "test",
        "object_class": "user",
    }
    assert OPERATIONS[4].as_wire() == {
        "key": "job-1:match:1",
        "action": "search",
        "object_class": "user",
        "filter": {
            "op": "and",
            "filters": [
                {"op": "eq", "attribute": "userName", "value": "ada"},
                {"op": "not", "filter": {"op": "pr", "attribute": "disabled"}},
            ],
        },
        "page": {"size": 50, "cookie": "opaque-cookie"},
    }
    assert OPERATIONS[1].as_wire()["deltas"][3] == {
        "attribute": "manager",
        "kind": "clear",
        "values": [],
    }


def test_result_wire_form() -> None:
    assert OperationResult("k").as_wire() == {"key": "k", "ok": True}
    assert RESULTS[1].as_wire() == {
        "key": "k-replayed",
        "ok": True,
        "anchor": "42",
        "replayed": True,
    }
    assert RESULTS[7].as_wire() == {
        "key": "k-throttled",
        "ok": False,
        "error": {"class": "throttled", "message": "slow down", "retry_after": 2.5},
    }
    assert RESULTS[3].as_wire()["objects"][1] == {"anchor": "2", "attributes": {}}


def test_schema_round_trips_and_looks_up() -> None:
    wire = over_json(SCHEMA.as_wire())
    assert Schema.from_wire(wire) == SCHEMA
    assert wire["object_classes"][1] == {
        "name": "group",
        "naming_attribute": "cn",
        "attributes": [
            {
                "name": "cn",
                "type": "string",
                "multi_valued": False,
                "required": True,
                "unique": False,
                "updatable": True,
            },
            {
                "name": "member",
                "type": "reference",
                "multi_valued": True,
                "required": False,
                "unique": False,
                "updatable": True,
                "returned_by_default": False,
            },
        ],
    }
    user = SCHEMA.object_class(USER)
    assert user is not None
    assert user.naming_attribute == "userName"
    assert AttributeInfo("emails", multi_valued=True) in user.attributes
    assert SCHEMA.object_class("device") is None


def test_attribute_info_defaults_when_flags_are_absent() -> None:
    assert AttributeInfo.from_wire({"name": "cn", "type": "string"}) == AttributeInfo("cn")


FILTERS: list[Filter] = [
    Equals("userName", "ada"),
    Equals("employeeNumber", 42),
    Equals("active", False),
    Equals("manager", None),
    StartsWith("mail", "ada@"),
    Present("mail"),
    Not(Equals("active", False)),
    Or((Equals("cn", "a"), StartsWith("cn", "b"), And((Present("x"), Present("y"))))),
]


@pytest.mark.parametrize("flt", FILTERS, ids=repr)
def test_filter_round_trips(flt: Filter) -> None:
    assert filter_from_wire(over_json(filter_as_wire(flt))) == flt


def nested_not(depth: int) -> Filter:
    flt: Filter = Present("a")
    for _ in range(depth):
        flt = Not(flt)
    return flt


def test_filter_depth_limit() -> None:
    deepest = nested_not(MAX_FILTER_DEPTH)
    assert filter_from_wire(filter_as_wire(deepest)) == deepest
    with pytest.raises(ValueError, match=f"filter: nested deeper than {MAX_FILTER_DEPTH}"):
        filter_from_wire(filter_as_wire(nested_not(MAX_FILTER_DEPTH + 1)))


def test_filter_as_wire_refuses_a_non_filter() -> None:
    with pytest.raises(TypeError, match="not a filter"):
        filter_as_wire("userName eq ada")  # type: ignore[arg-type]


# Refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("op", "operation: must be an object"),
        ({"action": "test", "object_class": "user"}, "operation: missing 'key'"),
        (
            {"key": 7, "action": "test", "object_class": "user"},
            "operation: 'key' has the wrong type",
        ),
        (
            {"key": "", "action": "test", "object_class": "user"},
            "'key' must be 1 to 200 characters",
        ),
        ({"key": "k" * 201, "action": "test", "object_class": "user"}, "1 to 200 characters"),
        ({"key": "k", "object_class": "user"}, "operation: missing 'action'"),
        (
            {"key": "k", "action": "rename", "object_class": "user"},
            "operation k: unknown action 'rename'",
        ),
        ({"key": "k", "action": "test"}, "operation: missing 'object_class'"),
        ({"key": "k", "action": "get", "object_class": "user"}, "operation k: get needs an anchor"),
        (
            {"key": "k", "action": "delete", "object_class": "user", "anchor": ""},
            "delete needs an anchor",
        ),
        (
            {"key": "k", "action": "get", "object_class": "user", "anchor": 3},
            "'anchor' has the wrong type",
        ),
        (
            {"key": "k", "action": "create", "object_class": "user"},
            "operation k: create needs attributes",
        ),
        (
            {"key": "k", "action": "create", "object_class": "user", "attributes": ["cn"]},
            "operation: attributes must be an object",
        ),
        (
            {
                "key": "k",
                "action": "create",
                "object_class": "user",
                "attributes": {"cn": {"x": 1}},
            },
            "operation.cn: a value must be a string, number, boolean or null",
        ),
        (
            {"key": "k", "action": "create", "object_class": "user", "attributes": {"cn": [[1]]}},
            "operation.cn: a value must be a string, number, boolean or null",
        ),
        (
            {"key": "k", "action": "update", "object_class": "user", "anchor": "a", "deltas": {}},
            "operation: 'deltas' has the wrong type",
        ),
        (
            {
                "key": "k",
                "action": "update",
                "object_class": "user",
                "anchor": "a",
                "deltas": [{"attribute": "cn", "kind": "zap"}],
            },
            "delta: unknown kind 'zap'",
        ),
        (
            {
                "key": "k",
                "action": "update",
                "object_class": "user",
                "anchor": "a",
                "deltas": [{"kind": "add"}],
            },
            "delta: missing 'attribute'",
        ),
        (
            {
                "key": "k",
                "action": "update",
                "object_class": "user",
                "anchor": "a",
                "deltas": [{"attribute": "cn", "kind": "add", "values": "x"}],
            },
            "delta: 'values' must be a list",
        ),
        (
            {
                "key": "k",
                "action": "update",
                "object_class": "user",
                "anchor": "a",
                "deltas": [{"attribute": "cn", "kind": "add", "values": [{}]}],
            },
            "delta: a value must be a string, number, boolean or null",
        ),
        (
            {"key": "k", "action": "search", "object_class": "user", "page": 5},
            "'page' has the wrong type",
        ),
        (
            {"key": "k", "action": "search", "object_class": "user", "page": {}},
            "operation: missing 'size'",
        ),
        (
            {"key": "k", "action": "search", "object_class": "user", "page": {"size": "9"}},
            "'size' has the wrong type",
        ),
        (
            {"key": "k", "action": "search", "object_class": "user", "page": {"size": 0}},
            "page size must be 1 to 10000",
        ),
        (
            {"key": "k", "action": "search", "object_class": "user", "page": {"size": 10_001}},
            "page size must be 1 to 10000",
        ),
        (
            {
                "key": "k",
                "action": "search",
                "object_class": "user",
                "page": {"size": 5, "cookie": 1},
            },
            "'cookie' has the wrong type",
        ),
        (
            {"key": "k", "action": "search", "object_class": "user", "filter": "cn eq a"},
            "filter: must be an object",
        ),
    ],
)
def test_operation_from_wire_refuses_with_a_clear_message(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Operation.from_wire(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "filter: must be an object"),
        ({"attribute": "cn"}, "filter: missing 'op'"),
        ({"op": "regex", "attribute": "cn"}, "filter: unknown op 'regex'"),
        ({"op": "eq", "value": "a"}, "filter: missing 'attribute'"),
        ({"op": "eq", "attribute": "cn", "value": ["a"]}, "filter: a value must be"),
        ({"op": "sw", "attribute": "cn", "value": 1}, "filter: 'value' has the wrong type"),
        ({"op": "and", "filters": []}, "filter: 'and' needs at least one filter"),
        ({"op": "or", "filters": {}}, "filter: 'filters' has the wrong type"),
        ({"op": "or", "filters": ["x"]}, "filter: must be an object"),
        ({"op": "not", "filter": [{"op": "pr", "attribute": "a"}]}, "'filter' has the wrong type"),
    ],
)
def test_filter_from_wire_refuses_with_a_clear_message(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        filter_from_wire(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "result: must be an object"),
        ({"ok": True}, "result: missing 'key'"),
        ({"key": "k", "anchor": 5}, "result: 'anchor' has the wrong type"),
        ({"key": "k", "cookie": 5}, "result: 'cookie' has the wrong type"),
        ({"key": "k", "object": []}, "result: 'object' has the wrong type"),
        ({"key": "k", "objects": {}}, "result: 'objects' has the wrong type"),
        ({"key": "k", "objects": [{"attributes": {}}]}, "object: missing 'anchor'"),
        (
            {"key": "k", "object": {"anchor": "1", "attributes": []}},
            "object: attributes must be an object",
        ),
        ({"key": "k", "schema": []}, "result: 'schema' has the wrong type"),
        ({"key": "k", "schema": {}}, "schema: missing 'object_classes'"),
        (
            {"key": "k", "schema": {"object_classes": [{"name": "u", "attributes": []}]}},
            "object class: missing 'naming_attribute'",
        ),
        (
            {
                "key": "k",
                "schema": {
                    "object_classes": [
                        {
                            "name": "u",
                            "naming_attribute": "n",
                            "attributes": [{"name": "n", "type": "blob"}],
                        }
                    ]
                },
            },
            "attribute: unknown type 'blob'",
        ),
        ({"key": "k", "error": "boom"}, "error: must be an object"),
        ({"key": "k", "error": {"message": "m"}}, "error: missing 'class'"),
        ({"key": "k", "error": {"class": "fatal", "message": "m"}}, "error: unknown class 'fatal'"),
        ({"key": "k", "error": {"class": "timeout"}}, "error: missing 'message'"),
        (
            {"key": "k", "error": {"class": "throttled", "message": "m", "retry_after": "2"}},
            "'retry_after' has the wrong type",
        ),
        (
            {"key": "k", "error": {"class": "invalid_data", "message": "m", "attribute": 1}},
            "'attribute' has the wrong type",
        ),
    ],
)
def test_result_from_wire_refuses_with_a_clear_message(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        OperationResult.from_wire(data)


def test_attribute_info_without_type_says_it_is_missing() -> None:
    with pytest.raises(ValueError, match="attribute: missing 'type'"):
        AttributeInfo.from_wire({"name": "cn"})


@pytest.mark.parametrize(
    "data",
    [
        {"key": "k", "objects": [5]},
        {"key": "k", "objects": ["anchor"]},
        {"key": "k", "schema": {"object_classes": [5]}},
        {
            "key": "k",
            "schema": {
                "object_classes": [{"name": "u", "naming_attribute": "n", "attributes": ["type"]}]
            },
        },
    ],
)
def test_result_with_a_non_object_item_is_a_value_error(data: Any) -> None:
    with pytest.raises(ValueError, match="must be an object"):
        OperationResult.from_wire(data)


def test_operation_with_a_non_object_delta_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="delta: must be an object"):
        Operation.from_wire(
            {"key": "k", "action": "update", "object_class": "user", "anchor": "a", "deltas": [5]}
        )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"key": "k", "ok": False}, "result: 'ok' is false but 'error' is missing"),
        (
            {"key": "k", "ok": True, "error": {"class": "timeout", "message": "m"}},
            "result: 'ok' is true but 'error' is set",
        ),
        ({"key": "k", "ok": "yes"}, "result: 'ok' must be true or false"),
    ],
)
def test_result_whose_ok_contradicts_its_error_is_refused(data: Any, message: str) -> None:
    """A failure must never be read as a success (or the other way round)."""
    with pytest.raises(ValueError, match=re.escape(message)):
        OperationResult.from_wire(data)


def test_result_without_ok_takes_it_from_the_error() -> None:
    assert OperationResult.from_wire({"key": "k"}).ok
    failed = OperationResult.from_wire({"key": "k", "error": {"class": "timeout", "message": "m"}})
    assert not failed.ok


# Error classes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error_class", "retryable"),
    [
        (ErrorClass.UNAVAILABLE, True),
        (ErrorClass.TIMEOUT, True),
        (ErrorClass.THROTTLED, True),
        (ErrorClass.CONFLICT, False),
        (ErrorClass.NOT_FOUND, False),
        (ErrorClass.INVALID_DATA, False),
        (ErrorClass.AUTHENTICATION, False),
        (ErrorClass.INTERNAL, False),
    ],
)
def test_error_classes_and_which_are_retryable(error_class: ErrorClass, retryable: bool) -> None:
    assert error_class.retryable is retryable
    wire = OperationError(error_class, "m").as_wire()
    assert wire == {"class": error_class.value, "message": "m"}
    assert OperationError.from_wire(over_json(wire)) == OperationError(error_class, "m")


def test_error_class_wire_values() -> None:
    assert [c.value for c in ErrorClass] == [
        "unavailable",
        "timeout",
        "throttled",
        "conflict",
        "not_found",
        "invalid_data",
        "authentication",
        "internal",
    ]


def test_operation_error_from_exception_keeps_every_field() -> None:
    exc = ThrottledError("429 from the target", attribute="mail", retry_after=3)
    assert OperationError.from_exception(exc) == OperationError(
        ErrorClass.THROTTLED, "429 from the target", "mail", 3
    )
    assert OperationError.from_wire({"class": "throttled", "message": "m", "retry_after": 3}) == (
        OperationError(ErrorClass.THROTTLED, "m", retry_after=3.0)
    )


# run_operation against an in-memory connector -------------------------------------------------


class MemoryConnector(Connector):
    """Just enough of a target to see run_operation dispatch each action."""

    type_name = "memory"

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.tested = False

    @classmethod
    def from_settings(cls, name: str, settings: Any, *, source: str) -> MemoryConnector:
        return cls()

    async def test(self) -> None:
        self.tested = True

    async def schema(self) -> Schema:
        return SCHEMA

    async def create(self, object_class: str, attributes: dict[str, Any]) -> str:
        name = str(attributes["userName"])
        if name in self.objects:
            raise ConflictError(f"{name} exists", attribute="userName")
        self.objects[name] = dict(attributes)
        return name

    async def update(self, object_class: str, anchor: str, deltas: Sequence[Delta]) -> str:
        obj = self._find(anchor)
        for delta in deltas:
            obj[delta.attribute] = list(delta.values)
        return anchor

    async def delete(self, object_class: str, anchor: str) -> None:
        self._find(anchor)
        del self.objects[anchor]

    async def get(self, object_class: str, anchor: str) -> ConnectorObject:
        return ConnectorObject(anchor, self._find(anchor))

    async def search(self, object_class: str, flt: Filter | None, page: Page) -> SearchResult:
        found = [ConnectorObject(k, v) for k, v in sorted(self.objects.items())]
        return SearchResult(found[: page.size], cookie="more" if len(found) > page.size else None)

    def _find(self, anchor: str) -> dict[str, Any]:
        if anchor not in self.objects:
            raise NotFoundError(f"no {anchor}")
        return self.objects[anchor]


async def test_run_operation_answers_each_action() -> None:
    target = MemoryConnector()
    create = Operation("c", Action.CREATE, attributes={"userName": "ada"})
    results = await target.apply(
        [
            create,
            Operation(
                "u",
                Action.UPDATE,
                anchor="ada",
                deltas=(Delta("title", DeltaKind.REPLACE, ("CTO",)),),
            ),
            Operation("g", Action.GET, anchor="ada"),
            Operation("s", Action.SEARCH, page=Page(size=1)),
            Operation("t", Action.TEST),
            Operation("sc", Action.SCHEMA),
            create,
            Operation("d", Action.DELETE, anchor="ada"),
            Operation("d2", Action.DELETE, anchor="ada"),
        ]
    )
    ada = ConnectorObject("ada", {"userName": "ada", "title": ["CTO"]})
    assert results == [
        OperationResult("c", anchor="ada"),
        OperationResult("u", anchor="ada"),
        OperationResult("g", anchor="ada", object=ada),
        OperationResult("s", objects=[ada]),
        OperationResult("t"),
        OperationResult("sc", schema=SCHEMA),
        OperationResult(
            "c", error=OperationError(ErrorClass.CONFLICT, "ada exists", attribute="userName")
        ),
        OperationResult("d", anchor="ada"),
        OperationResult("d2", error=OperationError(ErrorClass.NOT_FOUND, "no ada")),
    ]
    assert target.tested
    for result in results:
        assert OperationResult.from_wire(over_json(result.as_wire())) == result


async def test_run_operation_lets_unclassified_errors_through() -> None:
    class Broken(MemoryConnector):
        async def test(self) -> None:
            raise RuntimeError("bug in the connector")

    with pytest.raises(RuntimeError):
        await run_operation(Broken(), Operation("t", Action.TEST))


async def test_plain_connector_error_is_internal() -> None:
    class Failing(MemoryConnector):
        async def test(self) -> None:
            raise ConnectorError("odd")

    result = await run_operation(Failing(), Operation("t", Action.TEST))
    assert result.error == OperationError(ErrorClass.INTERNAL, "odd")


# Properties ----------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
names = st.text(min_size=1, max_size=12)
filters = st.recursive(
    st.builds(Equals, names, scalars)
    | st.builds(StartsWith, names, st.text(max_size=10))
    | st.builds(Present, names),
    lambda inner: (
        st.builds(And, st.lists(inner, min_size=1, max_size=3).map(tuple))
        | st.builds(Or, st.lists(inner, min_size=1, max_size=3).map(tuple))
        | st.builds(Not, inner)
    ),
    max_leaves=10,
)
attributes = st.dictionaries(names, scalars | st.lists(scalars, max_size=3), max_size=5)


@settings(max_examples=200, derandomize=True, database=None)
@given(flt=filters)
def test_any_filter_round_trips(flt: Filter) -> None:
    assert filter_from_wire(over_json(filter_as_wire(flt))) == flt


@settings(max_examples=200, derandomize=True, database=None)
@given(
    key=st.text(min_size=1, max_size=200),
    attrs=attributes,
    deltas=st.lists(
        st.builds(
            Delta, names, st.sampled_from(DeltaKind), st.lists(scalars, max_size=3).map(tuple)
        ),
        max_size=3,
    ),
)
def test_any_create_and_update_round_trip(key: str, attrs: Any, deltas: list[Delta]) -> None:
    create = Operation(key, Action.CREATE, attributes=attrs)
    assert Operation.from_wire(over_json(create.as_wire())) == create
    update = Operation(key, Action.UPDATE, anchor="a", deltas=tuple(deltas))
    assert Operation.from_wire(over_json(update.as_wire())) == update


@settings(max_examples=200, derandomize=True, database=None)
@given(
    key=st.text(max_size=20),
    objects=st.lists(st.builds(ConnectorObject, st.text(max_size=10), attributes), max_size=3),
    cookie=st.none() | st.text(max_size=10),
    replayed=st.booleans(),
)
def test_any_search_result_round_trips(
    key: str, objects: list[ConnectorObject], cookie: str | None, replayed: bool
) -> None:
    result = OperationResult(key, objects=objects, cookie=cookie, replayed=replayed)
    assert OperationResult.from_wire(over_json(result.as_wire())) == result
