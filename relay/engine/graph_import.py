"""Import of an Entra ID synchronization schema, as Microsoft Graph exports it.

``GET /servicePrincipals/{id}/synchronization/jobs/{jobId}/schema`` returns a
``synchronizationSchema``: ``synchronizationRules[].objectMappings[]``, each with its
``attributeMappings[]`` (``source`` of type ``Attribute``, ``Constant`` or ``Function``,
``defaultValue``, ``flowType``, ``matchingPriority``) and its ``scope`` (``groups[]`` of
``clauses[]`` with ``operatorName``, ``sourceOperandName`` and ``targetOperand.values``).
This module turns that into a :class:`~relay.engine.jobfile.JobDefinition`, which
:func:`relay.engine.jobfile.dump` writes as a job file.

Nothing is dropped silently: whatever has no equivalent here is listed in the report, with
the place in the export it came from. A mapping that cannot be carried over is left out;
a scoping filter that cannot be carried over is not left out (that would widen the scope):
its object mapping is imported disabled instead, until an administrator fixes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from relay.engine.exceptions import ExpressionError, ScopingError
from relay.engine.expressions import compile_expression
from relay.engine.expressions.printer import quote
from relay.engine.jobfile import JobDefinition
from relay.engine.mapping import ApplyOn, AttributeMapping, MappingType, ObjectMapping
from relay.engine.scope import Clause, Operator, Scope, ScopeMode, ScopingFilter
from shared.connector import GROUP, USER
from shared.exceptions import SettingsError

_KINDS = {"user": USER, "group": GROUP}
_APPLY = {"always": ApplyOn.ALWAYS, "objectaddonly": ApplyOn.CREATE}
#: Target attributes that hold references when the export's directory definitions do not say.
_REFERENCES = frozenset({"manager", "members"})


@dataclass(frozen=True, slots=True)
class ImportResult:
    """The imported job and the report: one line per thing not carried over as it was."""

    job: JobDefinition
    report: tuple[str, ...]


def load_export(path: Path, *, target: str = "scim") -> ImportResult:
    """Import an exported schema file (JSON); errors name the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(str(path), None, "file does not exist") from exc
    except OSError as exc:
        raise SettingsError(str(path), None, f"cannot be read: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SettingsError(str(path), None, f"is not valid JSON: {exc}") from exc
    return import_schema(data, target=target, source=str(path))


def import_schema(data: Any, *, target: str = "scim", source: str = "export") -> ImportResult:
    """Convert a ``synchronizationSchema`` object. Raises :class:`SettingsError` only when
    the data is not a synchronization schema at all."""
    if not isinstance(data, Mapping):
        raise SettingsError(source, None, "must hold a synchronizationSchema object")
    rules = data.get("synchronizationRules")
    if not isinstance(rules, list) or not rules:
        raise SettingsError(source, "synchronizationRules", "must be a non-empty list")
    importer = _Importer(_reference_attributes(data))
    chosen = None
    for index, rule in enumerate(rules):
        where = f"synchronizationRules[{index}]"
        if not isinstance(rule, Mapping) or not isinstance(rule.get("objectMappings"), list):
            raise SettingsError(source, where, "must be an object with objectMappings")
        if chosen is None and rule["objectMappings"]:
            chosen = (where, rule)
        else:
            importer.note(where, f"rule {rule.get('name', '')!r} not imported: one rule per job")
    if chosen is None:
        raise SettingsError(source, "synchronizationRules", "no rule has object mappings")
    where, rule = chosen
    objects = importer.object_mappings(where, rule["objectMappings"])
    importer.note(
        where,
        "the job's scope (assigned only or all users and groups) is a job setting, not part"
        " of the schema: imported as 'assigned'",
    )
    job = JobDefinition(
        target=target,
        objects=tuple(objects),
        scope=ScopeMode.ASSIGNED,
        name=str(rule.get("name") or ""),
        source=source,
        keys=importer.keys,
    )
    return ImportResult(job, tuple(importer.report))


def _reference_attributes(data: Mapping[str, Any]) -> frozenset[str]:
    """Names of attributes the export's directory definitions declare as references."""
    names = set()
    for directory in data.get("directories") or ():
        if not isinstance(directory, Mapping):
            continue
        for obj in directory.get("objects") or ():
            if not isinstance(obj, Mapping):
                continue
            for attribute in obj.get("attributes") or ():
                if (
                    isinstance(attribute, Mapping)
                    and str(attribute.get("type", "")).lower() == "reference"
                    and isinstance(attribute.get("name"), str)
                ):
                    names.add(attribute["name"])
    return frozenset(names)


class _Importer:
    def __init__(self, references: frozenset[str]) -> None:
        self.references = references
        self.report: list[str] = []
        self.keys: dict[tuple[str, str], str] = {}

    def note(self, where: str, text: str) -> None:
        self.report.append(f"{where}: {text}")

    def object_mappings(self, where: str, items: Sequence[Any]) -> list[ObjectMapping]:
        out: list[ObjectMapping] = []
        for index, item in enumerate(items):
            here = f"{where}.objectMappings[{index}]"
            if not isinstance(item, Mapping):
                self.note(here, "not an object; skipped")
                continue
            kind = _KINDS.get(str(item.get("sourceObjectName", "")).lower())
            if kind is None:
                self.note(
                    here,
                    f"source object {item.get('sourceObjectName')!r} is neither User nor Group;"
                    " skipped",
                )
                continue
            if any(o.kind == kind for o in out):
                self.note(here, f"a second mapping of {kind}s; skipped")
                continue
            out.append(self.object_mapping(here, kind, item))
        return out

    def object_mapping(self, where: str, kind: str, item: Mapping[str, Any]) -> ObjectMapping:
        enabled = item.get("enabled", True) is not False
        if not enabled:
            self.note(where, f"disabled in Entra ID ({item.get('name', '')!r}): imported disabled")
        flows = {f.strip().lower() for f in str(item.get("flowTypes") or "").split(",") if f}
        if flows and flows != {"add", "update", "delete"}:
            self.note(
                where,
                f"flowTypes {item.get('flowTypes')!r}: Hatchway jobs always add, update and"
                " delete (use the deletion guard to hold deletes)",
            )
        target_class = str(item.get("targetObjectName", ""))
        if target_class.split(":")[-1].lower() not in ("user", "group", "person", "groupofnames"):
            self.note(where, f"target object {target_class!r} imported as object class {kind!r}")
        mappings = self.attribute_mappings(where, kind, item.get("attributeMappings") or [])
        filters, scope_ok = self.filters(where, item.get("scope"))
        if not scope_ok and enabled:
            self.note(where, "imported disabled because a scoping filter was not carried over")
            enabled = False
        return ObjectMapping(
            kind=kind,
            object_class=kind,
            mappings=tuple(mappings),
            filters=tuple(filters),
            enabled=enabled,
        )

    def attribute_mappings(
        self, where: str, kind: str, items: Sequence[Any]
    ) -> list[AttributeMapping]:
        converted: list[tuple[int, AttributeMapping]] = []
        seen: set[str] = set()
        for index, item in enumerate(items):
            here = f"{where}.attributeMappings[{index}]"
            mapping = self.attribute_mapping(here, item)
            if mapping is None:
                continue
            if mapping.target in seen:
                self.note(here, f"{mapping.target!r} is mapped twice; the later one skipped")
                continue
            seen.add(mapping.target)
            converted.append((_priority(item), mapping))
            self.keys[(kind, mapping.target)] = here
        # Entra ID priorities are any increasing numbers; here they count 1, 2, ...
        ranked = sorted((p, m.target) for p, m in converted if p > 0)
        rank = {target: n for n, (_, target) in enumerate(ranked, 1)}
        out = []
        for _, mapping in converted:
            if mapping.target in rank:
                mapping = replace(mapping, matching=rank[mapping.target])
            out.append(mapping)
        return out

    def attribute_mapping(self, where: str, item: Any) -> AttributeMapping | None:
        if not isinstance(item, Mapping) or not isinstance(item.get("targetAttributeName"), str):
            self.note(where, "no targetAttributeName; skipped")
            return None
        target = item["targetAttributeName"]
        here = f"{where} ({target})"
        default = item.get("defaultValue")
        if default is not None and not isinstance(default, str):
            default = str(default)
        apply = _APPLY.get(str(item.get("flowType") or "Always").lower())
        if apply is None:
            self.note(here, f"flowType {item.get('flowType')!r} has no equivalent: applied always")
            apply = ApplyOn.ALWAYS
        behavior = str(item.get("flowBehavior") or "FlowWhenChanged")
        if behavior != "FlowWhenChanged":
            self.note(
                here, f"flowBehavior {behavior!r}: values flow when they differ from the target"
            )
        reference = target in self.references or target.split(":")[-1] in _REFERENCES
        base = AttributeMapping(
            target, MappingType.NONE, default=default, apply=apply, reference=reference
        )
        source = item.get("source")
        if source is None:
            if default is None:
                self.note(here, "neither a source nor a default value; skipped")
                return None
            return base
        if not isinstance(source, Mapping):
            self.note(here, "source is not an object; skipped")
            return None
        kind = str(source.get("type") or "Attribute")
        if kind == "Attribute":
            name = source.get("name")
            if not isinstance(name, str) or not name:
                self.note(here, "an Attribute source without a name; skipped")
                return None
            return replace(base, type=MappingType.DIRECT, source=name)
        if kind == "Constant":
            return replace(base, type=MappingType.CONSTANT, value=str(source.get("name") or ""))
        if kind == "Function":
            text = source.get("expression")
            if not isinstance(text, str) or not text.strip():
                try:
                    text = expression_text(source)
                except ExpressionError as exc:
                    self.note(here, f"function not carried over: {exc}")
                    return None
            try:
                compile_expression(text)
            except ExpressionError as exc:
                self.note(here, f"expression {text!r} not carried over: {exc}")
                return None
            return replace(base, type=MappingType.EXPRESSION, expression=text)
        self.note(here, f"source type {kind!r} is unknown; skipped")
        return None

    def filters(self, where: str, scope: Any) -> tuple[list[ScopingFilter], bool]:
        if scope is None:
            return [], True
        if not isinstance(scope, Mapping):
            self.note(f"{where}.scope", "not an object")
            return [], False
        for extra in ("categoryFilterGroups", "inputFilterGroups"):
            if scope.get(extra):
                self.note(
                    f"{where}.scope.{extra}",
                    "experimental Entra ID filter sets are not carried over",
                )
        out: list[ScopingFilter] = []
        ok = True
        for index, group in enumerate(scope.get("groups") or ()):
            here = f"{where}.scope.groups[{index}]"
            flt = self.filter(here, index, group)
            if flt is None:
                ok = False
            else:
                out.append(flt)
        return out, ok

    def filter(self, where: str, index: int, group: Any) -> ScopingFilter | None:
        if not isinstance(group, Mapping) or not isinstance(group.get("clauses"), list):
            self.note(where, "a filter group without clauses")
            return None
        name = str(group.get("name") or f"filter {index + 1}")
        clauses = []
        for number, item in enumerate(group["clauses"]):
            here = f"{where}.clauses[{number}]"
            clause = self.clause(here, item)
            if clause is None:
                return None
            clauses.append(clause)
        flt = ScopingFilter(name, tuple(clauses))
        try:
            Scope(filters=(flt,))
        except ScopingError as exc:
            self.note(where, f"not carried over: {exc}")
            return None
        return flt

    def clause(self, where: str, item: Any) -> Clause | None:
        if not isinstance(item, Mapping):
            self.note(where, "not an object")
            return None
        attribute = item.get("sourceOperandName")
        operator_text = item.get("operatorName")
        if not isinstance(attribute, str) or not isinstance(operator_text, str):
            self.note(where, "needs sourceOperandName and operatorName")
            return None
        try:
            operator = Operator.parse(operator_text)
        except ScopingError as exc:
            self.note(where, str(exc))
            return None
        operand = item.get("targetOperand") or {}
        raw = operand.get("values") if isinstance(operand, Mapping) else None
        values = tuple(str(v) for v in raw or () if v is not None)
        if operator.unary:
            values = ()
        return Clause(attribute, operator, values)


def _priority(item: Any) -> int:
    value = item.get("matchingPriority") if isinstance(item, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def expression_text(node: Mapping[str, Any], depth: int = 0) -> str:
    """The expression text of a Graph ``attributeMappingSource`` tree, for exports that
    carry the tree without its ``expression``. Parameters are taken in the order listed,
    which is the order Graph writes them. Raises :class:`ExpressionError` for a tree that
    is not one."""
    if depth > 64:
        raise ExpressionError("nested deeper than 64 functions")
    kind = str(node.get("type") or "Attribute")
    name = node.get("name")
    if not isinstance(name, str):
        raise ExpressionError(f"a {kind} without a name")
    if kind == "Attribute":
        return f"[{name}]"
    if kind == "Constant":
        return quote(name)
    if kind != "Function":
        raise ExpressionError(f"unknown source type {kind!r}")
    arguments = []
    for parameter in node.get("parameters") or ():
        value = parameter.get("value") if isinstance(parameter, Mapping) else None
        if not isinstance(value, Mapping):
            raise ExpressionError(f"parameter of {name} without a value")
        arguments.append(expression_text(value, depth + 1))
    return f"{name}({', '.join(arguments)})"
