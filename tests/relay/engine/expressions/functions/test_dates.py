"""Date functions, with the examples of Microsoft's "Reference for writing expressions for
attribute mappings in Microsoft Entra ID"
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/functions-for-customizing-application-data)
as golden tests: same expressions, same inputs, same outputs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from relay.engine.exceptions import EvaluationError, ExpressionSyntaxError
from relay.engine.expressions import EvaluationContext, compile_expression
from relay.engine.expressions.datetimes import parse_date, to_ticks
from tests.relay.engine.expressions.helpers import evaluate


@pytest.mark.parametrize(
    ("expression", "attributes", "expected"),
    [
        ("CDate([StatusHireDate])", {"StatusHireDate": "2020-03-16-07:00"}, "3/16/2020 7:00:00 AM"),
        ('CDate("2021-06-30+08:00")', {}, "6/29/2021 4:00:00 PM"),
        ('CDate("2009-06-15T01:45:30-07:00")', {}, "6/15/2009 8:45:30 AM"),
        ("DateFromNum(129699324000000000)", {}, "1/1/2012 11:00:00 PM"),
        (
            "DateFromNum([lastLogonTimestamp])",
            {"lastLogonTimestamp": "129699324000000000"},
            "1/1/2012 11:00:00 PM",
        ),
        (
            'FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")',
            {"extensionAttribute1": "20150123105347.1Z"},
            "2015-01-23",
        ),
        ('NumFromDate("2012-01-01T23:00:00Z")', {}, 129699324000000000),
    ],
)
def test_reference_examples(expression, attributes, expected):
    assert evaluate(expression, **attributes) == expected


@pytest.mark.parametrize(
    ("interval", "value", "expected"),
    [
        ("d", 7, "3/23/2012 7:00:00 AM"),
        ("d", -10, "3/6/2012 7:00:00 AM"),
        ("ww", 2, "3/30/2012 7:00:00 AM"),
        ("m", 10, "1/16/2013 7:00:00 AM"),
        ("yyyy", 2, "3/16/2014 7:00:00 AM"),
    ],
)
def test_reference_date_add_table(interval, value, expected):
    expression = f'DateAdd("{interval}", {value}, CDate([StatusHireDate]))'
    assert evaluate(expression, StatusHireDate="2012-03-16-07:00") == expected


@pytest.mark.parametrize(
    ("interval", "date1", "date2", "expected"),
    [
        ("d", "2021-08-18+08:00", "2021-08-31+08:00", 13),
        ("d", "8/25/2021 5:41:18 PM", "2012-03-16-07:00", -3449),
        ("ww", "8/25/2021 5:41:18 PM", "2012-03-16-07:00", -493),
        ("m", "8/25/2021 5:41:18 PM", "2012-03-16-07:00", -113),
        ("yyyy", "8/25/2021 5:41:18 PM", "2012-03-16-07:00", -9),
        ("d", "2021-08-31+08:00", "2021-08-31+08:00", 0),
        ("h", "2021-08-24", "2021-08-25", 24),
        ("n", "2021-08-24", "2021-08-25", 1440),
        ("s", "2021-08-24", "2021-08-25", 86400),
    ],
)
def test_reference_date_diff_table(interval, date1, date2, expected):
    # The page's first example, DateDiff("d", Now(), CDate([StatusHireDate])), with Now()
    # fixed at the table's date1.
    context = EvaluationContext(now=lambda: parse_date(date1))
    expression = f'DateDiff("{interval}", Now(), CDate([StatusHireDate]))'
    assert evaluate(expression, context, StatusHireDate=date2) == expected


def test_reference_date_diff_inside_switch():
    expression = (
        'Switch([Active], , "1", IIF(DateDiff("d", Now(), CDate([StatusHireDate])) > 5, '
        '"False", "True"), "0", "False")'
    )
    context = EvaluationContext(now=lambda: datetime(2021, 8, 25, tzinfo=UTC))
    assert evaluate(expression, context, Active="1", StatusHireDate="2021-09-25") == "False"
    assert evaluate(expression, context, Active="1", StatusHireDate="2021-08-27") == "True"
    assert evaluate(expression, context, Active="0", StatusHireDate="2021-08-27") == "False"
    assert evaluate(expression, context, Active="2", StatusHireDate="2021-08-27") is None


def test_reference_num_from_date_examples():
    workday = (
        'NumFromDate(Join("", FormatDateTime([ContractEndDate], ,"yyyy-MM-ddzzz", '
        '"yyyy-MM-dd"), " 23:59:59-08:00"))'
    )
    success_factors = (
        'NumFromDate(Join("",FormatDateTime([endDate], ,"M/d/yyyy hh:mm:ss tt","yyyy-MM-dd"),'
        '" 23:59:59-08:00"))'
    )
    end_of_2020_pacific = to_ticks(datetime(2021, 1, 1, 7, 59, 59, tzinfo=UTC))
    assert evaluate(workday, ContractEndDate="2020-12-31-08:00") == end_of_2020_pacific
    assert evaluate(success_factors, endDate="12/31/2020 11:00:00 PM") == end_of_2020_pacific


def test_now_prints_as_entra_does():
    context = EvaluationContext(now=lambda: datetime(2021, 7, 2, 15, 33, 38, tzinfo=UTC))
    assert evaluate("Now()", context) == "7/2/2021 3:33:38 PM"


def test_format_date_time_output_specifiers():
    source = {"d": "2009-06-05T13:45:30.0500000Z"}
    assert evaluate('FormatDateTime([d], , "o", "dddd d MMMM yy h:mm tt")', **source) == (
        "Friday 5 June 09 1:45 PM"
    )
    assert evaluate('FormatDateTime([d], , "o", "yyyy-MM-ddTHH:mm:ss.FFFK")', **source) == (
        "2009-06-05T13:45:30.05Z"
    )
    assert evaluate('FormatDateTime([d], , "o", "s")', **source) == "2009-06-05T13:45:30"


def test_never_from_active_directory_is_null():
    assert evaluate("DateFromNum(9223372036854775807)") is None
    assert evaluate("DateFromNum(0)") is None


def test_a_date_that_does_not_parse_is_an_evaluation_error():
    with pytest.raises(EvaluationError, match="CDate: 'soon' is not a date"):
        evaluate("CDate([d])", d="soon")
    with pytest.raises(EvaluationError, match="does not match the format"):
        evaluate('FormatDateTime([d], , "yyyyMMdd", "yyyy")', d="2020-01-01")
    with pytest.raises(EvaluationError, match="DateAdd: value must be a number, got 'inf'"):
        evaluate('DateAdd("d", [n], "2020-01-01")', n=float("inf"))
    with pytest.raises(EvaluationError, match="outside the dates Hatchway can represent"):
        evaluate("CDate([d])", d="0001-01-01T00:00:00+01:00")


@pytest.mark.parametrize(
    ("expression", "position", "expected"),
    [
        ('DateAdd("fortnight", 1, Now())', 8, "one of yyyy, q, m, y, d, w, ww, h, n, s"),
        ('DateAdd("d", "x", Now())', 13, "a number"),
        ('DateAdd("d", "NaN", Now())', 13, "a number"),
        ('FormatDateTime([d], , "Q", "yyyy")', 22, "a .NET date and time format"),
        ('FormatDateTime([d], , "yyyy-yyyy", "yyyy")', 22, "a .NET date and time format"),
        ('FormatDateTime([d], "Sideways", "o", "yyyy")', 20, "DateTimeStyles names"),
        ('FormatDateTime([d], , , "yyyy")', 22, "a value for inputFormat"),
    ],
)
def test_refused_when_saved(expression, position, expected):
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(expression)
    assert caught.value.position == position
    assert caught.value.expected.startswith(expected)
