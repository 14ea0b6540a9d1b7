"""Dates the way Entra ID's expression functions read and write them.

Entra ID runs on .NET: ``CDate``, ``DateAdd`` and ``Now`` print dates as ``M/d/yyyy h:mm:ss
tt`` (en-US), ``FormatDateTime`` takes .NET custom (and standard) date and time format
strings, and ``DateFromNum``/``NumFromDate`` use Active Directory's 100-nanosecond ticks
since 1601. Hatchway's relay keeps every date in UTC, as Entra ID's servers do: a parsed date
that carries an offset is converted to UTC; one without an offset is taken as UTC.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from relay.engine.exceptions import DateFormatError

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

STANDARD_FORMATS = {
    "d": "M/d/yyyy",
    "D": "dddd, MMMM d, yyyy",
    "f": "dddd, MMMM d, yyyy h:mm tt",
    "F": "dddd, MMMM d, yyyy h:mm:ss tt",
    "g": "M/d/yyyy h:mm tt",
    "G": "M/d/yyyy h:mm:ss tt",
    "M": "MMMM d",
    "m": "MMMM d",
    "o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "O": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "r": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "R": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
    "t": "h:mm tt",
    "T": "h:mm:ss tt",
    "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
    "Y": "MMMM yyyy",
    "y": "MMMM yyyy",
}
"""The .NET standard formats, with the en-US patterns Entra ID's servers use."""

DATE_TIME_STYLES = frozenset(
    {
        "None",
        "AllowLeadingWhite",
        "AllowTrailingWhite",
        "AllowInnerWhite",
        "AllowWhiteSpaces",
        "NoCurrentDateDefault",
        "AdjustToUniversal",
        "AssumeLocal",
        "AssumeUniversal",
        "RoundtripKind",
    }
)
"""The names of .NET's DateTimeStyles; Hatchway accepts them all and, keeping every date in
UTC, behaves as RoundtripKind plus AdjustToUniversal whatever is given (whitespace around
the value is always allowed)."""

_EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)


def vb_text(moment: datetime) -> str:
    """``M/d/yyyy h:mm:ss tt``, the format Entra ID prints dates in."""
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return (
        f"{moment.month}/{moment.day}/{moment.year} "
        f"{hour}:{moment.minute:02d}:{moment.second:02d} {half}"
    )


def to_ticks(moment: datetime) -> int:
    """Active Directory's integer date: 100-nanosecond intervals since 1601-01-01 UTC."""
    delta = moment - _EPOCH_1601
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def from_ticks(ticks: int) -> datetime:
    """The inverse of :func:`to_ticks`; raises DateFormatError outside datetime's range."""
    try:
        return _EPOCH_1601 + timedelta(microseconds=ticks // 10)
    except OverflowError as exc:
        raise DateFormatError(f"{ticks} is outside the dates Hatchway can represent") from exc


# --- free-form parsing (CDate, DateAdd, DateDiff, NumFromDate) -----------------------------

_OFFSET = r"(?P<offset>Z|[+-]\d{2}:?\d{2})?"
_ISO = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"(?:[T ](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?)?"
    + _OFFSET,
    re.IGNORECASE,
)
_US = re.compile(
    r"(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4})"
    r"(?: (?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?"
    r"(?: ?(?P<half>AM|PM))?)?" + _OFFSET,
    re.IGNORECASE,
)


def parse_date(text: str) -> datetime:
    """Read a date as .NET's DateTime.Parse reads the forms Entra ID's examples use.

    ISO 8601 (``2009-06-15T01:45:30-07:00``, ``2021-08-24``, a date with an offset such as
    ``2012-03-16-07:00``) and en-US (``8/25/2021 5:41:18 PM``). Raises DateFormatError.
    """
    stripped = text.strip()
    match = _ISO.fullmatch(stripped) or _US.fullmatch(stripped)
    if match is None:
        raise DateFormatError(f"{text!r} is not a date")
    parts = match.groupdict()
    hour = int(parts["hour"] or 0)
    half = parts.get("half")
    if half:
        if not 1 <= hour <= 12:
            raise DateFormatError(f"{text!r} has an hour that does not fit AM/PM")
        hour = hour % 12 + (12 if half.upper() == "PM" else 0)
    fraction = (parts["fraction"] or "0")[:6].ljust(6, "0")
    try:
        moment = datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            hour,
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            int(fraction),
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise DateFormatError(f"{text!r} is not a valid date: {exc}") from exc
    return _in_utc(moment, parts["offset"], text)


