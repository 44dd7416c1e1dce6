"""Loading ``policies/*.toml`` into a checked ``PolicySet`` — or a ``PolicyError``.

Files are read from each policy directory (not recursively: ``policies/tests/`` holds
test cases), in directory order then file-name order, which is also the order rules are
evaluated and ``[[set]]`` entries are tried. Every problem in every file is collected
before failing, each with file, line and entry id. A set is accepted only when all of
this holds:

* the file is UTF-8 TOML and uses only the keys in ``schema.py``;
* ids are unique across all files;
* every expression compiles and references only known variables, functions and fields
  (``expressions.py``);
* evaluated against the sample contexts (``context.sample_contexts``) in the sandbox,
  no expression hits a type error, returns the wrong type (bool, or string for
  ``message_expression``) or runs past the time limit.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Sequence
from pathlib import Path

from gateway.config import POLICY_MODES
from gateway.policy.context import sample_contexts
from gateway.policy.errors import PolicyError, Problem
from gateway.policy.expressions import compile_expression
from gateway.policy.locate import Locator, toml_error_line
from gateway.policy.policyset import PolicySet, expr_id
from gateway.policy.sandbox import Programs, Sandbox
from gateway.policy.schema import (FILE_KEYS, Entry, FieldError, Route, Rule, SetRule,
                                   parse_entry)

# What each expression key must return.
EXPECTED_TYPE = {"match": "bool", "validate": "bool", "when": "bool",
                 "message_expression": "string"}
# Errors on the full sample that only mean "this field is absent here", not a mistake.
_DATA_ERRORS = {"missing"}


def policy_files(dirs: Sequence[str | os.PathLike]) -> list[Path]:
    """The ``*.toml`` files of each directory, in load order (missing dirs skipped)."""
    out: list[Path] = []
    for d in dirs:
        path = Path(d)
        if path.is_dir():
            out.extend(sorted(p for p in path.glob("*.toml") if p.is_file()))
    return out


def fingerprint(dirs: Sequence[str | os.PathLike]) -> tuple:
    """Cheap change detector: names, sizes and mtimes of the policy files."""
    out = []
    for p in policy_files(dirs):
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(out)


def load_policies(dirs: Sequence[str | os.PathLike], *, sandbox: Sandbox,
                  mode: str = "enforce", dry_run: bool = False) -> PolicySet:
    """Load and check every policy file in ``dirs``; raises ``PolicyError``.

    ``mode`` is the default for files that set none; ``dry_run`` turns every
    enforce-mode rule into audit.
    """
    if mode not in POLICY_MODES:
        raise ValueError(f"mode must be one of {', '.join(POLICY_MODES)}")
    problems: list[Problem] = []
    for d in dirs:
        if not Path(d).is_dir():
            problems.append(Problem(str(d), "policy directory does not exist"))
    files = policy_files(dirs)
    digest = hashlib.sha256()
    parsed: list[tuple[str, Locator, list[Entry]]] = []
    for path in files:
        name = str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            problems.append(Problem(name, f"cannot read: {exc.strerror or exc}"))
            continue
        # The file's own name, not the path it was reached by: `policy lint policies`, the
        # server (absolute dirs) and any working directory must agree on the revision.
        digest.update(path.name.encode() + b"\0" + data + b"\0")
        entries = _parse_file(name, data, mode, problems)
        if entries is not None:
            parsed.append(entries)
    _check_ids(parsed, problems)
    sources = _compile(parsed, problems)
    revision = digest.hexdigest()[:16]
    _probe(parsed, sources, revision, sandbox, problems)
    if problems:
        order = {str(p): n for n, p in enumerate(files)}
        problems.sort(key=lambda p: (order.get(p.file, -1), p.line or 0))
        raise PolicyError(problems)
    items = [e.item for _, _, entries in parsed for e in entries]
    return PolicySet(rules=[i for i in items if isinstance(i, Rule)],
                     sets=[i for i in items if isinstance(i, SetRule)],
                     routes=[i for i in items if isinstance(i, Route)],
                     files=[str(p) for p in files], revision=revision, sources=sources,
                     sandbox=sandbox, dry_run=dry_run)


def _parse_file(name: str, data: bytes, default_mode: str, problems: list[Problem]):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(name, f"not UTF-8 (byte {exc.start})"))
        return None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problems.append(Problem(name, f"TOML error: {exc}", line=toml_error_line(str(exc))))
        return None
    locator = Locator(text)
    for key in doc:
        if key not in FILE_KEYS:
            problems.append(Problem(name, f"unknown top-level key '{key}' (known: "
                                          f"{', '.join(FILE_KEYS)})",
                                    line=locator.key(None, 0, key) or _table_line(locator, key)))
    file_mode = doc.get("mode", default_mode)
    if file_mode not in POLICY_MODES:
        problems.append(Problem(name, f"'mode' must be one of {', '.join(POLICY_MODES)}, not "
                                      f"{file_mode!r}", line=locator.key(None, 0, "mode")))
        file_mode = default_mode
    if "description" in doc and not isinstance(doc["description"], str):
        problems.append(Problem(name, "'description' must be a string",
                                line=locator.key(None, 0, "description")))
    declared_empty = doc.get("empty", False)
    if not isinstance(declared_empty, bool):
        problems.append(Problem(name, "'empty' must be true or false",
                                line=locator.key(None, 0, "empty")))
        declared_empty = False
    has_entries = any(doc.get(kind) for kind in ("rule", "set", "route"))
    if declared_empty and has_entries:
        problems.append(Problem(name, "says 'empty = true' but holds entries; remove one or "
                                      "the other", line=locator.key(None, 0, "empty")))
    elif not declared_empty and not has_entries:
        # Emptying a file must never silently drop its rules: the previous set stays.
        problems.append(Problem(name, "holds no [[rule]], [[set]] or [[route]] (emptied in "
                                      "place?); delete the file to drop its rules, or write "
                                      "'empty = true' to keep an empty file on purpose"))
    entries: list[Entry] = []
    for kind in ("rule", "set", "route"):
        tables = doc.get(kind, [])
        if isinstance(tables, dict):
            problems.append(Problem(name, f"write [[{kind}]] (a list of tables), not [{kind}]",
                                    line=_table_line(locator, kind)))
            continue
        if not isinstance(tables, list):
            problems.append(Problem(name, f"'{kind}' must be a list of [[{kind}]] tables",
                                    line=locator.key(None, 0, kind)))
            continue
        for index, raw in enumerate(tables):
            line = locator.table(kind, index)
            try:
                entries.append(parse_entry(kind, index, raw, file=name, line=line,
                                           file_mode=file_mode))
            except FieldError as exc:
                ident = raw.get("id") if isinstance(raw, dict) else None
                label = ident if isinstance(ident, str) else f"{kind}[{index}]"
                key_line = locator.key(kind, index, exc.key) if exc.key else line
                problems.append(Problem(name, str(exc), line=key_line, rule=label))
    # entries that parsed are still compiled and probed, so that one lint run reports
    # every problem; the set as a whole is rejected all the same
    return name, locator, entries


def _table_line(locator: Locator, key: str) -> int | None:
    for n, text in enumerate(locator.lines, 1):
        stripped = text.strip()
        if stripped.startswith("[") and stripped.strip("[] ").split(".")[0] == key:
            return n
    return None


def _check_ids(parsed, problems: list[Problem]) -> None:
    seen: dict[str, tuple[str, int | None]] = {}
    for name, _, entries in parsed:
        for e in entries:
            ident = e.item.id
            if ident in seen:
                first_file, first_line = seen[ident]
                where = first_file + (f":{first_line}" if first_line else "")
                problems.append(Problem(name, f"duplicate id (first defined at {where})",
                                        line=e.item.line, rule=ident))
            else:
                seen[ident] = (name, e.item.line)


def _compile(parsed, problems: list[Problem]) -> dict[str, str]:
    """Compile every expression once here (syntax + static checks); ids -> sources."""
    sources: dict[str, str] = {}
    for name, locator, entries in parsed:
        for e in entries:
            for key, source in e.expressions.items():
                _, error = compile_expression(source)
                if error is None:
                    sources[expr_id(e.kind, e.item.id, key)] = source
                    continue
                line = _expression_line(locator, e, key, error.line)
                where = f" (line {error.line}, column {error.column} of the expression)" \
                    if error.line else ""
                problems.append(Problem(name, f"{key}: {error.message}{where}", line=line,
                                        rule=e.item.id))
    return sources


def _expression_line(locator: Locator, entry: Entry, key: str, expr_line: int | None):
    line = locator.key(entry.kind, entry.index, key)
    if line is None or not expr_line:
        return line
    text = locator.lines[line - 1].rstrip()
    starts_below = text.endswith("'''") or text.endswith('"""')   # TOML drops that newline
    return line + expr_line - 1 + (1 if starts_below else 0)


