"""Job files: loading with templates and defaults, errors naming file and key, writing back."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.engine import jobfile
from relay.engine.mapping import ApplyOn, MappingType
from relay.engine.scope import Operator, ScopeMode
from relay.engine.source import Source
from shared.connector import GROUP, USER, AttributeInfo, ObjectClassInfo
from shared.exceptions import SettingsError

EXAMPLE = """\
name = "Slack for sales"
template = "slack"
scope = "all"

[users]
remove = ["title"]

[[users.mappings]]
target = "displayName"
expression = 'Join(" ", [givenName], [surname])'
apply = "create"
default = "Unnamed"

[[users.mappings]]
target = "userType"
value = "Employee"

[[users.filters]]
name = "Sales"
clauses = [
  { attribute = "department", operator = "EQUALS", value = "Sales" },
  { attribute = "userPrincipalName", operator = "REGEX_MATCH", value = '@contoso\\.com$' },
]

[groups]
enabled = false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_job_starts_from_a_template_and_overrides_it(tmp_path: Path) -> None:
    job = jobfile.load(write(tmp_path, EXAMPLE))
    assert job.name == "Slack for sales"
    assert job.template == "slack"
    assert job.target == "scim"
    assert job.scope is ScopeMode.ALL
    users = job.object_mapping(USER)
    assert users is not None
    targets = [m.target for m in users.mappings]
    assert "title" not in targets
    assert targets[0] == "userName"  # inherited, kept in place
    display = users.mapping("displayName")
    assert display is not None
    assert display.type is MappingType.EXPRESSION
    assert (display.apply, display.default) == (ApplyOn.CREATE, "Unnamed")
    constant = users.mapping("userType")
    assert constant is not None
    assert (constant.type, constant.value) == (MappingType.CONSTANT, "Employee")
    (flt,) = users.filters
    assert [c.operator for c in flt.clauses] == [Operator.EQUALS, Operator.REGEX_MATCH]
    groups = job.object_mapping(GROUP)
    assert groups is not None
    assert not groups.enabled
    assert set(job.mappers()) == {USER}

    scope = job.scope_for(USER)
    sales = Source(
        {
            "userName": "ada@contoso.com",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"},
        }
    )
    assert scope.includes(sales, assigned=False)


def test_a_job_without_template_starts_from_the_target_defaults(tmp_path: Path) -> None:
    job = jobfile.load(write(tmp_path, 'target = "sql"\n'))
    users = job.object_mapping(USER)
    assert users is not None
    assert users.mapping("user_name") is not None
    assert job.scope is ScopeMode.ASSIGNED
    bare = jobfile.load(write(tmp_path, 'target = "ldap"\ndefaults = false\n'))
    assert bare.objects == ()


