"""Job settings: the job file's extra tables, their defaults, errors naming file and key,
and writing a job back."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.engine import job
from relay.engine.job import Connection, Deprovision, Guard, JobSettings, Schedule
from shared.connector import GROUP, USER
from shared.exceptions import SettingsError

FULL = """\
name = "slack"
template = "slack"
scope = "all"

[connection]
agent = "acme-agent"
connector = "slack-api"

[deprovision]
users = "disable"
groups = "delete"
skip_out_of_scope_deletions = true
disable_attribute = "active"
disable_value = false

[guard]
threshold = 50
share = 0.3
settle = 2.5
window = "30m"

[schedule]
reconcile = "24h"
delete_unmatched = true
"""

MINIMAL = """\
name = "hr"
target = "sql"

[connection]
connector = "hr-db"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_table_is_read(tmp_path: Path) -> None:
    settings = job.load(write(tmp_path, FULL))
    assert settings.name == "slack"
    assert settings.definition.template == "slack"
    assert settings.definition.target == "scim"
    assert settings.connection == Connection(agent="acme-agent", connector="slack-api")
    assert settings.deprovision == Deprovision(
        users="disable",
        groups="delete",
        skip_out_of_scope_deletions=True,
        disable_attribute="active",
        disable_value=False,
    )
    assert settings.guard == Guard(threshold=50, share=0.3, settle=2.5, window=1800.0)
    assert settings.schedule == Schedule(reconcile=86400.0, delete_unmatched=True)


def test_defaults_follow_the_target_type() -> None:
    sql = job.parse(MINIMAL, source="hr.toml")
    assert sql.connection == Connection(agent=None, connector="hr-db")
    assert sql.deprovision == Deprovision(
        users="disable", groups="delete", disable_attribute="active", disable_value=False
    )
    assert sql.deprovision.action(USER) == "disable"
    assert sql.deprovision.action(GROUP) == "delete"
    assert sql.guard == Guard(threshold=500, share=None, settle=2.0, window=3600.0)
    assert sql.schedule == Schedule(reconcile=None, delete_unmatched=False)

    ldap = job.parse(MINIMAL.replace('"sql"', '"ldap"'), source="hr.toml")
    assert ldap.deprovision.users == "delete"
    assert ldap.deprovision.disable_attribute is None
    # An LDAP directory with its own disable attribute can disable.
    custom = job.parse(
        MINIMAL.replace('"sql"', '"ldap"')
        + '\n[deprovision]\ndisable_attribute = "nsAccountLock"\ndisable_value = "true"\n',
        source="hr.toml",
    )
    assert custom.deprovision.action(USER) == "disable"
    assert custom.deprovision.disable_value == "true"


def test_the_built_in_agent_may_be_named_or_left_out() -> None:
    text = MINIMAL.replace("[connection]\n", '[connection]\nagent = "builtin"\n')
    assert job.parse(text, source="hr.toml").connection.agent is None


def test_durations_read_text_numbers_and_off() -> None:
    def schedule(value: str) -> float | None:
        text = MINIMAL + f"\n[schedule]\nreconcile = {value}\n"
        return job.parse(text, source="hr.toml").schedule.reconcile

    assert schedule('"30s"') == 30.0
    assert schedule('"5m"') == 300.0
    assert schedule('"6h"') == 21600.0
    assert schedule('"1d"') == 86400.0
    assert schedule("90") == 90.0
    assert schedule("1.5") == 1.5
    assert schedule('"off"') is None


def test_the_name_given_wins_over_the_files() -> None:
    settings = job.parse(MINIMAL, source="hr.toml", name="hr-2")
    assert settings.name == "hr-2"
    assert settings.definition.name == "hr-2"
    # A name for people in the file is fine when the command line names the job.
    spaced = MINIMAL.replace('name = "hr"', 'name = "HR database"')
    assert job.parse(spaced, source="hr.toml", name="hr").name == "hr"


