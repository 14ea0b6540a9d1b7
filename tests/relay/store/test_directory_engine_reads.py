"""The directory reads the provisioning engine makes in batches, in both stores: pages by
id, entries by id, members and groups of many entries at once, and assignments to a job
through nested groups."""

from __future__ import annotations

from relay.store.base import Assignment, EntryKind, Member, MemberChange, Store
from tests.relay.store.conftest import group, user

USER, GROUP = EntryKind.USER, EntryKind.GROUP


async def test_entries_are_read_in_pages_by_id_one_kind_at_a_time(store: Store) -> None:
    users = [await store.create_entry(USER, user(f"u{n}")) for n in range(5)]
    groups = [await store.create_entry(GROUP, group(f"g{n}")) for n in range(3)]

    seen: list[str] = []
    after = ""
    while page := await store.entries_page(USER, after_id=after, limit=2):
        assert len(page) <= 2
        assert all(entry.kind is USER for entry in page)
        seen += [entry.id for entry in page]
        after = page[-1].id
    assert seen == sorted(entry.id for entry in users)

    all_groups = await store.entries_page(GROUP)
    assert [entry.id for entry in all_groups] == sorted(entry.id for entry in groups)
    assert all_groups[0].resource["displayName"].startswith("g")
    assert await store.entries_page(GROUP, after_id=all_groups[-1].id) == []


async def test_entries_are_read_by_many_ids_leaving_out_missing_ones(store: Store) -> None:
    users = [await store.create_entry(USER, user(f"u{n}")) for n in range(3)]
    staff = await store.create_entry(GROUP, group("staff"))
    # More ids than one statement takes, most of them unknown.
    wanted = [f"missing-{n}" for n in range(700)] + [users[0].id, users[2].id, staff.id]

    found = await store.get_entries(USER, wanted)

    assert found == {users[0].id: users[0], users[2].id: users[2]}
    assert await store.get_entries(GROUP, wanted) == {staff.id: staff}
    assert await store.get_entries(USER, []) == {}


async def test_members_and_groups_of_many_entries_come_in_one_call(store: Store) -> None:
    alice = await store.create_entry(USER, user("alice"))
    bob = await store.create_entry(USER, user("bob"))
    inner = await store.create_entry(GROUP, group("inner"), members=[bob.id])
    outer = await store.create_entry(GROUP, group("outer"), members=[alice.id, inner.id])
    empty = await store.create_entry(GROUP, group("empty"))

    members = await store.members_of([outer.id, inner.id, empty.id, "missing"])

    assert members[outer.id] == sorted(
        [Member(alice.id, USER, "alice"), Member(inner.id, GROUP, "inner")],
        key=lambda member: member.id,
    )
    assert members[inner.id] == [Member(bob.id, USER, "bob")]
    assert members[empty.id] == []
    assert members["missing"] == []

    groups = await store.groups_of([alice.id, bob.id, inner.id, outer.id])
    assert groups == {alice.id: [outer.id], bob.id: [inner.id], inner.id: [outer.id], outer.id: []}


async def test_assignments_reach_entries_through_nested_groups_direct_ones_first(
    store: Store,
) -> None:
    direct = await store.create_entry(USER, user("direct"))
    nested = await store.create_entry(USER, user("nested"))
    near = await store.create_entry(USER, user("near"))
    other_job = await store.create_entry(USER, user("other-job"))
    looped = await store.create_entry(USER, user("looped"))
    loner = await store.create_entry(USER, user("loner"))
    inner = await store.create_entry(GROUP, group("inner"), members=[nested.id, near.id])
    middle = await store.create_entry(GROUP, group("middle"), members=[inner.id, direct.id])
    outer = await store.create_entry(GROUP, group("outer"), members=[middle.id, near.id])
    elsewhere = await store.create_entry(GROUP, group("elsewhere"), members=[other_job.id])
    loop_a = await store.create_entry(GROUP, group("loop-a"), members=[looped.id])
    loop_b = await store.create_entry(GROUP, group("loop-b"), members=[loop_a.id])
    await store.update_entry(GROUP, loop_a.id, members=MemberChange(add=(loop_b.id,)))
    await store.assign("app", GROUP, outer.id, role="member")
    await store.assign("app", USER, direct.id, role="admin")
    await store.assign("app", USER, near.id)
    await store.assign("other", GROUP, elsewhere.id, role="x")
    await store.assign("app", GROUP, loop_b.id, role="looped")

    users = [direct, nested, near, other_job, looped, loner]
    found = await store.effective_assignments("app", USER, [u.id for u in users] + ["missing"])

    assert found == {
        # Its own assignment wins over the one through outer.
        direct.id: Assignment("app", USER, direct.id, "admin"),
        # inner -> middle -> outer.
        nested.id: Assignment("app", GROUP, outer.id, "member"),
        near.id: Assignment("app", USER, near.id, None),
        looped.id: Assignment("app", GROUP, loop_b.id, "looped"),
    }
    groups = await store.effective_assignments("app", GROUP, [inner.id, outer.id, elsewhere.id])
    assert groups == {
        inner.id: Assignment("app", GROUP, outer.id, "member"),
        outer.id: Assignment("app", GROUP, outer.id, "member"),
    }
    # A user is not a group: asking for the wrong kind finds nothing.
    assert await store.effective_assignments("app", GROUP, [direct.id]) == {}


async def test_a_group_the_entry_is_directly_in_wins_over_one_further_up(store: Store) -> None:
    alice = await store.create_entry(USER, user("alice"))
    first = await store.create_entry(GROUP, group("first"))
    second = await store.create_entry(GROUP, group("second"))
    # The nearer group gets the higher id, so the lowest id alone would pick the other.
    further, nearer = sorted([first, second], key=lambda entry: entry.id)
    await store.update_entry(GROUP, nearer.id, members=MemberChange(add=(alice.id,)))
    await store.update_entry(GROUP, further.id, members=MemberChange(add=(nearer.id,)))
    await store.assign("app", GROUP, further.id, role="reader")
    await store.assign("app", GROUP, nearer.id, role="writer")

    found = await store.effective_assignments("app", USER, [alice.id])

    assert found == {alice.id: Assignment("app", GROUP, nearer.id, "writer")}