def _in_utc(moment: datetime, offset: str | None, text: str) -> datetime:
    """``moment``, read with ``offset`` (``Z``, ``+08:00``, ``-0700``...), moved to UTC."""
    if not offset or offset.upper() == "Z":
        return moment
    digits = offset[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    try:
        return moment + delta if offset[0] == "-" else moment - delta
    except OverflowError as exc:
        raise DateFormatError(
            f"{text!r} in UTC is outside the dates Hatchway can represent"
        ) from exc


# --- .NET custom formats (FormatDateTime) --------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Piece:
    letter: str  # a specifier letter, or "" for literal text
    count: int
    text: str = ""


_SPECIFIERS = "dfFghHKmMstyz"
_MAX_COUNT = {
    "d": 4,
    "f": 7,
    "F": 7,
    "g": 2,
    "h": 2,
    "H": 2,
    "K": 1,
    "m": 2,
    "M": 4,
    "s": 2,
    "t": 2,
    "y": 5,
    "z": 3,
}


@lru_cache(maxsize=256)
def _pieces(pattern: str) -> tuple[_Piece, ...]:
    """Split a .NET format string; raises DateFormatError as .NET's FormatException would."""
    if not pattern:
        raise DateFormatError("the format is empty")
    if len(pattern) == 1:
        if pattern not in STANDARD_FORMATS:
            raise DateFormatError(f"{pattern!r} is not a standard .NET date format")
        pattern = STANDARD_FORMATS[pattern]
    pieces: list[_Piece] = []
    pos = 0
    while pos < len(pattern):
        char = pattern[pos]
        if char in "'\"":
            end = pattern.find(char, pos + 1)
            if end < 0:
                raise DateFormatError(f"the quote at position {pos} of {pattern!r} is not closed")
            pieces.append(_Piece("", 0, pattern[pos + 1 : end]))
            pos = end + 1
        elif char == "\\":
            if pos + 1 >= len(pattern):
                raise DateFormatError(f"{pattern!r} ends with a lone backslash")
            pieces.append(_Piece("", 0, pattern[pos + 1]))
            pos += 2
        elif char == "%":
            pos += 1
        elif char in _SPECIFIERS:
            end = pos
            while end < len(pattern) and pattern[end] == char:
                end += 1
            count = end - pos
            if count > _MAX_COUNT[char] and char not in "dhHmMst":
                raise DateFormatError(f"{char * count!r} in {pattern!r} is not a .NET specifier")
            pieces.append(_Piece(char, min(count, _MAX_COUNT[char])))
            pos = end
        else:
            pieces.append(_Piece("", 0, char))
            pos += 1
    return tuple(pieces)


def check_format(pattern: str) -> None:
    """Raise DateFormatError when ``pattern`` is not a usable .NET date format."""
    _pieces(pattern)


def check_input_format(pattern: str) -> None:
    """Raise DateFormatError when ``pattern`` cannot be used to read dates."""
    _parse_regex(pattern)


def format_date(moment: datetime, pattern: str) -> str:
    """``moment`` (UTC) written with a .NET custom or standard format."""
    out: list[str] = []
    for piece in _pieces(pattern):
        if not piece.letter:
            out.append(piece.text)
            continue
        text = _FORMATTERS[piece.letter](moment, piece.count)
        if piece.letter == "F" and not text and out and out[-1] == ".":
            out.pop()
        out.append(text)
    return "".join(out)


def _fraction(moment: datetime, count: int) -> str:
    return f"{moment.microsecond:06d}0"[:count]


def _year(moment: datetime, count: int) -> str:
    if count == 1:
        return str(moment.year % 100)
    if count == 2:
        return f"{moment.year % 100:02d}"
    return str(moment.year).zfill(count)


_FORMATTERS: dict[str, Callable[[datetime, int], str]] = {
    "d": lambda m, n: (str(m.day), f"{m.day:02d}", DAYS[m.weekday()][:3], DAYS[m.weekday()])[n - 1],
    "f": _fraction,
    "F": lambda m, n: _fraction(m, n).rstrip("0"),
    "g": lambda m, n: "A.D.",
    "h": lambda m, n: str(m.hour % 12 or 12).zfill(n),
    "H": lambda m, n: str(m.hour).zfill(n),
    "K": lambda m, n: "Z",
    "m": lambda m, n: str(m.minute).zfill(n),
    "M": lambda m, n: (
        str(m.month),
        f"{m.month:02d}",
        MONTHS[m.month - 1][:3],
        MONTHS[m.month - 1],
    )[n - 1],
    "s": lambda m, n: str(m.second).zfill(n),
    "t": lambda m, n: ("AM" if m.hour < 12 else "PM")[:n],
    "y": _year,
    "z": lambda m, n: ("+0", "+00", "+00:00")[n - 1],
}


@lru_cache(maxsize=256)
def _parse_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    for piece in _pieces(pattern):
        if not piece.letter:
            parts.append("Z" if piece.text == "Z" else re.escape(piece.text))
            continue
        letter, count = piece.letter, piece.count
        if letter in "dM" and count >= 3:
            names = DAYS if letter == "d" else MONTHS
            choices = "|".join(n if count == 4 else n[:3] for n in names)
            group = "month_name" if letter == "M" else "day_name"
            parts.append(f"(?P<{group}>{choices})")
        elif letter in "dMhHms":
            name = {
                "d": "day",
                "M": "month",
                "h": "hour12",
                "H": "hour",
                "m": "minute",
                "s": "second",
            }[letter]
            parts.append(f"(?P<{name}>\\d{{{count},2}})")
        elif letter == "y":
            parts.append(
                (
                    "(?P<year>\\d{1,2})",
                    "(?P<year>\\d{2})",
                    "(?P<year>\\d{3,4})",
                    "(?P<year>\\d{4})",
                    "(?P<year>\\d{5})",
                )[count - 1]
            )
        elif letter in "fF":
            low = count if letter == "f" else 0
            parts.append(f"(?P<fraction>\\d{{{low},{count}}})")
        elif letter == "t":
            parts.append("(?P<half>AM|PM)" if count == 2 else "(?P<half>A|P)")
        elif letter == "z":
            parts.append(
                (
                    "(?P<offset>[+-]\\d{1,2})",
                    "(?P<offset>[+-]\\d{2})",
                    "(?P<offset>[+-]\\d{2}:\\d{2})",
                )[count - 1]
            )
        elif letter == "K":
            parts.append("(?P<offset>Z|[+-]\\d{2}:\\d{2})?")
        else:
            parts.append("A\\.D\\.")
    try:
        return re.compile("".join(parts), re.IGNORECASE)
    except re.error as exc:
        raise DateFormatError(f"{pattern!r} uses a specifier twice") from exc


def parse_exact(text: str, pattern: str) -> datetime:
    """Read ``text`` with a .NET format, as ParseExact does; raises DateFormatError."""
    match = _parse_regex(pattern).fullmatch(text.strip())
    if match is None:
        raise DateFormatError(f"{text!r} does not match the format {pattern!r}")
    parts = {k: v for k, v in match.groupdict().items() if v is not None}
    year = int(parts.get("year", "1"))
    if "year" in parts and len(parts["year"]) <= 2:
        year += 2000 if year <= 49 else 1900
    month = int(parts["month"]) if "month" in parts else 1
    if "month_name" in parts:
        month = [m[: len(parts["month_name"])].lower() for m in MONTHS].index(
            parts["month_name"].lower()
        ) + 1
    hour = int(parts.get("hour", "0"))
    if "hour12" in parts:
        hour = int(parts["hour12"]) % 12
    if parts.get("half", "").upper().startswith("P"):
        hour += 12
    fraction = parts.get("fraction", "")[:6].ljust(6, "0")
    try:
        moment = datetime(
            year,
            month,
            int(parts.get("day", "1")),
            hour,
            int(parts.get("minute", "0")),
            int(parts.get("second", "0")),
            int(fraction),
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise DateFormatError(f"{text!r} is not a valid date: {exc}") from exc
    offset = parts.get("offset")
    if offset and offset.upper() != "Z" and len(offset) <= 3:
        offset = f"{offset[0]}{offset[1:].zfill(2)}:00"
    return _in_utc(moment, offset, text)
