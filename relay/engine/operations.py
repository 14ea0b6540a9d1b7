"""The operations the processor sends for one object, and their idempotency keys.

A write's key reads ``{job}:{kind}:{entry}:{action}:{version}:{stamp}``: ``version`` is the
entry's version (the shadow's for deprovisions) and ``stamp`` a short hash of the
operation's content and of the shadow's last write. The stamp keeps keys equal for a
redelivery (nothing was recorded in between), so the agent answers it from its journal
instead of running it twice, but different for a legitimately repeated operation at the
same entry version: a manager whose anchor became known, a user disabled again after an
assignment came and went, an operation retried after a failure the agent journaled as
final (refused credentials).

Reads (searches, gets) must run, never be answered from a journal: their keys are fresh.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import TYPE_CHECKING, Any

from shared.connector import Action, Attributes, Delta, Operation
from shared.exceptions import ErrorClass

if TYPE_CHECKING:
    from relay.engine.work import Work


def operation_key(job: str, w: Work, action: str, version: int, content: Any) -> str:
    """The deterministic idempotency key of a write (see the module's docstring)."""
    retry = w.retry
    final = (
        retry is not None
        and retry.source_version == w.version
        and not ErrorClass(retry.error_class).retryable
        and retry.error_class != ErrorClass.INTERNAL.value
    )
    stamp = repr(
        (
            content,
            w.shadow.updated_at if w.shadow is not None else None,
            retry.attempts if final and retry is not None else 0,
        )
    )
    digest = hashlib.blake2b(stamp.encode(), digest_size=6).hexdigest()
    return f"{job}:{w.kind.value}:{w.entry_id}:{action}:{version}:{digest}"


def fresh_key(job: str, w: Work, action: str) -> str:
    """A key no journal has seen: for reads, and for a write that must run whatever an
    earlier one with the same content left in the journal."""
    return f"{job}:{w.kind.value}:{w.entry_id}:{action}:{uuid.uuid4().hex[:12]}"


def create_operation(
    job: str, w: Work, object_class: str, attributes: Attributes, *, fresh: bool = False
) -> Operation:
    key = (
        fresh_key(job, w, "create")
        if fresh
        else operation_key(job, w, "create", w.version, attributes)
    )
    return Operation(
        key=key, action=Action.CREATE, object_class=object_class, attributes=attributes
    )


def update_operation(
    job: str, w: Work, object_class: str, anchor: str, deltas: tuple[Delta, ...], action: str
) -> Operation:
    """An update; ``action`` (``update``, ``link`` or ``disable``) keeps the keys of
    different intents apart. A disable is keyed on the shadow's version, as a delete is."""
    version = w.shadow.source_version if action == "disable" and w.shadow else w.version
    return Operation(
        key=operation_key(job, w, action, version, deltas),
        action=Action.UPDATE,
        object_class=object_class,
        anchor=anchor,
        deltas=deltas,
    )


def delete_operation(job: str, w: Work, object_class: str, anchor: str, version: int) -> Operation:
    return Operation(
        key=operation_key(job, w, "delete", version, None),
        action=Action.DELETE,
        object_class=object_class,
        anchor=anchor,
    )


def get_operation(job: str, w: Work, object_class: str, anchor: str) -> Operation:
    return Operation(
        key=fresh_key(job, w, "get"), action=Action.GET, object_class=object_class, anchor=anchor
    )