def _probe(parsed, sources: dict[str, str], revision: str, sandbox: Sandbox,
           problems: list[Problem]) -> None:
    """Evaluate every expression on the sample contexts, to catch what parsing cannot."""
    samples = sample_contexts()
    where: dict[str, tuple[str, Locator, Entry, str]] = {}
    for name, locator, entries in parsed:
        for e in entries:
            for key in e.expressions:
                where[expr_id(e.kind, e.item.id, key)] = (name, locator, e, key)
    items = [(eid, i) for eid in sources for i in range(len(samples))]
    if not items:
        return
    results = sandbox.probe(Programs(revision, sources), items,
                            [ctx for _, ctx in samples])
    reported: set[str] = set()
    for (eid, index), res in zip(items, results):
        if eid in reported:
            continue
        name, locator, entry, key = where[eid]
        sample = samples[index][0]
        message = None
        if "error" in res:
            if res["error"] in ("timeout", "worker"):
                message = f"{res['message']} on the {sample} sample context"
            elif sample == "full" and res["error"] not in _DATA_ERRORS:
                message = (f"{res['message']} (evaluating against the full sample context "
                           f"of docs/policies.md)")
        elif res["type"] != EXPECTED_TYPE[key]:
            message = (f"must return {EXPECTED_TYPE[key]}, but returned {res['type']} on the "
                       f"{sample} sample context")
        if message:
            reported.add(eid)
            problems.append(Problem(name, f"{key}: {message}",
                                    line=locator.key(entry.kind, entry.index, key),
                                    rule=entry.item.id))
