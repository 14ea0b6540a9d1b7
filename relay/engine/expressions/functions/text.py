"""Functions on text: Append, ConvertToBase64, ConvertToUTF8Hex, CStr, InStr, Join, Left,
Mid, NormalizeDiacritics, PCase, Split, StripSpaces, ToLower, ToUpper, Word."""

from __future__ import annotations

import base64
import unicodedata
from typing import Any

import re2

from relay.engine.exceptions import EvaluationError
from relay.engine.expressions.functions._helpers import at_least, each_text, whole_number
from relay.engine.expressions.functions.diacritics import normalize_diacritics
from relay.engine.expressions.signature import Arguments, Evaluator, Function, Param
from relay.engine.expressions.values import integer, text, texts

_CULTURE = re2.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def _culture(value: Any) -> str | None:
    return (
        None if isinstance(value, str) and (value == "" or _CULTURE.match(value)) else repr(value)
    )


def _nonempty(value: Any) -> str | None:
    return None if isinstance(value, str | int) and str(value) != "" else "an empty string"


def _text_param(index: int, arguments: Arguments, name: str) -> Any:
    """A constant argument's text fixed at compile time, or None when it is computed."""
    if arguments.is_literal(index):
        return text(arguments.literal(index), name)
    return None


# --- case ----------------------------------------------------------------------------------

_TURKIC = ("tr", "az")


def _upper(value: str, culture: str) -> str:
    if culture in _TURKIC:
        value = value.replace("i", "İ")
    if value.isascii():
        return value.upper()
    # .NET maps case one character to one character: "ß" stays "ß", unlike str.upper().
    return "".join(c if len(u := c.upper()) != 1 else u for c in value)


def _lower(value: str, culture: str) -> str:
    if culture in _TURKIC:
        value = value.replace("I", "\u0131").replace("İ", "i")
    if value.isascii():
        return value.lower()
    return "".join(c if len(low := c.lower()) != 1 else low for c in value)


def _case(name: str, convert: Any) -> Any:
    def build(arguments: Arguments) -> Evaluator:
        if not arguments.given(1):
            return each_text(name, lambda v: convert(v, ""))(arguments)
        if arguments.is_literal(1):
            language = str(arguments.literal(1)).split("-")[0].lower()
            return each_text(name, lambda v: convert(v, language))(arguments)
        culture = arguments.get(1)
        source = arguments.get(0)

        def evaluate(obj: Any, context: Any) -> Any:
            language = (text(culture(obj, context), name) or "").split("-")[0].lower()
            value = source(obj, context)
            words = texts(value, name)
            converted = [convert(w, language) for w in words]
            if value is None or not converted:
                return None
            return converted if isinstance(value, list) else converted[0]

        return evaluate

    return build


# --- PCase ---------------------------------------------------------------------------------


def _in_word(char: str) -> bool:
    """.NET's ToTitleCase: letters, marks, digits and the apostrophe make up words."""
    return char == "'" or unicodedata.category(char)[0] in "LMN"


def _proper(value: str, separators: str | None) -> str:
    out: list[str] = []
    start = True
    for char in value:
        if (char in separators) if separators is not None else not _in_word(char):
            out.append(char)
            start = True
        elif start:
            upper = char.upper()
            out.append(upper if len(upper) == 1 else char)
            start = False
        else:
            lower = char.lower()
            out.append(lower if len(lower) == 1 else char)
    return "".join(out)


def _pcase(arguments: Arguments) -> Evaluator:
    if not arguments.given(1):
        return each_text("PCase", lambda v: _proper(v, None))(arguments)
    if arguments.is_literal(1):
        separators = text(arguments.literal(1), "PCase") or ""
        return each_text("PCase", lambda v: _proper(v, separators))(arguments)
    source, given = arguments.get(0), arguments.get(1)

    def evaluate(obj: Any, context: Any) -> Any:
        word = text(source(obj, context), "PCase")
        return None if word is None else _proper(word, text(given(obj, context), "PCase") or "")

    return evaluate


# --- the rest ------------------------------------------------------------------------------


def _append(arguments: Arguments) -> Evaluator:
    source, suffix = arguments.get(0), arguments.get(1)

    def evaluate(obj: Any, context: Any) -> Any:
        value = source(obj, context)
        if value is None:
            return None
        end = text(suffix(obj, context), "Append") or ""
        if isinstance(value, list):
            return [t + end for t in texts(value, "Append")] or None
        word = text(value, "Append")
        return None if word is None else word + end

    return evaluate


