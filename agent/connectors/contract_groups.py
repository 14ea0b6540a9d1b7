"""The contract suite's tests of group membership: one member at a time, many in one
delta, a missing group, and a group of ``large_group_size`` members changed without reading
its member list."""

from __future__ import annotations

import pytest

from agent.connectors.contract_base import ContractBase, ContractTarget
from shared.connector import Action, Delta, DeltaKind, Operation
from shared.exceptions import NotFoundError


class GroupTests(ContractBase):
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
