"""The dashboard's pages in a headless Chromium against a relay without agents or a target:
what they show when there is a lot to show (more deprovisions or log entries than one page,
names as long as the relay allows) and nothing at all, and buttons that send their request
once however often they are clicked while the relay answers.

The job here is never started, so the engine leaves its staged deprovisions and log
entries, written to the store by the test, as they are.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from relay.cli import build_parser
from relay.store.base import EntryKind
from relay.store.engine_records import (
    CycleKind,
    CycleWrite,
    LogAction,
    LogEntry,
    LogStatus,
    StagedOperation,
)
from tests.browser import Page, chromium
from tests.relay.api.conftest import Api, ApiRelay

JOB = """
name = "{name}"
target = "scim"
scope = "all"

[connection]
agent = "{agent}"
connector = "crm"
"""
#: The dashboard lists this many pending deprovisions, and log entries per page.
PAGE = 100
#: Pending deprovisions and log entries the test writes: more than a page.
MANY = 150
#: How many pending deprovisions the job page lists.
LISTED = "document.querySelectorAll('#approvals tr[data-staged]').length"
#: The longest job name the relay takes.
LONG_NAME = "j" * 64


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with chromium() as browser:
        yield await browser.new_page()


async def signed_in(page: Page, relay: ApiRelay, route: str) -> None:
    """Sign in with the admin token and open ``route`` (``#/jobs``)."""
    await page.goto(relay.url + "/dashboard/" + route)
    await page.wait_for("!document.getElementById('sign-in').hidden", what="the sign-in form")
    await page.fill("#token", relay.admin_token)
    await page.click("#sign-in-form button[type=submit]")
    await page.wait_for("!document.getElementById('nav').hidden", what="signed in")


async def create_job(api: Api, name: str = "crm", agent: str = "branch-office") -> None:
    status, body = await api("POST", "/jobs", json={"spec": JOB.format(name=name, agent=agent)})
    assert status == 201, body


async def count_requests(page: Page, path: str) -> None:
    """From now on ``window.requests`` counts the page's calls whose URL holds ``path``."""
    await page.evaluate(
        "(() => { window.requests = 0; const fetch = window.fetch;"
        " window.fetch = (url, ...rest) => {"
        f" if (String(url).includes({path!r})) window.requests += 1;"
        " return fetch(url, ...rest); }; })()"
    )


async def test_every_pending_deprovision_is_counted_and_a_double_click_approves_once(
    relay: ApiRelay, api: Api, page: Page
) -> None:
    await create_job(api)
    cycle = await relay.store.start_cycle("crm", CycleKind.INCREMENTAL)
    now = time.time()
    staged = tuple(
        StagedOperation(
            0, "crm", cycle.id, EntryKind.USER, f"id-{i}", f"a-{i}", "delete", "gone", f"u{i}", now
        )
        for i in range(MANY)
    )
    await relay.store.record_batch(CycleWrite(job="crm", cycle=cycle.id, staged=staged))

    await signed_in(page, relay, "#/jobs/crm")
    await page.wait_for(
        f"document.querySelectorAll('#approvals tr[data-staged]').length === {PAGE}"
    )
    assert await page.text("#held") == (
        f"The deletion guard holds {MANY} deprovisions; the first {PAGE} are listed."
        " Approve to carry them out; reject to leave the accounts as they are."
    )
    assert await page.text("button[data-decide=approve-all]") == f"Approve the {PAGE} listed"

    # Clicked twice before the relay answers: one request, and the count of that one.
    await count_requests(page, "/staged/approve")
    await page.evaluate(
        "(() => { const b = document.querySelector('button[data-decide=approve-all]');"
        " b.click(); b.click(); })()"
    )
    assert await page.evaluate("window.requests") == 1
    flash = await page.wait_for("document.getElementById('flash').innerText", what="the answer")
    assert flash == f"{PAGE} deprovisions approved"
    left = MANY - PAGE
    await page.wait_for(
        f"document.querySelectorAll('#approvals tr[data-staged]').length === {left}"
    )
    assert await page.text("button[data-decide=approve-all]") == f"Approve all {left}"
    assert str(await page.text("#held")).startswith(f"The deletion guard holds {left} deprov")
    status, body = await api("GET", "/jobs/crm/staged", params={"decision": "approved"})
    assert status == 200 and len(body["items"]) == PAGE
    assert page.problems() == []


async def test_older_log_entries_are_read_once_however_often_the_button_is_clicked(
    relay: ApiRelay, api: Api, page: Page
) -> None:
    await create_job(api)
    now = time.time()
    logs = tuple(
        LogEntry(
            job="crm",
            cycle="c1",
            kind=EntryKind.USER,
            entry_id=f"id-{i}",
            action=LogAction.CREATE,
            status=LogStatus.SUCCESS,
            at=now,
            source_name=f"user-{i}",
        )
        for i in range(MANY)
    )
    await relay.store.record_batch(CycleWrite(job="crm", logs=logs))

    await signed_in(page, relay, "#/logs")
    await page.wait_for(f"document.querySelectorAll('#page tr[data-log]').length === {PAGE}")
    await count_requests(page, "/logs")
    await page.evaluate(
        "(() => { const b = document.querySelector('.more button');"
        " b.click(); b.click(); b.click(); })()"
    )
    assert await page.evaluate("window.requests") == 1
    await page.wait_for(f"document.querySelectorAll('#page tr[data-log]').length === {MANY}")
    await page.wait_for("!document.querySelector('.more button')", what="the last page read")
    assert await page.text("#log-count") == f"{MANY} entries, newest first"
    shown = await page.evaluate(
        "[...document.querySelectorAll('#page tr[data-log]')].map(r => r.dataset.entry)"
    )
    assert shown == [f"id-{i}" for i in reversed(range(MANY))]  # the last written first
    assert page.problems() == []


async def test_the_longest_names_wrap_inside_the_window(
    relay: ApiRelay, api: Api, page: Page
) -> None:
    await create_job(api, LONG_NAME, agent="a" * 100)

    def inside(selector: str) -> str:
        return (
            f"(() => {{ const e = document.querySelector({selector!r});"
            " return e && document.documentElement.scrollWidth <= window.innerWidth"
            " && e.getBoundingClientRect().right <= window.innerWidth; })()"
        )

    await signed_in(page, relay, "#/jobs")
    await page.wait_for(f"document.querySelector('tr[data-job={LONG_NAME}]')")
    await page.wait_for(inside("table.jobs th:last-child"), what="the jobs table in the window")
    await page.evaluate(f"location.hash = '#/jobs/{LONG_NAME}'")
    await page.wait_for("document.querySelector('dl.facts')")
    await page.wait_for(inside("dl.facts"), what="the job's facts in the window")
    assert page.problems() == []


async def test_an_empty_relay_says_how_to_add_agents_and_jobs(relay: ApiRelay, page: Page) -> None:
    await signed_in(page, relay, "#/agents")
    text = await page.wait_for("document.getElementById('page').innerText.includes('No agent')")
    assert text
    shown = str(await page.text("#page"))
    # The command the page names is one the CLI takes as written.
    assert "hatchway relay token create --name NAME" in shown
    build_parser().parse_args(["relay", "token", "create", "--name", "NAME"])
    await page.evaluate("location.hash = '#/jobs'")
    await page.wait_for("document.getElementById('page').innerText.includes('No job')")
    assert "hatchway job create FILE" in str(await page.text("#page"))
    await page.evaluate("location.hash = '#/overview'")
    await page.wait_for("document.querySelector('svg.chart text.empty')")
    assert await page.text("[data-stat=jobs-total]") == "0"
    assert page.problems() == []
