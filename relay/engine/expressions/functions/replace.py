"""Replace(source, oldValue, regexPattern, regexGroupName, replacementValue,
replacementAttributeName, template): Entra ID's five ways to replace, chosen by which
arguments are given (an empty argument is "not given"; ``""`` is given).

Regular expressions run on RE2 (linear time, so no pattern can stall a cycle) and a constant
pattern is compiled once, when the expression is saved. RE2 accepts .NET's named groups
``(?<name>...)`` but refuses lookaround (``(?=``, ``(?!``, ``(?<=``, ``(?<!``),
backreferences (``\\1``, ``\\k<name>``), atomic groups and possessive quantifiers: an
expression using them is refused when saved. Replacement values use .NET's substitutions:
``$1``, ``${name}``, ``$&``, ``$$``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

from relay.engine.exceptions import EvaluationError, ExpressionSyntaxError
from relay.engine.expressions.signature import Arguments, Evaluator, Function, Param
from relay.engine.expressions.values import text, texts

SOURCE, OLD, PATTERN, GROUP, VALUE, ATTRIBUTE, TEMPLATE = range(7)

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Any:
    """An RE2 pattern, compiled once per text; raises EvaluationError saying why RE2
    refused it."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise EvaluationError(detail) from exc


def _check_pattern(value: Any) -> str | None:
    try:
        compile_pattern(str(value))
    except EvaluationError as exc:
        return f"{value!r} ({exc})"
    return None


def _substitute(template: str, match: Any, source: str) -> str:
    """Expand .NET substitutions in a replacement value."""
    if "$" not in template:
        return template
    out: list[str] = []
    pos = 0
    groups = match.re.groups
    names = match.re.groupindex
    while pos < len(template):
        char = template[pos]
        following = template[pos + 1] if pos + 1 < len(template) else ""
        if char != "$" or not following:
            out.append(char)
            pos += 1
            continue
        if following == "$":
            out.append("$")
            pos += 2
        elif following == "&":
            out.append(match.group(0))
            pos += 2
        elif following == "`":
            out.append(source[: match.start()])
            pos += 2
        elif following == "'":
            out.append(source[match.end() :])
            pos += 2
        elif following == "_":
            out.append(source)
            pos += 2
        elif following == "{" and "}" in template[pos:]:
            end = template.index("}", pos)
            name = template[pos + 2 : end]
            index = names.get(name, int(name) if name.isdecimal() else -1)
            if 0 <= index <= groups:
                out.append(match.group(index) or "")
            else:
                out.append(template[pos : end + 1])
            pos = end + 1
        elif following.isdecimal():
            end = pos + 1
            while (
                end < len(template)
                and template[end].isdecimal()
                and int(template[pos + 1 : end + 1]) <= groups
            ):
                end += 1
            index = int(template[pos + 1 : end])
            if index <= groups:
                out.append(match.group(index) or "")
                pos = end
            else:
                out.append(char)
                pos += 1
        else:
            out.append(char)
            pos += 1
    return "".join(out)


def regex_replace(pattern: Any, value: str, replacement: str) -> str:
    out: list[str] = []
    last = 0
    for match in pattern.finditer(value):
        out.append(value[last : match.start()])
        out.append(_substitute(replacement, match, value))
        last = match.end()
    out.append(value[last:])
    return "".join(out)


def group_replace(pattern: Any, group: int, value: str, replacement: str) -> str:
    out: list[str] = []
    last = 0
    for match in pattern.finditer(value):
        start, end = match.span(group)
        if start < 0:
            continue
        out.append(value[last:start])
        out.append(replacement)
        last = end
    out.append(value[last:])
    return "".join(out)


def _mode(arguments: Arguments) -> str:
    given = arguments.given
    if given(PATTERN):
        if given(GROUP) and given(ATTRIBUTE):
            return "extract"
        if given(GROUP) and given(VALUE):
            return "group"
        if given(VALUE):
            return "regex"
    elif given(OLD):
        if given(TEMPLATE):
            return "template"
        if given(VALUE):
            return "plain"
    raise ExpressionSyntaxError(
        arguments.call.position,
        "Replace with oldValue and replacementValue, oldValue and template, regexPattern and "
        "replacementValue, regexPattern, regexGroupName and replacementValue, or regexPattern, "
        "regexGroupName and replacementAttributeName",
        "another combination of arguments",
    )


