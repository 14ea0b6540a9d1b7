"""Contract filters as RFC 7644 filter expressions (section 3.4.2.2).

Comparison values are JSON, which is the filter grammar's own quoting, so a value with
quotes, backslashes or control characters cannot end the string early. A typed path such as
``emails[type eq "work"].value`` becomes a value filter, ``emails[type eq "work" and value
eq "..."]``, and a multi-valued attribute compares its ``value`` sub-attributes.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.connectors.scim_paths import AttributePath, Shape, quote
from shared.connector import And, Equals, Filter, Not, Or, Present, StartsWith


def filter_text(flt: Filter, resolve: Callable[[str], AttributePath]) -> str:
    match flt:
        case Equals(attribute, None):
            return f"not ({_compare(resolve(attribute), 'pr', None)})"
        case Equals(attribute, value):
            return _compare(resolve(attribute), "eq", quote(value))
        case StartsWith(attribute, value):
            return _compare(resolve(attribute), "sw", quote(value))
        case Present(attribute):
            return _compare(resolve(attribute), "pr", None)
        case And(parts):
            return " and ".join(f"({filter_text(p, resolve)})" for p in parts)
        case Or(parts):
            return " or ".join(f"({filter_text(p, resolve)})" for p in parts)
        case Not(inner):
            return f"not ({filter_text(inner, resolve)})"
    raise TypeError(f"not a filter: {flt!r}")


def _compare(path: AttributePath, op: str, value: str | None) -> str:
    tail = f" {op}" if value is None else f" {op} {value}"
    head = f"{path.schema}:{path.attribute}" if path.schema else path.attribute
    if path.shape is Shape.TYPED:
        return f"{head}[type eq {quote(path.type_value)} and {path.sub}{tail}]"
    if path.shape is Shape.VALUES:
        return f"{head}.value{tail}"
    return f"{path.scim_path()}{tail}"
