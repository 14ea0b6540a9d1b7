"""A value that must never reach a log line, a repr or the relay."""

from __future__ import annotations


class Secret:
    """Holds a credential; ``str()``, ``repr()`` and formatting all print a mask.

    The real value is only available through :meth:`reveal`, so leaking it takes a
    deliberate call that a reviewer can grep for.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
