"""A sample directory for ``hatchway demo`` and the benchmarks: people across departments
with managers, department groups and project teams.

Generated, not random: the same size always gives the same people, so the demo's story
(and a benchmark's figures) can be repeated and compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from relay.store.base import Entry, EntryKind, EntryWrite, MemberChange, Store

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"

DEPARTMENTS = (
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "HR",
    "Legal",
    "Operations",
    "Support",
)
_TITLES = ("Associate", "Specialist", "Senior Specialist", "Lead", "Manager")
_GIVEN = [
    "Adele",
    "Alex",
    "Bianca",
    "Carlos",
    "Dana",
    "Diego",
    "Elena",
    "Emil",
    "Fatima",
    "Grady",
    "Hana",
    "Henrietta",
    "Isaiah",
    "Ivan",
    "Johanna",
    "Joni",
    "Kenji",
    "Lee",
    "Lidia",
    "Lynne",
    "Mateo",
    "Megan",
    "Miriam",
    "Nestor",
    "Nia",
    "Omar",
    "Patti",
    "Pradeep",
    "Quinn",
    "Rosa",
    "Sami",
    "Sofia",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Xavier",
    "Yara",
    "Zoe",
]
_FAMILY = [
    "Vance",
    "Wilber",
    "Siciliani",
    "Archie",
    "Mueller",
    "Langer",
    "Lorenz",
    "Sherman",
    "Gu",
    "Holloway",
    "Robbins",
    "Bowen",
    "Graham",
    "Wilke",
    "Fernandez",
    "Gupta",
    "Okafor",
    "Novak",
    "Tanaka",
    "Haddad",
    "Costa",
    "Lindqvist",
    "Moreau",
    "Kowalski",
    "Nakamura",
    "Osei",
    "Petrov",
    "Quiroga",
    "Rahman",
    "Silva",
    "Tremblay",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhou",
]
_PROJECTS = [
    "Apollo",
    "Borealis",
    "Cascade",
    "Dynamo",
    "Ember",
    "Fjord",
    "Granite",
    "Helix",
    "Indigo",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Onyx",
    "Polaris",
    "Quartz",
    "Radiant",
    "Sierra",
    "Tundra",
    "Umbra",
    "Vertex",
    "Willow",
    "Xenon",
    "Yonder",
    "Zephyr",
    "Atlas",
    "Beacon",
    "Cobalt",
    "Delta",
    "Echo",
    "Falcon",
    "Glacier",
    "Harbor",
    "Iris",
    "Jade",
    "Keystone",
    "Lantern",
    "Mosaic",
    "Nova",
    "Orbit",
    "Prism",
]


@dataclass(frozen=True, slots=True)
class SampleDirectory:
    users: list[Entry]
    groups: list[Entry]


def person(index: int) -> dict[str, Any]:
    """The SCIM resource of sample person ``index`` (0-based), without a manager."""
    given = _GIVEN[index % len(_GIVEN)]
    family = _FAMILY[(index // len(_GIVEN)) % len(_FAMILY)]
    login = f"{given}.{family}{index // (len(_GIVEN) * len(_FAMILY)) or ''}".lower()
    department = DEPARTMENTS[index % len(DEPARTMENTS)]
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "userName": f"{login}@contoso.example",
        "externalId": f"E{index + 1:06d}",
        "name": {"givenName": given, "familyName": family},
        "displayName": f"{given} {family}",
        "emails": [{"value": f"{login}@contoso.example", "type": "work", "primary": True}],
        "title": _TITLES[index % len(_TITLES)],
        "active": True,
        ENTERPRISE: {"employeeNumber": f"{index + 1:06d}", "department": department},
    }


def group_plan(users: int, groups: int) -> list[tuple[str, list[int]]]:
    """Group names with the indexes of their members: one group per department first, then
    project teams of 10 to 40 people each."""
    plan = [
        (f"Dept {name}", [i for i in range(users) if i % len(DEPARTMENTS) == d])
        for d, name in enumerate(DEPARTMENTS[: min(groups, len(DEPARTMENTS))])
    ]
    for n in range(max(0, groups - len(plan))):
        name = f"Project {_PROJECTS[n % len(_PROJECTS)]}"
        if n >= len(_PROJECTS):
            name += f" {n // len(_PROJECTS) + 1}"
        size = 10 + (n * 7) % 31
        start = (n * 97) % max(1, users)
        plan.append((name, sorted({(start + k * 13) % users for k in range(min(size, users))})))
    return plan


async def load(
    store: Store, *, users: int = 1000, groups: int = 50, chunk: int = 5000
) -> SampleDirectory:
    """Write the sample directory into ``store``: users (then their managers: the first
    person of each department manages the others of it), then the groups. Each chunk is
    one transaction."""
    created: list[Entry] = []
    for start in range(0, users, chunk):
        writes = [
            EntryWrite(EntryKind.USER, resource=person(i))
            for i in range(start, min(users, start + chunk))
        ]
        created += [e for e in await store.write_entries(writes) if e is not None]
    updated: list[Entry] = list(created)
    heads = {d: created[d] for d in range(min(len(DEPARTMENTS), len(created)))}
    for start in range(0, len(created), chunk):
        writes, indexes = [], []
        for i in range(start, min(len(created), start + chunk)):
            head = heads.get(i % len(DEPARTMENTS))
            if head is None or head.id == created[i].id:
                continue
            resource = dict(created[i].resource)
            resource[ENTERPRISE] = {**resource[ENTERPRISE], "manager": {"value": head.id}}
            writes.append(EntryWrite(EntryKind.USER, entry_id=created[i].id, resource=resource))
            indexes.append(i)
        for i, entry in zip(indexes, await store.write_entries(writes), strict=True):
            if entry is not None:
                updated[i] = entry
    plan = group_plan(len(created), groups)
    made: list[Entry] = []
    for start in range(0, len(plan), chunk):
        writes = [
            EntryWrite(
                EntryKind.GROUP,
                resource={"schemas": [GROUP_SCHEMA], "displayName": name},
                members=MemberChange(add=_ids(created, members)),
            )
            for name, members in plan[start : start + chunk]
        ]
        made += [e for e in await store.write_entries(writes) if e is not None]
    return SampleDirectory(users=updated, groups=made)


def _ids(users: Sequence[Entry], indexes: Sequence[int]) -> tuple[str, ...]:
    return tuple(users[i].id for i in indexes)
