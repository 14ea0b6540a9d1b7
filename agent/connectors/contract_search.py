"""The contract suite's tests of search: each kind of filter, and paging past several
pages."""

from __future__ import annotations

from agent.connectors.contract_base import ContractBase, ContractTarget
from shared.connector import And, Delta, DeltaKind, Equals, Not, Or, Page, Present, StartsWith


class SearchTests(ContractBase):
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
