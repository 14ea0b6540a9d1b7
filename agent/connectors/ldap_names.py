"""Distinguished names for the LDAP connector: RFC 4514 escaping, parsing and DN templates.

Values are escaped the way OpenLDAP writes DNs back (special characters as ``\\XX`` hex
pairs, UTF-8 left as it is), so the anchor a create returns is the same string a later search
returns for that entry. Attribute names are checked before they reach a DN, a filter or a
modify request, so a name cannot smuggle in syntax either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: RFC 4512 attribute description: a name or numeric OID, then options such as ``;lang-de``.
_ATTRIBUTE = re.compile(r"(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*")
#: Characters RFC 4514 says must be escaped anywhere in a value, plus ``=`` as OpenLDAP does.
_SPECIAL = frozenset('"+,;<>\\=\x00')
_HEX = frozenset("0123456789abcdefABCDEF")


def is_attribute_name(name: str) -> bool:
    return _ATTRIBUTE.fullmatch(name) is not None


def escape_value(value: str) -> str:
    """An attribute value as it appears in a DN (RFC 4514, section 2.4)."""
    out = [f"\\{ord(ch):02X}" if ch in _SPECIAL else ch for ch in value]
    if value and value[0] in " #":
        out[0] = f"\\{ord(value[0]):02X}"
    if value and value[-1] == " ":
        out[-1] = "\\20"
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Rdn:
    """One attribute-value pair of a DN; multi-valued RDNs (``a=1+b=2``) are refused."""

    attribute: str
    value: str


def parse_dn(dn: str) -> list[Rdn]:
    """Split a DN into its RDNs, unescaping values; :class:`ValueError` if it is malformed."""
    if not dn:
        return []
    rdns: list[Rdn] = []
    pos = 0
    while True:
        equals = dn.find("=", pos)
        if equals < 0:
            raise ValueError(f"{dn!r} is not a DN: {dn[pos:]!r} has no '='")
        attribute = dn[pos:equals].strip()
        if not is_attribute_name(attribute):
            raise ValueError(f"{dn!r} is not a DN: {attribute!r} is not an attribute name")
        value, pos = _read_value(dn, equals + 1)
        rdns.append(Rdn(attribute, value))
        if pos == len(dn):
            return rdns
        if dn[pos] == "+":
            raise ValueError(f"{dn!r} has a multi-valued RDN, which is not supported")
        pos += 1  # the comma


def _read_value(dn: str, pos: int) -> tuple[str, int]:
    raw = bytearray()
    end = len(dn)
    while pos < end and dn[pos] == " ":
        pos += 1
    trailing = 0  # unescaped spaces at the end of the value are not part of it
    while pos < end and dn[pos] not in ",+":
        ch = dn[pos]
        if ch == "\\":
            pair = dn[pos + 1 : pos + 3]
            if len(pair) == 2 and all(c in _HEX for c in pair):
                raw.append(int(pair, 16))
                pos += 3
            elif pos + 1 < end:
                raw.extend(dn[pos + 1].encode())
                pos += 2
            else:
                raise ValueError(f"{dn!r} ends in a lone backslash")
            trailing = 0
            continue
        if ch in '"<>;=':
            raise ValueError(f"{dn!r} has an unescaped {ch!r}")
        raw.extend(ch.encode())
        trailing = trailing + 1 if ch == " " else 0
        pos += 1
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{dn!r} has escapes that are not UTF-8") from exc
    return (text[: len(text) - trailing] if trailing else text), pos


#: A DN reduced for comparison.
DnKey = tuple[tuple[str, str], ...]


def dn_key(dn: str) -> DnKey:
    """A DN reduced for comparison: attribute names and values case-folded, escapes undone.

    Case-folding the values is right for the case-insensitive naming attributes in use
    (uid, cn, ou, dc), which is what comparing a placeholder member needs.
    """
    return tuple((r.attribute.lower(), r.value.casefold()) for r in parse_dn(dn))


def join(rdn: Rdn, parent: str) -> str:
    head = f"{rdn.attribute}={escape_value(rdn.value)}"
    return f"{head},{parent}" if parent else head


def split_first(dn: str) -> tuple[str, str]:
    """The first RDN and the parent DN, both as written in ``dn``."""
    equals = dn.find("=")
    if equals < 0:
        raise ValueError(f"{dn!r} is not a DN")
    _, pos = _read_value(dn, equals + 1)
    if pos < len(dn) and dn[pos] == "+":
        raise ValueError(f"{dn!r} has a multi-valued RDN, which is not supported")
    return dn[:pos], dn[pos + 1 :].lstrip()


@dataclass(frozen=True, slots=True)
class DnTemplate:
    """Where objects of one class live: ``uid={uid},ou=people,dc=example,dc=org``.

    The first RDN names the naming attribute, whose value fills the placeholder; the rest
    is the container, which is also where searches start.
    """

    naming_attribute: str
    container: str

    @classmethod
    def parse(cls, text: str) -> DnTemplate:
        attribute, sep, rest = text.partition("=")
        attribute = attribute.strip()
        placeholder, comma, container = rest.partition(",")
        if not sep or not is_attribute_name(attribute):
            raise ValueError("must start with NAME={NAME}, such as uid={uid}")
        if placeholder.strip() != f"{{{attribute}}}":
            raise ValueError(
                f"the first RDN must be {attribute}={{{attribute}}}: the naming attribute's"
                " value is the only placeholder"
            )
        if not comma or not container.strip():
            raise ValueError("needs a container after the first RDN, such as ou=people,dc=...")
        if "{" in container or "}" in container:
            raise ValueError("only the first RDN may hold a placeholder")
        parse_dn(container.strip())
        return cls(attribute, container.strip())

    def dn(self, value: str) -> str:
        return join(Rdn(self.naming_attribute, value), self.container)

    def rdn_value(self, dn: str) -> str:
        """The naming attribute's value in ``dn``, unescaped."""
        rdns = parse_dn(dn)
        if not rdns:
            raise ValueError("an empty DN names no object")
        return rdns[0].value
