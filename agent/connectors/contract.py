"""The connector contract suite: what every connector must do, as pytest tests.

The built-in connectors run it against real servers, and a third-party connector runs it
against its own target: subclass :class:`ConnectorContract` in a test module and give it a
``contract_target`` fixture that returns a :class:`ContractTarget`; pytest then collects
every ``test_*`` method of the suite for that connector. Only test code imports this
module (it imports pytest).

The tests assert what a user of the connector sees (anchors, values read back, error
classes), never how a connector gets there, so a connector is free in its choice of client
library, batching or pooling. Every test makes its own objects with names that carry a
random run id, so the suite works on a target that other tests share and never needs an
empty one.
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

import pytest

from shared.connector import (
    Action,
    And,
    Attributes,
    Connector,
    ConnectorObject,
    Delta,
    DeltaKind,
    Equals,
    Filter,
    Not,
    Operation,
    Or,
    Page,
    Present,
    Scalar,
    StartsWith,
)
from shared.exceptions import (
    AuthenticationError,
    ConflictError,
    ErrorClass,
    InvalidDataError,
    NotFoundError,
    UnavailableError,
)


@dataclass(frozen=True)
class ContractTarget:
    """What the contract suite needs to know about one connector and its target.

    ``new_user(tag)`` and ``new_group(tag)`` return create attributes for an object no other
    tag gives (the same ones for the same tag, which is how the suite makes a conflict), and
    every one of their attributes must read back from ``get``. The value of
    ``filter_attribute`` in ``new_user(tag)`` must be a string that contains ``tag``
    (tags are lower-case letters and digits), so the suite can search by prefix. Neither
    ``single_valued`` nor ``multi_valued`` may be among ``new_user``'s attributes.
    ``wrong_credentials`` is ``None`` for a target that has no credentials to get wrong (a
    SQLite file), and ``multi_valued`` for one whose users have no multi-valued attribute
    (a SQL table); the test class then sets ``test_wrong_credentials = None`` or
    ``test_update_add_remove_multi_valued = None``, which pytest does not collect.
    """

    connector: Connector
    user_class: str
    group_class: str
    member_attribute: str
    new_user: Callable[[str], Attributes]
    new_group: Callable[[str], Attributes]
    filter_attribute: str
    single_valued: tuple[str, Scalar, Scalar]
    multi_valued: tuple[str, Scalar, Scalar] | None
    invalid_user: Attributes
    wrong_credentials: Callable[[], Connector] | None
    unreachable: Callable[[], Connector]
    member_anchor: Callable[[str], str] = lambda anchor: anchor


def values(found: Scalar | list[Scalar]) -> list[Scalar]:
    """An attribute as a sorted list, so one value, a list of one and absence compare."""
    if found is None:
        return []
    items = found if isinstance(found, list) else [found]
    return sorted((v for v in items if v is not None), key=repr)


def members(obj: ConnectorObject, target: ContractTarget) -> set[Scalar]:
    return set(values(obj.attributes.get(target.member_attribute)))


#: A test the suite offers that a test class may turn off by setting it to None.
OptionalTest = Callable[["ConnectorContract", ContractTarget], Awaitable[None]] | None


async def _test_update_add_remove_multi_valued(
    self: ConnectorContract, contract_target: ContractTarget
) -> None:
    target = contract_target
    assert target.multi_valued is not None, (
        "a target without multi-valued user attributes sets"
        " test_update_add_remove_multi_valued = None in its class"
    )
    name, first, second = target.multi_valued
    anchor = (await self.make_users(target, [self.run_id()])).popitem()[1]
    for value in (first, second):
        await target.connector.update(
            target.user_class, anchor, [Delta(name, DeltaKind.ADD, (value,))]
        )
    found = await target.connector.get(target.user_class, anchor)
    assert values(found.attributes.get(name)) == values([first, second])
    await target.connector.update(
        target.user_class, anchor, [Delta(name, DeltaKind.REMOVE, (first,))]
    )
    found = await target.connector.get(target.user_class, anchor)
    assert values(found.attributes.get(name)) == [second]


async def _test_wrong_credentials(self: ConnectorContract, contract_target: ContractTarget) -> None:
    assert contract_target.wrong_credentials is not None, (
        "a target without credentials sets test_wrong_credentials = None in its class"
    )
    connector = contract_target.wrong_credentials()
    try:
        with pytest.raises(AuthenticationError) as caught:
            await connector.test()
        assert len(caught.value.message) > 10
        results = await connector.apply(
            [
                Operation(
                    "create",
                    Action.CREATE,
                    contract_target.user_class,
                    attributes=contract_target.new_user(self.run_id()),
                )
            ]
        )
        assert [r.error.error_class if r.error else None for r in results] == [
            ErrorClass.AUTHENTICATION
        ]
    finally:
        await connector.close()


class ConnectorContract:
    """The suite; subclass it with a ``contract_target`` fixture (see the module docstring).

    ``large_group_size`` is the size of the group in :meth:`test_large_group`. One member
    added to or removed from it must take no longer than ``large_group_factor`` times the
    same change on a one-member group plus ``large_group_slack`` seconds (medians of
    several changes), which a connector that reads the member list first does not manage.
    """

    large_group_size: ClassVar[int] = 10_000
    large_group_factor: ClassVar[float] = 3.0
    large_group_slack: ClassVar[float] = 0.010
    #: Objects made for the paging test, and the page size it reads them with.
    paging_objects: ClassVar[int] = 23
    paging_size: ClassVar[int] = 4
    #: Tests for what not every target has: a class sets one to None to leave it out.
    test_update_add_remove_multi_valued: OptionalTest = _test_update_add_remove_multi_valued
    test_wrong_credentials: OptionalTest = _test_wrong_credentials

    # Helpers -------------------------------------------------------------------------------

    @staticmethod
    def run_id() -> str:
        return secrets.token_hex(4)

    async def make_users(self, target: ContractTarget, tags: Iterable[str]) -> dict[str, str]:
        """Users created one by one; their anchors by tag."""
        made: dict[str, str] = {}
        for tag in tags:
            made[tag] = await target.connector.create(target.user_class, target.new_user(tag))
        return made

    async def find(self, target: ContractTarget, flt: Filter, size: int = 100) -> set[str]:
        """The anchors of every object the filter matches, across all pages."""
        found: list[str] = []
        cookie: str | None = None
        while True:
            page = await target.connector.search(target.user_class, flt, Page(size, cookie))
            found.extend(o.anchor for o in page.objects)
            cookie = page.cookie
            if cookie is None:
                break
        assert len(found) == len(set(found)), f"an object came back twice: {found}"
        return set(found)

    def filter_value(self, target: ContractTarget, tag: str) -> str:
        value = target.new_user(tag)[target.filter_attribute]
        assert isinstance(value, str), f"new_user(tag)[{target.filter_attribute!r}] is not text"
        assert tag in value, f"new_user(tag)[{target.filter_attribute!r}] lacks the tag"
        return value

    def common_prefix(self, target: ContractTarget, *tags: str) -> str:
        texts = [self.filter_value(target, tag) for tag in tags]
        prefix = texts[0]
        for text in texts[1:]:
            while not text.startswith(prefix):
                prefix = prefix[:-1]
        assert prefix, "the filter attribute's values of two tags share no prefix"
        return prefix

    async def member_change_seconds(
        self, target: ContractTarget, group: str, member: str, rounds: int = 7
    ) -> float:
        """The median time of adding one member and of removing it again."""
        timings: list[float] = []
        for _ in range(rounds):
            for kind in (DeltaKind.ADD, DeltaKind.REMOVE):
                delta = Delta(target.member_attribute, kind, (member,))
                started = time.perf_counter()
                await target.connector.update(target.group_class, group, [delta])
                timings.append(time.perf_counter() - started)
        return statistics.median(timings)

    # test() and schema() ---------------------------------------------------------------

    async def test_test(self, contract_target: ContractTarget) -> None:
        await contract_target.connector.test()

    async def test_schema_describes_users_and_groups(self, contract_target: ContractTarget) -> None:
        target = contract_target
        schema = await target.connector.schema()
        users = schema.object_class(target.user_class)
        groups = schema.object_class(target.group_class)
        assert users is not None, f"no {target.user_class!r} class in the schema"
        assert groups is not None, f"no {target.group_class!r} class in the schema"
        user_attributes = {a.name: a for a in users.attributes}
        group_attributes = {a.name: a for a in groups.attributes}
        assert users.naming_attribute in user_attributes
        assert groups.naming_attribute in group_attributes
        for name in (target.filter_attribute, target.single_valued[0]):
            assert name in user_attributes, f"{name!r} is not a {target.user_class} attribute"
        assert not user_attributes[target.single_valued[0]].multi_valued
        if target.multi_valued is not None:
            assert user_attributes[target.multi_valued[0]].multi_valued
        assert group_attributes[target.member_attribute].multi_valued

    # Create, get, update, delete ---------------------------------------------------------

    async def test_create_get_delete(self, contract_target: ContractTarget) -> None:
        target = contract_target
        tag = self.run_id()
        attributes = target.new_user(tag)
        anchor = await target.connector.create(target.user_class, attributes)
        assert anchor
        found = await target.connector.get(target.user_class, anchor)
        assert found.anchor == anchor
        for name, sent in attributes.items():
            assert values(found.attributes.get(name)) == values(sent), name
        await target.connector.delete(target.user_class, anchor)
        with pytest.raises(NotFoundError):
            await target.connector.get(target.user_class, anchor)

    async def test_group_create_get_delete(self, contract_target: ContractTarget) -> None:
        target = contract_target
        attributes = target.new_group(self.run_id())
        anchor = await target.connector.create(target.group_class, attributes)
        found = await target.connector.get(target.group_class, anchor)
        assert found.anchor == anchor
        for name, sent in attributes.items():
            assert values(found.attributes.get(name)) == values(sent), name
        await target.connector.delete(target.group_class, anchor)
        with pytest.raises(NotFoundError):
            await target.connector.get(target.group_class, anchor)

    async def test_update_replace(self, contract_target: ContractTarget) -> None:
        target = contract_target
        name, first, second = target.single_valued
        anchor = (await self.make_users(target, [self.run_id()])).popitem()[1]
        for value in (first, second):
            delta = Delta(name, DeltaKind.REPLACE, (value,))
            assert await target.connector.update(target.user_class, anchor, [delta]) == anchor
            found = await target.connector.get(target.user_class, anchor)
            assert values(found.attributes.get(name)) == [value]

    async def test_update_clear(self, contract_target: ContractTarget) -> None:
        target = contract_target
        name, first, _ = target.single_valued
        anchor = (await self.make_users(target, [self.run_id()])).popitem()[1]
        await target.connector.update(
            target.user_class, anchor, [Delta(name, DeltaKind.REPLACE, (first,))]
        )
        await target.connector.update(target.user_class, anchor, [Delta(name, DeltaKind.CLEAR)])
        found = await target.connector.get(target.user_class, anchor)
        assert values(found.attributes.get(name)) == []
        # Clearing what is already clear changes nothing and is not an error.
        await target.connector.update(target.user_class, anchor, [Delta(name, DeltaKind.CLEAR)])

    async def test_update_add_remove_single_valued(self, contract_target: ContractTarget) -> None:
        target = contract_target
        name, first, _ = target.single_valued
        anchor = (await self.make_users(target, [self.run_id()])).popitem()[1]
        await target.connector.update(target.user_class, anchor, [Delta(name, DeltaKind.CLEAR)])
        await target.connector.update(
            target.user_class, anchor, [Delta(name, DeltaKind.ADD, (first,))]
        )
        found = await target.connector.get(target.user_class, anchor)
        assert values(found.attributes.get(name)) == [first]
        await target.connector.update(
            target.user_class, anchor, [Delta(name, DeltaKind.REMOVE, (first,))]
        )
        found = await target.connector.get(target.user_class, anchor)
        assert values(found.attributes.get(name)) == []

    async def test_update_changes_only_the_named_attributes(
        self, contract_target: ContractTarget
    ) -> None:
        target = contract_target
        tag = self.run_id()
        attributes = target.new_user(tag)
        anchor = await target.connector.create(target.user_class, attributes)
        name, first, _ = target.single_valued
        await target.connector.update(
            target.user_class, anchor, [Delta(name, DeltaKind.REPLACE, (first,))]
        )
        found = await target.connector.get(target.user_class, anchor)
        for attribute, sent in attributes.items():
            assert values(found.attributes.get(attribute)) == values(sent), attribute

    # Errors on single objects -------------------------------------------------------------

    async def test_create_conflict(self, contract_target: ContractTarget) -> None:
        target = contract_target
        tag = self.run_id()
        anchor = await target.connector.create(target.user_class, target.new_user(tag))
        with pytest.raises(ConflictError) as caught:
            await target.connector.create(target.user_class, target.new_user(tag))
        assert caught.value.message
        flt = Equals(target.filter_attribute, self.filter_value(target, tag))
        assert await self.find(target, flt) == {anchor}

    async def gone_anchor(self, target: ContractTarget) -> str:
        """The anchor of a user that existed and was deleted: well formed, but not found."""
        anchor = (await self.make_users(target, [self.run_id()])).popitem()[1]
        await target.connector.delete(target.user_class, anchor)
        return anchor

    async def test_get_missing_is_not_found(self, contract_target: ContractTarget) -> None:
        anchor = await self.gone_anchor(contract_target)
        with pytest.raises(NotFoundError) as caught:
            await contract_target.connector.get(contract_target.user_class, anchor)
        assert caught.value.error_class is ErrorClass.NOT_FOUND

    async def test_update_missing_is_not_found(self, contract_target: ContractTarget) -> None:
        target = contract_target
        anchor = await self.gone_anchor(target)
        name, first, _ = target.single_valued
        with pytest.raises(NotFoundError):
            await target.connector.update(
                target.user_class, anchor, [Delta(name, DeltaKind.REPLACE, (first,))]
            )

    async def test_delete_missing_is_not_found(self, contract_target: ContractTarget) -> None:
        anchor = await self.gone_anchor(contract_target)
        with pytest.raises(NotFoundError):
            await contract_target.connector.delete(contract_target.user_class, anchor)

    async def test_invalid_data(self, contract_target: ContractTarget) -> None:
        target = contract_target
        with pytest.raises(InvalidDataError) as caught:
            await target.connector.create(target.user_class, target.invalid_user)
        assert caught.value.message
        assert caught.value.error_class is ErrorClass.INVALID_DATA
        sent = target.invalid_user.get(target.filter_attribute)
        if isinstance(sent, str):
            # Nothing half-written: the refused user cannot be found.
            assert await self.find(target, Equals(target.filter_attribute, sent)) == set()

    async def test_unreachable(self, contract_target: ContractTarget) -> None:
        connector = contract_target.unreachable()
        try:
            with pytest.raises(UnavailableError) as caught:
                await connector.test()
            assert caught.value.error_class.retryable
            assert caught.value.message
            results = await connector.apply(
                [Operation("get", Action.GET, contract_target.user_class, anchor="x")]
            )
            assert [r.error.error_class if r.error else None for r in results] == [
                ErrorClass.UNAVAILABLE
            ]
        finally:
            await connector.close()

    # Search ------------------------------------------------------------------------------

    async def test_search_filter_eq(self, contract_target: ContractTarget) -> None:
        target = contract_target
        run = self.run_id()
        made = await self.make_users(target, [f"{run}a1", f"{run}a2"])
        value = self.filter_value(target, f"{run}a1")
        assert await self.find(target, Equals(target.filter_attribute, value)) == {made[f"{run}a1"]}
        missing = self.filter_value(target, f"{run}zz")
        assert await self.find(target, Equals(target.filter_attribute, missing)) == set()

    async def test_search_filter_sw(self, contract_target: ContractTarget) -> None:
        target = contract_target
        run = self.run_id()
        made = await self.make_users(target, [f"{run}a1", f"{run}a2", f"{run}b1"])
        prefix = self.common_prefix(target, f"{run}a1", f"{run}a2")
        assert await self.find(target, StartsWith(target.filter_attribute, prefix)) == {
            made[f"{run}a1"],
            made[f"{run}a2"],
        }

    async def test_search_filter_and(self, contract_target: ContractTarget) -> None:
        target = contract_target
        run = self.run_id()
        made = await self.make_users(target, [f"{run}a1", f"{run}a2", f"{run}b1"])
        everyone = StartsWith(target.filter_attribute, self.common_prefix(target, *made))
        first = Equals(target.filter_attribute, self.filter_value(target, f"{run}a2"))
        assert await self.find(target, And((everyone, first))) == {made[f"{run}a2"]}

    async def test_search_filter_or(self, contract_target: ContractTarget) -> None:
        target = contract_target
        run = self.run_id()
        made = await self.make_users(target, [f"{run}a1", f"{run}a2", f"{run}b1"])
        either = Or(
            tuple(
                Equals(target.filter_attribute, self.filter_value(target, tag))
                for tag in (f"{run}a1", f"{run}b1")
            )
        )
        assert await self.find(target, either) == {made[f"{run}a1"], made[f"{run}b1"]}

    async def test_search_filter_not(self, contract_target: ContractTarget) -> None:
        target = contract_target
        run = self.run_id()
        made = await self.make_users(target, [f"{run}a1", f"{run}a2", f"{run}b1"])
        everyone = StartsWith(target.filter_attribute, self.common_prefix(target, *made))
        not_a1 = Not(Equals(target.filter_attribute, self.filter_value(target, f"{run}a1")))
        assert await self.find(target, And((everyone, not_a1))) == {
            made[f"{run}a2"],
            made[f"{run}b1"],
        }

    async def test_search_filter_pr(self, contract_target: ContractTarget) -> None:
        target = contract_target
        run = self.run_id()
        made = await self.make_users(target, [f"{run}a1", f"{run}a2", f"{run}b1"])
        name, first, _ = target.single_valued
        await target.connector.update(
            target.user_class, made[f"{run}a2"], [Delta(name, DeltaKind.REPLACE, (first,))]
        )
        everyone = StartsWith(target.filter_attribute, self.common_prefix(target, *made))
        assert await self.find(target, And((everyone, Present(name)))) == {made[f"{run}a2"]}
        assert await self.find(target, And((everyone, Not(Present(name))))) == {
            made[f"{run}a1"],
            made[f"{run}b1"],
        }

    async def test_search_pages_past_several_pages(self, contract_target: ContractTarget) -> None:
        target = contract_target
        run = self.run_id()
        tags = [f"{run}p{i:03}" for i in range(self.paging_objects)]
        made = await self.make_users(target, tags)
        everyone = StartsWith(target.filter_attribute, self.common_prefix(target, *tags))
        pages: list[list[str]] = []
        cookie: str | None = None
        while True:
            page = await target.connector.search(
                target.user_class, everyone, Page(self.paging_size, cookie)
            )
            pages.append([o.anchor for o in page.objects])
            cookie = page.cookie
            if cookie is None:
                break
            assert len(pages) <= self.paging_objects, "the pages never end"
        seen = [anchor for page in pages for anchor in page]
        assert sorted(seen) == sorted(made.values()), "each object exactly once across pages"
        assert all(len(page) <= self.paging_size for page in pages)
        assert len(pages) >= -(-self.paging_objects // self.paging_size)

    # Groups and membership ----------------------------------------------------------------

    async def make_group(self, target: ContractTarget) -> str:
        return await target.connector.create(target.group_class, target.new_group(self.run_id()))

    async def change_members(
        self, target: ContractTarget, group: str, kind: DeltaKind, users: Iterable[str]
    ) -> None:
        anchors = tuple(target.member_anchor(u) for u in users)
        delta = Delta(target.member_attribute, kind, anchors)
        assert await target.connector.update(target.group_class, group, [delta]) == group

    async def read_members(self, target: ContractTarget, group: str) -> set[Scalar]:
        return members(await target.connector.get(target.group_class, group), target)

    async def test_membership_add_remove_one(self, contract_target: ContractTarget) -> None:
        target = contract_target
        run = self.run_id()
        made = await self.make_users(target, [f"{run}a", f"{run}b"])
        first, second = target.member_anchor(made[f"{run}a"]), target.member_anchor(made[f"{run}b"])
        group = await self.make_group(target)
        await self.change_members(target, group, DeltaKind.ADD, [made[f"{run}a"]])
        assert first in await self.read_members(target, group)
        await self.change_members(target, group, DeltaKind.ADD, [made[f"{run}b"]])
        found = await self.read_members(target, group)
        assert {first, second} <= found
        await self.change_members(target, group, DeltaKind.REMOVE, [made[f"{run}a"]])
        found = await self.read_members(target, group)
        assert first not in found
        assert second in found
        # Adding a member twice or removing a non-member is not an error: redelivered
        # changes must not fail.
        await self.change_members(target, group, DeltaKind.ADD, [made[f"{run}b"]])
        await self.change_members(target, group, DeltaKind.REMOVE, [made[f"{run}a"]])
        found = await self.read_members(target, group)
        assert first not in found
        assert second in found

    async def test_membership_bulk(self, contract_target: ContractTarget) -> None:
        target = contract_target
        run = self.run_id()
        made = list((await self.make_users(target, [f"{run}m{i:02}" for i in range(30)])).values())
        group = await self.make_group(target)
        await self.change_members(target, group, DeltaKind.ADD, made)
        found = await self.read_members(target, group)
        assert {target.member_anchor(u) for u in made} <= found
        await self.change_members(target, group, DeltaKind.REMOVE, made[:20])
        found = await self.read_members(target, group)
        assert {target.member_anchor(u) for u in made[20:]} <= found
        assert not {target.member_anchor(u) for u in made[:20]} & found
        # One update may add and remove at once.
        deltas = [
            Delta(target.member_attribute, DeltaKind.ADD, (target.member_anchor(made[0]),)),
            Delta(target.member_attribute, DeltaKind.REMOVE, (target.member_anchor(made[29]),)),
        ]
        await target.connector.update(target.group_class, group, deltas)
        found = await self.read_members(target, group)
        assert target.member_anchor(made[0]) in found
        assert target.member_anchor(made[29]) not in found

    async def test_membership_of_a_missing_group_is_not_found(
        self, contract_target: ContractTarget
    ) -> None:
        target = contract_target
        user = (await self.make_users(target, [self.run_id()])).popitem()[1]
        group = await self.make_group(target)
        await target.connector.delete(target.group_class, group)
        with pytest.raises(NotFoundError):
            await self.change_members(target, group, DeltaKind.ADD, [user])

    async def test_large_group(self, contract_target: ContractTarget) -> None:
        """Users come through ``apply`` (the connector's batch path), members in one delta."""
        target = contract_target
        run = self.run_id()
        size = self.large_group_size
        operations = [
            Operation(
                f"{run}-{i}",
                Action.CREATE,
                target.user_class,
                attributes=target.new_user(f"{run}l{i}"),
            )
            for i in range(size + 2)
        ]
        results = await target.connector.apply(operations)
        failures = [r.error for r in results if r.error is not None]
        assert not failures, failures[:3]
        anchors = [r.anchor for r in results]
        assert all(anchors)
        assert len(set(anchors)) == size + 2
        users = [a for a in anchors if a is not None]
        large, small = await self.make_group(target), await self.make_group(target)
        await self.change_members(target, large, DeltaKind.ADD, users[:size])
        await self.change_members(target, small, DeltaKind.ADD, users[:1])

        small_seconds = await self.member_change_seconds(
            target, small, target.member_anchor(users[-1])
        )
        large_seconds = await self.member_change_seconds(
            target, large, target.member_anchor(users[-1])
        )
        limit = self.large_group_factor * small_seconds + self.large_group_slack
        assert large_seconds <= limit, (
            f"one membership change took {large_seconds * 1000:.1f} ms on a group of {size}"
            f" against {small_seconds * 1000:.1f} ms on a group of 1: is the member list read?"
        )
        await self.change_members(target, large, DeltaKind.ADD, users[size:])
        await self.change_members(target, large, DeltaKind.REMOVE, users[:1])
        found = await self.read_members(target, large)
        expected = {target.member_anchor(u) for u in users[1:]}
        assert expected <= found
        assert target.member_anchor(users[0]) not in found

    # Batches -----------------------------------------------------------------------------

    async def test_apply_batch(self, contract_target: ContractTarget) -> None:
        target = contract_target
        run = self.run_id()
        existing = await target.connector.create(target.user_class, target.new_user(f"{run}e"))
        name, first, _ = target.single_valued
        operations = [
            *(
                Operation(
                    f"c{i}",
                    Action.CREATE,
                    target.user_class,
                    attributes=target.new_user(f"{run}c{i}"),
                )
                for i in range(3)
            ),
            Operation(
                "conflict", Action.CREATE, target.user_class, attributes=target.new_user(f"{run}e")
            ),
            Operation(
                "update",
                Action.UPDATE,
                target.user_class,
                anchor=existing,
                deltas=(Delta(name, DeltaKind.REPLACE, (first,)),),
            ),
            Operation("get", Action.GET, target.user_class, anchor=existing),
            Operation("delete", Action.DELETE, target.user_class, anchor=existing),
            Operation("missing", Action.DELETE, target.user_class, anchor=existing),
        ]
        results = await target.connector.apply(operations)
        assert [r.key for r in results] == [op.key for op in operations]
        errors = {r.key: r.error.error_class for r in results if r.error is not None}
        assert errors == {"conflict": ErrorClass.CONFLICT, "missing": ErrorClass.NOT_FOUND}
        created = [r.anchor for r in results[:3]]
        for i, anchor in enumerate(created):
            assert anchor is not None
            found = await target.connector.get(target.user_class, anchor)
            wanted = self.filter_value(target, f"{run}c{i}")
            assert values(found.attributes.get(target.filter_attribute)) == [wanted]
        got = results[5].object
        assert got is not None
        assert values(got.attributes.get(name)) == [first]
        with pytest.raises(NotFoundError):
            await target.connector.get(target.user_class, existing)
