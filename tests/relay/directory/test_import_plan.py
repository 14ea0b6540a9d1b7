"""Planning and writing an import against a real (SQLite) store: matching, idempotence,
group memberships, the dry run and the guard on deletions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.directory.import_plan import apply_plan, make_plan
from relay.directory.import_rows import ParsedFile
from relay.directory.importer import read_file
from relay.directory.query import Query
from relay.exceptions import ImportRefused
from relay.store.base import EntryKind, MemberChange
from relay.store.sqlite import SqliteStore

USER, GROUP = EntryKind.USER, EntryKind.GROUP
CSV = (
    "userName,externalId,title,groups\n"
    "alice,E1,Engineer,Staff;Readers\n"
    "bob,E2,Sales,Staff\n"
    "carol,E3,,\n"
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "relay.sqlite3")
    await s.open()
    yield s
    await s.close()


def parse(tmp_path: Path, text: str, name: str = "people.csv") -> ParsedFile:
    path = tmp_path / name
    path.write_text(text)
    return read_file(path)


async def run(store: SqliteStore, parsed: ParsedFile, **options: object) -> None:
    plan = await make_plan(store, parsed, source="people.csv", **options)  # type: ignore[arg-type]
    await apply_plan(store, plan)


async def by_name(store: SqliteStore, kind: EntryKind = USER) -> dict[str, str]:
    entries, _ = await store.query_entries(kind, Query())
    key = "userName" if kind is USER else "displayName"
    return {e.resource[key]: e.id for e in entries}


async def test_an_import_creates_users_groups_and_memberships(
    store: SqliteStore, tmp_path: Path
) -> None:
    await run(store, parse(tmp_path, CSV))
    users = await by_name(store)
    groups = await by_name(store, GROUP)
    assert set(users) == {"alice", "bob", "carol"}
    assert set(groups) == {"Staff", "Readers"}
    staff = {m.id for m in await store.group_members(groups["Staff"])}
    assert staff == {users["alice"], users["bob"]}
    assert [m.id for m in await store.group_members(groups["Readers"])] == [users["alice"]]


async def test_importing_the_same_file_again_changes_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    parsed = parse(tmp_path, CSV)
    await run(store, parsed)
    seq = await store.latest_change()
    versions = {e.id: e.version for e in (await store.query_entries(USER, Query()))[0]}

    plan = await make_plan(store, parsed, source="people.csv")
    assert (plan.creates, plan.updates, plan.deletes, plan.members) == ([], [], [], {})
    assert plan.unchanged == 5
    await apply_plan(store, plan)
    assert await store.latest_change() == seq
    assert {e.id: e.version for e in (await store.query_entries(USER, Query()))[0]} == versions


async def test_a_dry_run_plan_writes_nothing_and_says_what_would_change(
    store: SqliteStore, tmp_path: Path
) -> None:
    await run(store, parse(tmp_path, CSV))
    seq = await store.latest_change()
    changed = CSV.replace("bob,E2,Sales,Staff", "bob,E2,Support,").replace(
        "carol,E3,,", "dave,E4,,Staff"
    )
    plan = await make_plan(store, parse(tmp_path, changed), source="people.csv")
    assert [key for key, _ in plan.creates] == [(USER, "dave")]
    assert [(key, wanted["title"]) for key, _, wanted in plan.updates] == [
        ((USER, "bob"), "Support")
    ]
    assert plan.members == {(GROUP, "staff"): ({(USER, "dave")}, {(USER, "bob")})}
    assert await store.latest_change() == seq  # planning wrote nothing


async def test_matching_by_external_id_renames_and_keeps_other_attributes(
    store: SqliteStore, tmp_path: Path
) -> None:
    await run(store, parse(tmp_path, CSV))
    users = await by_name(store)
    await store.update_entry(
        USER,
        users["alice"],
        resource={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alice",
            "externalId": "E1",
            "title": "Engineer",
            "nickName": "Al",  # set by a SCIM push, not in the file
        },
    )
    await run(store, parse(tmp_path, CSV.replace("alice,E1", "alice.liddell,E1")))
    entry = await store.get_entry(USER, users["alice"])
    assert entry.resource["userName"] == "alice.liddell"
    assert entry.resource["nickName"] == "Al"


async def test_a_user_name_taken_by_another_user_is_refused(
    store: SqliteStore, tmp_path: Path
) -> None:
    await run(store, parse(tmp_path, CSV))
    seq = await store.latest_change()
    clash = parse(tmp_path, "userName,externalId\nBOB,E1\n")
    with pytest.raises(ImportRefused) as info:
        await make_plan(store, clash, source="people.csv")
    assert info.value.problems[0][0] == 2
    assert "belongs to another user" in info.value.problems[0][1]
    assert await store.latest_change() == seq


async def test_members_from_elsewhere_are_kept(store: SqliteStore, tmp_path: Path) -> None:
    await run(store, parse(tmp_path, CSV))
    outsider = await store.create_entry(USER, {"schemas": [], "userName": "zed"})
    staff = (await by_name(store, GROUP))["Staff"]
    await store.update_entry(GROUP, staff, members=MemberChange(add=(outsider.id,)))
    await run(store, parse(tmp_path, CSV.replace("bob,E2,Sales,Staff", "bob,E2,Sales,")))
    users = await by_name(store)
    assert {m.id for m in await store.group_members(staff)} == {users["alice"], outsider.id}


async def test_deleting_missing_users_is_guarded_by_a_count(
    store: SqliteStore, tmp_path: Path
) -> None:
    await run(store, parse(tmp_path, CSV))
    only_alice = parse(tmp_path, "userName,externalId\nalice,E1\n")
    # Off by default: nobody is deleted.
    await run(store, only_alice)
    assert set(await by_name(store)) == {"alice", "bob", "carol"}
    seq = await store.latest_change()

    with pytest.raises(ImportRefused, match="2 users are not in the file") as info:
        await make_plan(store, only_alice, source="people.csv", delete_missing=True, max_deletes=1)
    assert "--max-deletes 1" in str(info.value)
    assert await store.latest_change() == seq

    await run(store, only_alice, delete_missing=True, max_deletes=2)
    assert set(await by_name(store)) == {"alice"}


async def test_json_groups_name_members_by_their_ids_in_the_file(
    store: SqliteStore, tmp_path: Path
) -> None:
    text = """[
      {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "x1", "userName": "gina"},
      {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "x2",
       "displayName": "Ops", "members": [{"value": "x1"}, {"value": "nobody"}]},
      {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "x3",
       "displayName": "All", "members": [{"value": "x2"}]}
    ]"""
    parsed = parse(tmp_path, text, "dump.json")
    plan = await make_plan(store, parsed, source="dump.json")
    assert plan.warnings == ["dump.json:3: member 'nobody' is not in the file; skipped"]
    await apply_plan(store, plan)
    groups = await by_name(store, GROUP)
    users = await by_name(store)
    everyone = await store.group_members(groups["All"], expand=True)
    assert [m.id for m in everyone] == [users["gina"]]
