"""Hypothesis strategies for expression trees and source objects."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from relay.engine.expressions import FUNCTIONS
from relay.engine.expressions.nodes import (
    COMPARISON_OPERATORS,
    CONSTANTS,
    Attribute,
    Call,
    Comparison,
    Constant,
    Missing,
    NumberLiteral,
    StringLiteral,
)
from relay.engine.source import AppRoleAssignment, Source

REFERENCES = (
    "givenName",
    "surname",
    "userPrincipalName",
    "mail",
    "department",
    "accountEnabled",
    "proxyAddresses",
    "when",
    "number",
    "appRoleAssignments",
    "missing",
    "name.givenName",
    'emails[type eq "work"].value',
    "emails.value",
)

texts = st.text(st.characters(codec="utf-8"), max_size=12)
#: Constants that checks made when saving read in more than one way.
tricky = st.sampled_from(["&H3", " 7 ", "1_0", "yyyy", "d", "(?=x)", "(?<g>a)", "g", ""])
leaves = st.one_of(
    st.builds(StringLiteral, st.one_of(texts, tricky)),
    st.builds(NumberLiteral, st.integers(-(10**20), 10**20)),
    st.builds(Constant, st.sampled_from(sorted(CONSTANTS))),
    st.builds(Attribute, st.sampled_from(REFERENCES)),
)


def _calls(children: Any, names: Any) -> Any:
    arguments = st.lists(st.one_of(children, st.builds(Missing)), max_size=5).filter(
        lambda a: len(a) != 1 or not isinstance(a[0], Missing)
    )
    return st.builds(lambda name, args: Call(name, tuple(args)), names, arguments)


def _comparisons(children: Any) -> Any:
    operands = children.filter(lambda n: not isinstance(n, Comparison))
    return st.builds(Comparison, st.sampled_from(COMPARISON_OPERATORS), operands, operands)


any_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: n not in CONSTANTS
)
trees = st.recursive(
    leaves,
    lambda children: st.one_of(_calls(children, any_names), _comparisons(children)),
    max_leaves=12,
)
"""Any tree the parser can produce (function names need not exist)."""


def _known_calls(children: Any) -> Any:
    """Calls of real functions with an argument count they accept."""

    def arguments(function: Any) -> Any:
        most = function.most if function.most is not None else function.fewest + 3
        return st.lists(children, min_size=function.fewest, max_size=most).map(
            lambda args: Call(function.name, tuple(args))
        )

    return st.sampled_from(sorted(FUNCTIONS)).flatmap(lambda name: arguments(FUNCTIONS[name]))


function_trees = st.recursive(
    leaves,
    lambda children: st.one_of(_known_calls(children), _comparisons(children)),
    max_leaves=10,
)
"""Trees calling real functions with arbitrary arguments: some will not compile."""

values = st.one_of(
    st.none(),
    texts,
    st.sampled_from(
        [
            "2021-08-24",
            "8/25/2021 5:41:18 PM",
            "129699324000000000",
            "True",
            "-3",
            "&HF",
            "(?=x)",
            "yyyy",
            "d",
        ]
    ),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(texts, max_size=3),
)


@st.composite
def sources(draw: Any) -> Source:
    resource: dict[str, Any] = {
        name: draw(values)
        for name in ("userName", "displayName", "when", "number", "proxyAddresses")
    }
    resource["name"] = {"givenName": draw(values), "familyName": draw(values)}
    resource["emails"] = [{"type": "work", "value": draw(values), "primary": draw(st.booleans())}]
    roles = draw(st.lists(st.builds(AppRoleAssignment, texts), max_size=2))
    return Source(resource, app_roles=tuple(roles))
