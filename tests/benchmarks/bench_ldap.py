"""Benchmark of the LDAP connector (issue 3): creates, and one member added to a large group.

Run from the checkout::

    .venv/bin/python tests/benchmarks/bench_ldap.py           # full, about a minute
    .venv/bin/python tests/benchmarks/bench_ldap.py --quick   # smoke test, about 15 s

Both figures run against one throwaway slapd (``tests/servers/slapd.py``, started here) and
each is printed beside a baseline measured in the same run against the same server, because
the machine is shared and noisy: the ratio is the figure to compare between runs.

1. Creates. ``LdapConnector.apply`` with batches of 500 user creates (the connector shares
   them among its pool of connections, ``pool_size`` of them, each sending its share several
   at a time). Baseline: a plain ldap3 loop of ``Connection.add`` on one connection, the
   same entries. The two alternate in rounds so that a noisy neighbour hurts both alike; the
   figure is creates per second over all rounds.
2. Membership add to a group of 10,000 members: ``LdapConnector.update`` with one
   ``member`` add delta, timed around the call; p50 and p90 of many adds, each of a different
   existing user. Baseline: a plain ldap3 ``modify`` with MODIFY_ADD of one member on a second
   group of 10,000 members, the same users. Then the same members are removed again, one by
   one, the same way (p50 shown, no target).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ldap3

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script: make tests.servers importable
    sys.path.insert(0, str(REPO))

from agent.connectors.ldap import LdapConnector  # noqa: E402
from shared.connector import GROUP, USER, Action, Delta, DeltaKind, Operation  # noqa: E402
from tests.benchmarks.report import machine, markdown_table  # noqa: E402
from tests.servers.slapd import SlapdServer, running_slapd  # noqa: E402

BATCH = 500
GROUP_SIZE = 10_000
TARGET_RATIO = 1.2
TARGET_ADD_MS = 5.0


@dataclass(frozen=True)
class Plan:
    rounds: int
    creates_per_round: int
    member_adds: int


FULL = Plan(rounds=3, creates_per_round=2_000, member_adds=300)
QUICK = Plan(rounds=1, creates_per_round=500, member_adds=40)


def attributes(name: str, i: int) -> dict[str, Any]:
    return {
        "uid": name,
        "cn": f"User Number {i}",
        "sn": f"Surname {i % 97}",
        "mail": f"{name}@example.org",
        "displayName": f"User Number {i}",
        "employeeType": f"Type {i % 7}",
    }


def people(server: SlapdServer) -> str:
    return f"ou=people,{server.base_dn}"


def plain_connection(server: SlapdServer) -> ldap3.Connection:
    return ldap3.Connection(
        ldap3.Server(server.url, get_info=ldap3.NONE),
        server.admin_dn,
        server.admin_password,
        auto_bind=True,
        raise_exceptions=True,
        receive_timeout=30,
    )


def connector_for(server: SlapdServer, pool_size: int) -> LdapConnector:
    settings = {
        "url": server.url,
        "bind_dn": server.admin_dn,
        "password": server.admin_password,
        "user_dn_template": f"uid={{uid}},{people(server)}",
        "group_dn_template": f"cn={{cn}},ou=groups,{server.base_dn}",
        "pool_size": pool_size,
    }
    return LdapConnector.from_settings("bench", settings, source="bench_ldap.py")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    index = min(len(sorted_values) - 1, max(0, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


# 1. Creates ----------------------------------------------------------------------------


def plain_creates(server: SlapdServer, names: list[str], offset: int) -> float:
    """Seconds for a single-connection ldap3 loop of adds."""
    conn = plain_connection(server)
    try:
        started = time.perf_counter()
        for i, name in enumerate(names):
            conn.add(
                f"uid={name},{people(server)}", ["inetOrgPerson"], attributes(name, offset + i)
            )
        return time.perf_counter() - started
    finally:
        conn.unbind()


async def connector_creates(
    connector: LdapConnector, names: list[str], offset: int
) -> tuple[float, list[str]]:
    """Seconds for the connector's batches of creates, and the anchors."""
    anchors: list[str] = []
    started = time.perf_counter()
    for start in range(0, len(names), BATCH):
        chunk = names[start : start + BATCH]
        operations = [
            Operation(f"c{offset + start + i}", Action.CREATE, USER, attributes=attributes(n, i))
            for i, n in enumerate(chunk)
        ]
        results = await connector.apply(operations)
        failures = [r.error for r in results if r.error is not None]
        if failures:
            raise RuntimeError(f"creates failed: {failures[:3]}")
        anchors.extend(r.anchor or "" for r in results)
    return time.perf_counter() - started, anchors


