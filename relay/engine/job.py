"""A provisioning job's settings: the job file of ``docs/mappings.md`` plus where it sends
its operations, how it deprovisions, its deletion guard and its schedule.

The four extra tables are optional but for ``[connection]``'s ``connector``::

    name = "slack"                  # or given by ``hatchway job create --name``
    template = "slack"

    [connection]
    agent = "acme-agent"            # omitted or "builtin": the relay's built-in agent
    connector = "slack"

    [deprovision]
    users = "disable"               # or "delete"
    skip_out_of_scope_deletions = false

    [guard]
    threshold = 500

    [schedule]
    reconcile = "24h"

``docs/provisioning.md`` explains what each setting does to a running job. The store keeps
the job file's text as the administrator wrote it; :func:`dump` writes the settings back as
a self-contained file for a new job or for ``hatchway job show``.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from relay.engine import jobfile
from relay.engine.jobfile import JobDefinition, toml_literal
from shared.connector import GROUP, USER, Scalar
from shared.exceptions import SettingsError
from shared.protocol.messages import valid_name
from shared.settings import Table, format_duration, parse_duration

#: The tables of a job file that this module reads; ``jobfile`` reads the rest.
TABLES = ("connection", "deprovision", "guard", "schedule")
#: Job names: short, and safe in file names, URLs and log lines.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: What ``agent`` may say for the relay's built-in agent (or leave it out).
BUILTIN = "builtin"
DISABLE = "disable"
DELETE = "delete"
#: The attribute that disables an account, per target type: LDAP has no standard one.
DISABLE_ATTRIBUTES: dict[str, str | None] = {"scim": "active", "sql": "active", "ldap": None}


@dataclass(frozen=True, slots=True)
class Connection:
    """Where the job's operations go: a connector on an agent."""

    #: The agent's name; None for the relay's built-in agent (cloud SCIM apps).
    agent: str | None
    #: The connector's name on that agent.
    connector: str


@dataclass(frozen=True, slots=True)
class Deprovision:
    """What happens to an account whose directory object left the scope or was deleted."""

    #: "disable" (default when the target type has a disable attribute) or "delete".
    users: str = DELETE
    #: Always "delete": groups have no disabled state.
    groups: str = DELETE
    #: True: objects leaving the scope are unlinked and left as they are in the target
    #: (objects deleted from the directory are still deprovisioned).
    skip_out_of_scope_deletions: bool = False
    #: The target attribute that disables an account ("active" for SCIM and SQL).
    disable_attribute: str | None = None
    #: The value that attribute gets when the account is disabled.
    disable_value: Scalar = False

    def action(self, kind: str) -> str:
        """ "disable" or "delete" for users (``USER``) or groups (``GROUP``)."""
        if kind == USER:
            return self.users
        if kind == GROUP:
            return self.groups
        raise ValueError(f"no deprovisioning action for objects of kind {kind!r}")


@dataclass(frozen=True, slots=True)
class Guard:
    """The deletion guard: how many deprovisions a job carries out before an administrator
    must approve them, so a mistaken filter or a broken directory sync cannot empty an
    app."""

    #: Deprovisions per cycle above which all of them are staged; 0 turns the count off.
    threshold: int = 500
    #: Also stage when the deprovisions exceed this share of the linked objects (0 to 1).
    share: float | None = None
    #: Incremental work: seconds a burst of deprovisions gathers before it is judged.
    settle: float = 2.0
    #: Incremental work: seconds over which deprovisions are added up (one hour).
    window: float = 3600.0


@dataclass(frozen=True, slots=True)
class Schedule:
    """What runs besides following the directory's changes."""

    #: Seconds between reconcile cycles (reading the whole target); None: never.
    reconcile: float | None = None
    #: Reconcile deletes target accounts that match nobody in scope (guarded), instead of
    #: only reporting them.
    delete_unmatched: bool = False


@dataclass(frozen=True, slots=True)
class JobSettings:
    """Everything a job file says. ``definition.name`` is the job's name too."""

    name: str
    definition: JobDefinition
    connection: Connection
    deprovision: Deprovision
    guard: Guard
    schedule: Schedule


def load(path: Path, *, name: str | None = None) -> JobSettings:
    """Read and check a job file; raises :class:`SettingsError` naming file and key."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SettingsError(str(path), None, "file does not exist") from exc
    except UnicodeDecodeError as exc:
        raise SettingsError(str(path), None, f"is not UTF-8 text: {exc.reason}") from exc
    except OSError as exc:
        raise SettingsError(str(path), None, f"cannot be read: {exc.strerror}") from exc
    return parse(text, source=str(path), name=name)


def parse(text: str, *, source: str, name: str | None = None) -> JobSettings:
    """A job from a job file's text; ``name`` (from the command line) wins over the
    file's. ``source`` names the text in errors (a path, or "job NAME" for a stored one)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(source, None, f"is not valid TOML: {exc}") from exc
    definition = jobfile.parse(data, source=source, extra=TABLES)
    table = Table(data, source=source)
    job_name = _name(table, name)
    return JobSettings(
        name=job_name,
        definition=replace(definition, name=job_name),
        connection=_connection(table.table("connection")),
        deprovision=_deprovision(table.table("deprovision"), definition.target),
        guard=_guard(table.table("guard")),
        schedule=_schedule(table.table("schedule")),
    )


