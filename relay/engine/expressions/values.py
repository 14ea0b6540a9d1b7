"""How functions read their arguments: Entra ID's loose, string-minded typing.

Entra ID passes most values around as strings: ``CStr(True)`` is ``"True"``, ``Switch``
compares text, numbers may arrive as ``"7"``. A null is the absence of a value; a
multi-valued attribute is a list. Dates live as UTC ``datetime`` objects between the date
functions and print as ``M/d/yyyy h:mm:ss tt`` anywhere text is needed.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from relay.engine.exceptions import DateFormatError, EvaluationError
from relay.engine.expressions.context import IGNORE_FLOW
from relay.engine.expressions.datetimes import parse_date, vb_text
from relay.engine.source import Value


def text(value: Any, function: str) -> str | None:
    """The text of a single value; ``None`` stays ``None``; several values are an error."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return vb_text(value)
    if isinstance(value, list):
        if not value:
            return None
        if len(value) == 1:
            return text(value[0], function)
        raise EvaluationError(f"{function} expects one value, got {len(value)} values")
    if value is IGNORE_FLOW:
        return None
    raise EvaluationError(f"{function} expects text, got a complex value")


def texts(value: Any, function: str) -> list[str]:
    """Every non-null value as text (a multi-valued attribute gives several)."""
    if value is None:
        return []
    if isinstance(value, list):
        return [t for t in (text(v, function) for v in value) if t is not None]
    single = text(value, function)
    return [] if single is None else [single]


def integer(value: Any, function: str, parameter: str) -> int | None:
    """A whole number from a number or its text; ``None`` stays ``None``."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    word = text(value, function)
    if word is None:
        return None
    digits = word.strip()
    try:
        return int(digits[2:], 16) if digits[:2] in ("&H", "&h") else int(digits)
    except ValueError:
        raise EvaluationError(
            f"{function}: {parameter} must be a whole number, got {word!r}"
        ) from None


def number(value: Any, function: str, parameter: str) -> float | None:
    """A finite number from a number or its text, for date arithmetic."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    word = text(value, function)
    if word is None:
        return None
    try:
        found = float(word)
    except ValueError:
        found = math.nan
    if not math.isfinite(found):
        raise EvaluationError(f"{function}: {parameter} must be a number, got {word!r}")
    return found


def truth(value: Any, function: str) -> bool:
    """VBA's CBool: True/False (in any case), or a number that is not zero."""
    if isinstance(value, bool):
        return value
    if value is None or value is IGNORE_FLOW:
        return False
    if isinstance(value, int | float):
        return value != 0
    word = text(value, function)
    if word is None:
        return False
    lowered = word.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return float(lowered) != 0
    except ValueError:
        raise EvaluationError(f"{function} expects True, False or a number, got {word!r}") from None


def date(value: Any, function: str) -> datetime | None:
    """A UTC date from a date or a date's text; ``None`` stays ``None``."""
    if value is None or isinstance(value, datetime):
        return value
    word = text(value, function)
    if word is None:
        return None
    try:
        return parse_date(word)
    except DateFormatError as exc:
        raise EvaluationError(f"{function}: {exc}") from exc


def is_empty(value: Any) -> bool:
    """Null, the empty string or no values at all."""
    return value is None or value == "" or value == [] or value is IGNORE_FLOW


def output(value: Any) -> Value:
    """An internal value as callers see it: dates become Entra ID's date text."""
    if isinstance(value, datetime):
        return vb_text(value)
    if isinstance(value, list):
        return [output(v) for v in value]
    return value  # type: ignore[no-any-return]