async def figure_creates(
    server: SlapdServer, connector: LdapConnector, plan: Plan, out: dict[str, Any]
) -> list[str]:
    run = secrets.token_hex(3)
    # Warm-up: connections opened, schema read, code paths hot.
    await connector_creates(connector, [f"warm-c-{run}-{i}" for i in range(50)], 0)
    plain_creates(server, [f"warm-p-{run}-{i}" for i in range(50)], 0)
    connector_seconds = plain_seconds = 0.0
    anchors: list[str] = []
    n = plan.creates_per_round
    for r in range(plan.rounds):
        names = [f"p-{run}-{r}-{i}" for i in range(n)]
        plain_seconds += await asyncio.to_thread(plain_creates, server, names, r * n)
        seconds, made = await connector_creates(
            connector, [f"c-{run}-{r}-{i}" for i in range(n)], r * n
        )
        connector_seconds += seconds
        anchors.extend(made)
        print(
            f"  round {r + 1}: connector {n / seconds:,.0f}/s, plain"
            f" {n / (plain_seconds / (r + 1)):,.0f}/s (running)",
            flush=True,
        )
    total = n * plan.rounds
    out["creates"] = {
        "count": total,
        "connector_per_s": total / connector_seconds,
        "plain_per_s": total / plain_seconds,
        "pool_size": connector.settings.pool_size,
    }
    return anchors


# 2. Membership add to a large group ------------------------------------------------------


def make_large_group(server: SlapdServer, cn: str) -> str:
    """A groupOfNames of GROUP_SIZE members (DNs of users that need not exist)."""
    dn = f"cn={cn},ou=groups,{server.base_dn}"
    members = [f"uid=filler-{cn}-{i},{people(server)}" for i in range(GROUP_SIZE)]
    conn = plain_connection(server)
    try:
        conn.add(dn, ["groupOfNames"], {"cn": cn, "member": members})
    finally:
        conn.unbind()
    return dn


def plain_member_changes(
    server: SlapdServer, group: str, users: list[str], operation: str
) -> list[float]:
    conn = plain_connection(server)
    try:
        timings = []
        for dn in users:
            started = time.perf_counter()
            conn.modify(group, {"member": [(operation, [dn])]})
            timings.append(time.perf_counter() - started)
        return timings
    finally:
        conn.unbind()


async def connector_member_changes(
    connector: LdapConnector, group: str, users: list[str], kind: DeltaKind
) -> list[float]:
    timings = []
    for dn in users:
        started = time.perf_counter()
        await connector.update(GROUP, group, [Delta("member", kind, (dn,))])
        timings.append(time.perf_counter() - started)
    return timings


async def member_timings(
    server: SlapdServer,
    connector: LdapConnector,
    groups: tuple[str, str],
    users: list[str],
    kind: DeltaKind,
) -> tuple[list[float], list[float]]:
    """Connector and plain timings, in two alternating halves so that drift in the
    machine's load hits both alike."""
    connector_group, plain_group = groups
    operation = ldap3.MODIFY_ADD if kind is DeltaKind.ADD else ldap3.MODIFY_DELETE
    half = len(users) // 2
    connector_times = await connector_member_changes(connector, connector_group, users[:half], kind)
    plain_times = await asyncio.to_thread(
        plain_member_changes, server, plain_group, users[:half], operation
    )
    plain_times += await asyncio.to_thread(
        plain_member_changes, server, plain_group, users[half:], operation
    )
    connector_times += await connector_member_changes(
        connector, connector_group, users[half:], kind
    )
    return sorted(connector_times), sorted(plain_times)


