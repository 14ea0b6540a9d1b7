"""Reading TOML settings with errors that name the file, the key and what is wrong.

Settings classes are frozen dataclasses with documented defaults; their ``load``
functions read through :class:`Table`, which remembers where each value came from so
every :class:`~shared.exceptions.SettingsError` points at the exact key.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from shared.exceptions import SettingsError
from shared.secret import Secret

#: Seconds per duration unit; one unit per duration keeps the text easy to read back.
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*")
#: How a duration is written in messages, so they all teach the same examples.
DURATION_EXAMPLES = "30s, 5m, 6h or 1d"


def parse_duration(text: str) -> float:
    """``30s``, ``5m``, ``6h``, ``1d`` or plain seconds (``45``, ``1.5h``) into seconds.

    Raises :class:`ValueError` for anything else, including signs and compound text
    (``1h30m``), so a typo never turns into a surprising interval."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like {DURATION_EXAMPLES}")
    return float(match.group(1)) * DURATION_UNITS[match.group(2) or "s"]


def format_duration(seconds: float) -> str:
    """A duration for people, in the largest unit that counts it whole (``90m`` stays
    ``90m``, ``86400`` is ``1d``); others as seconds (``2.5s``)."""
    for unit, size in sorted(DURATION_UNITS.items(), key=lambda item: -item[1]):
        count = seconds / size
        if count.is_integer() and count != 0:
            return f"{int(count)}{unit}"
    return f"{seconds:g}s"


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, translating I/O and syntax errors into :class:`SettingsError`."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise SettingsError(str(path), None, "file does not exist") from exc
    except OSError as exc:
        raise SettingsError(str(path), None, f"cannot be read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(str(path), None, f"is not valid TOML: {exc}") from exc


class Table:
    """A TOML table with typed accessors; ``prefix`` is the dotted path of the table."""

    def __init__(self, data: Mapping[str, Any], *, source: str, prefix: str = "") -> None:
        self.data = data
        self.source = source
        self.prefix = prefix
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str | None, problem: str) -> SettingsError:
        return SettingsError(self.source, None if name is None else self.key(name), problem)

    def _get(self, name: str, kind: type | tuple[type, ...], kind_name: str) -> Any:
        self._seen.add(name)
        value = self.data.get(name)
        if value is None:
            return None
        # bool is an int in Python; refuse it where a number is wanted.
        if isinstance(value, bool) and kind is not bool:
            raise self.error(name, f"must be {kind_name}, not a boolean")
        if not isinstance(value, kind):
            raise self.error(name, f"must be {kind_name}, not {type(value).__name__}")
        return value

    def string(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self._get(name, str, "a string")
        if value is None:
            if required or default is None:
                raise self.error(name, "is required")
            return default
        if required and not value.strip():
            raise self.error(name, "must not be empty")
        return str(value)

    def optional_string(self, name: str) -> str | None:
        value = self._get(name, str, "a string")
        return None if value is None else str(value)

    def integer(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self._get(name, int, "an integer")
        if value is None:
            return default
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(name, f"must be at most {maximum}, got {value}")
        return int(value)

    def number(self, name: str, default: float, *, minimum: float | None = None) -> float:
        value = self._get(name, (int, float), "a number")
        if value is None:
            return default
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be at least {minimum}, got {value}")
        return float(value)

    def duration(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        """Seconds, given as a number or as text like ``"30s"``, ``"5m"``, ``"6h"``, ``"1d"``."""
        value = self._duration(name)
        if value is None:
            return default
        if value < minimum:
            raise self.error(name, f"must be at least {format_duration(minimum)}, got {value!r}")
        return value

    def optional_duration(
        self, name: str, default: float | None = None, *, minimum: float = 0.0
    ) -> float | None:
        """As :meth:`duration`, where ``"off"`` gives None (the thing is not done at all)."""
        if self.data.get(name) == "off":
            self._seen.add(name)
            return None
        value = self._duration(name, off=True)
        if value is None:
            return default
        if value < minimum:
            raise self.error(name, f"must be at least {format_duration(minimum)}, got {value!r}")
        return value

    def _duration(self, name: str, *, off: bool = False) -> float | None:
        expected = f"a duration like {DURATION_EXAMPLES} (or a number of seconds)"
        if off:
            expected += ', or "off"'
        value = self._get(name, (int, float, str), expected)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                return parse_duration(value)
            except ValueError:
                raise self.error(name, f"must be {expected}, got {value!r}") from None
        if not math.isfinite(value):
            raise self.error(name, f"must be {expected}, got {value!r}")
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name, bool, "true or false")
        return default if value is None else bool(value)

    def secret(self, name: str, *, required: bool = True) -> Secret | None:
        value = self._get(name, str, "a string")
        if value is None:
            if required:
                raise self.error(name, "is required")
            return None
        return Secret(value)

    def string_map(self, name: str) -> dict[str, str]:
        value = self._get(name, dict, "a table")
        if value is None:
            return {}
        for key, item in value.items():
            if not isinstance(item, str):
                raise self.error(f"{name}.{key}", "must be a string")
        return dict(value)

    def string_list(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """A list of non-empty strings, each at most once."""
        value = self._get(name, list, "a list of strings")
        if value is None:
            return default
        if not all(isinstance(item, str) and item for item in value):
            raise self.error(name, "must hold only non-empty strings")
        if len(set(value)) != len(value):
            raise self.error(name, "must not hold the same string twice")
        return tuple(value)

    def raw(self, name: str) -> Any:
        """The value as TOML gave it (None when absent), marked as read for
        :meth:`reject_unknown`: for what the typed accessors do not cover, such as arrays of
        tables or a key that may hold several types."""
        self._seen.add(name)
        return self.data.get(name)

    def table(self, name: str) -> Table:
        value = self._get(name, dict, "a table")
        return Table(value or {}, source=self.source, prefix=self.key(name))

    def tables(self, name: str) -> Iterator[tuple[str, Table]]:
        """Sub-tables of ``name``, such as each ``[connectors.X]``."""
        outer = self.table(name)
        for key in outer.data:
            yield key, outer.table(key)

    def reject_unknown(self) -> None:
        """Refuse keys nobody read: a typo must not be silently ignored."""
        unknown = sorted(set(self.data) - self._seen)
        if unknown:
            raise self.error(unknown[0], "is not a known setting")
