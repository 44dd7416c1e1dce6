"""The evaluation worker: a separate process that runs CEL for ``sandbox.Sandbox``.

Started as ``python -m gateway.policy.worker FD MEMORY_LIMIT`` with one end of a socket
pair; see ``sandbox.py`` for why evaluation lives in its own process and for the
request/answer protocol. Everything here runs in the child; nothing here is imported by
the server itself.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Any

ItemResult = dict[str, Any]

_CACHE_SIZE = 4      # policy sets kept compiled: the current one and a few recent


def worker_main(conn, memory_limit: int) -> None:
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_limit:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    from gateway.policy.cel_binding import cel
    from gateway.policy.functions import new_context
    compile_cel = cel().compile
    context = new_context()
    conn.send(("ready",))
    # From here on, silence stderr: the binding prints a traceback line for every
    # failing Python function call (a bad date in isoTime), which would flood the server
    # log; failures reach the parent as results. Start-up errors above stay visible.
    import os
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    compiled: OrderedDict[str, dict[str, Any]] = OrderedDict()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return                                     # the parent went away
        kind, key = request[0], request[1]
        if kind == "load":
            programs = {}
            for expr_id, source in request[2].items():
                try:
                    programs[expr_id] = compile_cel(source)
                except BaseException as exc:  # noqa: BLE001 - the parent checked them
                    programs[expr_id] = exc
            compiled[key] = programs
            compiled.move_to_end(key)
            while len(compiled) > _CACHE_SIZE:
                compiled.popitem(last=False)
            conn.send(("loaded", key))
            continue
        programs = compiled.get(key)
        if programs is None:
            conn.send(("missing", key))
            continue
        compiled.move_to_end(key)
        if kind == "rules":
            _bind(context, request[3])
            for item in request[2]:
                conn.send(("item", _evaluate_rule(programs, context, *item)))
        elif kind == "probe":
            contexts = request[3]
            bound = None
            for expr_id, index in request[2]:
                if bound != index:
                    _bind(context, contexts[index])
                    bound = index
                try:
                    value = _execute(programs[expr_id], context)
                    conn.send(("item", {"type": _type_name(value)}))
                except _EvalError as exc:
                    conn.send(("item", {"error": exc.kind, "message": exc.message}))


def _bind(context, variables: dict) -> None:
    context.update(variables)


class _EvalError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _execute(program, context):
    if isinstance(program, BaseException):
        raise _EvalError("compile", str(program))
    try:
        return program.execute(context)
    except KeyError as exc:
        name = exc.args[0] if exc.args else "?"
        raise _EvalError("missing", f"no such key '{name}' (test optional fields with "
                                    f"has(...))") from None
    except IndexError as exc:
        raise _EvalError("missing", f"index out of range ({exc})") from None
    except TypeError as exc:
        raise _EvalError("type", _first_sentence(str(exc))) from None
    except Exception as exc:  # RuntimeError, OverflowError, ZeroDivisionError, ...
        raise _EvalError(type(exc).__name__, _first_sentence(str(exc))) from None
    except BaseException as exc:  # pyo3 PanicException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise _EvalError("panic", f"interpreter failure: {exc}") from None


def _first_sentence(text: str) -> str:
    """The library's messages append generic advice; the first sentence is the fact."""
    text = " ".join(text.split())
    for cut in (". CEL does not coerce", ". Check that", ". Check function", ". Convert"):
        if cut in text:
            text = text[:text.index(cut)]
    return text[:300]


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return {int: "int", float: "double", str: "string", bytes: "bytes", list: "list",
            dict: "map"}.get(type(value), type(value).__name__)


def _evaluate_rule(programs, context, match_id, validate_id, message_id) -> ItemResult:
    """match → validate → message, as the policy set needs them for one rule."""
    result: ItemResult = {}
    try:
        if match_id is not None:
            matched = _execute(programs[match_id], context)
            if not isinstance(matched, bool):
                raise _EvalError("type", f"match returned {_type_name(matched)}, not bool")
            result["matched"] = matched
            if not matched:
                return result
        else:
            result["matched"] = True
        if validate_id is None:
            return result
        valid = _execute(programs[validate_id], context)
        if not isinstance(valid, bool):
            raise _EvalError("type", f"validate returned {_type_name(valid)}, not bool")
        result["valid"] = valid
    except _EvalError as exc:
        result["error"] = exc.kind
        result["message"] = exc.message
        result["phase"] = "validate" if "matched" in result else "match"
        return result
    if not valid and message_id is not None:
        try:
            text = _execute(programs[message_id], context)
            if isinstance(text, str):
                result["message"] = text
            else:
                result["message_error"] = f"message_expression returned {_type_name(text)}"
        except _EvalError as exc:
            result["message_error"] = exc.message
    return result


if __name__ == "__main__":
    from multiprocessing.connection import Connection
    worker_main(Connection(int(sys.argv[1])), int(sys.argv[2]))
