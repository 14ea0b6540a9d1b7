"""Entra ID-compatible attribute-mapping expressions: compile once, evaluate per object.

The interface the mapping code uses::

    expression = compile_expression('Join(" ", [givenName], [surname])')  # ExpressionSyntaxError
    expression.evaluate(Source(user))                 # -> Value | IGNORE_FLOW; EvaluationError
    await expression.evaluate_async(source, context)  # needed when expression.needs_target
    format_expression(expression)                     # canonical text; parses to the same tree

``IGNORE_FLOW`` (from IgnoreFlowIfNullOrEmpty) means: leave the target attribute out of the
operation. ``expression.redacted`` means: log ``[Redact]`` instead of the value.
SelectUniqueValue calls ``context.is_unique(target, candidate)`` where ``target`` is the
mapping's target attribute: pass it as ``evaluate_async(source, context,
target_attribute="userName")`` (or set ``context.target_attribute``).
"""

from relay.engine.expressions.context import IGNORE_FLOW, EvaluationContext, IgnoreFlow
from relay.engine.expressions.expression import Expression, Result, compile_expression
from relay.engine.expressions.functions import FUNCTIONS
from relay.engine.expressions.nodes import Node
from relay.engine.expressions.parser import parse
from relay.engine.expressions.printer import format_expression

__all__ = [
    "FUNCTIONS",
    "IGNORE_FLOW",
    "EvaluationContext",
    "Expression",
    "IgnoreFlow",
    "Node",
    "Result",
    "compile_expression",
    "format_expression",
    "parse",
]