async def figure_membership(
    server: SlapdServer,
    connector: LdapConnector,
    users: list[str],
    plan: Plan,
    out: dict[str, Any],
) -> None:
    run = secrets.token_hex(3)
    groups = (
        make_large_group(server, f"large-connector-{run}"),
        make_large_group(server, f"large-plain-{run}"),
    )
    warm = users[: min(10, len(users) // 4)]
    measured = users[len(warm) : len(warm) + plan.member_adds]
    if len(measured) < plan.member_adds:
        raise RuntimeError("not enough users made for the membership figure")
    await member_timings(server, connector, groups, warm, DeltaKind.ADD)
    added = await member_timings(server, connector, groups, measured, DeltaKind.ADD)
    removed = await member_timings(server, connector, groups, measured, DeltaKind.REMOVE)
    out["membership"] = {
        "changes": len(measured),
        "group_size": GROUP_SIZE,
        "connector_add_p50_ms": percentile(added[0], 50) * 1000,
        "connector_add_p90_ms": percentile(added[0], 90) * 1000,
        "plain_add_p50_ms": percentile(added[1], 50) * 1000,
        "plain_add_p90_ms": percentile(added[1], 90) * 1000,
        "connector_remove_p50_ms": percentile(removed[0], 50) * 1000,
        "plain_remove_p50_ms": percentile(removed[1], 50) * 1000,
    }


# Report ----------------------------------------------------------------------------------


def rows(results: dict[str, Any]) -> Iterator[tuple[str, str, str, str, str, str]]:
    creates = results["creates"]
    value, base = creates["connector_per_s"], creates["plain_per_s"]
    ratio = value / base
    yield (
        f"creates, batches of {BATCH}, pool of {creates['pool_size']}",
        f"{value:,.0f}/s",
        f"{base:,.0f}/s (ldap3 add loop, 1 connection)",
        f"{ratio:.2f}",
        f">= {TARGET_RATIO:g} x baseline",
        "yes" if ratio >= TARGET_RATIO else "NO",
    )
    member = results["membership"]
    for change, name in (("add", "p50"), ("add", "p90"), ("remove", "p50")):
        value = member[f"connector_{change}_{name}_ms"]
        base = member[f"plain_{change}_{name}_ms"]
        judged = (change, name) == ("add", "p50")  # the target is for a typical add
        yield (
            f"membership {change}, {member['group_size']:,}-member group, {name}",
            f"{value:.2f} ms",
            f"{base:.2f} ms (ldap3 modify)",
            f"{value / base:.2f}",
            f"< {TARGET_ADD_MS:g} ms" if judged else "(none)",
            ("yes" if value < TARGET_ADD_MS else "NO") if judged else "-",
        )


async def run(plan: Plan, pool_size: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with running_slapd() as server:
        connector = connector_for(server, pool_size)
        try:
            print("figure 1: creates", flush=True)
            anchors = await figure_creates(server, connector, plan, out)
            print("figure 2: membership changes in a 10,000-member group", flush=True)
            await figure_membership(server, connector, anchors, plan, out)
            out["load_end"] = os.getloadavg()[0]
        finally:
            await connector.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, as a smoke test")
    parser.add_argument("--pool-size", type=int, default=4, help="the connector's connections")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = datetime.now(UTC)
    load_start = os.getloadavg()[0]
    print(f"hatchway LDAP connector benchmark, {'quick' if args.quick else 'full'}; {machine()}")
    results = asyncio.run(run(plan, args.pool_size))
    print()
    print(markdown_table(rows(results)))
    creates, member = results["creates"], results["membership"]
    print(
        f"\n{creates['count']:,} creates each way; {member['changes']} member adds and removes"
        f" each way; {started:%Y-%m-%d %H:%M} UTC; {machine()}; load average"
        f" {load_start:.1f} at the start, {results['load_end']:.1f} at the end"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
