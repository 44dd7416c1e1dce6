"""The policy file format: every key, its type, its default, and what it means.

A policy file (``policies/*.toml``) holds any number of three kinds of entries::

    mode = "audit"              # optional: default mode of this file's rules
    description = "..."         # optional: free text

    [[rule]]   a guardrail: when ``match`` holds, ``validate`` must hold, else ``action``
    [[set]]    defaults filled into the provenance record at intake, when ``when`` holds
    [[route]]  distribution targets for approved assets, when ``when`` holds

Parsing is strict — an unknown key, a wrong type or a missing required key is an error —
because a typo in a guardrail must never quietly turn it off. Expressions are only
collected here; ``loader.py`` compiles and checks them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gateway.config import POLICY_MODES

STAGES = ("intake", "review", "distribute")
# What a failing rule does when enforced. deny: refuse the write/transition (S3 403).
# warn: allow, answer with a warning header. audit: allow, only record. quarantine:
# store the write where ordinary readers cannot see it, for review (intake only).
ACTIONS = ("deny", "warn", "audit", "quarantine")
# How far a rule's action is carried out (``POLICY_MODES``, defined with the config
# that also names them). enforce: the action as written. warn: deny and
# quarantine become warn. audit: every action becomes audit (record only).

# What a rule whose expression fails at run time does. fail: count as a failed rule, so
# its action applies (a deny rule denies — fail closed). ignore: count as not matched.
ON_ERROR = ("fail", "ignore")

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")   # goes into an HTTP header

FILE_KEYS = {
    "description": "free text: what the file is for",
    "mode": "default mode (enforce | warn | audit) of the rules in this file",
    "rule": "[[rule]] entries",
    "set": "[[set]] entries",
    "route": "[[route]] entries",
    "empty": "true: the file holds no entries on purpose. A file that parses to no "
             "[[rule]], [[set]] or [[route]] without it is refused like a broken one "
             "(an editor or a failed copy may have emptied it in place)",
}

RULE_KEYS = {
    "id": "required; unique across all policy files; [a-z0-9._-], at most 64 characters; "
          "named in the S3 error, the x-provgate-policy header and the audit log",
    "description": "free text",
    "stage": "required; intake | review | distribute, or a list of them: when the rule runs",
    "match": "CEL bool; the rule applies only when it is true (default: always)",
    "validate": "required; CEL bool that must be true for the object to pass",
    "message": "text shown when validate is false (default: names the expression)",
    "message_expression": "CEL string computed when validate is false; overrides message "
                          "(message is the fallback if it fails)",
    "action": "deny | warn | audit | quarantine (default deny); quarantine only at intake",
    "mode": "enforce | warn | audit: overrides the file's mode for this rule",
    "on_error": "fail (default) | ignore: what a run-time error in match/validate does",
    "quorum": "review stage only, bool (default false): validate says whether enough "
              "reviewers approved; while it is false an approval is recorded and the "
              "version stays pending, instead of the approval being refused",
}

SET_KEYS = {
    "id": "required; unique across all policy files",
    "description": "free text",
    "when": "CEL bool; the values apply only when it is true (default: always)",
    "values": "required table: record field -> default value (e.g. copyright, license, "
              "brand, data_mining); fills only fields the writer and the file left empty; "
              "the first [[set]] (in file-name, then file order) that sets a field wins",
    "on_error": "fail (default: the write is denied) | ignore: a run-time error in when",
}

ROUTE_KEYS = {
    "id": "required; unique across all policy files",
    "description": "free text",
    "when": "required; CEL bool: the asset goes to the targets when it is true",
    "targets": "required non-empty list of distribution target names",
}

KIND_KEYS = {"rule": RULE_KEYS, "set": SET_KEYS, "route": ROUTE_KEYS}


@dataclass(frozen=True)
class Rule:
    id: str
    stages: tuple[str, ...]
    validate: str
    match: str | None = None
    message: str | None = None
    message_expression: str | None = None
    action: str = "deny"
    mode: str = "enforce"          # effective: rule's mode, else the file's, else the default
    on_error: str = "fail"
    quorum: bool = False           # review stage: a count of approvals, not a refusal
    description: str = ""
    file: str = ""
    line: int | None = None        # line of the [[rule]] header


@dataclass(frozen=True)
class SetRule:
    id: str
    values: dict[str, Any]
    when: str | None = None
    on_error: str = "fail"
    description: str = ""
    file: str = ""
    line: int | None = None


@dataclass(frozen=True)
class Route:
    id: str
    when: str
    targets: tuple[str, ...]
    description: str = ""
    file: str = ""
    line: int | None = None


@dataclass
class Entry:
    """One parsed table before its expressions are compiled."""

    kind: str                       # rule | set | route
    index: int                      # position among the file's tables of this kind
    item: Rule | SetRule | Route
    expressions: dict[str, str] = field(default_factory=dict)   # key -> CEL source


class FieldError(Exception):
    """A key's value is unusable; ``key`` locates it in the file."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.key = key


