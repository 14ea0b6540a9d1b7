"""Benchmark of the engine's pure part (issue 4): scope and map directory users.

Run from the checkout::

    .venv/bin/python tests/benchmarks/bench_mapping.py            # 100,000 users
    .venv/bin/python tests/benchmarks/bench_mapping.py --quick    # 10,000 users, a smoke test
    .venv/bin/python tests/benchmarks/bench_mapping.py --profile  # and where the time goes

The job is the default SCIM mapping (``relay.engine.defaults``: 13 attributes, the manager
resolved to an anchor) plus three expression mappings and two scoping filters (one of two
clauses, one with a regular expression). For every generated user, in one thread (one
core): wrap the SCIM resource in a ``Source``, decide scope, compute the attributes of a
create. Everything is evaluated for every user, in scope or not, so the figure is the
worst case. Users are generated before the clock starts.

Baseline, measured in the same run: a plain Python ``dict`` copy of the same attributes
(already flattened to the target's names) for every user: the least any mapping can cost.
The machine is shared and noisy, so the ratio is the figure to compare between runs.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from relay.engine.defaults import ENTERPRISE, default_job  # noqa: E402
from relay.engine.expressions import compile_expression  # noqa: E402
from relay.engine.mapping import AttributeMapping, Links, Mapper, MappingType, ObjectMapping  # noqa: E402
from relay.engine.scope import Clause, Operator, Scope, ScopeMode, ScopingFilter  # noqa: E402
from relay.engine.source import Source, compile_reference  # noqa: E402
from shared.connector import USER  # noqa: E402
from tests.benchmarks.report import machine, markdown_table  # noqa: E402

TARGET_USERS_PER_S = 50_000.0
FULL = 100_000
QUICK = 10_000

EXPRESSIONS = (
    AttributeMapping(
        "name.formatted", MappingType.EXPRESSION, expression='Join(" ", [givenName], [surname])'
    ),
    AttributeMapping(
        "nickName",
        MappingType.EXPRESSION,
        expression='ToLower(Join(".", [givenName], [surname]))',
    ),
    AttributeMapping(
        "userType",
        MappingType.EXPRESSION,
        expression='Switch([department], "Staff", "Sales", "Seller", "Research", "Scientist")',
    ),
)
FILTERS = (
    ScopingFilter(
        "enabled sales",
        (
            Clause("department", Operator.EQUALS, ("Sales",)),
            Clause("accountEnabled", Operator.IS_TRUE),
        ),
    ),
    ScopingFilter(
        "contoso accounts",
        (Clause("userPrincipalName", Operator.REGEX_MATCH, (r"@contoso\.com$",)),),
    ),
)
DEPARTMENTS = ("Sales", "Research", "Finance", "Support", "Legal")
GIVEN = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken")
FAMILY = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson")


def users(count: int, seed: int = 4) -> list[dict[str, Any]]:
    """SCIM user resources as the directory stores them."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        domain = "contoso.com" if i % 3 else "fabrikam.com"
        out.append(
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                "id": f"u-{i:06d}",
                "userName": f"{given.lower()}.{family.lower()}{i}@{domain}",
                "displayName": f"{given} {family}",
                "title": "Engineer",
                "active": i % 10 != 0,
                "name": {"givenName": given, "familyName": family},
                "emails": [
                    {"value": f"{given.lower()}{i}@{domain}", "type": "work", "primary": True}
                ],
                "phoneNumbers": [{"value": f"+1 555 {i:07d}", "type": "work"}],
                ENTERPRISE: {
                    "employeeNumber": str(100_000 + i),
                    "department": DEPARTMENTS[i % len(DEPARTMENTS)],
                    "manager": {"value": f"u-{i // 10:06d}"},
                },
            }
        )
    return out


def build() -> tuple[Mapper, Scope]:
    job = default_job("scim")
    users_mapping = job.object_mapping(USER)
    assert users_mapping is not None
    mapping = ObjectMapping(
        kind=USER,
        object_class=USER,
        mappings=users_mapping.mappings + EXPRESSIONS,
        filters=FILTERS,
    )
    return Mapper(mapping), Scope(ScopeMode.ALL, FILTERS)


def anchor_of(ident: str) -> str:
    return "anchor-" + ident


def run_engine(resources: Sequence[dict[str, Any]], mapper: Mapper, scope: Scope) -> int:
    links = Links(resolve=anchor_of)
    in_scope = 0
    attributes = mapper.attributes
    includes = scope.includes
    for resource in resources:
        source = Source(resource)
        if includes(source, assigned=True):
            in_scope += 1
        attributes(source, create=True, links=links)
    return in_scope


