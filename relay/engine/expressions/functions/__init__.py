"""Every function of the expression language, by name (case-sensitive, as in Entra ID)."""

from __future__ import annotations

from relay.engine.expressions.functions import (
    dates,
    generators,
    logic,
    multivalued,
    replace,
    roles,
    text,
)
from relay.engine.expressions.signature import registry

FUNCTIONS = registry(
    text.FUNCTIONS,
    replace.FUNCTIONS,
    logic.FUNCTIONS,
    dates.FUNCTIONS,
    multivalued.FUNCTIONS,
    generators.FUNCTIONS,
    roles.FUNCTIONS,
)
