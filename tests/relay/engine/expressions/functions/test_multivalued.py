"""Multi-valued attributes, with the examples of Microsoft's "Reference for writing
expressions for attribute mappings in Microsoft Entra ID"
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/functions-for-customizing-application-data)."""

from __future__ import annotations

import pytest

from relay.engine.exceptions import ExpressionSyntaxError
from relay.engine.expressions import compile_expression
from tests.relay.engine.expressions.helpers import evaluate

ADDRESSES = ["SMTP:john@contoso.com", "smtp:jd@contoso.com", "smtp:jd@contoso.com"]


def test_reference_examples():
    assert evaluate("Item([proxyAddresses], 1)", proxyAddresses=ADDRESSES) == ADDRESSES[0]
    assert evaluate("RemoveDuplicates([proxyAddresses])", proxyAddresses=ADDRESSES) == ADDRESSES[:2]
    assert evaluate("Count([proxyAddresses])", proxyAddresses=ADDRESSES) == 3


def test_edges():
    assert evaluate("Count([proxyAddresses])") == 0
    assert evaluate("Count([displayName])", displayName="x") == 1
    assert evaluate("Item([proxyAddresses], 9)", proxyAddresses=ADDRESSES) is None
    assert evaluate("Item([proxyAddresses], [i])", proxyAddresses=ADDRESSES, i="0") is None


def test_index_zero_is_refused_when_saved():
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression("Item([proxyAddresses], 0)")
    assert caught.value.position == 23
    assert caught.value.expected == "a whole number from 1 for index of Item"
