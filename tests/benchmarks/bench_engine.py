"""Benchmark of the provisioning engine: initial cycles, change latency, memory.

Run from the checkout::

    .venv/bin/python tests/benchmarks/bench_engine.py           # full, several minutes
    .venv/bin/python tests/benchmarks/bench_engine.py --quick   # smoke test, under a minute

The relay runs as its own process (``hatchway relay serve``, SQLite store, engine on) and
the agent as another (``hatchway agent run``) with two connectors: SQL on a throwaway
PostgreSQL and LDAP on a throwaway slapd (``tests/servers``). The directory is preloaded
into the relay's store: 100,000 users (``relay.directory.sample.person``) and 1,000 groups
of 20 members each. Two jobs use the default ``sql`` and ``ldap`` mappings with scope
``all``. Every figure is printed beside a baseline measured in the same run, because the
machine is shared and noisy.

1. Initial cycle into PostgreSQL: from the job set running to its initial cycle done.
   Baseline: the same objects (mapped by the same compiled mappings) written straight
   through ``SqlConnector.apply`` in batches of 500, users then groups, into a second
   database of the same server.
2. The same into OpenLDAP; baseline: ``LdapConnector.apply`` into a second slapd.
3. Change latency: 1,000 single-user ``PATCH /scim/v2/Users/{id}`` (displayName replaced)
   through the relay's SCIM endpoint, one at a time; each timed from the request sent to
   the row changed in PostgreSQL (polled). Baseline: the PATCH round trip alone, measured
   the same way before the job runs (nothing but the directory write).
4. Ten changes (ten PATCHes sent back to back, timed until all ten rows changed) with
   100,000 users linked against the same with 1,000 linked (a second, small relay and
   agent); the median of several rounds each.
5. The relay's peak RSS (``VmHWM``) once the 100,000-user cycle into PostgreSQL is done;
   baseline: its RSS idle after start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import aiohttp
import pyodbc

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from agent.connectors.ldap import LdapConnector  # noqa: E402
from agent.connectors.sql import SqlConnector  # noqa: E402
from agent.registration import register  # noqa: E402
from agent.settings import CONFIG_FILE as AGENT_CONFIG  # noqa: E402
from relay.directory.sample import GROUP_SCHEMA, person  # noqa: E402
from relay.engine import job as jobs  # noqa: E402
from relay.engine.mapping import Links, Mapper  # noqa: E402
from relay.engine.source import Source  # noqa: E402
from relay.store.base import Entry, EntryKind, EntryWrite, MemberChange  # noqa: E402
from relay.store.configured import STORE_FILE  # noqa: E402
from relay.store.engine_records import CycleKind, JobState  # noqa: E402
from relay.store.sqlite import SqliteStore  # noqa: E402
from shared.connector import GROUP, USER, Action, Connector, Operation  # noqa: E402
from tests.benchmarks.report import cpu_seconds, machine, markdown_table, percentile  # noqa: E402
from tests.servers.ports import free_port  # noqa: E402
from tests.servers.postgres import PostgresServer, running_postgres  # noqa: E402
from tests.servers.slapd import SlapdServer, running_slapd  # noqa: E402

BATCH = 500
MEMBERS = 20
AGENT = "bench-agent"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
TARGET_SQL_S = 60.0
TARGET_LDAP_S = 120.0
TARGET_P50_MS = 200.0
TARGET_P99_MS = 1000.0
TARGET_SIZE_RATIO = 1.5
TARGET_RSS_MB = 500.0
#: Seconds any single wait (a process starting, a cycle, a change arriving) may take.
START_TIMEOUT = 30.0
CYCLE_TIMEOUT = 1800.0
CHANGE_TIMEOUT = 30.0
POLL = 0.001

TABLES = (
    "CREATE TABLE users (id SERIAL PRIMARY KEY, user_name TEXT UNIQUE NOT NULL, email TEXT,"
    " display_name TEXT, given_name TEXT, family_name TEXT, department TEXT, title TEXT,"
    " active BOOLEAN, external_id TEXT)",
    "CREATE TABLE groups (id SERIAL PRIMARY KEY, name TEXT UNIQUE NOT NULL)",
    "CREATE TABLE group_members (group_id INTEGER NOT NULL REFERENCES groups (id),"
    " user_id INTEGER NOT NULL REFERENCES users (id), PRIMARY KEY (group_id, user_id))",
)


@dataclass(frozen=True)
class Plan:
    users: int
    groups: int
    changes: int
    small_users: int
    small_groups: int
    burst_rounds: int


FULL = Plan(100_000, 1_000, 1_000, 1_000, 10, 7)
QUICK = Plan(2_000, 20, 50, 200, 2, 3)


def job_file(target: str, connector: str) -> str:
    return f"""
