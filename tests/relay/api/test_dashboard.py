"""The dashboard end to end, in a headless Chromium: a real relay with a directory, a job
provisioning a real SCIM server through the built-in agent, and an agent process.

The operator signs in (a bad token first), reads the overview, starts the job and watches
its cycle's progress bar move, approves deletions the guard staged (refused for a viewer
token), finds a user's log entries and their detail, and asks where the user is now.
The SCIM server sits behind a gate (tests/relay/api/gate.py) the test closes to hold the
cycle half done while the page is read, so nothing depends on how fast the machine is.

Set ``HATCHWAY_SCREENSHOTS`` to a folder (``docs/screenshots``) to save a screenshot of
each page there while the tests run.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.settings import ConnectorSettings
from relay.engine.settings import EngineSettings
from relay.settings import RelaySettings
from relay.store.base import Entry, EntryKind, EntryWrite
from tests.browser import Page, chromium
from tests.e2e.harness import AgentProcess, registered_agent
from tests.relay.api.conftest import Api, ApiRelay
from tests.relay.api.gate import Gate, gate_before
from tests.relay.engine.cycle_helpers import eventually
from tests.servers.ports import free_port
from tests.servers.scim import ScimServer

pytestmark = pytest.mark.server

SCREENSHOTS = os.environ.get("HATCHWAY_SCREENSHOTS")
#: Seconds a test waits for the relay or the page to get somewhere.
WAIT = 15.0
#: Users in the directory besides the one the test follows.
USERS = 40
#: Deletions the guard lets through in one go; the test deletes more.
THRESHOLD = 2
DELETED = 3

JOB = f"""
name = "crm"
target = "scim"
scope = "all"

[connection]
connector = "cloud"

[deprovision]
users = "delete"

[guard]
threshold = {THRESHOLD}
settle = 0.2
"""


@pytest.fixture
async def gate(scim_server: ScimServer) -> AsyncIterator[Gate]:
    async with gate_before(f"http://{scim_server.host}:{scim_server.port}") as gate:
        yield gate


@pytest.fixture
def relay_settings(gate: Gate, scim_server: ScimServer) -> RelaySettings:
    """A relay whose built-in connector ``cloud`` reaches the SCIM server through the
    gate, one operation at a time, so a cycle has many steps to watch."""
    cloud = ConnectorSettings(
        "cloud",
        "scim",
        {
            "type": "scim",
            "base_url": gate.url + "/v2",
            "token": scim_server.token,
            "timeout": 60.0,
            "bulk": False,
        },
    )
    return RelaySettings(
        listen=f"127.0.0.1:{free_port()}",
        revocation_check_interval=0.2,
        shutdown_timeout=2,
        connectors=(cloud,),
        engine=EngineSettings(batch_size=1, batches_in_flight=1, control_interval=0.1),
    )


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with chromium() as browser:
        yield await browser.new_page()


@pytest.fixture
async def agent(relay: ApiRelay, tmp_path: Path) -> AsyncIterator[AgentProcess]:
    process = await registered_agent(relay, tmp_path / "agents", "branch-office")
    await process.start()
    yield process
    await process.terminate()


async def screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        await page.screenshot(Path(SCREENSHOTS) / f"{name}.png")


async def directory(relay: ApiRelay, tag: str, *extra: dict[str, Any]) -> list[Entry]:
    """USERS users named ``user-TAG-N``, and ``extra`` resources, in the relay's directory."""
    resources = [
        {"userName": f"user-{tag}-{i}", "displayName": f"User {i}", "active": True}
        for i in range(USERS)
    ]
    written = await relay.store.write_entries(
        [EntryWrite(EntryKind.USER, resource=r) for r in [*extra, *resources]]
    )
    return [entry for entry in written if entry is not None]


async def scim_ids(server: ScimServer, user_name: str) -> list[str]:
    """The ids of the SCIM server's users called ``user_name``."""
    query = json.dumps(user_name)
    answer = await asyncio.to_thread(
        server.request, "GET", f"/Users?filter=userName%20eq%20{query}"
    )
    return [r["id"] for r in answer.get("Resources", [])]


async def sign_in(page: Page, token: str) -> None:
    """Sign in from the sign-in form (shown when no token is kept in the tab)."""
    await page.wait_for("!document.getElementById('sign-in').hidden", what="the sign-in form")
    await page.fill("#token", token)
    await page.click("#sign-in-form button[type=submit]")


async def sign_out(page: Page) -> None:
    await page.click("#sign-out")
    await page.wait_for("!document.getElementById('sign-in').hidden", what="the sign-in form")


async def progress_value(page: Page, *, above: float) -> float:
    """The job page's progress bar value, once it is above ``above``."""
    value = await page.wait_for(
        "(() => { const bar = document.querySelector('#progress progress');"
        f" return bar && bar.value > {above} ? bar.value : 0; }})()",
        what=f"a progress bar above {above}",
    )
    return float(value)


