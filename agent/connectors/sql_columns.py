"""A mapped column of the users table, and the conversion of its values both ways.

Attribute values arrive as JSON scalars; each is checked against its column and turned into
what pyodbc binds as a ``?`` parameter. Values read back are turned into what JSON carries.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
from dataclasses import dataclass
from typing import Any

from shared.connector import AttributeType, Scalar
from shared.exceptions import InvalidDataError

_INT64 = range(-(2**63), 2**63)


@dataclass(frozen=True, slots=True, eq=False)
class Column:
    """One mapped column; compared by identity, which keeps rows keyed by column cheap in
    batches of thousands (a table builds each of its columns once)."""

    attribute: str
    name: str
    sql: str
    type: AttributeType
    required: bool
    #: The most characters the database stores in it, where it enforces a limit.
    max_length: int | None = None

    @property
    def text_limit(self) -> int:
        """Valid text up to this long is stored as it is (the shortcut of
        :meth:`ObjectTable.row` and :func:`column_params`); 0 where every value must go
        through :func:`param`."""
        if self.type is not AttributeType.STRING:
            return 0
        return self.max_length if self.max_length is not None else 2**62


def param(column: Column, value: Any) -> Any:
    """Check one attribute value and convert it to what pyodbc binds for the column."""
    if isinstance(value, list):
        raise InvalidDataError(
            f"attribute {column.attribute!r} holds one value, not a list",
            attribute=column.attribute,
        )
    if isinstance(value, str):
        return _text_param(column, value)
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        raise InvalidDataError(
            f"attribute {column.attribute!r}: {value} does not fit in 64 bits",
            attribute=column.attribute,
        )
    return value


#: Values :func:`param` passes on unchanged whatever the column.
_AS_IS: frozenset[type] = frozenset({bool, float, type(None)})


def column_params(column: Column, values: list[Any]) -> tuple[list[Any], list[int]]:
    """:func:`param` of one column's values in a batch, and the positions it refused.

    A batch's columns are mostly plain text or flags, checked here for the whole column at
    once (one joined string for NUL and Unicode, one pass for lengths); a column with any
    other value goes value by value. A refused value is left as it came.
    """
    limit = column.text_limit
    if limit:
        try:
            joined = "".join(values)
        except TypeError:
            pass
        else:
            if (
                "\x00" not in joined
                and max(map(len, values), default=0) <= limit
                and (joined.isascii() or _encodable(joined))
            ):
                return values, []
    if set(map(type, values)) <= _AS_IS:
        return values, []
    converted: list[Any] = []
    refused: list[int] = []
    for position, value in enumerate(values):
        try:
            converted.append(param(column, value))
        except InvalidDataError:
            converted.append(value)
            refused.append(position)
    return converted, refused


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(column: Column, value: str) -> None:
    # ODBC drivers cut strings at a NUL byte and pyodbc cannot encode lone surrogates: refuse
    # both rather than store something other than what was sent.
    if "\x00" in value:
        raise InvalidDataError(
            f"attribute {column.attribute!r} contains a NUL character", attribute=column.attribute
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidDataError(
            f"attribute {column.attribute!r} is not valid Unicode", attribute=column.attribute
        ) from exc


def _text_param(column: Column, value: str) -> Any:
    check_text(column, value)
    if column.max_length is not None and len(value) > column.max_length:
        raise InvalidDataError(
            f"attribute {column.attribute!r} holds at most {column.max_length} characters,"
            f" not {len(value)}",
            attribute=column.attribute,
        )
    if column.type is AttributeType.BINARY:
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise InvalidDataError(
                f"attribute {column.attribute!r} must be base64", attribute=column.attribute
            ) from exc
    if column.type is AttributeType.INTEGER:
        # SQLite would store the text as is in an integer column.
        try:
            return int(value)
        except ValueError as exc:
            raise InvalidDataError(
                f"attribute {column.attribute!r} must be an integer", attribute=column.attribute
            ) from exc
    return value


def wire(value: Any) -> Scalar:
    """A value read from the database as JSON can carry it."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, decimal.Decimal):
        # DECIMAL and NUMERIC columns arrive as Decimal on PostgreSQL and MariaDB: text keeps
        # every digit, where a float would round.
        return str(value)
    return str(value)


def anchor_of(value: Any) -> str:
    """The anchor of the row whose key column holds ``value``."""
    return str(wire(value))