def _name(table: Table, given: str | None) -> str:
    name = given if given is not None else table.optional_string("name")
    if name is None:
        raise table.error("name", "is required: name the job here or on the command line")
    if NAME.fullmatch(name) is None:
        where = " (given on the command line)" if given is not None else ""
        raise table.error(
            "name",
            f"{name!r}{where} is not a job name: 1 to 64 letters, digits, '.', '_' and '-',"
            " starting with a letter or digit",
        )
    return name


def _connection(table: Table) -> Connection:
    agent = table.optional_string("agent")
    if agent == BUILTIN:
        agent = None
    if agent is not None and not valid_name(agent):
        raise table.error("agent", f"{agent!r} is not an agent name")
    connector = table.string("connector", required=True)
    if not valid_name(connector):
        raise table.error("connector", f"{connector!r} is not a connector name")
    table.reject_unknown()
    return Connection(agent=agent, connector=connector)


def _deprovision(table: Table, target: str) -> Deprovision:
    given = table.optional_string("disable_attribute")
    if given is None:
        attribute = DISABLE_ATTRIBUTES.get(target)
        missing = f"{target} targets have none by default: set deprovision.disable_attribute"
    else:
        # "" says: this target has no way to disable an account.
        attribute = given if given.strip() else None
        missing = "deprovision.disable_attribute is empty"
    users = table.string("users", DELETE if attribute is None else DISABLE)
    if users not in (DISABLE, DELETE):
        raise table.error("users", f'must be "{DISABLE}" or "{DELETE}", got {users!r}')
    if users == DISABLE and attribute is None:
        raise table.error(
            "users", f'"{DISABLE}" needs a disable attribute, and {missing}, or use "{DELETE}"'
        )
    groups = table.string("groups", DELETE)
    if groups != DELETE:
        raise table.error("groups", f'must be "{DELETE}": groups cannot be disabled')
    deprovision = Deprovision(
        users=users,
        groups=groups,
        skip_out_of_scope_deletions=table.boolean("skip_out_of_scope_deletions", False),
        disable_attribute=attribute,
        disable_value=_value(table, "disable_value", False),
    )
    table.reject_unknown()
    return deprovision


def _value(table: Table, name: str, default: Scalar) -> Scalar:
    value = table.raw(name)
    if value is None:
        return default
    if isinstance(value, str | bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise table.error(name, "must be a string, number or boolean")


def _guard(table: Table) -> Guard:
    defaults = Guard()
    share = table.raw("share")
    if share is not None:
        share = table.number("share", 0.0)
        if not 0.0 < share <= 1.0:
            raise table.error("share", f"must be more than 0 and at most 1, got {share!r}")
    window = table.duration("window", defaults.window)
    if window <= 0:
        raise table.error("window", "must be longer than zero")
    guard = Guard(
        threshold=table.integer("threshold", defaults.threshold, minimum=0),
        share=share,
        settle=table.duration("settle", defaults.settle),
        window=window,
    )
    table.reject_unknown()
    return guard


def _schedule(table: Table) -> Schedule:
    reconcile = table.optional_duration("reconcile")
    if reconcile is not None and reconcile <= 0:
        raise table.error("reconcile", 'must be longer than zero (or "off")')
    schedule = Schedule(
        reconcile=reconcile,
        delete_unmatched=table.boolean("delete_unmatched", False),
    )
    table.reject_unknown()
    return schedule


# --- writing ---------------------------------------------------------------------------


def dump(settings: JobSettings) -> str:
    """The job as a self-contained job file (every setting spelled out, no template),
    which :func:`parse` reads back to equal settings but for ``definition.template``."""
    c, d, g, s = settings.connection, settings.deprovision, settings.guard, settings.schedule
    definition = replace(settings.definition, name=settings.name)
    lines = [jobfile.dump(definition).rstrip("\n"), "", "[connection]"]
    if c.agent is not None:
        lines.append(f"agent = {toml_literal(c.agent)}")
    lines.append(f"connector = {toml_literal(c.connector)}")
    lines += [
        "",
        "[deprovision]",
        f"users = {toml_literal(d.users)}",
        f"groups = {toml_literal(d.groups)}",
        f"skip_out_of_scope_deletions = {toml_literal(d.skip_out_of_scope_deletions)}",
        f"disable_attribute = {toml_literal(d.disable_attribute or '')}",
        f"disable_value = {toml_literal(d.disable_value)}",
        "",
        "[guard]",
        f"threshold = {g.threshold}",
    ]
    if g.share is not None:
        lines.append(f"share = {g.share!r}")
    lines += [
        f"settle = {_duration(g.settle)}",
        f"window = {_duration(g.window)}",
        "",
        "[schedule]",
        f"reconcile = {_duration(s.reconcile)}",
        f"delete_unmatched = {toml_literal(s.delete_unmatched)}",
    ]
    return "\n".join(lines) + "\n"


def _duration(seconds: float | None) -> str:
    """A duration as readable text when that reads back exactly, else as seconds."""
    if seconds is None:
        return '"off"'
    text = format_duration(seconds)
    try:
        exact = parse_duration(text) == seconds
    except ValueError:
        exact = False
    return f'"{text}"' if exact else repr(float(seconds))