target = "{target}"
scope = "all"

[connection]
agent = "{AGENT}"
connector = "{connector}"

[deprovision]
users = "delete"
"""


def memory_kb(pid: int, field_name: str) -> int:
    """A ``VmRSS``/``VmHWM`` line of ``/proc/PID/status``, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field_name} for process {pid}")


async def until(check: Callable[[], Any], what: str, timeout: float, pause: float = 0.2) -> None:
    """Poll ``check`` (sync or async) until truthy, with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(pause)


# The directory ------------------------------------------------------------------------


@dataclass
class Directory:
    users: list[Entry]
    groups: list[Entry]
    members: dict[str, list[str]]


def group_members(users: int, groups: int) -> list[list[int]]:
    """Each group's member indexes: disjoint runs of ``MEMBERS`` users, spread out."""
    stride = max(1, users // max(1, groups))
    return [
        [(g * stride + k) % users for k in range(min(MEMBERS, stride, users))]
        for g in range(groups)
    ]


async def preload(store: SqliteStore, users: int, groups: int) -> Directory:
    made: list[Entry] = []
    for start in range(0, users, 5000):
        writes = [
            EntryWrite(EntryKind.USER, resource=person(i))
            for i in range(start, min(users, start + 5000))
        ]
        made += [e for e in await store.write_entries(writes) if e is not None]
    plan = group_members(users, groups)
    writes = [
        EntryWrite(
            EntryKind.GROUP,
            resource={"schemas": [GROUP_SCHEMA], "displayName": f"Team {g:04d}"},
            members=MemberChange(add=tuple(made[i].id for i in indexes)),
        )
        for g, indexes in enumerate(plan)
    ]
    teams = [e for e in await store.write_entries(writes) if e is not None]
    members = {t.id: [made[i].id for i in indexes] for t, indexes in zip(teams, plan, strict=True)}
    return Directory(made, teams, members)


# Targets ------------------------------------------------------------------------------


class Database:
    def __init__(self, server: PostgresServer, name: str) -> None:
        server.create_database(name)
        self.connection_string = server.odbc_connection_string(name)
        with pyodbc.connect(self.connection_string, autocommit=True) as conn:
            for statement in TABLES:
                conn.execute(statement)

    def counts(self) -> tuple[int, int, int]:
        with pyodbc.connect(self.connection_string, autocommit=True) as conn:
            return tuple(  # type: ignore[return-value]
                int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                for t in ("users", "groups", "group_members")
            )

    def connector_settings(self) -> dict[str, Any]:
        return {
            "type": "sql",
            "dialect": "postgresql",
            "connection_string": self.connection_string,
            "groups_table": "groups",
        }


def ldap_settings(server: SlapdServer) -> dict[str, Any]:
    return {
        "type": "ldap",
        "url": server.url,
        "bind_dn": server.admin_dn,
        "password": server.admin_password,
        "user_dn_template": f"uid={{uid}},ou=people,{server.base_dn}",
        "group_dn_template": f"cn={{cn}},ou=groups,{server.base_dn}",
    }


def open_connector(kind: str, settings: dict[str, Any]) -> Connector:
    table = {k: v for k, v in settings.items() if k != "type"}
    if kind == "sql":
        return SqlConnector.from_settings("baseline", table, source="bench_engine.py")
    return LdapConnector.from_settings("baseline", table, source="bench_engine.py")


async def straight(kind: str, settings: dict[str, Any], directory: Directory) -> float:
    """Seconds to write the directory straight through the connector, batches of 500, the
    attributes made by the job's own compiled mappings outside the clock."""
    connector = open_connector(kind, settings)
    try:
        await connector.test()
        schema = await connector.schema()
        definition = jobs.parse(job_file(kind, "x"), source="bench", name="baseline").definition
        mappers: dict[str, Mapper] = definition.mappers({c.name: c for c in schema.object_classes})
        users = [
            # As the engine's sources: the resource with its id (Entra's objectId).
            mappers[USER].attributes(Source({**e.resource, "id": e.id}, kind=USER), create=True)
            for e in directory.users
        ]
        anchors: dict[str, str] = {}
        spent = 0.0
        for start in range(0, len(users), BATCH):
            ops = [
                Operation(f"u{start + i}", Action.CREATE, USER, attributes=a)
                for i, a in enumerate(users[start : start + BATCH])
            ]
            began = time.perf_counter()
            results = await connector.apply(ops)
            spent += time.perf_counter() - began
            for entry, result in zip(directory.users[start : start + BATCH], results, strict=True):
                if result.error is not None or result.anchor is None:
                    raise RuntimeError(f"baseline create failed: {result.error}")
                anchors[entry.id] = result.anchor
        links = Links(resolve=anchors.get, in_scope=anchors.__contains__)
        groups = []
        for team in directory.groups:
            resource = {
                **team.resource,
                "id": team.id,
                "members": [{"value": m, "type": "User"} for m in directory.members[team.id]],
            }
            groups.append(
                mappers[GROUP].attributes(Source(resource, kind=GROUP), create=True, links=links)
            )
        for start in range(0, len(groups), BATCH):
            ops = [
                Operation(f"g{start + i}", Action.CREATE, GROUP, attributes=a)
                for i, a in enumerate(groups[start : start + BATCH])
            ]
            began = time.perf_counter()
            results = await connector.apply(ops)
            spent += time.perf_counter() - began
            failed = [r.error for r in results if r.error is not None]
            if failed:
                raise RuntimeError(f"baseline group creates failed: {failed[:3]}")
        return spent
    finally:
        await connector.close()


# Relay and agent processes ------------------------------------------------------------


@dataclass
class Stack:
    """A relay process with its store preloaded, and an agent process."""

    root: Path
    store: SqliteStore
    directory: Directory
    scim_token: str
    port: int = field(default_factory=free_port)
    relay: asyncio.subprocess.Process | None = None
    agent: asyncio.subprocess.Process | None = None
    idle_rss_kb: int = 0
    #: CPU seconds of the relay and the agent during each job's initial cycle.
    cycle_cpu: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: A folder for cProfile output of both processes (None: not profiled).
    profile: Path | None = None
    _log: IO[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, connectors: dict[str, dict[str, Any]]) -> None:
        relay_dir = self.root / "relay"
        self._log = (self.root / "relay.log").open("w")
        (relay_dir / "relay.toml").write_text(
            f'listen = "127.0.0.1:{self.port}"\n\n[engine]\ncontrol_interval = 0.1\n'
        )
        self.relay = await asyncio.create_subprocess_exec(
            *self._python("relay"),
            "--log-level",
            "warning",
            "relay",
            "serve",
            "--config-dir",
            str(relay_dir),
            "--data-dir",
            str(relay_dir),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        await until(self._healthy, "the relay to start", START_TIMEOUT, 0.1)
        await asyncio.sleep(1.0)  # settled: imports done, engine control loop running
        self.idle_rss_kb = memory_kb(self.relay.pid, "VmRSS")
        config, data = self.root / "agent-config", self.root / "agent-data"
        data.mkdir(parents=True, mode=0o700)
        _, token = await self.store.create_token(AGENT, 600)
        await register(self.url, token, config_dir=config, data_dir=data)
        with (config / AGENT_CONFIG).open("a", encoding="utf-8") as fh:
            for name, settings in connectors.items():
                fh.write(f"\n[connectors.{name}]\n")
                fh.writelines(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
        self.agent = await asyncio.create_subprocess_exec(
            *self._python("agent"),
            "--log-json",
            "--log-level",
            "info",
            "agent",
            "run",
            "--config-dir",
            str(config),
            "--data-dir",
            str(data),
            stdout=subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            cwd=REPO,
        )
        await asyncio.wait_for(self._connected(), START_TIMEOUT)

    def _python(self, name: str) -> list[str]:
        """``python -m relay.cli``, under cProfile (into ``profile/NAME.prof``) if asked."""
        if self.profile is None:
            return [sys.executable, "-m", "relay.cli"]
        out = self.profile / f"{name}.prof"
        return [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "relay.cli"]

    async def _healthy(self) -> bool:
        assert self.relay is not None
        if self.relay.returncode is not None:
            raise RuntimeError(f"the relay exited; see {self.root / 'relay.log'}")
        with contextlib.suppress(aiohttp.ClientError):
            async with aiohttp.ClientSession() as http, http.get(self.url + "/healthz") as r:
                return r.status == 200
        return False

    async def _connected(self) -> None:
        assert self.agent is not None and self.agent.stderr is not None
        lines: list[str] = []
        async for raw in self.agent.stderr:
            line = raw.decode(errors="replace").strip()
            lines.append(line)
            with contextlib.suppress(ValueError):
                if json.loads(line).get("event") == "connected":
                    asyncio.get_running_loop().create_task(self._drain())
                    return
        raise RuntimeError("the agent exited:\n" + "\n".join(lines[-30:]))

    async def _drain(self) -> None:
        assert self.agent is not None and self.agent.stderr is not None
        async for _ in self.agent.stderr:
            pass

    async def stop(self) -> None:
        for proc in (self.agent, self.relay):
            if proc is not None and proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        if self._log is not None:
            self._log.close()

    async def initial_cycle(self, job: str, objects: int) -> float:
        """Seconds from the job set running to its initial cycle done, every object
        created."""
        assert self.relay is not None and self.agent is not None
        pids = (self.relay.pid, self.agent.pid)
        cpu = [cpu_seconds(pid) for pid in pids]
        began = time.perf_counter()
        await self.store.update_job(job, state=JobState.RUNNING)

        async def done() -> bool:
            assert self.relay is not None
            if self.relay.returncode is not None:
                raise RuntimeError(f"the relay exited; see {self.root / 'relay.log'}")
            return (await self.store.get_job(job)).initial_done

        await until(done, f"the {job} job's initial cycle", CYCLE_TIMEOUT, 0.05)
        took = time.perf_counter() - began
        relay_cpu, agent_cpu = (cpu_seconds(pid) - c for pid, c in zip(pids, cpu, strict=True))
        self.cycle_cpu[job] = (relay_cpu, agent_cpu)
        [cycle] = [c for c in await self.store.list_cycles(job) if c.kind is CycleKind.INITIAL]
        if cycle.counts.get("created", 0) != objects or cycle.counts.get("failed"):
            raise RuntimeError(f"the {job} initial cycle did not create everything: {cycle}")
        return took


# Changes through the SCIM endpoint ----------------------------------------------------


class Changes:
    """Single-user PATCHes through the relay's SCIM endpoint, and the target polled."""

    def __init__(self, stack: Stack, database: Database) -> None:
        self.stack = stack
        self.db = pyodbc.connect(database.connection_string, autocommit=True)
        self.serial = 0

    def close(self) -> None:
        self.db.close()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[aiohttp.ClientSession]:
        headers = {
            "Authorization": f"Bearer {self.stack.scim_token}",
            "Content-Type": "application/scim+json",
        }
        async with aiohttp.ClientSession(headers=headers) as http:
            yield http

    async def patch(self, http: aiohttp.ClientSession, index: int) -> tuple[str, str, float]:
        """Rename user ``index``; (userName, new displayName, seconds of the round trip)."""
        entry = self.stack.directory.users[index]
        self.serial += 1
        name = f"Changed {self.serial}"
        body = {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "displayName", "value": name}],
        }
        began = time.perf_counter()
        async with http.patch(f"{self.stack.url}/scim/v2/Users/{entry.id}", json=body) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"PATCH answered {r.status}")
        return entry.resource["userName"], name, time.perf_counter() - began

    def arrived(self, user_name: str, display_name: str) -> bool:
        row = self.db.execute(
            "SELECT display_name FROM users WHERE user_name = ?", user_name
        ).fetchone()
        return row is not None and row[0] == display_name

    async def wait_arrived(self, pairs: Sequence[tuple[str, str]]) -> None:
        deadline = time.monotonic() + CHANGE_TIMEOUT
        left = list(pairs)
        while left:
            left = [p for p in left if not self.arrived(*p)]
            if not left:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"changes never arrived in the target: {left[:3]}")
            await asyncio.sleep(POLL)

    async def round_trips(self, count: int) -> list[float]:
        """PATCH round trips alone (no job running)."""
        async with self.session() as http:
            return [(await self.patch(http, self._index(i)))[2] for i in range(count)]

    async def latencies(self, count: int) -> list[float]:
        """Seconds from each PATCH sent to its row changed in the target."""
        out = []
        async with self.session() as http:
            for i in range(count):
                began = time.perf_counter()
                user_name, name, _ = await self.patch(http, self._index(i))
                await self.wait_arrived([(user_name, name)])
                out.append(time.perf_counter() - began)
        return out

    async def bursts(self, rounds: int) -> list[float]:
        """Seconds from the first of ten PATCHes sent back to back to all ten arrived."""
        out = []
        async with self.session() as http:
            for r in range(rounds + 1):
                began = time.perf_counter()
                pairs = []
                for i in range(10):
                    user_name, name, _ = await self.patch(http, self._index(r * 10 + i + 7))
                    pairs.append((user_name, name))
                await self.wait_arrived(pairs)
                if r:  # the first round warms up
                    out.append(time.perf_counter() - began)
        return out

    def _index(self, i: int) -> int:
        users = len(self.stack.directory.users)
        return (i * 7919) % users


