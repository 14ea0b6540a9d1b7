"""The errors of the ``relay.engine`` package.

::

    HatchwayError (shared.exceptions)
    └── EngineError
        ├── ExpressionError            an attribute-mapping expression is wrong
        │   ├── ExpressionSyntaxError  refused when saved; has position and expectation
        │   └── EvaluationError        failed on one object's values (a bad date...)
        │       └── DateFormatError    a date text or format that cannot be used
        ├── MappingError               a mapping is refused when saved; names it
        ├── ScopingError               a filter is refused when saved; names it and the clause
        ├── UnknownTemplateError       no gallery template has that name
        ├── TargetUnavailable          a batch could not be delivered to its target
        └── Quarantine                 a job must stop until an administrator or time fixes it

Everything an expression can get wrong in its text is an ``ExpressionSyntaxError`` at
compile time, when an administrator saves it; only what depends on one object's values is
left to ``EvaluationError``, so a cycle never stops on a mistake that could have been seen.
"""

from __future__ import annotations

from shared.exceptions import HatchwayError


class EngineError(HatchwayError):
    """Base class of the engine's own errors."""


class ExpressionError(EngineError):
    """An attribute-mapping expression is wrong or failed."""


class ExpressionSyntaxError(ExpressionError):
    """An expression's text is refused; ``position`` is the 0-based offset of the problem.

    The message reads ``position N: expected X, found Y`` so an administrator can find the
    place in the expression box without counting by hand.
    """

    def __init__(self, position: int, expected: str, found: str) -> None:
        self.position = position
        self.expected = expected
        self.found = found
        super().__init__(f"position {position}: expected {expected}, found {found}")


class EvaluationError(ExpressionError):
    """An expression failed on one object's values (a date that does not parse, say)."""


class DateFormatError(EvaluationError):
    """A date's text or a .NET date format that cannot be used. Raised without context by
    ``relay.engine.expressions.datetimes``; callers add the function's name, or turn it into
    an :class:`ExpressionSyntaxError` when the format is a constant checked on save."""


class MappingError(EngineError):
    """An attribute mapping is refused when it is saved; the message names the mapping
    (its target attribute and object class) so the administrator knows which row to fix."""


class ScopingError(EngineError):
    """A scoping filter is refused when it is saved; the message names the filter and the
    clause (its 1-based position and attribute)."""


class UnknownTemplateError(EngineError):
    """No gallery template has the name asked for; the message lists the templates."""


class TargetUnavailable(EngineError):
    """A batch of operations could not be delivered to its target (agent unknown, revoked,
    offline past the timeout, refused). Nothing is known to have been done, so the engine
    retries every object of the batch later; these do not count towards quarantine."""


class Quarantine(EngineError):
    """A job must stop: its target refuses the relay's credentials, or too many operations
    fail. ``reason`` is the readable cause shown by ``hatchway job status``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
