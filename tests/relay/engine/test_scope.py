"""Scoping filters: Entra ID's operators, clause and filter logic, nulls, and bad filters."""

from __future__ import annotations

import time

import pytest

from relay.engine.exceptions import ScopingError
from relay.engine.scope import MEMBER_OF, Clause, Operator, Scope, ScopeMode, ScopingFilter
from relay.engine.source import Source

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def user(**attributes: object) -> Source:
    resource: dict[str, object] = {"userName": "ada@contoso.com", "active": True}
    enterprise: dict[str, object] = {}
    for name, value in attributes.items():
        if name in ("department", "employeeNumber"):
            enterprise[name] = value
        else:
            resource[name] = value
    if enterprise:
        resource[ENTERPRISE] = enterprise
    return Source(resource)


def holds(attribute: str, operator: str, *values: str, source: Source) -> bool:
    scope = Scope(
        ScopeMode.ALL,
        (ScopingFilter("f", (Clause(attribute, Operator.parse(operator), values),)),),
    )
    return scope.includes(source, assigned=False)


@pytest.mark.parametrize(
    ("operator", "value", "department", "expected"),
    [
        ("EQUALS", "Sales", "Sales", True),
        ("EQUALS", "Sales", "sales", False),  # case sensitive
        ("NOT EQUALS", "Sales", "Marketing", True),
        ("NOT EQUALS", "Sales", "Sales", False),
        ("Includes", "ale", "Sales", True),
        ("Includes", "ALE", "Sales", False),
        ("ENDS_WITH", "les", "Sales", True),
        ("ENDS_WITH", "Sal", "Sales", False),
        ("&", "Sales,Marketing", "Sales", True),
        ("&", "Sales,Marketing", "Finance", False),
        ("!&", "Sales,Marketing", "Finance", True),
        ("!&", "Sales,Marketing", "Marketing", False),
        ("REGEX MATCH", "^S.l", "Sales", True),
        ("REGEX MATCH", "^s", "Sales", False),
        ("NOT REGEX MATCH", "^Fin", "Sales", True),
        ("NOT REGEX MATCH", "ale", "Sales", False),
    ],
)
def test_text_operators_follow_entra_semantics(
    operator: str, value: str, department: str, expected: bool
) -> None:
    assert holds("department", operator, value, source=user(department=department)) is expected


@pytest.mark.parametrize(
    ("operator", "bound", "expected"),
    [
        ("Greater_Than", "1000", [False, False, True]),
        ("Greater_Than_OR_EQUALS", "1000", [False, True, True]),
        ("Less_Than", "1000", [True, False, False]),
        ("Less_Than_OR_EQUALS", "1000", [True, True, False]),
    ],
)
def test_comparison_operators_compare_integers(
    operator: str, bound: str, expected: list[bool]
) -> None:
    # Text that spells an integer counts as the integer (employee numbers are text in SCIM).
    got = [
        holds("employeeId", operator, bound, source=user(employeeNumber=number))
        for number in ("999", "1000", "1001")
    ]
    assert got == expected
    assert holds("employeeId", operator, bound, source=user(employeeNumber="n/a")) is False


def test_boolean_operators() -> None:
    enabled, disabled = user(active=True), user(active=False)
    assert holds("accountEnabled", "IS TRUE", source=enabled)
    assert not holds("accountEnabled", "IS TRUE", source=disabled)
    assert holds("accountEnabled", "IS FALSE", source=disabled)
    assert not holds("accountEnabled", "IS FALSE", source=enabled)
    assert holds("flag", "IS TRUE", source=user(flag="True"))


def test_null_matches_nothing_but_is_null() -> None:
    nobody = user()
    for operator, values in [
        ("EQUALS", ("x",)),
        ("NOT EQUALS", ("x",)),
        ("NOT REGEX MATCH", ("x",)),
        ("!&", ("x",)),
        ("Includes", ("",)),
        ("IS NOT NULL", ()),
        ("IS TRUE", ()),
        ("IS FALSE", ()),
        ("Less_Than", ("5",)),
    ]:
        assert not holds("department", operator, *values, source=nobody), operator
    assert holds("department", "IS NULL", source=nobody)
    assert holds("department", "IS NULL", source=user(department=""))
    assert not holds("department", "IS NULL", source=user(department="Sales"))


def test_clauses_are_anded_and_filters_ored() -> None:
    sales = Clause("department", Operator.EQUALS, ("Sales",))
    enabled = Clause("accountEnabled", Operator.IS_TRUE)
    scope = Scope(
        ScopeMode.ALL,
        (
            ScopingFilter("enabled sales", (sales, enabled)),
            ScopingFilter("interns", (Clause("title", Operator.EQUALS, ("Intern",)),)),
        ),
    )
    assert scope.includes(user(department="Sales", active=True), assigned=False)
    assert not scope.includes(user(department="Sales", active=False), assigned=False)
    assert scope.includes(user(title="Intern", active=False), assigned=False)
    assert not scope.includes(user(department="Finance"), assigned=False)