def refused(tmp_path: Path, text: str, name: str | None = None) -> SettingsError:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as caught:
        job.load(path, name=name)
    assert caught.value.path == str(path)
    assert str(caught.value).startswith(f"{path}: {caught.value.key}: ")
    return caught.value


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (MINIMAL + "\n[guard]\nthreshhold = 5\n", "guard.threshhold", "is not a known setting"),
        (MINIMAL + "\n[schedule]\ncron = '@daily'\n", "schedule.cron", "is not a known"),
        (MINIMAL + "\n[guard]\nthreshold = '5'\n", "guard.threshold", "must be an integer"),
        (MINIMAL + "\n[guard]\nthreshold = -1\n", "guard.threshold", "at least 0"),
        (MINIMAL + "\n[guard]\nshare = 0\n", "guard.share", "more than 0 and at most 1"),
        (MINIMAL + "\n[guard]\nshare = 1.5\n", "guard.share", "more than 0 and at most 1"),
        (MINIMAL + "\n[guard]\nshare = true\n", "guard.share", "not a boolean"),
        (MINIMAL + "\n[guard]\nsettle = '5 parsecs'\n", "guard.settle", "'5 parsecs'"),
        (MINIMAL + "\n[guard]\nsettle = -2\n", "guard.settle", "at least 0s"),
        (MINIMAL + "\n[guard]\nwindow = 0\n", "guard.window", "longer than zero"),
        (MINIMAL + "\n[guard]\nwindow = 'off'\n", "guard.window", "must be a duration"),
        (MINIMAL + "\n[schedule]\nreconcile = '-1h'\n", "schedule.reconcile", "'-1h'"),
        (MINIMAL + "\n[schedule]\nreconcile = '1h30m'\n", "schedule.reconcile", "duration"),
        (MINIMAL + "\n[schedule]\nreconcile = 0\n", "schedule.reconcile", "longer than zero"),
        (MINIMAL + "\n[schedule]\ndelete_unmatched = 1\n", "schedule.delete_unmatched", "true"),
        (MINIMAL + "\n[deprovision]\nusers = 'suspend'\n", "deprovision.users", '"disable" or'),
        (MINIMAL + "\n[deprovision]\ngroups = 'disable'\n", "deprovision.groups", "cannot be"),
        (MINIMAL + "\n[deprovision]\ndisable_value = [1]\n", "deprovision.disable_value", "must"),
        (
            MINIMAL.replace('"sql"', '"ldap"') + "\n[deprovision]\nusers = 'disable'\n",
            "deprovision.users",
            "needs a disable attribute, and ldap targets have none",
        ),
        (
            MINIMAL + "\n[deprovision]\nusers = 'disable'\ndisable_attribute = ''\n",
            "deprovision.users",
            "needs a disable attribute, and deprovision.disable_attribute is empty",
        ),
        (MINIMAL.replace('connector = "hr-db"', ""), "connection.connector", "is required"),
        (MINIMAL.replace("[connection]", "[other]"), "other", "is not a known setting"),
        ('name = "hr"\ntarget = "sql"\n', "connection.connector", "is required"),
        (MINIMAL.replace('"hr-db"', '"hr db"'), "connection.connector", "not a connector name"),
        (MINIMAL + "agent = 'a/b'\n", "connection.agent", "not an agent name"),
        (MINIMAL + "agent = 7\n", "connection.agent", "must be a string"),
        (MINIMAL + "port = 7\n", "connection.port", "is not a known setting"),
        ('connection = "hr-db"\nname = "hr"\ntarget = "sql"\n', "connection", "must be a table"),
        (MINIMAL.replace('name = "hr"\n', ""), "name", "is required"),
        (MINIMAL.replace('"hr"', '"HR database"'), "name", "'HR database' is not a job name"),
        (MINIMAL.replace('"hr"', '"-hr"'), "name", "is not a job name"),
        (MINIMAL.replace('"hr"', '"' + "h" * 65 + '"'), "name", "is not a job name"),
    ],
)
def test_bad_settings_are_refused_naming_file_and_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    error = refused(tmp_path, text)
    assert error.key == key
    assert problem in error.problem


