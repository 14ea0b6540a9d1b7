"""Provisioning logs through the admin API of a real relay: every filter, paging back by id,
and the filters it refuses."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from relay.settings import RelaySettings
from relay.store.base import EntryKind, Store
from relay.store.engine_records import CycleWrite, LogAction, LogEntry, LogStatus
from tests.relay.api.conftest import Api, ApiRelay
from tests.relay.api.job_helpers import JOB, conforms, engine_off, page

NOW = time.time()


@pytest.fixture
def relay_settings() -> RelaySettings:
    return engine_off()


def stamp(ago: float) -> str:
    return datetime.fromtimestamp(NOW - ago, UTC).isoformat()


async def write_logs(store: Store) -> None:
    """Four entries of job crm (two cycles) and one of job hr, oldest first."""

    def entry(
        job: str, cycle: str, name: str, action: LogAction, status: LogStatus, ago: float
    ) -> LogEntry:
        return LogEntry(
            job=job,
            cycle=cycle,
            kind=EntryKind.USER,
            entry_id=f"id-{name}",
            action=action,
            status=status,
            at=NOW - ago,
            source_name=name,
            anchor=f"anchor-{name}",
            reason="refused" if status is LogStatus.FAILURE else None,
            error_class="invalid_data" if status is LogStatus.FAILURE else None,
            changes={"title": [None, "Engineer"]} if action is LogAction.CREATE else {},
            steps=[{"step": "match", "outcome": "no match", "detail": None}],
            duration_ms=12.5,
        )

    await store.record_batch(
        CycleWrite(
            job="crm",
            logs=(
                entry("crm", "c1", "old", LogAction.CREATE, LogStatus.SUCCESS, 3 * 86400),
                entry("crm", "c2", "Ada", LogAction.CREATE, LogStatus.SUCCESS, 3600),
                entry("crm", "c2", "bob", LogAction.UPDATE, LogStatus.FAILURE, 60),
                entry("crm", "c2", "ada", LogAction.DISABLE, LogStatus.STAGED, 30),
            ),
        )
    )
    await store.record_batch(
        CycleWrite(
            job="hr", logs=(entry("hr", "c3", "eve", LogAction.DELETE, LogStatus.SUCCESS, 10),)
        )
    )


@pytest.fixture
async def logs(api: Api, relay: ApiRelay) -> None:
    for name in ("crm", "hr"):
        status, _ = await api("POST", "/jobs", json={"spec": JOB, "name": name})
        assert status == 201
    await write_logs(relay.store)


async def names(api: Api, path: str, **params: str) -> list[str]:
    status, body = await api("GET", path, params=params)
    assert status == 200, body
    return [e["source_name"] for e in page("LogEntry", body)]


async def test_every_entry_newest_first_as_written(api: Api, logs: None) -> None:
    status, body = await api("GET", "/logs")
    assert status == 200
    entries = page("LogEntry", body)
    assert [e["source_name"] for e in entries] == ["eve", "ada", "bob", "Ada", "old"]
    assert body["next"] is None
    bob = entries[2]
    assert (bob["job"], bob["cycle"], bob["kind"], bob["entry_id"], bob["anchor"]) == (
        "crm",
        "c2",
        "user",
        "id-bob",
        "anchor-bob",
    )
    assert (bob["action"], bob["status"], bob["reason"], bob["error_class"]) == (
        "update",
        "failure",
        "refused",
        "invalid_data",
    )
    assert bob["at"].endswith("Z") and bob["duration_ms"] == 12.5
    assert bob["steps"] == [{"step": "match", "outcome": "no match", "detail": None}]
    assert entries[3]["changes"] == {"title": [None, "Engineer"]}


async def test_each_filter(api: Api, logs: None) -> None:
    assert await names(api, "/logs", job="hr") == ["eve"]
    assert await names(api, "/jobs/crm/logs") == ["ada", "bob", "Ada", "old"]
    assert await names(api, "/jobs/crm/logs", entry="ADA") == ["ada", "Ada"]
    assert await names(api, "/jobs/crm/logs", entry="id-bob") == ["bob"]
    assert await names(api, "/jobs/crm/logs", cycle="c1") == ["old"]
    assert await names(api, "/jobs/crm/logs", action="create") == ["Ada", "old"]
    assert await names(api, "/jobs/crm/logs", status="staged") == ["ada"]
    assert await names(api, "/logs", since=stamp(2 * 86400)) == ["eve", "ada", "bob", "Ada"]
    assert await names(api, "/logs", until=stamp(45)) == ["bob", "Ada", "old"]
    assert await names(
        api, "/jobs/crm/logs", since=stamp(7200), until=stamp(45), action="update"
    ) == ["bob"]
    # A time without a zone is UTC.
    naive = datetime.fromtimestamp(NOW - 45, UTC).replace(tzinfo=None).isoformat()
    assert await names(api, "/logs", until=naive) == ["bob", "Ada", "old"]
    assert await names(api, "/logs", job="nobody") == []


async def test_pages_go_back_by_id(api: Api, logs: None) -> None:
    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": "2"}
    while True:
        status, body = await api("GET", "/logs", params=params)
        assert status == 200
        pages.append([e["source_name"] for e in page("LogEntry", body)])
        if body["next"] is None:
            break
        assert body["next"] == str(body["items"][-1]["id"])
        params = {"limit": "2", "before": body["next"]}
    assert pages == [["eve", "ada"], ["bob", "Ada"], ["old"]]

    crm = (await api("GET", "/jobs/crm/logs", params={"limit": "3"}))[1]
    assert [e["source_name"] for e in crm["items"]] == ["ada", "bob", "Ada"]
    rest = await names(api, "/jobs/crm/logs", before=crm["next"], limit="3")
    assert rest == ["old"]


async def test_a_page_that_ends_with_the_last_entry_has_no_next(api: Api, logs: None) -> None:
    # crm has four entries: two full pages, and no third (empty) one to ask for.
    first = (await api("GET", "/jobs/crm/logs", params={"limit": "2"}))[1]
    assert [e["source_name"] for e in page("LogEntry", first)] == ["ada", "bob"]
    params = {"limit": "2", "before": first["next"]}
    second = (await api("GET", "/jobs/crm/logs", params=params))[1]
    assert [e["source_name"] for e in page("LogEntry", second)] == ["Ada", "old"]
    assert second["next"] is None
    every = (await api("GET", "/logs", params={"limit": "5"}))[1]
    assert (len(every["items"]), every["next"]) == (5, None)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"action": "explode"}, "'action'"),
        ({"status": "fine"}, "'status'"),
        ({"since": "yesterday"}, "'since'"),
        ({"until": "2024-13-01"}, "'until'"),
        ({"since": stamp(0), "until": stamp(60)}, "'since' is after 'until'"),
        ({"limit": "0"}, "'limit'"),
        ({"limit": "1001"}, "'limit'"),
        ({"limit": "ten"}, "'limit'"),
        ({"before": "0"}, "'before'"),
        ({"before": "x"}, "'before'"),
        ({"entry": ""}, "'entry'"),
    ],
)
async def test_bad_filters_are_refused(
    api: Api, logs: None, params: dict[str, str], named: str
) -> None:
    for path in ("/logs", "/jobs/crm/logs"):
        status, body = await api("GET", path, params=params)
        assert status == 400, (path, body)
        assert conforms("Error", body)["error"]["code"] == "invalid_request"
        assert named in body["error"]["message"]


async def test_the_logs_of_an_unknown_job_are_not_found(api: Api, logs: None) -> None:
    status, body = await api("GET", "/jobs/nope/logs")
    assert status == 404
    assert "'nope'" in conforms("Error", body)["error"]["message"]
