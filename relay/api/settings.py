"""The admin API's settings: the ``[api]`` table of ``relay.toml``. Example::

[api]
public_metrics = false      # true: /metrics answers without an API token
token_cache_seconds = 5.0   # how long a verified API token is remembered
dashboard = true            # false: no dashboard at /dashboard/
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.settings import Table


@dataclass(frozen=True, slots=True)
class ApiSettings:
    #: Serve ``/metrics`` without a token, for a Prometheus that cannot send one. Off by
    #: default: the metrics name jobs and agents.
    public_metrics: bool = False
    #: Seconds a verified API token is remembered, so requests need not look it up; a
    #: revoked token stops working within this time (at once when revoked through the API).
    token_cache_seconds: float = 5.0
    #: Serve the dashboard at ``/dashboard/``.
    dashboard: bool = True

    @classmethod
    def load(cls, table: Table) -> ApiSettings:
        defaults = cls()
        settings = cls(
            public_metrics=table.boolean("public_metrics", defaults.public_metrics),
            token_cache_seconds=table.number(
                "token_cache_seconds", defaults.token_cache_seconds, minimum=0
            ),
            dashboard=table.boolean("dashboard", defaults.dashboard),
        )
        table.reject_unknown()
        return settings
