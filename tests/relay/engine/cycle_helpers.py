"""A job over a real SQLite store and a given target, for tests of the cycles."""

from __future__ import annotations

from relay.engine import job as jobs
from relay.engine.cycles import JobRun, read_schemas
from relay.engine.processor import Processor
from relay.engine.settings import EngineSettings
from relay.engine.target import Target
from relay.store.base import EntryKind, Store

SPEC = """
target = "sql"
scope = "all"

[connection]
agent = "nowhere"
connector = "memory"

[deprovision]
users = "delete"

[guard]
threshold = {threshold}
settle = 0.2

[schedule]
delete_unmatched = {delete_unmatched}
"""


def spec(*, threshold: int = 500, delete_unmatched: bool = False) -> str:
    return SPEC.format(threshold=threshold, delete_unmatched=str(delete_unmatched).lower())


async def job_run(
    store: Store,
    target: Target,
    *,
    name: str = "mem",
    batch_size: int = 5,
    **options: object,
) -> JobRun:
    """The job ``name`` (created in the store if missing) ready to run against ``target``."""
    if name not in {j.name for j in await store.list_jobs()}:
        await store.create_job(name, spec(**options))  # type: ignore[arg-type]
    record = await store.get_job(name)
    settings = jobs.parse(record.spec, source="test", name=name)
    engine = EngineSettings(batch_size=batch_size, batches_in_flight=1)
    mappers = settings.definition.mappers(await read_schemas(target, name))
    processor = Processor(store, settings, target, mappers, engine)
    return JobRun(store, settings, target, mappers, processor, engine)


async def add_users(store: Store, count: int, *, prefix: str = "user") -> list[str]:
    ids = []
    for i in range(count):
        entry = await store.create_entry(
            EntryKind.USER,
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"{prefix}{i:03d}@example.com",
                "displayName": f"{prefix.title()} {i:03d}",
                "active": True,
            },
        )
        ids.append(entry.id)
    return ids


async def add_group(store: Store, name: str, members: list[str]) -> str:
    entry = await store.create_entry(
        EntryKind.GROUP,
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name},
        members=members,
    )
    return entry.id