def _check(arguments: Arguments) -> None:
    mode = _mode(arguments)
    if mode in ("template", "plain") and arguments.is_literal(OLD) and arguments.literal(OLD) == "":
        raise arguments.error(OLD, "a non-empty oldValue", "an empty string")
    if (
        mode in ("extract", "group")
        and arguments.is_literal(PATTERN)
        and arguments.is_literal(GROUP)
    ):
        pattern = compile_pattern(str(arguments.literal(PATTERN)))
        if str(arguments.literal(GROUP)) not in pattern.groupindex:
            raise arguments.error(
                GROUP,
                f"a group name of the pattern ({', '.join(pattern.groupindex) or 'it has none'})",
                repr(arguments.literal(GROUP)),
            )


def _pattern_of(arguments: Arguments) -> Any:
    if arguments.is_literal(PATTERN):
        fixed = compile_pattern(str(arguments.literal(PATTERN)))
        return lambda obj, context: fixed
    given = arguments.get(PATTERN)

    def evaluate(obj: Any, context: Any) -> Any:
        try:
            return compile_pattern(text(given(obj, context), "Replace") or "")
        except EvaluationError as exc:
            raise EvaluationError(f"Replace: the regexPattern is refused: {exc}") from exc

    return evaluate


def _group_index(pattern: Any, name: str | None) -> int:
    if name is None or name not in pattern.groupindex:
        raise EvaluationError(f"Replace: the pattern has no group {name!r}")
    return int(pattern.groupindex[name])


def _replace(arguments: Arguments) -> Evaluator:
    mode = _mode(arguments)
    source, old_of, group_of, value_of, attribute_of, template_of = (
        arguments.get(i) for i in (SOURCE, OLD, GROUP, VALUE, ATTRIBUTE, TEMPLATE)
    )
    pattern_of = _pattern_of(arguments) if mode in ("extract", "group", "regex") else None

    def each(obj: Any, context: Any, transform: Any) -> Any:
        value = source(obj, context)
        if value is None:
            return None
        if isinstance(value, list):
            return [transform(t) for t in texts(value, "Replace")] or None
        word = text(value, "Replace")
        return None if word is None else transform(word)

    def evaluate(obj: Any, context: Any) -> Any:
        if mode == "plain":
            old = text(old_of(obj, context), "Replace") or ""
            new = text(value_of(obj, context), "Replace") or ""
            return each(obj, context, lambda v: v.replace(old, new) if old else v)
        if mode == "template":
            old = text(old_of(obj, context), "Replace") or ""
            template = text(template_of(obj, context), "Replace") or ""
            return each(obj, context, lambda v: template.replace(old, v) if old else template)
        assert pattern_of is not None
        pattern = pattern_of(obj, context)
        if mode == "regex":
            new = text(value_of(obj, context), "Replace") or ""
            return each(obj, context, lambda v: regex_replace(pattern, v, new))
        group = _group_index(pattern, text(group_of(obj, context), "Replace"))
        if mode == "group":
            new = text(value_of(obj, context), "Replace") or ""
            return each(obj, context, lambda v: group_replace(pattern, group, v, new))
        present = source(obj, context)
        if present is not None and present != "":
            return present
        other = text(attribute_of(obj, context), "Replace")
        match = pattern.search(other) if other is not None else None
        return match.group(group) if match is not None else None

    return evaluate


REGEX = "a regular expression RE2 accepts (no lookaround or backreferences)"

FUNCTIONS = (
    Function(
        "Replace",
        (
            Param("source"),
            Param("oldValue", False),
            Param("regexPattern", False, _check_pattern, REGEX),
            Param("regexGroupName", False),
            Param("replacementValue", False),
            Param("replacementAttributeName", False),
            Param("template", False),
        ),
        _replace,
        "Replaces oldValue by replacementValue; or puts source in place of oldValue in "
        "template; or replaces regexPattern's matches (or only its regexGroupName group) by "
        "replacementValue; or, when source is empty, extracts regexGroupName from "
        "replacementAttributeName.",
        'Replace([telephoneNumber], , "\\\\+(?<isdCode>\\\\d* )(?<phoneNumber>\\\\d{10})", , '
        '"${phoneNumber}", , )',
        check=_check,
        notes="Regular expressions are RE2's: .NET lookaround, backreferences, atomic groups "
        "and possessive quantifiers are refused when the expression is saved.",
    ),
)
