"""Compiling policy expressions, and the checks that need no evaluation.

Each CEL expression in a policy file is compiled once per load. The Rust interpreter has
no type checker (no declared variable types), so the loader combines:

1. the parse (syntax errors, with line and column inside the expression);
2. static checks on what the parsed program references: variables other than the five
   context roots, functions not in ``functions.py``, and ``asset.x`` / ``object.x`` field
   names that do not exist (typos would otherwise silently read as "absent");
3. evaluation against sample contexts in the sandbox (``loader.py``), for type errors
   and results of the wrong type.

Expressions are capped in length: the parser is recursive, and a pathological source can
make it panic (seen with 100k nested parentheses), which must not happen in the server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.policy.cel_binding import cel
from gateway.policy.context import KNOWN_FIELDS, ROOTS
from gateway.policy.functions import known_function_names

MAX_SOURCE = 4096          # characters per expression; real policies use a few hundred

_PARSE_POS = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")
_STRING = re.compile(r"""[rR]?("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')""")
_BINDER = re.compile(r"\b(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_FIELD = re.compile(r"(?<![\w.])(object|asset|identity|review)((?:\s*\.\s*[A-Za-z_]\w*)+)")
_OPERATOR = re.compile(r"^[_@!-]")


@dataclass(frozen=True)
class ExprError:
    """A compile or static-check failure; ``line``/``column`` are inside the expression."""

    message: str
    line: int | None = None
    column: int | None = None


def compile_expression(source: str):
    """Compile ``source``; returns ``(program, None)`` or ``(None, ExprError)``."""
    if not source.strip():
        return None, ExprError("expression is empty")
    if len(source) > MAX_SOURCE:
        return None, ExprError(f"expression is {len(source)} characters long; the limit is "
                               f"{MAX_SOURCE} (split it into several rules)")
    try:
        program = cel().compile(source)
    except ValueError as exc:
        return None, _syntax_error(str(exc))
    except Exception as exc:  # the binding raises other types for odd input
        return None, ExprError(f"cannot compile: {exc}")
    except BaseException as exc:  # pyo3 PanicException derives from BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return None, ExprError(f"cannot compile (parser failure: {exc})")
    problem = static_check(source, program)
    return (None, problem) if problem else (program, None)


def _syntax_error(text: str) -> ExprError:
    m = _PARSE_POS.search(text)
    if not m:
        return ExprError(f"syntax error: {text}")
    detail = m.group(3).strip().removeprefix("Syntax error:").strip()
    if detail.startswith("mismatched input '<EOF>'"):
        detail = "unexpected end of expression"
    elif " expecting " in detail:            # ANTLR lists every token it could accept
        detail = detail[:detail.index(" expecting ")]
    if len(detail) > 160:
        detail = detail[:157] + "..."
    return ExprError(f"syntax error: {detail}", int(m.group(1)), int(m.group(2)))


def static_check(source: str, program) -> ExprError | None:
    """Unknown variables, functions and fields, found without evaluating anything."""
    code = _STRING.sub('""', source)            # names inside string literals don't count
    binders = set(_BINDER.findall(code))
    functions, namespaces = known_function_names()
    refs = program.references()
    for name in refs["variables"]:
        if name not in ROOTS and name not in binders and name not in namespaces:
            return ExprError(f"unknown variable '{name}' (the context has "
                             f"{', '.join(ROOTS)})")
    for name in refs["functions"]:
        if not _OPERATOR.match(name) and name not in functions:
            return ExprError(f"unknown function '{name}' (see docs/policies.md for the "
                             "functions policies may call)")
    for m in _FIELD.finditer(code):
        root = m.group(1)
        if root in binders:                      # shadowed by a comprehension variable
            continue
        path = [p.strip() for p in m.group(2).split(".") if p.strip()]
        problem = _check_path(root, path)
        if problem:
            return ExprError(problem)
    return None


def _check_path(root: str, path: list[str]) -> str | None:
    prefix = root
    for name in path:
        known = KNOWN_FIELDS.get(prefix)
        if known is None:                        # an open map, a list, or a leaf value
            return None
        if name not in known:
            if name in _METHODS_ON_MAPS:
                return None
            from gateway.policy.schema import did_you_mean
            hint = did_you_mean(name, known) or f" (known: {', '.join(known)})"
            return f"'{prefix}' has no field '{name}'{hint}"
        prefix = f"{prefix}.{name}"
    return None


# ``review.size()``-style calls look like field access to the regex above.
_METHODS_ON_MAPS = frozenset({"size", "all", "exists", "exists_one", "map", "filter"})