def parse_entry(kind: str, index: int, raw: Any, *, file: str, line: int | None,
                file_mode: str) -> Entry:
    """Validate one ``[[kind]]`` table; raises ``FieldError`` on the first bad key."""
    if not isinstance(raw, dict):
        raise FieldError(None, f"[[{kind}]] must be a table")
    keys = KIND_KEYS[kind]
    for key in raw:
        if key not in keys:
            raise FieldError(key, f"unknown key '{key}' in [[{kind}]]{did_you_mean(key, keys)}"
                                  f" (known: {', '.join(keys)})")
    ident = _text(raw, "id", required=True)
    if not ID_PATTERN.match(ident):
        raise FieldError("id", f"id {ident!r} must match {ID_PATTERN.pattern}")
    description = _text(raw, "description") or ""
    if kind == "rule":
        return _rule(raw, index, ident, description, file, line, file_mode)
    if kind == "set":
        return _set(raw, index, ident, description, file, line)
    return _route(raw, index, ident, description, file, line)


def _rule(raw, index, ident, description, file, line, file_mode) -> Entry:
    stage = raw.get("stage")
    if stage is None:
        raise FieldError("stage", "'stage' is required (intake | review | distribute)")
    stages = (stage,) if isinstance(stage, str) else stage
    if not isinstance(stages, (list, tuple)) or not stages or not all(
            isinstance(s, str) and s in STAGES for s in stages):
        raise FieldError("stage", f"'stage' must be one of {', '.join(STAGES)} (or a list)")
    action = _choice(raw, "action", ACTIONS, "deny")
    if action == "quarantine" and set(stages) != {"intake"}:
        raise FieldError("action", "action 'quarantine' applies to stage 'intake' only "
                                   "(stored objects are blocked with 'deny')")
    mode = _choice(raw, "mode", POLICY_MODES, file_mode)
    on_error = _choice(raw, "on_error", ON_ERROR, "fail")
    quorum = raw.get("quorum", False)
    if not isinstance(quorum, bool):
        raise FieldError("quorum", "'quorum' must be true or false")
    if quorum and set(stages) != {"review"}:
        raise FieldError("quorum", "'quorum' applies to stage 'review' only")
    expressions = {"validate": _text(raw, "validate", required=True)}
    for key in ("match", "message_expression"):
        if key in raw:
            expressions[key] = _text(raw, key, required=True)
    rule = Rule(id=ident, stages=tuple(dict.fromkeys(stages)), validate=expressions["validate"],
                match=expressions.get("match"), message=_text(raw, "message"),
                message_expression=expressions.get("message_expression"), action=action,
                mode=mode, on_error=on_error, quorum=quorum, description=description,
                file=file, line=line)
    return Entry("rule", index, rule, expressions)


def _set(raw, index, ident, description, file, line) -> Entry:
    from gateway.provenance import fields
    values = raw.get("values")
    if not isinstance(values, dict) or not values:
        raise FieldError("values", "'values' is required: a table of record field = value")
    for name, value in values.items():
        if not fields.is_settable(name):
            from gateway.provenance.record import VALUE_FIELDS
            raise FieldError("values", f"values.{name}: not a record field that defaults "
                                       f"can set{did_you_mean(name, VALUE_FIELDS)}")
        try:
            fields.normalize(name, value)
        except (ValueError, TypeError) as exc:
            raise FieldError("values", f"values.{name}: {exc}") from None
    expressions = {}
    if "when" in raw:
        expressions["when"] = _text(raw, "when", required=True)
    item = SetRule(id=ident, values=dict(values), when=expressions.get("when"),
                   on_error=_choice(raw, "on_error", ON_ERROR, "fail"),
                   description=description, file=file, line=line)
    return Entry("set", index, item, expressions)


def _route(raw, index, ident, description, file, line) -> Entry:
    targets = raw.get("targets")
    if not isinstance(targets, list) or not targets or not all(
            isinstance(t, str) and t for t in targets):
        raise FieldError("targets", "'targets' is required: a non-empty list of target names")
    when = _text(raw, "when", required=True)
    item = Route(id=ident, when=when, targets=tuple(targets), description=description,
                 file=file, line=line)
    return Entry("route", index, item, {"when": when})


def did_you_mean(name: str, known) -> str:
    """`` (did you mean 'license'?)`` for a near miss, else empty."""
    import difflib
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _text(raw: dict, key: str, *, required: bool = False) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise FieldError(key, f"'{key}' is required")
        return None
    if not isinstance(value, str):
        raise FieldError(key, f"'{key}' must be a string, not {type(value).__name__}")
    if required and not value.strip():
        raise FieldError(key, f"'{key}' must not be empty")
    return value


def _choice(raw: dict, key: str, choices: tuple[str, ...], default: str) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise FieldError(key, f"'{key}' must be one of {', '.join(choices)}, not {value!r}")
    return value
