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

from agent.connectors.contract_base import ContractTarget, OptionalTest
from agent.connectors.contract_groups import GroupTests
from agent.connectors.contract_objects import ObjectTests
from agent.connectors.contract_search import SearchTests

__all__ = ["ConnectorContract", "ContractTarget", "OptionalTest"]


class ConnectorContract(ObjectTests, SearchTests, GroupTests):
    """The suite; subclass it with a ``contract_target`` fixture (see the module docstring).

    Class attributes tune it for a target: ``large_group_size``, ``large_group_factor``
    and ``large_group_slack`` (the large-group test), ``paging_objects`` and
    ``paging_size`` (the paging test); and ``test_update_add_remove_multi_valued`` or
    ``test_wrong_credentials`` set to ``None`` leave out a test the target cannot run.
    """
