"""The overview and throughput the dashboard's first page shows, and whoami."""

from __future__ import annotations

from datetime import datetime

import pytest

from relay.engine.settings import EngineSettings
from relay.keys import METRICS
from relay.settings import RelaySettings
from relay.store.base import EntryKind
from relay.store.engine_records import CycleKind, CycleWrite, JobState, StagedOperation
from shared import __version__
from tests.relay.api.conftest import Api, ApiRelay
from tests.servers.ports import free_port


@pytest.fixture
def relay_settings() -> RelaySettings:
    # No engine: the jobs below are only records, which a running engine would act on.
    return RelaySettings(
        listen=f"127.0.0.1:{free_port()}", engine=EngineSettings(enabled=False), shutdown_timeout=2
    )


async def staged(relay: ApiRelay, job: str) -> None:
    cycle = await relay.store.start_cycle(job, CycleKind.INCREMENTAL)
    operation = StagedOperation(
        0, job, cycle.id, EntryKind.USER, "u1", "anchor-1", "delete", "left", "ada", 1.0
    )
    await relay.store.record_batch(CycleWrite(job=job, cycle=cycle.id, staged=(operation,)))


async def test_whoami_names_the_token(api: Api, relay: ApiRelay) -> None:
    assert await api("GET", "/whoami") == (200, {"name": "admin", "role": "admin"})
    assert await api("GET", "/whoami", token=relay.viewer_token) == (
        200,
        {"name": "viewer", "role": "viewer"},
    )


async def test_overview_counts_agents_jobs_and_the_directory(api: Api, relay: ApiRelay) -> None:
    store = relay.store
    for name in ("branch", "plant", "old"):
        await store.redeem_token(await relay.token(name), f"key-{name}", "hatchway-agent 1.0")
    await store.revoke_agent("old")
    for name in ("running", "paused", "sick", "fresh"):
        await store.create_job(name, "")
    await store.update_job("running", state=JobState.RUNNING)
    await store.update_job("paused", state=JobState.PAUSED)
    await store.update_job("sick", state=JobState.QUARANTINED, quarantine_reason="401")
    await staged(relay, "running")
    await staged(relay, "paused")  # paused: waits for nobody
    for user in ("ada", "bob"):
        await store.create_entry(
            EntryKind.USER,
            {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user},
        )
    await store.create_entry(
        EntryKind.GROUP,
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "staff"},
    )
    relay[METRICS].throughput.add(300, 0)

    status, body = await api("GET", "/overview", token=relay.viewer_token)
    assert status == 200
    rate = body.pop("operations_per_second")
    assert 0 < rate <= 300
    assert body == {
        "version": __version__,
        "agents": {"connected": 0, "registered": 2, "revoked": 1},
        "jobs": {
            "total": 4,
            "by_state": {"created": 1, "running": 1, "paused": 1, "quarantined": 1},
            "waiting_for_approval": 1,
            "quarantined": 1,
        },
        "directory": {"users": 2, "groups": 1},
    }


async def test_throughput_series(api: Api, relay: ApiRelay) -> None:
    relay[METRICS].throughput.add(5, 2)
    status, body = await api("GET", "/throughput", params={"minutes": "1"})
    assert status == 200
    assert body["step_seconds"] == 10
    assert len(body["points"]) == 6
    assert sum(p["succeeded"] for p in body["points"]) == 5
    assert sum(p["failed"] for p in body["points"]) == 2
    starts = [datetime.fromisoformat(p["at"].replace("Z", "+00:00")) for p in body["points"]]
    assert starts == sorted(starts)

    status, body = await api("GET", "/throughput")
    assert status == 200
    assert (body["step_seconds"], len(body["points"])) == (60, 60)
    status, body = await api("GET", "/throughput", params={"minutes": "1440"})
    assert (status, body["step_seconds"]) == (200, 1440)


@pytest.mark.parametrize("minutes", ["0", "1441", "an hour", "-5"])
async def test_throughput_refuses_bad_minutes(api: Api, minutes: str) -> None:
    status, body = await api("GET", "/throughput", params={"minutes": minutes})
    assert status == 400
    assert "minutes" in body["error"]["message"]
