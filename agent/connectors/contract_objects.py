"""The contract suite's tests of single objects: test(), schema(), create, get, every
kind of update, delete, the error classes, and a batch through apply()."""

from __future__ import annotations

import pytest

from agent.connectors.contract_base import ContractBase, ContractTarget, OptionalTest, values
from shared.connector import Action, Attributes, Delta, DeltaKind, Equals, Operation
from shared.exceptions import (
    AuthenticationError,
    ConflictError,
    ErrorClass,
    InvalidDataError,
    NotFoundError,
    UnavailableError,
)


async def _test_update_add_remove_multi_valued(
    self: ContractBase, contract_target: ContractTarget
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


async def _test_wrong_credentials(self: ContractBase, contract_target: ContractTarget) -> None:
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


class ObjectTests(ContractBase):
    #: Tests for what not every target has: a class sets one to None to leave it out.
    test_update_add_remove_multi_valued: OptionalTest = _test_update_add_remove_multi_valued
    test_wrong_credentials: OptionalTest = _test_wrong_credentials

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
        await self.create_read_delete(target, target.user_class, target.new_user(self.run_id()))

    async def test_group_create_get_delete(self, contract_target: ContractTarget) -> None:
        target = contract_target
        await self.create_read_delete(target, target.group_class, target.new_group(self.run_id()))

    async def create_read_delete(
        self, target: ContractTarget, object_class: str, attributes: Attributes
    ) -> None:
        """Every attribute reads back as sent; after the delete, the object is not found."""
        anchor = await target.connector.create(object_class, attributes)
        assert anchor
        found = await target.connector.get(object_class, anchor)
        assert found.anchor == anchor
        for name, sent in attributes.items():
            assert values(found.attributes.get(name)) == values(sent), name
        await target.connector.delete(object_class, anchor)
        with pytest.raises(NotFoundError):
            await target.connector.get(object_class, anchor)

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
