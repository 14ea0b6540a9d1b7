"""Scoping filters: Entra ID's operators, clause and filter logic, nulls, and bad filters."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- explain: why an object is out of scope ---------------------------------------------


def test_explain_names_the_missing_assignment() -> None:
    scope = Scope(ScopeMode.ASSIGNED)
    assert scope.explain(user(), assigned=False) == "not assigned to the job"
    assert scope.explain(user(), assigned=True) is None


def test_explain_names_each_failed_filters_first_failing_clause() -> None:
    sales = ScopingFilter(
        "Sales",
        (
            Clause("department", Operator.EQUALS, ("Sales",)),
            Clause("accountEnabled", Operator.IS_TRUE),
        ),
    )
    interns = ScopingFilter("Interns", (Clause("title", Operator.EQUALS, ("Intern", "Trainee")),))
    scope = Scope(ScopeMode.ALL, (sales,))
    assert scope.explain(user(department="Finance"), assigned=False) == (
        "scoping filter 'Sales': department EQUALS 'Sales' is false"
    )
    assert scope.explain(user(department="Sales", active=False), assigned=False) == (
        "scoping filter 'Sales': accountEnabled IS TRUE is false"
    )
    both = Scope(ScopeMode.ALL, (sales, interns))
    assert both.explain(user(department="Finance", title="CEO"), assigned=False) == (
        "scoping filter 'Sales': department EQUALS 'Sales' is false; "
        "scoping filter 'Interns': title EQUALS 'Intern' or 'Trainee' is false"
    )
    assert both.explain(user(title="Intern"), assigned=False) is None


_CLAUSES = [
    Clause("department", Operator.EQUALS, ("Sales",)),
    Clause("department", Operator.NOT_EQUALS, ("Finance",)),
    Clause("department", Operator.IS_NULL),
    Clause("title", Operator.REGEX_MATCH, ("^Eng",)),
    Clause("title", Operator.INCLUDES, ("er",)),
    Clause("accountEnabled", Operator.IS_TRUE),
    Clause("accountEnabled", Operator.IS_FALSE),
    Clause("employeeId", Operator.GREATER_THAN, ("100",)),
    Clause(MEMBER_OF, Operator.EQUALS, ("Engineering",)),
    Clause(MEMBER_OF, Operator.IS_NOT_NULL),
]


@settings(max_examples=300, deadline=None)
@given(
    mode=st.sampled_from(list(ScopeMode)),
    filters=st.lists(st.lists(st.sampled_from(_CLAUSES), min_size=1, max_size=3), max_size=3),
    department=st.sampled_from([None, "", "Sales", "Finance"]),
    title=st.sampled_from([None, "Engineer", "Manager", "Intern"]),
    active=st.booleans(),
    number=st.sampled_from([None, "99", "101", "n/a"]),
    groups=st.lists(st.sampled_from(["Engineering", "All staff"]), unique=True),
    assigned=st.booleans(),
)
def test_explain_is_none_exactly_when_the_object_is_in_scope(
    mode: ScopeMode,
    filters: list[list[Clause]],
    department: str | None,
    title: str | None,
    active: bool,
    number: str | None,
    groups: list[str],
    assigned: bool,
) -> None:
    scope = Scope(mode, tuple(ScopingFilter(f"f{n}", tuple(c)) for n, c in enumerate(filters)))
    base = user(department=department, title=title, active=active, employeeNumber=number)
    source = Source(base.resource, groups=tuple(groups))
    reason = scope.explain(source, assigned=assigned)
    assert (reason is None) == scope.includes(source, assigned=assigned)
    if reason is not None and (assigned or mode is ScopeMode.ALL):
        assert reason.count("scoping filter") == len(filters)