# The run ------------------------------------------------------------------------------


@dataclass
class Results:
    plan: Plan
    figures: dict[str, float] = field(default_factory=dict)
    load: list[float] = field(default_factory=list)

    def note_load(self) -> None:
        self.load.append(os.getloadavg()[0])


@contextlib.asynccontextmanager
async def stack(
    root: Path,
    users: int,
    groups: int,
    jobs_wanted: Sequence[str],
    *,
    profile: Path | None = None,
) -> AsyncIterator[Stack]:
    relay_dir = root / "relay"
    relay_dir.mkdir(parents=True)
    store = SqliteStore(relay_dir / STORE_FILE)
    await store.open()
    made: Stack | None = None
    try:
        began = time.perf_counter()
        directory = await preload(store, users, groups)
        print(
            f"  preloaded {users:,} users and {groups:,} groups in"
            f" {time.perf_counter() - began:.1f} s",
            flush=True,
        )
        _, scim_token = await store.create_scim_client("bench")
        for name in jobs_wanted:
            await store.create_job(name, job_file(name, name))
        made = Stack(root, store, directory, scim_token, profile=profile)
        yield made
    finally:
        if made is not None:
            await made.stop()
        await store.close()


async def small_bursts(root: Path, server: PostgresServer, plan: Plan, out: Results) -> None:
    print(f"small job: {plan.small_users:,} users linked", flush=True)
    database = Database(server, "small")
    async with stack(root / "small", plan.small_users, plan.small_groups, ["sql"]) as small:
        await small.start({"sql": database.connector_settings()})
        await small.initial_cycle("sql", plan.small_users + plan.small_groups)
        changes = Changes(small, database)
        try:
            out.figures["burst_small_s"] = statistics.median(
                await changes.bursts(plan.burst_rounds)
            )
        finally:
            changes.close()
    out.note_load()


