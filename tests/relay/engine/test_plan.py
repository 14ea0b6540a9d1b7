"""Planning updates: deltas between what was written and what the mappings give now."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from relay.engine.plan import changes, deltas
from shared.connector import Delta, DeltaKind

MULTI = {"members", "emails"}


def multi(name: str) -> bool:
    return name in MULTI


def test_equal_values_need_nothing() -> None:
    values = {"userName": "ada", "active": True, "members": ["1", "2"]}
    assert deltas(values, dict(values), multi_valued=multi) == ()
    assert changes(values, dict(values)) == {}


def test_single_values_are_replaced_and_emptied_ones_cleared() -> None:
    old = {"userName": "ada", "title": "Engineer", "phone": "123", "gone": "x"}
    new = {"userName": "ada.l", "title": "", "phone": None}
    assert deltas(old, new, multi_valued=multi) == (
        Delta("userName", DeltaKind.REPLACE, ("ada.l",)),
        Delta("title", DeltaKind.CLEAR),
        Delta("phone", DeltaKind.CLEAR),
        Delta("gone", DeltaKind.CLEAR),
    )
    # Nothing to clear where there was nothing.
    assert deltas({"title": ""}, {"title": None, "phone": []}, multi_valued=multi) == ()


def test_values_compare_with_their_type() -> None:
    assert deltas({"active": 1}, {"active": True}, multi_valued=multi) == (
        Delta("active", DeltaKind.REPLACE, (True,)),
    )
    assert deltas({"n": "1"}, {"n": 1}, multi_valued=multi) == (
        Delta("n", DeltaKind.REPLACE, (1,)),
    )
    assert deltas({"n": 1.0}, {"n": 1}, multi_valued=multi) == (
        Delta("n", DeltaKind.REPLACE, (1,)),
    )
    assert deltas({"flag": False}, {"flag": 0}, multi_valued=multi) != ()
    assert changes({"active": 1}, {"active": True}) == {"active": [1, True]}


def test_multi_valued_attributes_get_added_and_removed_values() -> None:
    old = {"members": ["a", "b", "c"]}
    new = {"members": ["d", "c", "b", "e"]}
    assert deltas(old, new, multi_valued=multi) == (
        Delta("members", DeltaKind.ADD, ("d", "e")),
        Delta("members", DeltaKind.REMOVE, ("a",)),
    )
    # Order alone is no change.
    assert deltas({"members": ["a", "b"]}, {"members": ["b", "a"]}, multi_valued=multi) == ()
    assert changes({"members": ["a", "b"]}, {"members": ["b", "a"]}) == {}


def test_the_schema_makes_an_attribute_multi_valued_even_with_one_value() -> None:
    assert deltas({"emails": "a@x"}, {"emails": "b@x"}, multi_valued=multi) == (
        Delta("emails", DeltaKind.ADD, ("b@x",)),
        Delta("emails", DeltaKind.REMOVE, ("a@x",)),
    )
    # A list makes it multi-valued whatever the schema says.
    assert deltas({"tags": None}, {"tags": ["x", "x"]}, multi_valued=multi) == (
        Delta("tags", DeltaKind.ADD, ("x",)),
    )
    assert deltas({"members": ["a"]}, {"members": []}, multi_valued=multi) == (
        Delta("members", DeltaKind.CLEAR),
    )
    assert deltas({"members": ["a"]}, {"members": [None, ""]}, multi_valued=multi) == (
        Delta("members", DeltaKind.CLEAR),
    )


def test_changes_show_old_and_new_for_the_log() -> None:
    old = {"title": "Engineer", "department": "R&D", "members": ["1"]}
    new = {"title": "Manager", "department": "R&D", "phone": "123", "members": None}
    assert changes(old, new) == {
        "title": ["Engineer", "Manager"],
        "phone": [None, "123"],
        "members": [["1"], None],
    }


# --- property: the deltas turn old into new --------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, 1.0, 2.5]),
    st.sampled_from(["", "a", "b", "1", "true"]),
)
_values = st.one_of(_scalars, st.lists(_scalars, max_size=5))
_names = st.sampled_from(["a", "b", "c", "members", "emails"])
_records = st.dictionaries(_names, _values, max_size=5)


def _key(value: Any) -> str:
    return json.dumps([type(value).__name__, value])


def _normal(record: dict[str, Any]) -> dict[str, Any]:
    """What a target holds for a record: no empty values; a multi-valued attribute as the
    set of its values."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if name in MULTI or isinstance(value, list):
            items = value if isinstance(value, list) else [value]
            keys = frozenset(_key(v) for v in items if v is not None and v != "")
            if keys:
                out[name] = keys
        elif value is not None and value != "":
            out[name] = _key(value)
    return out


def _apply(record: dict[str, Any], planned: tuple[Delta, ...]) -> dict[str, Any]:
    """A target applying deltas to its normalised record."""
    out = dict(record)
    for delta in planned:
        if delta.kind is DeltaKind.CLEAR:
            out.pop(delta.attribute, None)
        elif delta.kind is DeltaKind.REPLACE:
            assert len(delta.values) == 1
            out[delta.attribute] = _key(delta.values[0])
        else:
            current = out.get(delta.attribute, frozenset())
            if isinstance(current, str):  # a single value becoming multi-valued
                current = frozenset([current])
            changed = {_key(v) for v in delta.values}
            assert changed, "an add or remove carries values"
            if delta.kind is DeltaKind.ADD:
                assert not changed & current, "only new values are added"
                current = current | changed
            else:
                assert changed <= current, "only present values are removed"
                current = current - changed
            if current:
                out[delta.attribute] = current
            else:
                out.pop(delta.attribute, None)
    return out


@given(_records, _records)
def test_applying_the_deltas_to_old_gives_new(old: dict[str, Any], new: dict[str, Any]) -> None:
    # A list on either side makes an attribute multi-valued for the planner; the target
    # model sees the same.
    planned = deltas(old, new, multi_valued=multi)
    lists = {n for n, v in [*old.items(), *new.items()] if isinstance(v, list)}

    def normal(record: dict[str, Any]) -> dict[str, Any]:
        shaped = {
            n: ([] if v is None else v if isinstance(v, list) else [v]) if n in lists else v
            for n, v in record.items()
        }
        return _normal(shaped)

    assert _apply(normal(old), planned) == normal(new)
    assert (planned == ()) == (changes(old, new) == {})
    assert len({(d.attribute, d.kind) for d in planned}) == len(planned)