async def job(api: Api) -> dict[str, Any]:
    status, body = await api("GET", "/jobs/crm")
    assert status == 200, body
    found: dict[str, Any] = body
    return found


async def hold_after_progress(api: Api, gate: Gate, *, above: float) -> None:
    """Let the target answer until the job has done more than ``above`` objects, then
    hold the cycle: close the gate and wait until a request waits at it."""
    gate.open()

    async def moved() -> bool:
        progress = (await job(api))["progress"]
        return progress is not None and progress["done"] > above

    await eventually(moved, what=f"progress past {above}", timeout=WAIT)
    gate.close()
    await eventually(lambda: gate.held > 0, what="the cycle held at the gate", timeout=WAIT)
    assert (await job(api))["progress"] is not None, "the cycle ended while the gate was open"


async def test_an_operator_watches_a_cycle_approves_deletions_and_finds_a_user(
    relay: ApiRelay,
    api: Api,
    page: Page,
    gate: Gate,
    scim_server: ScimServer,
    agent: AgentProcess,
) -> None:
    tag = uuid.uuid4().hex[:8]
    ada_name = f"ada-{tag}"
    [ada, *others] = await directory(
        relay, tag, {"userName": ada_name, "displayName": "Ada Lovelace", "title": "Engineer"}
    )
    status, body = await api("POST", "/jobs", json={"spec": JOB})
    assert status == 201, body

    # A bad token is refused with the API's message; the admin token opens the overview.
    await page.goto(relay.url + "/dashboard/")
    await sign_in(page, "hwa_not-a-token")
    error = await page.wait_for(
        "document.getElementById('sign-in-error').innerText", what="a sign-in error"
    )
    assert "not valid" in error
    await screenshot(page, "sign-in")
    await sign_in(page, relay.admin_token)
    await page.wait_for("document.querySelector('[data-stat=jobs-total]')")
    assert await page.text("[data-stat=jobs-total]") == "1"
    assert await page.text("[data-stat=directory-users]") == str(USERS + 1)
    assert await page.text("#who-name") == "admin (admin)"
    await page.wait_for(
        "document.querySelector('[data-stat=agents-connected]')?.innerText === '1'",
        what="the agent counted as connected",
    )

    # Start the job from its page and watch the initial cycle's progress bar move.
    await page.evaluate("location.hash = '#/jobs/crm'")
    await page.click("button[data-action=start]")
    await page.wait_for("document.getElementById('flash').innerText.includes('started')")
    await hold_after_progress(api, gate, above=0)
    seen = await progress_value(page, above=0)
    assert await page.evaluate("document.querySelector('#progress progress').max") == USERS + 1
    await hold_after_progress(api, gate, above=seen + USERS // 4)
    moved = await progress_value(page, above=seen)
    assert moved > seen
    text = await page.text("#progress .numbers")
    assert text is not None and f"/ {USERS + 1}" in text and "/s" in text and "ETA" in text
    await page.evaluate("location.hash = '#/jobs'")
    await page.wait_for(f"document.querySelector('tr[data-job=crm] progress')?.value >= {moved}")
    await screenshot(page, "jobs")
    await page.evaluate("location.hash = '#/jobs/crm'")
    gate.open()
    await eventually(lambda: _initial_done(api), what="the initial cycle done", timeout=30)
    assert await scim_ids(scim_server, ada_name)

    # Deleting more users than the guard allows stages them on the job's page.
    gone = others[:DELETED]
    await relay.store.write_entries(
        [EntryWrite(EntryKind.USER, entry_id=e.id, delete=True) for e in gone]
    )
    await page.wait_for(
        f"document.querySelectorAll('#approvals tr[data-staged]').length === {DELETED}",
        what=f"{DELETED} deletions waiting for approval",
        timeout=WAIT,
    )
    await screenshot(page, "job")

    # A viewer token may look but not approve.
    await sign_out(page)
    await sign_in(page, relay.viewer_token)
    await page.click("button[data-decide=approve-all]")
    assert await page.wait_for("document.getElementById('flash').innerText") == (
        "viewer token: approve needs an admin token"
    )
    assert await page.count("#approvals tr[data-staged]") == DELETED

    # The admin approves them and the target loses them.
    await sign_out(page)
    await sign_in(page, relay.admin_token)
    await page.click("button[data-decide=approve-all]")
    assert await page.wait_for("document.getElementById('flash').innerText") == (
        f"{DELETED} deprovisions approved"
    )
    await page.wait_for("!document.querySelector('#approvals tr[data-staged]')")

    async def deleted() -> bool:
        return all([not await scim_ids(scim_server, e.resource["userName"]) for e in gone])

    await eventually(deleted, what="the approved deletions in the target", timeout=WAIT)
    assert await scim_ids(scim_server, others[DELETED].resource["userName"])

    # Where is Ada now: linked to her account in the target; provisioned again at once,
    # with each step shown.
    await page.evaluate("location.hash = '#/where'")
    await page.fill("#where-form input[name=entry]", ada_name)
    await page.click("#where-form button[type=submit]")
    card = await page.wait_for(
        "document.querySelector('section.where[data-job=crm] dl')?.innerText",
        what="where Ada is",
    )
    [anchor] = await scim_ids(scim_server, ada_name)
    assert anchor in card and "in scope" in card and ada.id in card
    assert "linked" in str(await page.text("section.where[data-job=crm] h2"))
    await page.click("button[data-provision=crm]")
    await page.wait_for("document.querySelector('section.where .outcome table.steps tbody tr')")
    assert await page.text("#flash") == "crm: none, success"
    await screenshot(page, "where")

    # The logs page finds the user's entries; their detail shows changes and steps.
    await page.evaluate("location.hash = '#/logs'")
    await page.fill("#log-filters input[name=entry]", ada_name)
    await page.click("#log-filters button[type=submit]")
    await page.wait_for("location.hash.includes('entry=')")
    await page.wait_for("document.querySelectorAll('#page tr[data-log]').length === 2")
    rows = await page.evaluate(
        "[...document.querySelectorAll('#page tr[data-log]')]"
        ".map(r => [r.dataset.entry, r.cells[3].innerText])"
    )
    assert rows == [[ada.id, "none"], [ada.id, "create"]]
    await page.click("#page tr[data-log]:nth-child(2) button[data-open]")
    await page.wait_for("!document.getElementById('log-detail').hidden")
    after = await page.text("#log-detail tr[data-attribute=displayName] td:nth-child(3)")
    assert after == "Ada Lovelace"
    await page.click("#page tr[data-log]:nth-child(1) button[data-open]")
    await page.wait_for("document.querySelector('#log-detail table.steps tbody tr')")
    await screenshot(page, "logs")

    # The overview counts the work, and draws it.
    await page.evaluate("location.hash = '#/overview?minutes=15'")
    await page.wait_for("document.querySelector('svg.chart rect.succeeded')", what="bars")
    assert await page.text(".ranges [aria-current]") == "15 min"
    rate = await page.text("[data-stat=operations-per-second]")
    assert rate is not None and float(rate) > 0
    await screenshot(page, "overview")
    await page.evaluate("location.hash = '#/agents'")
    await page.wait_for("document.querySelector('tr[data-agent=branch-office]')")
    assert "connected" in str(await page.text("tr[data-agent=branch-office]"))
    await screenshot(page, "agents")

    assert page.problems() == []


async def _initial_done(api: Api) -> bool:
    return bool((await job(api))["initial_done"])


async def test_names_and_values_from_the_directory_are_shown_as_text(
    relay: ApiRelay, api: Api, page: Page
) -> None:
    tag = uuid.uuid4().hex[:8]
    name = f"<b>eve-{tag}</b>"
    trap = "<img src=x onerror=alert(1)>"
    await directory(relay, tag, {"userName": name, "displayName": trap})
    assert (await api("POST", "/jobs", json={"spec": JOB}))[0] == 201
    assert (await api("POST", "/jobs/crm/start"))[0] == 200
    await eventually(lambda: _initial_done(api), what="the initial cycle done", timeout=30)

    await page.goto(relay.url + "/dashboard/#/logs")
    await sign_in(page, relay.admin_token)
    await page.fill("#log-filters input[name=entry]", name)
    await page.click("#log-filters button[type=submit]")
    await page.wait_for("document.querySelectorAll('#page tr[data-log]').length === 1")
    assert name in str(await page.text("#page tr[data-log]"))
    await page.click("#page tr[data-log] button[data-open]")
    await page.wait_for("!document.getElementById('log-detail').hidden")
    shown = await page.text("#log-detail tr[data-attribute=displayName] td:nth-child(3)")
    assert shown == trap

    await page.evaluate("location.hash = '#/where'")
    await page.fill("#where-form input[name=entry]", name)
    await page.click("#where-form button[type=submit]")
    card = await page.wait_for("document.querySelector('section.where dl')?.innerText")
    assert name in card

    assert await page.count("#page img, #page b, #flash *, #notice *") == 0
    assert page.dialogs() == []
    assert page.problems() == []


async def test_a_token_revoked_while_signed_in_returns_to_the_sign_in_form(
    relay: ApiRelay, api: Api, page: Page
) -> None:
    await page.goto(relay.url + "/dashboard/")
    await sign_in(page, relay.admin_token)
    await page.wait_for("document.querySelector('[data-stat=jobs-total]')")

    # The token stays with the tab: a reload needs no new sign-in.
    await page.reload()
    await page.wait_for("document.querySelector('[data-stat=jobs-total]')")
    assert await page.evaluate("document.getElementById('sign-in').hidden") is True

    status, _ = await api("DELETE", "/api-tokens/admin")
    assert status == 200
    message = await page.wait_for(
        "!document.getElementById('sign-in').hidden"
        " && document.getElementById('sign-in-error').innerText",
        what="the sign-in form after the next refresh",
    )
    assert message == "the API token is not valid (unknown or revoked)"
    assert await page.evaluate("sessionStorage.length") == 0
    assert await page.count("#page *") == 0
