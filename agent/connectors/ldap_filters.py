"""The contract's filters as LDAP search filters (RFC 4515), every value escaped.

A value such as ``*)(uid=*`` becomes ``\\2a\\29\\28uid=\\2a`` and so can only ever match
itself; attribute names are checked against the RFC 4512 grammar before they are written.
"""

from __future__ import annotations

from agent.connectors.ldap_names import is_attribute_name
from agent.connectors.ldap_schema import check_text
from shared.connector import And, Equals, Filter, Not, Or, Present, Scalar, StartsWith
from shared.exceptions import InvalidDataError

_ESCAPES = {"*": "\\2a", "(": "\\28", ")": "\\29", "\\": "\\5c", "\x00": "\\00"}


def escape_filter_value(value: str) -> str:
    """RFC 4515, section 3: the five characters that would change a filter's meaning."""
    return "".join(_ESCAPES.get(ch, ch) for ch in value)


def assertion_text(value: Scalar) -> str:
    """How a contract value is written in LDAP: booleans as TRUE/FALSE (RFC 4517)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return "" if value is None else str(value)


def compile_filter(flt: Filter) -> str:
    """The LDAP filter string for ``flt``. An equality with ``None`` means the attribute is
    absent."""
    match flt:
        case Equals(attribute, None):
            return f"(!({_attribute(attribute)}=*))"
        case Equals(attribute, value):
            return f"({_attribute(attribute)}={_value(attribute, assertion_text(value))})"
        case StartsWith(attribute, value):
            return f"({_attribute(attribute)}={_value(attribute, value)}*)"
        case Present(attribute):
            return f"({_attribute(attribute)}=*)"
        case And(filters):
            return "(&" + "".join(compile_filter(f) for f in filters) + ")"
        case Or(filters):
            return "(|" + "".join(compile_filter(f) for f in filters) + ")"
        case Not(inner):
            return f"(!{compile_filter(inner)})"
    raise InvalidDataError(f"not a filter: {flt!r}")


def _value(attribute: str, text: str) -> str:
    check_text(attribute, text)
    return escape_filter_value(text)


def _attribute(name: str) -> str:
    if not is_attribute_name(name):
        raise InvalidDataError(f"{name!r} is not an LDAP attribute name", attribute=name)
    return name
