"""Dates: CDate, DateAdd, DateDiff, DateFromNum, FormatDateTime, Now, NumFromDate.

Intervals are VBA's (``yyyy`` year, ``q`` quarter, ``m`` month, ``y`` day of year, ``d`` day,
``w`` weekday, ``ww`` week, ``h`` hour, ``n`` minute, ``s`` second) and DateDiff counts them
the way VBA's DateDiff does: calendar boundaries for years, quarters and months, whole
elapsed units for the rest, Sunday-based weeks for ``ww``.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from relay.engine.exceptions import DateFormatError, EvaluationError
from relay.engine.expressions.datetimes import (
    DATE_TIME_STYLES,
    check_format,
    check_input_format,
    format_date,
    from_ticks,
    parse_exact,
    to_ticks,
)
from relay.engine.expressions.functions._helpers import readable
from relay.engine.expressions.signature import Arguments, Evaluator, Function, Param
from relay.engine.expressions.values import date, integer, number, text

INTERVALS = ("yyyy", "q", "m", "y", "d", "w", "ww", "h", "n", "s")
NEVER = (0, 0x7FFF_FFFF_FFFF_FFFF)
"""Active Directory's "never" in accountExpires and similar attributes."""


def _interval(value: Any) -> str | None:
    return None if value in INTERVALS else repr(value)


def _format_check(check: Callable[[str], None]) -> Callable[[Any], str | None]:
    """A literal check from a datetimes check: the problem with a constant date format."""

    def problem(value: Any) -> str | None:
        try:
            check(str(value))
        except DateFormatError as exc:
            return str(exc)
        return None

    return problem


def _styles(value: Any) -> str | None:
    names = [
        n.strip().removeprefix("DateTimeStyles.") for n in str(value).replace("|", ",").split(",")
    ]
    unknown = [n for n in names if n and n not in DATE_TIME_STYLES]
    return f"unknown DateTimeStyles {', '.join(map(repr, unknown))}" if unknown else None


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise EvaluationError(f"DateAdd: the year {year} is out of range")
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def add(interval: str, amount: float, moment: datetime) -> datetime:
    whole = int(amount)
    if interval == "yyyy":
        return _add_months(moment, 12 * whole)
    if interval == "q":
        return _add_months(moment, 3 * whole)
    if interval == "m":
        return _add_months(moment, whole)
    seconds = {"y": 86_400, "d": 86_400, "w": 86_400, "ww": 604_800, "h": 3_600, "n": 60, "s": 1}
    try:
        return moment + timedelta(seconds=amount * seconds[interval])
    except OverflowError as exc:
        raise EvaluationError(f"DateAdd: the result is out of range: {exc}") from exc


def _fix(value: float) -> int:
    return int(value)  # truncates toward zero, as VBA's Fix


def difference(interval: str, first: datetime, second: datetime) -> int:
    if interval == "yyyy":
        return second.year - first.year
    if interval == "q":
        return (second.year - first.year) * 4 + (second.month - 1) // 3 - (first.month - 1) // 3
    if interval == "m":
        return (second.year - first.year) * 12 + second.month - first.month
    elapsed = (second - first).total_seconds()
    if interval in ("y", "d"):
        return _fix(elapsed / 86_400)
    if interval == "w":
        return _fix(_fix(elapsed / 86_400) / 7)
    if interval == "ww":
        # Count Sunday boundaries: move both dates back to their week's Sunday.
        start = first - timedelta(days=(first.weekday() + 1) % 7)
        end = second - timedelta(days=(second.weekday() + 1) % 7)
        return _fix(_fix((end - start).total_seconds() / 86_400) / 7)
    return _fix(elapsed / {"h": 3_600, "n": 60, "s": 1}[interval])


def _cdate(arguments: Arguments) -> Evaluator:
    source = arguments.get(0)
    return lambda obj, context: date(source(obj, context), "CDate")


def _interval_of(arguments: Arguments, name: str) -> Any:
    if arguments.is_literal(0):
        fixed = arguments.literal(0)
        return lambda obj, context: fixed
    given = arguments.get(0)

    def evaluate(obj: Any, context: Any) -> str:
        value = text(given(obj, context), name)
        if value not in INTERVALS:
            raise EvaluationError(f"{name}: {value!r} is not an interval ({', '.join(INTERVALS)})")
        return value

    return evaluate


def _date_add(arguments: Arguments) -> Evaluator:
    interval_of = _interval_of(arguments, "DateAdd")
    amount_of, moment_of = arguments.get(1), arguments.get(2)

    def evaluate(obj: Any, context: Any) -> datetime | None:
        interval = interval_of(obj, context)
        amount = number(amount_of(obj, context), "DateAdd", "value")
        moment = date(moment_of(obj, context), "DateAdd")
        if amount is None or moment is None:
            return None
        return add(interval, amount, moment)

    return evaluate


