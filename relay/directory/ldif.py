"""Reading LDIF content records (RFC 2849) for ``hatchway directory import``.

Only what an export of users and groups holds: ``dn``, attributes with plain or base64
(``::``) values, folded lines, comments. Change records and ``:<`` URL values are refused,
as is anything else the import cannot represent faithfully.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass, field

from relay.exceptions import ImportRefused


@dataclass(slots=True)
class LdifRecord:
    line: int
    dn: str
    #: Attribute values by lower-cased attribute name (options such as ``;lang-en`` dropped).
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def first(self, name: str) -> str | None:
        values = self.attributes.get(name.lower())
        return values[0] if values else None

    @property
    def object_classes(self) -> set[str]:
        return {value.lower() for value in self.attributes.get("objectclass", [])}


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with folded continuations joined, each with the number of its first line;
    blank lines come through as ``""`` (they end records); comments are dropped."""
    current: str | None = None
    start = 0
    in_comment = False
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.startswith(" ") and (current is not None or in_comment):
            if current is not None:
                current += raw[1:]
            continue
        if current is not None:
            yield start, current
            current = None
        in_comment = raw.startswith("#")
        if in_comment:
            continue
        if not raw.strip():
            yield number, ""
            continue
        current, start = raw, number
    if current is not None:
        yield start, current


def read_ldif(text: str, source: str) -> Iterator[LdifRecord]:
    """The content records of ``text``; raises :class:`~relay.exceptions.ImportRefused` at
    the first line that is not LDIF (``source`` names the file in the message)."""
    record: LdifRecord | None = None
    for number, line in _logical_lines(text):
        if not line:
            if record is not None:
                yield record
                record = None
            continue
        name, sep, rest = line.partition(":")
        if not sep or not name:
            raise ImportRefused(
                source, [(number, f"expected 'attribute: value', got {line[:40]!r}")]
            )
        if rest.startswith(":"):
            try:
                value = base64.b64decode(rest[1:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise ImportRefused(
                    source, [(number, f"{name}: not base64-encoded UTF-8")]
                ) from exc
        elif rest.startswith("<"):
            raise ImportRefused(
                source, [(number, f"{name}: values from URLs (':<') are not supported")]
            )
        else:
            value = rest.strip()
        key = name.split(";", 1)[0].strip().lower()
        if record is None:
            if key == "version":
                continue
            if key != "dn":
                raise ImportRefused(source, [(number, f"a record starts with 'dn:', not {name!r}")])
            record = LdifRecord(number, value)
            continue
        if key == "changetype":
            raise ImportRefused(
                source, [(number, "change records are not supported; export content")]
            )
        record.attributes.setdefault(key, []).append(value)
    if record is not None:
        yield record
