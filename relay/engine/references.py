"""References between provisioned objects: a user's manager, a group's members.

The target knows the objects a reference names by their anchors, which only their shadows
hold. A batch reads the anchors of everything its entries name in one query per kind
before mapping, so mapping stays pure; a named object not linked yet has no anchor, is
left out (a member) or empty (a manager), and filled in once it is provisioned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from relay.engine.exceptions import EvaluationError
from relay.engine.expressions import Expression, compile_expression
from relay.engine.mapping import Links, Mapper, MappingType
from relay.engine.source import Source, compile_reference
from relay.store.base import EntryKind
from shared.connector import Scalar

if TYPE_CHECKING:
    from relay.engine.sources import Loaded
    from relay.store.base import Store

Reader = Callable[[Source], Any]
#: Users first: the kinds whose shadows are read for anchors.
_KINDS = (EntryKind.USER, EntryKind.GROUP)


def reference_readers(mapper: Mapper) -> tuple[Reader, ...]:
    """Functions giving the directory ids each reference mapping names for a source, so a
    batch can read their anchors before mapping."""
    readers: list[Reader] = []
    for m in mapper.mapping.mappings:
        if not m.reference:
            continue
        if m.type is MappingType.DIRECT:
            readers.append(compile_reference(m.source))
        elif m.type is MappingType.EXPRESSION:
            readers.append(_evaluator(compile_expression(m.expression)))
        elif m.type is MappingType.CONSTANT:
            readers.append(_constant(m.value))
    return tuple(readers)


async def read_links(
    store: Store,
    job: str,
    kind: EntryKind,
    readers: tuple[Reader, ...],
    loaded: Mapping[str, Loaded],
    in_scope: Mapping[str, bool],
) -> tuple[Links, dict[str, set[str]]]:
    """Anchors of the objects the in-scope entries' references name (managers, members),
    read from their shadows in one query per kind; and, for users, which named directory
    objects have no anchor yet, by user."""
    wanted: dict[str, EntryKind] = {}
    per_entry: dict[str, set[str]] = {}
    for eid, item in loaded.items():
        if not in_scope.get(eid):
            continue
        named = per_entry.setdefault(eid, set())
        for read in readers:
            for ident, ref_kind in _referenced(read, item.source):
                wanted.setdefault(ident, ref_kind)
                named.add(ident)
    anchors: dict[str, str] = {}
    for ref_kind in _KINDS:
        ids = [i for i, k in wanted.items() if k is ref_kind]
        if ids:
            found = await store.get_shadows(job, ref_kind, ids)
            anchors.update((eid, s.anchor) for eid, s in found.items())
    missing: dict[str, set[str]] = {}
    if kind is EntryKind.USER:
        for eid, named in per_entry.items():
            lacking = {i for i in named if i not in anchors}
            if lacking:
                missing[eid] = lacking
    return Links(resolve=anchors.get, in_scope=anchors.__contains__), missing


def _evaluator(expression: Expression) -> Reader:
    def read(source: Source) -> Any:
        return expression.evaluate(source, None)

    return read


def _constant(value: Scalar) -> Reader:
    def read(_: Source) -> Any:
        return value

    return read


def _referenced(read: Reader, source: Source) -> Iterable[tuple[str, EntryKind]]:
    """The ids ``read`` names for ``source``, each with its kind: group members say
    theirs; anything else is taken for a user."""
    try:
        value = read(source)
    except EvaluationError:
        # The mapping itself fails on this object the same way and reports it.
        return ()
    kinds = _member_kinds(source)
    out = []
    for item in value if isinstance(value, list) else (value,):
        ident = item.get("value") if isinstance(item, Mapping) else item
        if isinstance(ident, str) and ident:
            out.append((ident, kinds.get(ident, EntryKind.USER)))
    return out


def _member_kinds(source: Source) -> dict[str, EntryKind]:
    members = source.resource.get("members")
    if not isinstance(members, list):
        return {}
    return {
        m["value"]: EntryKind.GROUP
        for m in members
        if isinstance(m, Mapping) and m.get("type") == "Group"
    }