def flattened(resources: Sequence[dict[str, Any]], mapper: Mapper) -> list[dict[str, Any]]:
    """The baseline's input: each user's attributes already under the target's names."""
    links = Links(resolve=anchor_of)
    return [mapper.attributes(Source(r), create=True, links=links) for r in resources]


def run_baseline(flat: Sequence[dict[str, Any]]) -> int:
    total = 0
    for attributes in flat:
        total += len(dict(attributes))
    return total


def timed(work: Any, *args: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def best_of(repeats: int, work: Any, *args: Any) -> tuple[float, float, Any]:
    runs = [timed(work, *args) for _ in range(repeats)]
    return min(runs, key=lambda r: r[1])


def breakdown(resources: Sequence[dict[str, Any]], mapper: Mapper, scope: Scope) -> str:
    """CPU time per user of each part of the work, measured apart on the same users."""
    sources = [Source(r) for r in resources]
    readers = [compile_reference(m.source) for m in mapper.mapping.mappings if m.source]
    expressions = [compile_expression(m.expression) for m in EXPRESSIONS]
    links = Links(resolve=anchor_of)

    def per_user(work: Any) -> float:
        return best_of(3, work)[1] / len(resources) * 1e6

    parts = {
        "Source() around the resource": per_user(lambda: [Source(r) for r in resources]),
        f"{len(readers)} source attribute reads (direct mappings)": per_user(
            lambda: [[read(s) for read in readers] for s in sources]
        ),
        f"{len(expressions)} expressions": per_user(
            lambda: [[e.evaluate(s) for e in expressions] for s in sources]
        ),
        f"{len(FILTERS)} scoping filters": per_user(
            lambda: [scope.includes(s, assigned=True) for s in sources]
        ),
        "Mapper.attributes (reads + expressions + bookkeeping)": per_user(
            lambda: [mapper.attributes(s, create=True, links=links) for s in sources]
        ),
    }
    slowest = sorted(
        (
            (per_user(lambda read=read: [read(s) for s in sources]), ref)
            for ref, read in zip(
                [m.source for m in mapper.mapping.mappings if m.source], readers, strict=True
            )
        ),
        reverse=True,
    )[:4]
    lines = ["where the time goes (CPU us per user, each part measured alone):"]
    lines += [f"  {us:6.2f}  {name}" for name, us in parts.items()]
    lines.append("  slowest reads: " + ", ".join(f"[{ref}] {us:.2f}" for us, ref in slowest))
    return "\n".join(lines)


def table(count: int, engine: tuple[float, float, int], baseline: tuple[float, float, int]) -> str:
    wall, cpu, in_scope = engine
    base_wall, base_cpu, _ = baseline
    rate, base_rate = count / cpu, count / base_cpu
    rows = [
        (
            f"scope + map {count:,} users (default SCIM + 3 expressions + 2 filters)",
            f"{rate:,.0f} users/s",
            f"{base_rate:,.0f} users/s (dict copy)",
            f"{base_rate / rate:.1f}",
            f">= {TARGET_USERS_PER_S:,.0f} users/s",
            "yes" if rate >= TARGET_USERS_PER_S else "NO",
        ),
        (
            "time per user",
            f"{cpu / count * 1e6:.2f} us",
            f"{base_cpu / count * 1e6:.3f} us (dict copy)",
            f"{cpu / base_cpu:.1f}",
            f"<= {1e6 / TARGET_USERS_PER_S:.0f} us",
            "yes" if rate >= TARGET_USERS_PER_S else "NO",
        ),
    ]
    notes = (
        f"\n{in_scope:,} of {count:,} users in scope; CPU time of this process (wall"
        f" {wall:.2f} s for the engine, {base_wall:.3f} s for the baseline); best of 3 runs"
    )
    return markdown_table(rows) + notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK:,} users, as a smoke test")
    parser.add_argument("--profile", action="store_true", help="print where the time goes")
    args = parser.parse_args(argv)
    count = QUICK if args.quick else FULL
    started = datetime.now(UTC)
    print(f"hatchway mapping benchmark, {count:,} users; {machine()}")
    resources = users(count)
    mapper, scope = build()
    flat = flattened(resources, mapper)
    run_engine(resources[:1000], mapper, scope)  # warm caches (reference compilation)
    engine = best_of(3, run_engine, resources, mapper, scope)
    baseline = best_of(3, run_baseline, flat)
    print()
    print(table(count, engine, baseline))
    print()
    print(breakdown(resources, mapper, scope))
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run_engine, resources, mapper, scope)
        print()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    print(f"\n{started:%Y-%m-%d %H:%M} UTC; {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
