"""Matching: finding the account a directory entry already has in the target, by the job's
matching attributes in their order of precedence, so it is linked instead of created.

Values compare as case-insensitive text, as directories and most apps do. Cycles that read
the whole target look matches up in a :class:`MatchIndex`; incremental work searches the
target, one search per matching attribute that has a value.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from relay.engine.exceptions import EvaluationError, TargetUnavailable
from relay.engine.operations import fresh_key
from relay.engine.plan import empty
from relay.engine.retry import Reaction, reaction
from shared.connector import Action, ConnectorObject, Equals, Operation, Page

if TYPE_CHECKING:
    from relay.engine.mapping import Mapper
    from relay.engine.target import Target
    from relay.engine.work import Work


def fold(value: Any) -> str:
    """A matching value as compared: text, ignoring case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).casefold()


class MatchIndex:
    """The target's objects of one class by matching value, read once by an initial cycle
    so that matching costs a dictionary look-up instead of a search per object.

    Values compare as case-insensitive text; the first object read with a value keeps it.
    """

    def __init__(self, attributes: Sequence[str]) -> None:
        self._by: dict[str, dict[str, ConnectorObject]] = {a: {} for a in attributes}

    @classmethod
    def from_objects(
        cls, attributes: Sequence[str], objects: Iterable[ConnectorObject]
    ) -> MatchIndex:
        index = cls(attributes)
        for obj in objects:
            index.add(obj)
        return index

    def add(self, obj: ConnectorObject) -> None:
        for attribute, table in self._by.items():
            value = obj.attributes.get(attribute)
            for item in value if isinstance(value, list) else (value,):
                if not empty(item):
                    table.setdefault(fold(item), obj)

    def claim(self, filters: Sequence[Equals]) -> ConnectorObject | None:
        """The object the first filter (in precedence order) finds, or None. A found
        object leaves the index: one target account is linked to one directory entry, so
        two entries sharing a matching value do not both take the same account."""
        for flt in filters:
            table = self._by.get(flt.attribute)
            if table is not None and not empty(flt.value):
                found = table.get(fold(flt.value))
                if found is not None:
                    self.discard(found)
                    return found
        return None

    def discard(self, obj: ConnectorObject) -> None:
        """Forget ``obj`` under every value it is known by."""
        for attribute, table in self._by.items():
            value = obj.attributes.get(attribute)
            for item in value if isinstance(value, list) else (value,):
                if not empty(item) and table.get(fold(item)) is obj:
                    del table[fold(item)]

    def __len__(self) -> int:
        return max((len(t) for t in self._by.values()), default=0)


def search_operations(job: str, w: Work, object_class: str) -> list[Operation]:
    """One search per matching filter of ``w``; two results are enough to see one."""
    return [
        Operation(
            key=fresh_key(job, w, f"search:{n}"),
            action=Action.SEARCH,
            object_class=object_class,
            filter=flt,
            page=Page(size=2),
        )
        for n, flt in enumerate(w.filters)
    ]


def filters_detail(filters: Sequence[Equals]) -> list[dict[str, Any]]:
    """The filters tried, for an explained run's steps."""
    return [{"attribute": f.attribute, "value": f.value} for f in filters]


def naming_attribute(mapper: Mapper | None) -> str:
    """The attribute that names a target object, for logs of entries no longer in the
    directory: the first matching attribute."""
    if mapper is None or not mapper.matching_attributes:
        return ""
    return mapper.matching_attributes[0]


async def is_unique(
    target: Target,
    job: str,
    object_class: str,
    attribute: str,
    value: str,
    *,
    timeout: float | None = 120.0,
) -> bool:
    """``SelectUniqueValue``'s question, asked of the target; waits at most ``timeout``
    seconds (default 120). A search the target refuses for the value fails the mapping
    (:class:`EvaluationError`); any other failure may pass (:class:`TargetUnavailable`)."""
    op = Operation(
        key=f"{job}:unique:{uuid.uuid4().hex}",
        action=Action.SEARCH,
        object_class=object_class,
        filter=Equals(attribute, value),
        page=Page(size=1),
    )
    [result] = await target.run([op], timeout=timeout)
    error = result.error
    if error is None:
        return not result.objects
    message = f"SelectUniqueValue could not search {target.name}: {error.message}"
    if reaction(error.error_class, Action.SEARCH) is Reaction.SKIP_UNTIL_CHANGED:
        raise EvaluationError(message)
    # Time may cure it (or the quarantine that refused credentials bring): try later.
    raise TargetUnavailable(message)
