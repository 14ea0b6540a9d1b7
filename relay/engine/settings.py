"""The engine's settings: the ``[engine]`` table of ``relay.toml``. Example::

[engine]
enabled = true
batch_size = 500
batches_in_flight = 4
log_retention_days = 30

[engine.retry]              # how failed operations are tried again
base = 5.0
factor = 2.0
maximum = 3600.0
jitter = 0.1

[engine.quarantine]         # when a job whose target keeps failing is stopped
failure_share = 0.5
minimum_operations = 20
schedule = [60, 300, 900, 3600, 14400, 86400]
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relay.engine.retry import QuarantinePolicy, RetryPolicy
from shared.protocol.messages import Limits
from shared.settings import Table


@dataclass(frozen=True, slots=True)
class EngineSettings:
    #: Run jobs in this relay (false: a relay that only serves agents and SCIM).
    enabled: bool = True
    #: Operations per batch sent to a target; at most the relay's
    #: ``limits.max_batch_operations``, which an agent refuses to exceed.
    batch_size: int = 500
    #: Batches one job may have in flight at once.
    batches_in_flight: int = 4
    #: Seconds between looks at the jobs in the store (the admin API's changes are acted
    #: on at once; this catches those of other relays sharing the store).
    control_interval: float = 1.0
    #: Days provisioning logs are kept.
    log_retention_days: float = 30.0
    #: Seconds a batch may take end to end before it is retried.
    send_timeout: float = 120.0
    #: How failed operations are tried again (``[engine.retry]``).
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: When a job is stopped and tried again later (``[engine.quarantine]``).
    quarantine: QuarantinePolicy = field(default_factory=QuarantinePolicy)

    @classmethod
    def load(
        cls, table: Table, *, max_batch_operations: int = Limits().max_batch_operations
    ) -> EngineSettings:
        """Read the ``[engine]`` table; ``max_batch_operations`` is the relay's limit
        ``batch_size`` may not exceed."""
        d = cls()
        settings = cls(
            enabled=table.boolean("enabled", d.enabled),
            batch_size=table.integer(
                "batch_size", min(d.batch_size, max_batch_operations), minimum=1
            ),
            batches_in_flight=table.integer(
                "batches_in_flight", d.batches_in_flight, minimum=1, maximum=64
            ),
            control_interval=table.number("control_interval", d.control_interval, minimum=0.05),
            log_retention_days=table.number(
                "log_retention_days", d.log_retention_days, minimum=0.01
            ),
            send_timeout=table.number("send_timeout", d.send_timeout, minimum=1),
            retry=_retry(table.table("retry")),
            quarantine=_quarantine(table.table("quarantine")),
        )
        if settings.batch_size > max_batch_operations:
            raise table.error(
                "batch_size",
                f"must be at most limits.max_batch_operations ({max_batch_operations}), "
                f"got {settings.batch_size}",
            )
        table.reject_unknown()
        return settings


def _share(table: Table, name: str, default: float) -> float:
    value = table.number(name, default, minimum=0)
    if value > 1:
        raise table.error(name, f"must be a share from 0 to 1, got {value}")
    return value


def _retry(table: Table) -> RetryPolicy:
    d = RetryPolicy()
    base = table.number("base", d.base, minimum=0.1)
    policy = RetryPolicy(
        base=base,
        factor=table.number("factor", d.factor, minimum=1),
        maximum=table.number("maximum", d.maximum, minimum=base),
        jitter=_share(table, "jitter", d.jitter),
    )
    table.reject_unknown()
    return policy


def _quarantine(table: Table) -> QuarantinePolicy:
    d = QuarantinePolicy()
    share = _share(table, "failure_share", d.failure_share)
    if share == 0:
        raise table.error("failure_share", "must be above 0")
    schedule = table.raw("schedule")
    if schedule is None:
        steps = d.schedule
    elif (
        not isinstance(schedule, list)
        or not schedule
        or not all(isinstance(s, int | float) and not isinstance(s, bool) for s in schedule)
        or min(schedule) <= 0
    ):
        raise table.error("schedule", "must be a non-empty list of seconds above 0")
    else:
        steps = tuple(float(s) for s in schedule)
    policy = QuarantinePolicy(
        failure_share=share,
        minimum_operations=table.integer("minimum_operations", d.minimum_operations, minimum=1),
        schedule=steps,
    )
    table.reject_unknown()
    return policy