def test_default_mappings_are_cut_to_the_schema_but_explicit_ones_are_not(
    tmp_path: Path,
) -> None:
    table = ObjectClassInfo(
        USER,
        "user_name",
        tuple(AttributeInfo(n) for n in ("id", "user_name", "email", "display_name")),
    )
    job = jobfile.load(write(tmp_path, 'target = "sql"\n'))
    mapper = job.mappers({USER: table})[USER]
    assert mapper.mapping.mappings and {m.target for m in mapper.mapping.mappings} == {
        "user_name",
        "email",
        "display_name",
    }
    explicit = write(
        tmp_path, 'target = "sql"\n[[users.mappings]]\ntarget = "title"\nsource = "jobTitle"\n'
    )
    with pytest.raises(SettingsError) as caught:
        jobfile.load(explicit).mappers({USER: table})
    assert caught.value.path == str(explicit)
    assert caught.value.key == "users.mappings[0]"
    assert "no attribute 'title'" in caught.value.problem


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("", "target", "is required when no template is named"),
        ('target = "csv"', "target", "must be one of scim, ldap, sql"),
        ('template = "nope"', "template", "no gallery template 'nope'"),
        ('template = "slack"\ntarget = "ldap"', "target", "template 'slack' is for 'scim'"),
        ('target = "scim"\nscope = "some"', "scope", "must be 'assigned' or 'all'"),
        ('template = "zoom"\ndefaults = false', "defaults", "only applies to a job without"),
        ('target = "scim"\ncolour = "red"', "colour", "is not a known setting"),
        (
            'target = "scim"\n[[users.mappings]]\ntarget = "x"',
            "users.mappings[0].target",
            "needs exactly one of 'source'",
        ),
        (
            'target = "scim"\n[[users.mappings]]\ntarget = "x"\nsource = "a"\nvalue = "b"',
            "users.mappings[0].target",
            "needs exactly one of",
        ),
        (
            'target = "scim"\n[[users.mappings]]\ntarget = "x"\ntype = "none"\nsource = "a"',
            "users.mappings[0].source",
            "a none mapping has no 'source'",
        ),
        (
            'target = "scim"\n[[users.mappings]]\ntarget = "x"\nexpression = "Left([a], 2"',
            "users.mappings[0].expression",
            "user mapping 'x' (object class 'user'): expression 'Left([a], 2': position 11",
        ),
        (
            'target = "scim"\n[[users.mappings]]\ntarget = "x"\nsource = "a"\napply = "never"',
            "users.mappings[0].apply",
            'must be "always" or "create"',
        ),
        (
            'target = "scim"\n[[users.mappings]]\ntarget = "x"\nsource = "a"\nmatching = -1',
            "users.mappings[0].matching",
            "must be at least 0",
        ),
        (
            'target = "scim"\n[[users.mappings]]\ntarget = "x"\nsource = "a"\nextra = 1',
            "users.mappings[0].extra",
            "is not a known setting",
        ),
        (
            'target = "scim"\n[[users.mappings]]\ntarget = "x"\nvalue = [1]',
            "users.mappings[0].value",
            "must be a string, number or boolean",
        ),
        (
            'target = "scim"\n[[users.mappings]]\ntarget = "x"\nsource = "a"\n'
            '[[users.mappings]]\ntarget = "x"\nsource = "b"',
            "users.mappings[1].target",
            "'x' is mapped by users.mappings[0] too",
        ),
        ('target = "scim"\n[users]\nremove = ["nope"]', "users.remove", "no inherited mapping"),
        ('target = "scim"\n[users]\nremove = "title"', "users.remove", "list of strings"),
        ('target = "scim"\nusers = 3', "users", "must be a table"),
        ('target = "scim"\n[users]\nmappings = 3', "users.mappings", "array of tables"),
        (
            'target = "scim"\n[[users.filters]]\nname = "f"\n'
            'clauses = [{ attribute = "a", operator = "LIKE", value = "x" }]',
            "users.filters[0].clauses[0].operator",
            "unknown operator 'LIKE'",
        ),
        (
            'target = "scim"\n[[users.filters]]\nname = "f"\nclauses = [\n'
            '  { attribute = "a", operator = "IS NULL" },\n'
            '  { attribute = "b", operator = "REGEX MATCH", value = "(x" },\n]',
            "users.filters[0].clauses[1]",
            "scoping filter 'f', clause 2 (b REGEX MATCH): the regular expression '(x'",
        ),
        (
            'target = "scim"\n[[users.filters]]\nname = "f"\n'
            'clauses = [{ attribute = "a", operator = "Greater_Than", value = true }]',
            "users.filters[0].clauses[0].value",
            "must be a string (or an integer)",
        ),
        (
            'target = "scim"\n[[users.filters]]\nname = "f"\n'
            'clauses = [{ attribute = "a", operator = "Greater_Than", value = "ten" }]',
            "users.filters[0].clauses[0]",
            "'ten' is not an integer",
        ),
        (
            'target = "scim"\n[[users.filters]]\nname = "f"\nclauses = []',
            "users.filters[0].clauses",
            "at least one clause",
        ),
        (
            'target = "scim"\n[[users.filters]]\nname = "f"\n[[users.filters]]\nname = "f"\n'
            'clauses = [{ attribute = "a", operator = "IS NULL" }]',
            "users.filters[0].clauses",
            "at least one clause",
        ),
        ("target = ", None, "is not valid TOML"),
    ],
)
def test_bad_job_files_name_file_key_and_problem(
    tmp_path: Path, text: str, key: str | None, problem: str
) -> None:
    path = write(tmp_path, text + "\n")
    with pytest.raises(SettingsError) as caught:
        jobfile.load(path)
    assert caught.value.path == str(path)
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_duplicate_filter_names_are_refused(tmp_path: Path) -> None:
    text = (
        'target = "scim"\n'
        + ('[[users.filters]]\nname = "f"\nclauses = [{ attribute = "a", operator = "IS NULL" }]\n')
        * 2
    )
    with pytest.raises(SettingsError) as caught:
        jobfile.load(write(tmp_path, text))
    assert caught.value.key == "users.filters"
    assert "two filters have this name" in caught.value.problem


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="file does not exist"):
        jobfile.load(tmp_path / "absent.toml")


def test_dump_writes_a_file_that_loads_back_the_same(tmp_path: Path) -> None:
    job = jobfile.load(
        write(
            tmp_path,
            EXAMPLE + '\n[[users.mappings]]\ntarget = "odd"\n'
            "value = 'tab\\there \"quoted\" \\u007f'\n",
        )
    )
    text = jobfile.dump(job)
    again = jobfile.load(write(tmp_path, text))
    assert again.objects == job.objects
    assert (again.scope, again.name, again.target) == (job.scope, job.name, job.target)
    assert again.template is None
    assert "template" not in text
    assert "target = 'emails[type eq \"work\"].value'" in text


def test_the_documented_example_loads(tmp_path: Path) -> None:
    docs = (Path(__file__).parents[3] / "docs" / "mappings.md").read_text(encoding="utf-8")
    after = docs[docs.index("A complete example:") :]
    start = after.index("```toml") + len("```toml")
    example = after[start : after.index("```", start)]
    job = jobfile.load(write(tmp_path, example))
    users = job.object_mapping(USER)
    assert users is not None and len(users.filters) == 2
