"""A mapping checked against the target's schema: attributes that exist, constants that fit."""

from __future__ import annotations

import pytest

from relay.engine.exceptions import MappingError
from relay.engine.mapping_schema import attribute_info, converted
from shared.connector import AttributeInfo, AttributeType, ObjectClassInfo, Scalar

WHERE = "user mapping 'x' (object class 'user')"
SCHEMA = ObjectClassInfo(
    "user",
    naming_attribute="userName",
    attributes=(
        AttributeInfo("userName"),
        AttributeInfo("active", AttributeType.BOOLEAN),
        AttributeInfo("loginCount", AttributeType.INTEGER),
        AttributeInfo("quota", AttributeType.DECIMAL),
    ),
)
INFO = {a.name: a for a in SCHEMA.attributes}


def test_the_attribute_is_found_or_refused_with_a_hint() -> None:
    assert attribute_info(WHERE, "userName", SCHEMA) is INFO["userName"]
    assert attribute_info(WHERE, "anything", None) is None
    with pytest.raises(MappingError) as caught:
        attribute_info(WHERE, "USERNAME", SCHEMA)
    assert str(caught.value) == (
        f"{WHERE}: the target has no attribute 'USERNAME' in object class 'user';"
        " did you mean 'userName'?"
    )


@pytest.mark.parametrize(
    ("attribute", "value", "expected"),
    [
        ("active", "True", True),
        ("active", " no ", False),
        ("active", 1, True),
        ("loginCount", " 42 ", 42),
        ("loginCount", 7, 7),
        ("quota", "2.5", 2.5),
        ("quota", 3, 3),
        ("userName", True, "True"),
        ("userName", 12, "12"),
    ],
)
def test_constants_convert_to_the_attribute_type(
    attribute: str, value: Scalar, expected: Scalar
) -> None:
    result = converted(WHERE, "value", value, INFO[attribute])
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("attribute", "value", "problem"),
    [
        ("active", "maybe", "value 'maybe' is not true or false"),
        ("loginCount", "4.5", "value '4.5' is not an integer"),
        ("quota", "lots", "value 'lots' is not a number"),
        ("quota", "nan", "value 'nan' is not a finite number"),
    ],
)
def test_constants_that_do_not_fit_are_refused(attribute: str, value: Scalar, problem: str) -> None:
    with pytest.raises(MappingError) as caught:
        converted(WHERE, "value", value, INFO[attribute])
    assert str(caught.value) == f"{WHERE}: {problem}"