async def run(plan: Plan, profile: Path | None = None) -> Results:
    out = Results(plan)
    out.note_load()
    objects = plan.users + plan.groups
    with tempfile.TemporaryDirectory(prefix="hatchway-bench-engine-") as tmp:
        root = Path(tmp)
        with running_postgres() as server, running_slapd() as slapd:
            await small_bursts(root, server, plan, out)
            print(f"large job: {plan.users:,} users, {plan.groups:,} groups", flush=True)
            async with stack(
                root / "large", plan.users, plan.groups, ["sql", "ldap"], profile=profile
            ) as big:
                baseline_db = Database(server, "baseline")
                print("  baseline: straight through the SQL connector ...", flush=True)
                out.figures["sql_baseline_s"] = await straight(
                    "sql", baseline_db.connector_settings(), big.directory
                )
                print("  baseline: straight through the LDAP connector ...", flush=True)
                with running_slapd() as other:
                    out.figures["ldap_baseline_s"] = await straight(
                        "ldap", ldap_settings(other), big.directory
                    )
                out.note_load()
                database = Database(server, "engine")
                await big.start(
                    {"sql": database.connector_settings(), "ldap": ldap_settings(slapd)}
                )
                assert big.relay is not None
                changes = Changes(big, database)
                try:
                    print("  PATCH round trips, no job running ...", flush=True)
                    trips = await changes.round_trips(plan.changes)
                    print("  the job into PostgreSQL: initial cycle ...", flush=True)
                    out.figures["sql_s"] = await big.initial_cycle("sql", objects)
                    out.figures["peak_rss_kb"] = memory_kb(big.relay.pid, "VmHWM")
                    out.figures["idle_rss_kb"] = big.idle_rss_kb
                    if database.counts() != (plan.users, plan.groups, plan.groups * MEMBERS):
                        raise RuntimeError(f"PostgreSQL holds {database.counts()}")
                    out.note_load()
                    print(f"  {plan.changes:,} changes, one at a time ...", flush=True)
                    latencies = await changes.latencies(plan.changes)
                    print("  bursts of ten changes ...", flush=True)
                    out.figures["burst_large_s"] = statistics.median(
                        await changes.bursts(plan.burst_rounds)
                    )
                finally:
                    changes.close()
                out.figures.update(
                    trip_p50_s=percentile(trips, 0.5),
                    trip_p99_s=percentile(trips, 0.99),
                    latency_p50_s=percentile(latencies, 0.5),
                    latency_p99_s=percentile(latencies, 0.99),
                )
                out.note_load()
                print("  the job into OpenLDAP: initial cycle ...", flush=True)
                out.figures["ldap_s"] = await big.initial_cycle("ldap", objects)
                out.figures["peak_rss_after_ldap_kb"] = memory_kb(big.relay.pid, "VmHWM")
                for job, (relay_cpu, agent_cpu) in big.cycle_cpu.items():
                    out.figures[f"{job}_relay_cpu_s"] = relay_cpu
                    out.figures[f"{job}_agent_cpu_s"] = agent_cpu
                out.note_load()
    return out


