"""Schemathesis against a live relay: every operation of the OpenAPI document, fed generated
requests, never fails with a server error and answers only what the document promises.

The relay runs in this test's event loop and holds real data (directory users and groups, a
job for the built-in agent that has run its first cycle against a real SCIM server, tokens),
so reads find something to show; schemathesis runs as its own process, as a user would run it.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from pathlib import Path

import pytest

from relay.api.server import routes
from relay.settings import RelaySettings
from relay.store.base import ApiRole, EntryKind
from relay.store.engine_records import JobState
from tests.relay.api.conftest import ApiRelay
from tests.relay.api.job_helpers import JOB
from tests.servers.ports import free_port
from tests.servers.scim import ScimServer

#: Generated requests per operation and phase; with about 40 operations the run stays
#: near a minute on two cores.
MAX_EXAMPLES = 75
#: Seconds the whole schemathesis run may take before the test fails (pytest's own
#: timeout, 120 s, covers the relay and the seeding too).
RUN_TIMEOUT = 100
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"


@pytest.fixture
def relay_settings(tmp_path: Path, scim_server: ScimServer) -> RelaySettings:
    relay_toml = tmp_path / "relay.toml"
    relay_toml.write_text(
        f'listen = "127.0.0.1:{free_port()}"\nshutdown_timeout = 2\n\n'
        "[engine]\ncontrol_interval = 0.1\n\n"
        f'[connectors.crm]\ntype = "scim"\nbase_url = "{scim_server.base_url}"\n'
        f'token = "{scim_server.token}"\n',
        encoding="utf-8",
    )
    return RelaySettings.load(relay_toml)


async def seed(relay: ApiRelay) -> list[str]:
    """Data for every kind of operation to find; returns the directory's entry ids."""
    store = relay.store
    users = []
    for name in ("ada", "bob", "cyd"):
        resource = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "active": True,
            "displayName": name.title(),
        }
        users.append(await store.create_entry(EntryKind.USER, resource))
    group = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "staff"}
    staff = await store.create_entry(EntryKind.GROUP, group, members=[u.id for u in users[:2]])
    await store.create_job("crm", JOB)
    await store.create_job("spare", JOB.replace('"crm"', '"spare"', 1))
    await store.assign("crm", EntryKind.GROUP, staff.id, role="member")
    await store.update_job("crm", state=JobState.RUNNING)
    await store.create_token("plant", 3600)
    await store.redeem_token(await relay.token("branch"), "key", "hatchway-agent/1")
    await store.create_api_token("grafana", ApiRole.VIEWER)
    await store.create_api_token("ci", ApiRole.VIEWER)
    await store.create_scim_client("entra")
    async with asyncio.timeout(60):
        # Polled: the engine runs the first cycle on its own, with no event to await.
        while not (await store.get_job("crm")).initial_done:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    return [u.id for u in users] + [staff.id]


def config(entry_ids: list[str]) -> str:
    """schemathesis.toml: real entry ids and names half of the time (the rest generated),
    so operations on one entry, job or agent get past 404. Deleting a job takes the spare
    one, so the others keep finding ``crm``; revoking an API token never takes a name from
    the API's answers, which list the token this run uses."""
    ids = ", ".join(f'"{i}"' for i in entry_ids)
    return f"""
[dictionaries.entries]
values = [{ids}]

[dictionaries.names]
values = ["crm", "branch"]

[dictionaries.tokens]
values = ["ci"]

[parameters]
"path.id" = {{ dictionary = "entries", probability = 0.5 }}
"path.entry_id" = {{ dictionary = "entries", probability = 0.5 }}
"path.name" = {{ dictionary = "names", probability = 0.5 }}
"body.entry" = {{ dictionary = "entries", probability = 0.5 }}

[[operations]]
include-operation-id = "delete_job"
parameters = {{ "path.name" = "spare" }}

[[operations]]
include-operation-id = "revoke_api_token"
parameters = {{ "path.name" = {{ dictionary = "tokens", probability = 0.5 }} }}
phases.coverage.extra-data-sources.responses = false
phases.fuzzing.extra-data-sources.responses = false
"""


async def test_every_operation_keeps_to_the_document(relay: ApiRelay, tmp_path: Path) -> None:
    entry_ids = await seed(relay)
    (tmp_path / "schemathesis.toml").write_text(config(entry_ids), encoding="utf-8")
    # A name nobody could guess: DELETE /api-tokens/{name} takes no names from answers.
    _, token = await relay.store.create_api_token(f"st-{secrets.token_hex(8)}", ApiRole.ADMIN)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(tmp_path / "schemathesis.toml"),
        "run",
        f"{relay.api_url}/openapi.json",
        "--checks",
        CHECKS,
        # Any filter makes schemathesis test the operation that serves the document too,
        # which it leaves out when it loads the document from that URL.
        "--include-path-regex",
        "^/api/v1/",
        "--phases",
        "coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        # One worker: hypothesis parses lambdas' source with ast, which CPython 3.11 cannot
        # do in two threads at once ("AST constructor recursion depth mismatch").
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {token}",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        "--no-color",
        "--seed",
        "7",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report
    assert f"Tested: {len(routes())}\n" in report, report