def _join(arguments: Arguments) -> Evaluator:
    separator_of = arguments.get(0)
    sources = arguments.evaluators[1:]
    fixed = _text_param(0, arguments, "Join")

    def evaluate(obj: Any, context: Any) -> str:
        separator = fixed if fixed is not None else text(separator_of(obj, context), "Join") or ""
        parts: list[str] = []
        for source in sources:
            value = source(obj, context)
            if value is None or value == "":
                continue
            if isinstance(value, str):
                parts.append(value)
            else:
                parts.extend(t for t in texts(value, "Join") if t)
        return separator.join(parts)

    return evaluate


def _cstr(arguments: Arguments) -> Evaluator:
    source = arguments.get(0)
    return lambda obj, context: text(source(obj, context), "CStr")


def _instr(arguments: Arguments) -> Evaluator:
    haystack, needle, start_of, compare_of = (arguments.get(i) for i in range(4))

    def evaluate(obj: Any, context: Any) -> int | None:
        value = text(haystack(obj, context), "InStr")
        wanted = text(needle(obj, context), "InStr")
        if value is None or wanted is None:
            return None
        start = integer(start_of(obj, context), "InStr", "start")
        start = 1 if start is None else start
        if start < 1:
            raise EvaluationError(f"InStr: start must be 1 or more, got {start}")
        if integer(compare_of(obj, context), "InStr", "compareType") == 1:
            value, wanted = value.lower(), wanted.lower()
        return value.find(wanted, start - 1) + 1

    return evaluate


def _left(arguments: Arguments) -> Evaluator:
    source, count_of = arguments.get(0), arguments.get(1)

    def evaluate(obj: Any, context: Any) -> str:
        value = text(source(obj, context), "Left")
        count = integer(count_of(obj, context), "Left", "NumChars")
        if value is None:
            return ""
        if count is None or count < 0:
            return value
        return value[:count]

    return evaluate


def _mid(arguments: Arguments) -> Evaluator:
    source, start_of, length_of = (arguments.get(i) for i in range(3))

    def evaluate(obj: Any, context: Any) -> str | None:
        value = text(source(obj, context), "Mid")
        start = integer(start_of(obj, context), "Mid", "start")
        length = integer(length_of(obj, context), "Mid", "length")
        if value is None:
            return None
        if start is None or length is None or start < 1 or length < 0:
            return ""
        return value[start - 1 : start - 1 + length]

    return evaluate


def _split(arguments: Arguments) -> Evaluator:
    source, delimiter_of = arguments.get(0), arguments.get(1)

    def evaluate(obj: Any, context: Any) -> list[str] | None:
        value = text(source(obj, context), "Split")
        delimiter = text(delimiter_of(obj, context), "Split")
        if value is None:
            return None
        if not delimiter:
            return [value.strip()]
        return [part.strip() for part in value.split(delimiter)]

    return evaluate


def _word(arguments: Arguments) -> Evaluator:
    source, number_of, delimiters_of = (arguments.get(i) for i in range(3))

    def evaluate(obj: Any, context: Any) -> str:
        value = text(source(obj, context), "Word")
        number = integer(number_of(obj, context), "Word", "WordNumber")
        delimiters = text(delimiters_of(obj, context), "Word") or ""
        if value is None or number is None or number < 1:
            return ""
        words: list[str] = []
        current: list[str] = []
        for char in value:
            if char in delimiters:
                if current:
                    words.append("".join(current))
                    current = []
            else:
                current.append(char)
        if current:
            words.append("".join(current))
        return words[number - 1] if number <= len(words) else ""

    return evaluate


def _base64(value: str) -> str:
    return base64.b64encode(value.encode("utf-16-le", "surrogatepass")).decode("ascii")


def _utf8_hex(value: str) -> str:
    return value.encode("utf-8", "surrogatepass").hex().upper()


SOURCE = Param("source")
NUMBER = "a whole number"

