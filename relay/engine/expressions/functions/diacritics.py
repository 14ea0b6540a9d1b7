"""NormalizeDiacritics: Entra ID's table of accented Latin letters and their plain forms.

Accents (combining marks after decomposition) are dropped from Latin letters only, so
scripts whose marks carry meaning (Japanese dakuten, Devanagari vowel signs) pass through
unchanged; the letters Entra ID spells out (``æ`` -> ``ae``, ``ø`` -> ``oe``, ``ß`` -> ``ss``,
``ł`` -> ``l``, dotless i (U+0131) -> ``i``) are replaced whole.
"""

from __future__ import annotations

import unicodedata

_LETTERS = {
    "æ": "ae",
    "Æ": "AE",
    "ø": "oe",
    "Ø": "OE",
    "œ": "oe",
    "Œ": "OE",
    "ß": "ss",
    "ł": "l",
    "Ł": "L",
    "\u0131": "i",
}


def _latin(char: str) -> bool:
    return (
        (char.isascii() and char.isalpha())
        or char in _LETTERS
        or ("LATIN" in unicodedata.name(char, ""))
    )


def normalize_diacritics(value: str) -> str:
    if value.isascii():
        return value
    out: list[str] = []
    base_is_latin = False
    for char in unicodedata.normalize("NFD", value):
        if unicodedata.combining(char):
            if not base_is_latin:
                out.append(char)
            continue
        base_is_latin = _latin(char)
        out.append(_LETTERS.get(char, char))
    return unicodedata.normalize("NFC", "".join(out))