def test_a_bad_name_on_the_command_line_says_so(tmp_path: Path) -> None:
    error = refused(tmp_path, MINIMAL, name="hr/2")
    assert error.key == "name"
    assert "given on the command line" in error.problem


def test_mapping_errors_still_name_their_key(tmp_path: Path) -> None:
    error = refused(tmp_path, MINIMAL + '\n[users]\nremove = ["nope"]\n')
    assert error.key == "users.remove"


def test_text_that_is_not_toml_is_refused_naming_the_source() -> None:
    with pytest.raises(SettingsError) as caught:
        job.parse('name = "hr"\n[connection\n', source="job hr")
    assert caught.value.path == "job hr"
    assert str(caught.value).startswith("job hr: is not valid TOML")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="file does not exist"):
        job.load(tmp_path / "absent.toml")


def test_dump_writes_a_file_that_parses_back_the_same(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    settings = job.load(path)
    text = job.dump(settings)
    again = job.parse(text, source=str(path))
    # The written file is self-contained: the template's mappings are spelled out.
    assert again == replace(settings, definition=replace(settings.definition, template=None))
    assert 'window = "30m"' in text
    assert 'reconcile = "1d"' in text
    assert 'settle = "2.5s"' in text

    minimal = job.parse(MINIMAL.replace('"sql"', '"ldap"'), source="hr.toml", name="hr-ldap")
    text = job.dump(minimal)
    assert job.parse(text, source="hr.toml") == minimal
    assert "agent" not in text


_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
_seconds = st.one_of(
    st.integers(min_value=1, max_value=10**7).map(float),
    st.floats(min_value=0.001, max_value=1e7, allow_nan=False, allow_infinity=False),
)


@st.composite
def job_settings(draw: st.DrawFn) -> JobSettings:
    target = draw(st.sampled_from(["scim", "sql", "ldap"]))
    attribute = draw(st.one_of(st.none(), st.sampled_from(["active", "nsAccountLock"])))
    users = draw(st.sampled_from(["disable", "delete"])) if attribute else "delete"
    text = f'name = "seed"\ntarget = "{target}"\n[connection]\nconnector = "c"\n'
    definition = job.parse(text, source="job.toml").definition
    name = draw(_names)
    return JobSettings(
        name=name,
        definition=replace(definition, name=name),
        connection=Connection(agent=draw(st.one_of(st.none(), _names)), connector=draw(_names)),
        deprovision=Deprovision(
            users=users,
            groups="delete",
            skip_out_of_scope_deletions=draw(st.booleans()),
            disable_attribute=attribute,
            disable_value=draw(
                st.one_of(
                    st.booleans(),
                    st.integers(-5, 5),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=8),
                )
            ),
        ),
        guard=Guard(
            threshold=draw(st.integers(0, 10**6)),
            share=draw(st.one_of(st.none(), st.floats(min_value=0.01, max_value=1.0))),
            settle=draw(st.one_of(st.just(0.0), _seconds)),
            window=draw(_seconds),
        ),
        schedule=Schedule(
            reconcile=draw(st.one_of(st.none(), _seconds)), delete_unmatched=draw(st.booleans())
        ),
    )


@settings(max_examples=60, deadline=None)
@given(job_settings())
def test_any_job_survives_dump_and_parse(settings: JobSettings) -> None:
    if settings.connection.agent == "builtin":
        settings = replace(settings, connection=replace(settings.connection, agent=None))
    assert job.parse(job.dump(settings), source="job.toml") == settings


def test_the_documented_job_settings_load(tmp_path: Path) -> None:
    docs = (Path(__file__).parents[3] / "docs" / "mappings.md").read_text(encoding="utf-8")
    after = docs[docs.index("## Job settings") :]
    start = after.index("```toml") + len("```toml")
    settings = job.load(write(tmp_path, after[start : after.index("```", start)]))
    assert settings.connection == Connection(agent="acme-agent", connector="slack")
    assert settings.guard.threshold == 500
    assert settings.schedule.reconcile == 86400.0