def _date_diff(arguments: Arguments) -> Evaluator:
    interval_of = _interval_of(arguments, "DateDiff")
    first_of, second_of = arguments.get(1), arguments.get(2)

    def evaluate(obj: Any, context: Any) -> int | None:
        interval = interval_of(obj, context)
        first = date(first_of(obj, context), "DateDiff")
        second = date(second_of(obj, context), "DateDiff")
        if first is None or second is None:
            return None
        return difference(interval, first, second)

    return evaluate


def _date_from_num(arguments: Arguments) -> Evaluator:
    source = arguments.get(0)

    def evaluate(obj: Any, context: Any) -> datetime | None:
        ticks = integer(source(obj, context), "DateFromNum", "value")
        if ticks is None or ticks in NEVER:
            return None
        try:
            return from_ticks(ticks)
        except DateFormatError as exc:
            raise EvaluationError(f"DateFromNum: {exc}") from exc

    return evaluate


def _format_date_time(arguments: Arguments) -> Evaluator:
    source, input_of, output_of = arguments.get(0), arguments.get(2), arguments.get(3)

    def evaluate(obj: Any, context: Any) -> str | None:
        value = source(obj, context)
        if value is None:
            return None
        try:
            if isinstance(value, datetime):
                moment = value
            else:
                word = text(value, "FormatDateTime")
                if word is None:
                    return None
                moment = parse_exact(word, text(input_of(obj, context), "FormatDateTime") or "")
            return format_date(moment, text(output_of(obj, context), "FormatDateTime") or "")
        except DateFormatError as exc:
            raise EvaluationError(f"FormatDateTime: {exc}") from exc

    return evaluate


def _now(arguments: Arguments) -> Evaluator:
    return lambda obj, context: context.now()


def _num_from_date(arguments: Arguments) -> Evaluator:
    source = arguments.get(0)

    def evaluate(obj: Any, context: Any) -> int | None:
        moment = date(source(obj, context), "NumFromDate")
        return None if moment is None else to_ticks(moment)

    return evaluate


INTERVAL = Param("interval", check=_interval, expects=f"one of {', '.join(INTERVALS)}")
FORMAT = "a .NET date and time format"

FUNCTIONS = (
    Function(
        "CDate",
        (Param("expression"),),
        _cdate,
        "The date a text stands for, in UTC (an offset in the text is applied); prints as "
        "M/d/yyyy h:mm:ss tt.",
        'CDate("2021-06-30+08:00") gives "6/29/2021 4:00:00 PM"',
    ),
    Function(
        "DateAdd",
        (
            INTERVAL,
            Param("value", check=readable(lambda v: number(v, "", "")), expects="a number"),
            Param("dateTime"),
        ),
        _date_add,
        "dateTime plus value intervals (negative to go back); prints as M/d/yyyy h:mm:ss tt. "
        "Intervals: yyyy year, q quarter, m month, y day of year, d day, w weekday, ww week, "
        "h hour, n minute, s second (y, d and w all add days, as in VBA).",
        'DateAdd("d", 7, CDate([StatusHireDate]))',
    ),
    Function(
        "DateDiff",
        (INTERVAL, Param("date1"), Param("date2")),
        _date_diff,
        "How many intervals from date1 to date2, positive when date2 is later, counted as "
        "VBA's DateDiff does: calendar boundaries for yyyy, q and m; whole elapsed units for "
        "d, y, w, h, n and s; Sunday-to-Sunday weeks for ww.",
        'DateDiff("d", Now(), CDate([StatusHireDate]))',
    ),
    Function(
        "DateFromNum",
        (Param("value"),),
        _date_from_num,
        "The date of an Active Directory integer date (100 ns ticks since 1601).",
        'DateFromNum(129699324000000000) gives "1/1/2012 11:00:00 PM"',
        notes='0 and 9223372036854775807 (Active Directory\'s "never") give null.',
    ),
    Function(
        "FormatDateTime",
        (
            Param("source"),
            Param("dateTimeStyles", False, _styles, "DateTimeStyles names"),
            Param("inputFormat", check=_format_check(check_input_format), expects=FORMAT),
            Param("outputFormat", check=_format_check(check_format), expects=FORMAT),
        ),
        _format_date_time,
        "Reads source with inputFormat and writes it with outputFormat: .NET custom format "
        "strings (d dd ddd dddd, M MM MMM MMMM, y yy yyy yyyy yyyyy, h hh H HH, m mm, s ss, "
        "f..fffffff, F..FFFFFFF, t tt, z zz zzz, K, g, quoted or backslash-escaped literals, "
        "and Z, which reads as UTC) or the one-letter standard formats d D f F g G M o r s t T "
        "u Y with en-US patterns.",
        'FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")',
        notes="Dates are kept in UTC: an offset in the input is applied, dateTimeStyles are "
        "checked but change nothing else.",
    ),
    Function(
        "Now",
        (),
        _now,
        "The current date and time in UTC; prints as M/d/yyyy h:mm:ss tt.",
        "Now()",
    ),
    Function(
        "NumFromDate",
        (Param("value"),),
        _num_from_date,
        "The Active Directory integer date (100 ns ticks since 1601) of a date.",
        'NumFromDate("2012-01-01T23:00:00Z") gives 129699324000000000',
    ),
)
