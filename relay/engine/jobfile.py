"""A job's mappings and scoping filters as a TOML file: load, check and write.

The format is documented in ``docs/mappings.md`` ("The job file"). In short::

    template = "slack"          # start from a gallery template, or:
    target = "scim"             # start from the default mappings of scim, ldap or sql
    scope = "assigned"          # or "all"

    [users]
    remove = ["nickName"]       # drop inherited mappings by target attribute

    [[users.mappings]]          # replaces the inherited mapping of the same target
    target = "displayName"
    expression = 'Join(" ", [givenName], [surname])'
    apply = "create"

    [[users.filters]]
    name = "Sales"
    clauses = [{ attribute = "department", operator = "EQUALS", value = "Sales" }]

Loading checks everything that can be checked without the target's schema (mapping types,
expressions, operators, regular expressions) and raises :class:`SettingsError` naming the
file, the key and the problem; :meth:`JobDefinition.mappers` checks the rest against the
connector's schema once it is known.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from relay.engine.exceptions import MappingError, ScopingError, UnknownTemplateError
from relay.engine.mapping import (
    ApplyOn,
    AttributeMapping,
    Mapper,
    MappingType,
    ObjectMapping,
)
from relay.engine.scope import Clause, Operator, Scope, ScopeMode, ScopingFilter
from shared.connector import GROUP, USER, ObjectClassInfo, Scalar
from shared.exceptions import SettingsError
from shared.settings import Table, read_toml

#: The tables of a job file and the kind of directory object each maps.
SECTIONS = {"users": USER, "groups": GROUP}
#: Target types with default mappings (``relay.engine.defaults``).
TARGETS = ("scim", "ldap", "sql")


@dataclass(frozen=True, slots=True)
class JobDefinition:
    """A job's mappings and scope, resolved: template and defaults already applied.

    ``keys`` remembers, for each ``(kind, target attribute)``, the key of the file that
    defined the mapping, so that errors found later (against the schema) can point at it.
    ``optional`` lists the mappings that came from a target type's defaults: those are
    left out, not refused, when the target's schema lacks their attribute.
    """

    target: str
    objects: tuple[ObjectMapping, ...]
    scope: ScopeMode = ScopeMode.ASSIGNED
    name: str = ""
    template: str | None = None
    source: str = ""
    keys: Mapping[tuple[str, str], str] = field(default_factory=dict, compare=False)
    optional: frozenset[tuple[str, str]] = field(default=frozenset(), compare=False)

    def object_mapping(self, kind: str) -> ObjectMapping | None:
        return next((o for o in self.objects if o.kind == kind), None)

    def scope_for(self, kind: str) -> Scope:
        """The compiled scope for users or groups (the job's mode and the filters of that
        object mapping)."""
        mapping = self.object_mapping(kind)
        return Scope(self.scope, mapping.filters if mapping is not None else ())

    def mappers(self, schemas: Mapping[str, ObjectClassInfo] | None = None) -> dict[str, Mapper]:
        """The enabled object mappings compiled by kind, each checked against the schema of
        its object class when ``schemas`` has one; errors name the file and key."""
        out: dict[str, Mapper] = {}
        for mapping in self.objects:
            if not mapping.enabled:
                continue
            schema = None if schemas is None else schemas.get(mapping.object_class)
            if schema is not None:
                mapping = self._fitted(mapping, schema)
            try:
                out[mapping.kind] = Mapper(mapping, schema)
            except MappingError as exc:
                raise SettingsError(self.source, self._key(mapping, str(exc)), str(exc)) from exc
        return out

    def _fitted(self, mapping: ObjectMapping, schema: ObjectClassInfo) -> ObjectMapping:
        names = {a.name for a in schema.attributes}
        kept = tuple(
            m
            for m in mapping.mappings
            if m.target in names or (mapping.kind, m.target) not in self.optional
        )
        return replace(mapping, mappings=kept)

    def _key(self, mapping: ObjectMapping, message: str) -> str:
        section = _section(mapping.kind)
        for m in mapping.mappings:
            if f"mapping {m.target!r} " in message:
                return self.keys.get((mapping.kind, m.target), section)
        return section


def _section(kind: str) -> str:
    return next(name for name, k in SECTIONS.items() if k == kind)


def load(path: Path) -> JobDefinition:
    """Read and check a job file; raises :class:`SettingsError` naming file and key."""
    return parse(read_toml(path), source=str(path))


def parse(
    data: Mapping[str, Any],
    *,
    source: str,
    extra: Sequence[str] = (),
) -> JobDefinition:
    """A job from parsed TOML; ``extra`` names top-level tables the caller reads itself
    (the gallery's ``[gallery]``)."""
    table = Table(data, source=source)
    for name in extra:
        table.table(name)
    template = table.optional_string("template")
    target_text = table.optional_string("target")
    if template is not None:
        if "defaults" in table.data:
            raise table.error("defaults", "only applies to a job without a template")
        inherited = _template(table, template)
        if target_text is not None and target_text != inherited.target:
            raise table.error(
                "target", f"template {template!r} is for {inherited.target!r} targets"
            )
    else:
        if target_text is None:
            raise table.error("target", "is required when no template is named")
        if target_text not in TARGETS:
            raise table.error("target", f"must be one of {', '.join(TARGETS)}")
        inherited = _defaults(table, target_text)
    scope_text = table.string("scope", inherited.scope.value)
    try:
        scope = ScopeMode(scope_text)
    except ValueError:
        raise table.error(
            "scope", f"must be {ScopeMode.ASSIGNED.value!r} or {ScopeMode.ALL.value!r}"
        ) from None
    keys: dict[tuple[str, str], str] = {}  # inherited mappings have no key in this file
    optional = set(inherited.optional)
    objects = []
    for section, kind in SECTIONS.items():
        objects.append(
            _object(table, section, kind, inherited.object_mapping(kind), keys, optional)
        )
    job = JobDefinition(
        target=inherited.target,
        objects=tuple(o for o in objects if o is not None),
        scope=scope,
        name=table.string("name", inherited.name),
        template=template,
        source=source,
        keys=keys,
        optional=frozenset(optional),
    )
    table.reject_unknown()
    job.mappers()
    for mapping in job.objects:
        try:
            job.scope_for(mapping.kind)
        except ScopingError as exc:
            raise table.error(f"{_section(mapping.kind)}.filters", str(exc)) from exc
    return job


def _template(table: Table, name: str) -> JobDefinition:
    from relay.engine import gallery  # the gallery's templates are job files themselves

    try:
        return gallery.job(name)
    except UnknownTemplateError as exc:
        raise table.error("template", str(exc)) from exc


def _defaults(table: Table, target: str) -> JobDefinition:
    from relay.engine.defaults import default_job

    if table.boolean("defaults", True):
        return default_job(target)
    return JobDefinition(target=target, objects=())


def _object(
    table: Table,
    section: str,
    kind: str,
    inherited: ObjectMapping | None,
    keys: dict[tuple[str, str], str],
    optional: set[tuple[str, str]],
) -> ObjectMapping | None:
    if section not in table.data:
        table.table(section)
        return inherited
    sub = table.table(section)
    base = inherited or ObjectMapping(kind=kind, object_class=kind, mappings=())
    object_class = sub.string("object_class", base.object_class)
    if not object_class.strip():
        raise sub.error("object_class", "must not be empty")
    mappings = {} if sub.boolean("replace", False) else {m.target: m for m in base.mappings}
    for target in sub.string_list("remove"):
        if mappings.pop(target, None) is None:
            raise sub.error("remove", f"no inherited mapping has target {target!r}")
        keys.pop((kind, target), None)
    defined: dict[str, str] = {}
    for index, entry in entries(sub, "mappings"):
        mapping = _mapping(entry)
        earlier = defined.get(mapping.target)
        if earlier is not None:
            raise entry.error("target", f"{mapping.target!r} is mapped by {earlier} too")
        defined[mapping.target] = f"{section}.mappings[{index}]"
        mappings[mapping.target] = mapping
        keys[(kind, mapping.target)] = f"{section}.mappings[{index}]"
        optional.discard((kind, mapping.target))
    filters = list(base.filters)
    for _, entry in entries(sub, "filters"):
        filters.append(_filter(entry))
    enabled = sub.boolean("enabled", base.enabled)
    sub.reject_unknown()
    return ObjectMapping(
        kind=kind,
        object_class=object_class,
        mappings=tuple(mappings.values()),
        filters=tuple(filters),
        enabled=enabled,
    )


def entries(table: Table, name: str) -> list[tuple[int, Table]]:
    """The tables of an array of tables (``[[name]]``), each with its index."""
    value = table.raw(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise table.error(name, "must be an array of tables ([[...]])")
    out = []
    for index, item in enumerate(value):
        key = f"{name}[{index}]"
        if not isinstance(item, dict):
            raise table.error(key, "must be a table")
        out.append((index, Table(item, source=table.source, prefix=table.key(key))))
    return out


_KINDS = {
    "source": MappingType.DIRECT,
    "expression": MappingType.EXPRESSION,
    "value": MappingType.CONSTANT,
}


def _scalar(table: Table, name: str) -> Scalar:
    value = table.raw(name)
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise table.error(name, "must be a string, number or boolean")


def _mapping(table: Table) -> AttributeMapping:
    target = table.string("target", required=True)
    given = [key for key in _KINDS if key in table.data]
    type_text = table.optional_string("type")
    if type_text is not None:
        try:
            kind = MappingType(type_text)
        except ValueError:
            raise table.error(
                "type", f"must be one of {', '.join(t.value for t in MappingType)}"
            ) from None
    elif len(given) == 1:
        kind = _KINDS[given[0]]
    else:
        raise table.error(
            "target",
            f"mapping {target!r} needs exactly one of 'source' (direct), 'expression'"
            " or 'value' (constant), or type = \"none\"",
        )
    wanted = next((key for key, k in _KINDS.items() if k is kind), None)
    for key in given:
        if key != wanted:
            raise table.error(key, f"a {kind.value} mapping has no {key!r}")
    apply_text = table.string("apply", ApplyOn.ALWAYS.value)
    try:
        apply = ApplyOn(apply_text)
    except ValueError:
        raise table.error("apply", 'must be "always" or "create"') from None
    mapping = AttributeMapping(
        target=target,
        type=kind,
        source=table.string("source", "") if kind is MappingType.DIRECT else "",
        expression=table.string("expression", "") if kind is MappingType.EXPRESSION else "",
        value=_scalar(table, "value") if kind is MappingType.CONSTANT else None,
        default=_scalar(table, "default"),
        apply=apply,
        matching=table.integer("matching", 0, minimum=0),
        reference=table.boolean("reference", False),
    )
    table.reject_unknown()
    try:
        Mapper(ObjectMapping(kind=USER, object_class=USER, mappings=(mapping,)))
    except MappingError as exc:
        raise table.error(wanted or "type", str(exc)) from exc
    return mapping


def _filter(table: Table) -> ScopingFilter:
    name = table.string("name", required=True)
    clauses = []
    for index, entry in entries(table, "clauses"):
        attribute = entry.string("attribute", required=True)
        operator_text = entry.string("operator", required=True)
        try:
            operator = Operator.parse(operator_text)
        except ScopingError as exc:
            raise entry.error("operator", str(exc)) from exc
        values = _values(entry)
        entry.reject_unknown()
        clause = Clause(attribute, operator, values)
        try:
            Scope(filters=(ScopingFilter(name, (clause,)),))
        except ScopingError as exc:
            problem = str(exc).replace("clause 1 ", f"clause {index + 1} ", 1)
            raise table.error(f"clauses[{index}]", problem) from exc
        clauses.append(clause)
    if not clauses:
        raise table.error("clauses", "a scoping filter needs at least one clause")
    table.reject_unknown()
    return ScopingFilter(name, tuple(clauses))


def _values(entry: Table) -> tuple[str, ...]:
    if "value" in entry.data and "values" in entry.data:
        raise entry.error("values", "give 'value' or 'values', not both")
    single = entry.raw("value")
    if single is not None:
        return (_operand(entry, "value", single),)
    many = entry.raw("values")
    if many is None:
        return ()
    if not isinstance(many, list) or not many:
        raise entry.error("values", "must be a non-empty list")
    return tuple(_operand(entry, f"values[{i}]", v) for i, v in enumerate(many))


def _operand(entry: Table, key: str, value: Any) -> str:
    """Clause operands are text, as in Entra ID; a TOML integer is accepted for the
    comparison operators and written back as text."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise entry.error(key, "must be a string (or an integer)")
    return str(value)


# --- writing ---------------------------------------------------------------------------


def dump(job: JobDefinition) -> str:
    """The job as a self-contained job file (no template, no defaults), which loads back
    to the same definition."""
    lines = []
    if job.name:
        lines.append(f"name = {toml_literal(job.name)}")
    lines.append(f"target = {toml_literal(job.target)}")
    lines.append("defaults = false")
    lines.append(f"scope = {toml_literal(job.scope.value)}")
    for section, kind in SECTIONS.items():
        mapping = job.object_mapping(kind)
        if mapping is None:
            continue
        lines += ["", f"[{section}]", f"object_class = {toml_literal(mapping.object_class)}"]
        if not mapping.enabled:
            lines.append("enabled = false")
        for m in mapping.mappings:
            lines += ["", f"[[{section}.mappings]]", *_mapping_lines(m)]
        for flt in mapping.filters:
            lines += [
                "",
                f"[[{section}.filters]]",
                f"name = {toml_literal(flt.name)}",
                "clauses = [",
            ]
            lines += [f"  {_clause(c)}," for c in flt.clauses]
            lines.append("]")
    return "\n".join(lines) + "\n"


def _mapping_lines(m: AttributeMapping) -> list[str]:
    out = [f"target = {toml_literal(m.target)}"]
    if m.type is MappingType.DIRECT:
        out.append(f"source = {toml_literal(m.source)}")
    elif m.type is MappingType.EXPRESSION:
        out.append(f"expression = {toml_literal(m.expression)}")
    elif m.type is MappingType.CONSTANT:
        out.append(f"value = {toml_literal(m.value)}")
    else:
        out.append('type = "none"')
    if m.default is not None:
        out.append(f"default = {toml_literal(m.default)}")
    if m.apply is not ApplyOn.ALWAYS:
        out.append(f"apply = {toml_literal(m.apply.value)}")
    if m.matching:
        out.append(f"matching = {m.matching}")
    if m.reference:
        out.append("reference = true")
    return out


def _clause(clause: Clause) -> str:
    parts = [
        f"attribute = {toml_literal(clause.attribute)}",
        f"operator = {toml_literal(clause.operator.value)}",
    ]
    if len(clause.values) == 1:
        parts.append(f"value = {toml_literal(clause.values[0])}")
    elif clause.values:
        parts.append("values = [" + ", ".join(toml_literal(v) for v in clause.values) + "]")
    return "{ " + ", ".join(parts) + " }"


def toml_literal(value: Any) -> str:
    """A TOML literal. Text with double quotes but no single quote or control character is
    written as a literal string ('...'), which reads better for SCIM paths and expressions;
    otherwise JSON's string escapes serve, as they are TOML's (DEL aside)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if '"' in text and "'" not in text and text.isprintable():
        return f"'{text}'"
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007F")