# Report -------------------------------------------------------------------------------


def rows(results: Results) -> Iterator[tuple[str, str, str, str, str, str]]:
    plan, f = results.plan, results.figures
    size = f"{plan.users:,} users, {plan.groups:,} groups"
    for name, key, target in (
        ("PostgreSQL", "sql", TARGET_SQL_S),
        ("OpenLDAP", "ldap", TARGET_LDAP_S),
    ):
        value, base = f[f"{key}_s"], f[f"{key}_baseline_s"]
        rate = (plan.users + plan.groups) / value
        yield (
            f"initial cycle into {name} ({size})",
            f"{value:.1f} s ({rate:,.0f} objects/s)",
            f"{base:.1f} s (connector apply, batches of {BATCH})",
            f"{value / base:.2f}",
            f"<= {target:g} s",
            "yes" if value <= target else "NO",
        )
    for name, target in (("p50", TARGET_P50_MS), ("p99", TARGET_P99_MS)):
        value, base = f[f"latency_{name}_s"] * 1000, f[f"trip_{name}_s"] * 1000
        yield (
            f"change latency, {name} (SCIM PATCH to PostgreSQL row, {plan.changes:,} changes)",
            f"{value:.1f} ms",
            f"{base:.1f} ms (SCIM PATCH round trip)",
            f"{value / base:.1f}",
            f"<= {target:g} ms",
            "yes" if value <= target else "NO",
        )
    value, base = f["burst_large_s"] * 1000, f["burst_small_s"] * 1000
    yield (
        f"ten changes, {plan.users:,} users linked (median of {plan.burst_rounds})",
        f"{value:.0f} ms",
        f"{base:.0f} ms ({plan.small_users:,} users linked)",
        f"{value / base:.2f}",
        f"<= {TARGET_SIZE_RATIO:g} x baseline",
        "yes" if value / base <= TARGET_SIZE_RATIO else "NO",
    )
    value, base = f["peak_rss_kb"] / 1024, f["idle_rss_kb"] / 1024
    yield (
        f"relay peak RSS, initial cycle of {plan.users:,} users",
        f"{value:.0f} MB",
        f"{base:.0f} MB (idle after start)",
        f"{value / base:.1f}",
        f"<= {TARGET_RSS_MB:g} MB",
        "yes" if value <= TARGET_RSS_MB else "NO",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, as a smoke test")
    parser.add_argument(
        "--users",
        type=int,
        help="users of the large job (groups: one per 100 users); default 100,000, quick 2,000",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="a folder: the large job's relay and agent run under cProfile, written there"
        " as relay.prof and agent.prof",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.users:
        plan = dataclasses.replace(plan, users=args.users, groups=max(1, args.users // 100))
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    print(f"hatchway engine benchmark, {'quick' if args.quick else 'full'}; {machine()}")
    results = asyncio.run(run(plan, args.profile.resolve() if args.profile else None))
    print()
    print(markdown_table(rows(results)))
    f = results.figures
    objects = plan.users + plan.groups
    for job, name in (("sql", "PostgreSQL"), ("ldap", "OpenLDAP")):
        relay_cpu, agent_cpu = f[f"{job}_relay_cpu_s"], f[f"{job}_agent_cpu_s"]
        print(
            f"\nCPU during the initial cycle into {name}: relay {relay_cpu:.1f} s"
            f" ({relay_cpu / objects * 1e6:,.0f} us per object), agent {agent_cpu:.1f} s"
            f" ({agent_cpu / objects * 1e6:,.0f} us per object)"
        )
    hwm = f["peak_rss_after_ldap_kb"] / 1024
    load = ", ".join(f"{x:.1f}" for x in results.load)
    print(
        f"\nthe relay's VmHWM after the OpenLDAP cycle too: {hwm:.0f} MB;"
        f" {started:%Y-%m-%d %H:%M} UTC; {machine()}; load average (1 min) along the run: {load}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
