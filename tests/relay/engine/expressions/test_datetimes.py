"""Dates as Entra ID (.NET) reads and writes them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from relay.engine.exceptions import DateFormatError
from relay.engine.expressions.datetimes import (
    check_format,
    format_date,
    from_ticks,
    parse_date,
    parse_exact,
    to_ticks,
    vb_text,
)

MOMENT = datetime(2009, 6, 15, 13, 45, 30, 617_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2009-06-15T13:45:30Z", datetime(2009, 6, 15, 13, 45, 30, tzinfo=UTC)),
        ("2009-06-15 13:45:30.617", MOMENT),
        ("2009-06-15T06:45:30-07:00", datetime(2009, 6, 15, 13, 45, 30, tzinfo=UTC)),
        ("2012-03-16-07:00", datetime(2012, 3, 16, 7, tzinfo=UTC)),
        ("6/15/2009 1:45:30 PM", datetime(2009, 6, 15, 13, 45, 30, tzinfo=UTC)),
        ("6/15/2009 12:05 AM", datetime(2009, 6, 15, 0, 5, tzinfo=UTC)),
        (" 6/15/2009 ", datetime(2009, 6, 15, tzinfo=UTC)),
    ],
)
def test_parse_date(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "soon",
        "2009-13-01",
        "6/15/2009 13:00 PM",
        "2009-06-31",
        "0001-01-01T00:00:00+08:00",
        "9999-12-31T23:00:00-08:00",
    ],
)
def test_parse_date_refuses(text):
    with pytest.raises(DateFormatError):
        parse_date(text)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy-MM-dd HH:mm:ss.fff", "2009-06-15 13:45:30.617"),
        ("M/d/yy h:m:s tt", "6/15/09 1:45:30 PM"),
        ("ddd, dd MMM yyyy", "Mon, 15 Jun 2009"),
        ("dddd MMMM", "Monday June"),
        ("'Year' yyyy \\a\\t HH\"h\"", "Year 2009 at 13h"),
        ("yyyyMMddHHmmss.FFFFFFFZ", "20090615134530.617Z"),
        ("HH:mm:ss.FFF zzz K", "13:45:30.617 +00:00 Z"),
        ("%d", "15"),
        ("u", "2009-06-15 13:45:30Z"),
        ("G", "6/15/2009 1:45:30 PM"),
        ("R", "Mon, 15 Jun 2009 13:45:30 GMT"),
    ],
)
def test_format_date(pattern, expected):
    assert format_date(MOMENT, pattern) == expected


def test_trailing_f_digits_and_their_point_vanish_when_zero():
    assert format_date(datetime(2009, 1, 1, tzinfo=UTC), "ss.FFF") == "00"


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        (
            "20150123105347.1Z",
            "yyyyMMddHHmmss.fZ",
            datetime(2015, 1, 23, 10, 53, 47, 100_000, tzinfo=UTC),
        ),
        ("2020-12-31-08:00", "yyyy-MM-ddzzz", datetime(2020, 12, 31, 8, tzinfo=UTC)),
        ("12/31/2020 11:00:00 PM", "M/d/yyyy hh:mm:ss tt", datetime(2020, 12, 31, 23, tzinfo=UTC)),
        ("15 June 09", "dd MMMM yy", datetime(2009, 6, 15, tzinfo=UTC)),
        ("2009-06-15T13:45:30.6170000Z", "o", MOMENT),
    ],
)
def test_parse_exact(text, pattern, expected):
    assert parse_exact(text, pattern) == expected


@pytest.mark.parametrize("pattern", ["", "Q", "'open", "yyyy\\", "ffffffff"])
def test_formats_dotnet_refuses_are_refused(pattern):
    with pytest.raises(DateFormatError):
        check_format(pattern)


def test_active_directory_ticks_and_entra_text():
    moment = datetime(2012, 1, 1, 23, tzinfo=UTC)
    assert to_ticks(moment) == 129699324000000000
    assert from_ticks(129699324000000000) == moment
    assert vb_text(moment) == "1/1/2012 11:00:00 PM"
    assert vb_text(datetime(2012, 1, 1, 0, 5, tzinfo=UTC)) == "1/1/2012 12:05:00 AM"
