"""What the contract suite's tests share: the target they run against, and helpers.

See :mod:`agent.connectors.contract` for how a connector's tests use the suite.
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from shared.connector import (
    Attributes,
    Connector,
    ConnectorObject,
    Delta,
    DeltaKind,
    Filter,
    Page,
    Scalar,
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
OptionalTest = Callable[["ContractBase", ContractTarget], Awaitable[None]] | None


class ContractBase:
    """The suite's settings and helpers; the tests live in the classes built on it.

    ``large_group_size`` is the size of the group in ``test_large_group``. One member
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

    async def gone_anchor(self, target: ContractTarget) -> str:
        """The anchor of a user that existed and was deleted: well formed, but not found."""
        anchor = (await self.make_users(target, [self.run_id()])).popitem()[1]
        await target.connector.delete(target.user_class, anchor)
        return anchor

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
