"""A compiled expression: parsed and checked once when saved, evaluated for every object."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TypeAlias

from relay.engine.exceptions import EvaluationError, ExpressionError
from relay.engine.expressions.compiler import compile_tree
from relay.engine.expressions.context import (
    DEFAULT_CONTEXT,
    IGNORE_FLOW,
    EvaluationContext,
    IgnoreFlow,
    IgnoreFlowSignal,
)
from relay.engine.expressions.nodes import Node
from relay.engine.expressions.parser import parse
from relay.engine.expressions.signature import Evaluator
from relay.engine.expressions.values import output
from relay.engine.source import Source, Value

UNIQUENESS_TIMEOUT = 30.0
"""Seconds SelectUniqueValue waits for the target to answer about one candidate."""

Result: TypeAlias = "Value | IgnoreFlow"
"""What an evaluation gives: a value, or IGNORE_FLOW (leave the target attribute alone)."""


@dataclass(frozen=True, slots=True, eq=False)
class Expression:
    """An attribute-mapping expression, compiled.

    ``references`` are the attribute references it reads (the texts inside ``[ ]``);
    ``needs_target`` is True when it uses SelectUniqueValue, which must be evaluated with
    :meth:`evaluate_async` and a context whose ``is_unique`` and ``target_attribute`` are set;
    ``redacted`` is True when it uses Redact: provisioning logs must show ``[Redact]``
    instead of its value.
    """

    text: str
    tree: Node
    references: frozenset[str]
    needs_target: bool
    redacted: bool
    _evaluate: Evaluator = field(repr=False)
    _candidates: tuple[Evaluator, ...] = field(repr=False)

    def evaluate(self, source: Source, context: EvaluationContext | None = None) -> Result:
        """The expression's value for ``source``; raises only :class:`EvaluationError`."""
        if self.needs_target:
            raise EvaluationError(
                "SelectUniqueValue asks the target about each candidate: use evaluate_async"
            )
        return _run(self._evaluate, source, context or DEFAULT_CONTEXT)

    async def evaluate_async(
        self,
        source: Source,
        context: EvaluationContext,
        *,
        target_attribute: str = "",
        timeout: float | None = UNIQUENESS_TIMEOUT,
    ) -> Result:
        """Like :meth:`evaluate`, and runs SelectUniqueValue's look-ups in the target.

        SelectUniqueValue returns the first candidate for which
        ``context.is_unique(target, candidate)`` is True, where ``target`` is
        ``target_attribute`` if given, else ``context.target_attribute``: the mapping's target
        attribute, as in Entra ID. If every candidate is taken it raises EvaluationError
        (Entra ID escrows the object). ``timeout`` bounds each look-up, in seconds (None:
        no bound); a look-up that takes longer is an EvaluationError.
        """
        if not self.needs_target:
            return self.evaluate(source, context)
        target = target_attribute or context.target_attribute
        if context.is_unique is None or not target:
            raise EvaluationError(
                "SelectUniqueValue needs context.is_unique and the mapping's target attribute"
            )
        tried: list[str] = []
        for candidate in self._candidates:
            value = _run(candidate, source, context)
            if value is IGNORE_FLOW or value is None or value == "":
                continue
            if not isinstance(value, str):
                raise EvaluationError(
                    f"SelectUniqueValue: a candidate must be text, got {type(value).__name__}"
                )
            try:
                async with asyncio.timeout(timeout):
                    free = await context.is_unique(target, value)
            except ExpressionError:
                raise
            except TimeoutError as exc:
                raise EvaluationError(
                    f"SelectUniqueValue: the target did not answer about {value!r} "
                    f"within {timeout} s"
                ) from exc
            except Exception as exc:
                raise EvaluationError(
                    f"SelectUniqueValue: checking {value!r} in the target failed: {exc}"
                ) from exc
            if free:
                return value
            tried.append(value)
        raise EvaluationError(
            f"SelectUniqueValue: every candidate is taken in {target}: "
            + ", ".join(repr(t) for t in tried)
        )


def _run(evaluator: Evaluator, source: Source, context: EvaluationContext) -> Result:
    try:
        return output(evaluator(source, context))
    except IgnoreFlowSignal:
        return IGNORE_FLOW
    except EvaluationError:
        raise
    except (ArithmeticError, ValueError, TypeError, LookupError, UnicodeError) as exc:
        raise EvaluationError(f"evaluation failed: {exc}") from exc


def compile_expression(text: str) -> Expression:
    """Parse and check ``text``; raises :class:`ExpressionSyntaxError` with the position."""
    tree = parse(text)
    compiled = compile_tree(tree)
    return Expression(
        text=text,
        tree=tree,
        references=frozenset(compiled.references),
        needs_target="SelectUniqueValue" in compiled.calls,
        redacted="Redact" in compiled.calls,
        _evaluate=compiled.evaluator,
        _candidates=compiled.candidates,
    )