FUNCTIONS = (
    Function(
        "Append",
        (SOURCE, Param("suffix")),
        _append,
        "Appends suffix to the end of source (to each value of a multi-valued source).",
        'Append([userPrincipalName], ".test")',
    ),
    Function(
        "ConvertToBase64",
        (SOURCE,),
        each_text("ConvertToBase64", _base64),
        'Base64 of the text\'s UTF-16 ("Unicode") bytes.',
        'ConvertToBase64("Hello world!") gives "SABlAGwAbABvACAAdwBvAHIAbABkACEA"',
    ),
    Function(
        "ConvertToUTF8Hex",
        (SOURCE,),
        each_text("ConvertToUTF8Hex", _utf8_hex),
        "The text's UTF-8 bytes in upper-case hexadecimal.",
        'ConvertToUTF8Hex("Hello world!") gives "48656C6C6F20776F726C6421"',
    ),
    Function(
        "CStr",
        (Param("value"),),
        _cstr,
        "The value as text: True/False for booleans, digits for numbers.",
        "CStr([dn])",
    ),
    Function(
        "InStr",
        (
            Param("value1"),
            Param("value2"),
            Param("start", False, at_least(1), "a whole number from 1"),
            Param(
                "compareType",
                False,
                lambda v: None if v in (0, 1) else repr(v),
                "vbBinaryCompare or vbTextCompare",
            ),
        ),
        _instr,
        "The 1-based position of value2 in value1 from start (0 if absent); vbTextCompare "
        "ignores case.",
        'InStr("repEated", "e", 3, vbBinaryCompare) gives 7',
    ),
    Function(
        "Join",
        (Param("separator"),),
        _join,
        "Joins the non-empty values (every value of a multi-valued one) with separator.",
        'Join(", ", "", [surname], [givenName]) gives "Doe, John"',
        repeat=Param("source"),
        notes="Null and empty values are skipped, as Microsoft's example shows.",
    ),
    Function(
        "Left",
        (Param("String"), Param("NumChars", check=whole_number, expects=NUMBER)),
        _left,
        "The first NumChars characters; all of them if NumChars < 0; empty for a null.",
        'Left("John Doe", 3) gives "Joh"',
    ),
    Function(
        "Mid",
        (
            SOURCE,
            Param("start", check=at_least(1), expects="a whole number from 1"),
            Param("length", check=at_least(0), expects="a whole number from 0"),
        ),
        _mid,
        "length characters from the 1-based position start.",
        "Mid([givenName], 1, 3)",
    ),
    Function(
        "NormalizeDiacritics",
        (SOURCE,),
        each_text("NormalizeDiacritics", normalize_diacritics),
        "Replaces accented Latin letters by plain ones (Entra ID's table).",
        'NormalizeDiacritics("Zoë") gives "Zoe"',
        notes="Accents are dropped from any Latin letter, a superset of Entra ID's table; "
        "other scripts are unchanged.",
    ),
    Function(
        "PCase",
        (SOURCE, Param("wordSeparators", False)),
        _pcase,
        "Upper-cases the first letter of each word and lower-cases the rest; words are split "
        "on wordSeparators if given, else on spaces, punctuation and symbols.",
        'PCase([lastName], " \'-") gives "Pinto-De\'Silva" for "PINTO-DE\'SILVA"',
    ),
    Function(
        "Split",
        (SOURCE, Param("delimiter", check=_nonempty, expects="a non-empty string")),
        _split,
        "Splits the text into a multi-valued result at each delimiter, trimming each value.",
        'Split([extensionAttribute5], ",")',
        notes="Values are trimmed of surrounding spaces, as Microsoft's example output shows.",
    ),
    Function(
        "StripSpaces",
        (SOURCE,),
        each_text("StripSpaces", lambda v: v.replace(" ", "")),
        "Removes every space character.",
        'StripSpaces("John Smith") gives "JohnSmith"',
    ),
    Function(
        "ToLower",
        (SOURCE, Param("culture", False, _culture, "a culture name such as en-US")),
        _case("ToLower", _lower),
        "Lower case, invariant unless a culture is given (tr and az lower I to dotless i).",
        'ToLower("John.Smith@Contoso.com") gives "john.smith@contoso.com"',
    ),
    Function(
        "ToUpper",
        (SOURCE, Param("culture", False, _culture, "a culture name such as en-US")),
        _case("ToUpper", _upper),
        "Upper case, invariant unless a culture is given (tr and az upper i to İ).",
        'ToUpper("john") gives "JOHN"',
    ),
    Function(
        "Word",
        (
            Param("String"),
            Param("WordNumber", check=whole_number, expects=NUMBER),
            Param("Delimiters"),
        ),
        _word,
        "The WordNumber-th word (from 1) of the text split at any of the delimiter "
        "characters; empty if there is no such word.",
        'Word("This,string!has&many separators", 3, ",!&#") gives "has"',
    ),
)