def test_no_filter_lets_everyone_through_and_assignment_mode_needs_assignment() -> None:
    assert Scope(ScopeMode.ALL).includes(user(), assigned=False)
    assert not Scope(ScopeMode.ASSIGNED).includes(user(), assigned=False)
    assert Scope(ScopeMode.ASSIGNED).includes(user(), assigned=True)
    sales = ScopingFilter("sales", (Clause("department", Operator.EQUALS, ("Sales",)),))
    assigned = Scope(ScopeMode.ASSIGNED, (sales,))
    assert not assigned.includes(user(department="Finance"), assigned=True)
    assert assigned.includes(user(department="Sales"), assigned=True)


def test_multi_valued_attributes_match_on_any_value() -> None:
    emails = [
        {"value": "ada@contoso.com", "type": "work"},
        {"value": "ada@fabrikam.com", "type": "home"},
    ]
    ada = user(emails=emails)
    assert holds("emails.value", "ENDS_WITH", "@fabrikam.com", source=ada)
    assert holds("emails.value", "EQUALS", "ada@contoso.com", source=ada)
    # The negated operators hold only when no value matches.
    assert not holds("emails.value", "NOT EQUALS", "ada@contoso.com", source=ada)
    assert holds("emails.value", "NOT REGEX MATCH", "@example\\.org$", source=ada)


def test_several_operand_values_mean_any_of_them() -> None:
    assert holds("department", "EQUALS", "Sales", "Marketing", source=user(department="Marketing"))
    assert not holds(
        "department", "NOT EQUALS", "Sales", "Marketing", source=user(department="Marketing")
    )


def test_filters_on_group_membership() -> None:
    member = Source({"userName": "ada"}, groups=("Engineering", "All staff"))
    loner = Source({"userName": "bob"})
    assert holds(MEMBER_OF, "EQUALS", "Engineering", source=member)
    assert not holds(MEMBER_OF, "EQUALS", "Engineering", source=loner)
    assert holds(MEMBER_OF, "IS NULL", source=loner)
    assert holds(MEMBER_OF, "NOT EQUALS", "Contractors", source=member)


def test_operator_names_are_accepted_in_graph_and_portal_spellings() -> None:
    assert Operator.parse("NOT_EQUALS") is Operator.NOT_EQUALS
    assert Operator.parse("not equals") is Operator.NOT_EQUALS
    assert Operator.parse("greater_than_or_equals") is Operator.GREATER_THAN_OR_EQUALS
    assert Operator.parse("REGEX_MATCH") is Operator.REGEX_MATCH
    assert Operator.parse("!&") is Operator.NOT_CONTAINED_IN


def refused(*clauses: Clause, name: str = "Sales only") -> str:
    with pytest.raises(ScopingError) as caught:
        Scope(filters=(ScopingFilter(name, clauses),))
    return str(caught.value)


def test_bad_filters_are_refused_when_saved_naming_filter_and_clause() -> None:
    ok = Clause("department", Operator.EQUALS, ("Sales",))
    message = refused(ok, Clause("userPrincipalName", Operator.REGEX_MATCH, ("(a|b",)))
    assert "scoping filter 'Sales only', clause 2 (userPrincipalName REGEX MATCH)" in message
    assert "missing )" in message
    assert "look-around" in refused(Clause("x", Operator.REGEX_MATCH, ("^(?!admin)",)))
    assert "back-references" in refused(Clause("x", Operator.NOT_REGEX_MATCH, (r"(a)\1",)))
    assert "'ten' is not an integer" in refused(Clause("x", Operator.GREATER_THAN, ("ten",)))
    assert "takes no value" in refused(Clause("x", Operator.IS_NULL, ("y",)))
    assert "needs a value" in refused(Clause("x", Operator.EQUALS))
    assert "names no attribute" in refused(Clause(" ", Operator.EQUALS, ("y",)))
    assert "at least one clause" in refused()
    assert "needs a name" in refused(ok, name=" ")
    assert "attribute 'emails[type eq'" in refused(Clause("emails[type eq", Operator.IS_NULL))
    with pytest.raises(ScopingError, match="unknown operator 'LIKE'"):
        Operator.parse("LIKE")


def test_duplicate_filter_names_are_refused() -> None:
    flt = ScopingFilter("same", (Clause("x", Operator.IS_NULL),))
    with pytest.raises(ScopingError, match="two filters have this name"):
        Scope(filters=(flt, flt))


def test_a_catastrophic_pattern_runs_in_linear_time() -> None:
    # (a+)+$ backtracks exponentially in Python's re on this input; RE2 does not.
    scope = Scope(
        ScopeMode.ALL,
        (ScopingFilter("evil", (Clause("title", Operator.REGEX_MATCH, ("^(a+)+$",)),)),),
    )
    source = user(title="a" * 50_000 + "!")
    started = time.perf_counter()
    assert not scope.includes(source, assigned=False)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    "pattern", [r"@contoso\.com$", r"^[A-Z]", "é+", r"\d{3}", "(?i)ADA", "^$", "x*"]
)
def test_regex_clauses_agree_with_re2_search(pattern: str) -> None:
    import re2

    texts = ["ada@contoso.com", "Ada", "café", "r2d2 007", "", "ADA@fabrikam.com", "\ud800x"]
    expected = re2.compile(pattern)
    for text in texts:
        if not text:
            continue  # an empty value never matches a clause
        want = expected.search(text.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
        got = holds("title", "REGEX MATCH", pattern, source=user(title=text))
        assert got is (want is not None), (pattern, text)
