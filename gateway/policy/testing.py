"""``provgate policy test DIR``: test cases that live beside the policies.

Like ``kyverno test``: each case describes an object, its provenance record, who acts
and the review state, and states the expected outcome of the rules it cares about.
Cases live in ``DIR/tests/*.toml``; the policies are ``DIR/*.toml``::

    [[case]]
    name = "AI image without a prompt is denied"    # required, unique in the file
    stage = "intake"                               # intake (default) | review | distribute
    object = { bucket = "renders", key = "hero.png", size = 2048, content_type = "image/png" }
    asset = { source_type = "trainedAlgorithmicMedia", model = "sdxl" }  # record fields
    identity = { name = "alice", role = "writer" }  # default: an unnamed caller
    review = { status = "approved", by = "bob" }    # default: pending
    now = "2026-06-01T00:00:00Z"                     # default: the current time
    apply_defaults = true        # fill [[set]] defaults into asset first, as intake does
    expect = { require-prompt = "deny", require-model = "pass" }
    decision = "deny"            # the overall action (strongest of all rules)
    defaults = { copyright = "© Example Brand" }     # expected [[set]] values ("" = none)
    targets = ["shop"]           # expected [[route]] targets (exact, any order)

``expect`` values are an action after modes (allow, deny, quarantine, warn, audit) or a
result (pass, fail, skip, error). Asset values are normalised as intake would (so
``data_mining = "DMI-PROHIBITED"`` becomes the PLUS URI). Unknown keys, unknown rule ids
and malformed values are errors, not silently ignored checks.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.policy.context import (IDENTITY_FIELDS, OBJECT_FIELDS, REVIEW_FIELDS,
                                    build_context, parse_now)
from gateway.policy.decision import RESULTS, SEVERITY
from gateway.policy.errors import PolicyError, Problem
from gateway.policy.loader import load_policies
from gateway.policy.locate import Locator, toml_error_line
from gateway.policy.sandbox import Sandbox
from gateway.policy.schema import STAGES

CASE_KEYS = ("name", "description", "stage", "object", "asset", "identity", "review", "now",
             "apply_defaults", "expect", "decision", "defaults", "targets")
EXPECTATIONS = RESULTS + SEVERITY


@dataclass
class Check:
    case: str
    check: str              # a rule id, "decision", "defaults.<field>" or "targets"
    expected: str
    got: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.expected == self.got


@dataclass
class Report:
    revision: str
    checks: list[Check] = field(default_factory=list)
    cases: int = 0

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return self.cases > 0 and not self.failures


def run_tests(directory: str | Path, *, sandbox: Sandbox) -> Report:
    """Load the policies in ``directory`` and run ``directory/tests/*.toml``.

    Raises ``PolicyError`` if the policies or a test file cannot be loaded.
    """
    directory = Path(directory)
    policy_set = load_policies([directory], sandbox=sandbox)
    rule_ids = {r.id for r in policy_set.rules}
    report = Report(policy_set.revision)
    problems: list[Problem] = []
    cases = []
    for path in sorted((directory / "tests").glob("*.toml")):
        cases.extend(_read_cases(path, rule_ids, problems))
    if problems:
        raise PolicyError(problems)
    for path, case in cases:
        report.cases += 1
        report.checks.extend(_run_case(policy_set, case))
    return report


def _read_cases(path: Path, rule_ids: set[str], problems: list[Problem]) -> list:
    name = str(path)
    try:
        text = path.read_text("utf-8")
        doc = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(name, f"cannot read: {exc}"))
        return []
    except tomllib.TOMLDecodeError as exc:
        problems.append(Problem(name, f"TOML error: {exc}", line=toml_error_line(str(exc))))
        return []
    locator = Locator(text)
    extra = set(doc) - {"case"}
    if extra:
        problems.append(Problem(name, f"unknown top-level key '{sorted(extra)[0]}' "
                                      "(test files hold [[case]] tables)"))
    out, names = [], set()
    for index, raw in enumerate(doc.get("case", [])):
        line = locator.table("case", index)
        label = raw.get("name") if isinstance(raw, dict) else None
        try:
            case = _parse_case(raw, rule_ids)
        except ValueError as exc:
            problems.append(Problem(name, str(exc), line=line,
                                    rule=label if isinstance(label, str) else f"case[{index}]"))
            continue
        if case["name"] in names:
            problems.append(Problem(name, "duplicate case name", line=line, rule=case["name"]))
        names.add(case["name"])
        out.append((path, case))
    return out


def _parse_case(raw: Any, rule_ids: set[str]) -> dict[str, Any]:
    from gateway.provenance import fields
    from gateway.provenance.record import VALUE_FIELDS, record_field_names
    if not isinstance(raw, dict):
        raise ValueError("[[case]] must be a table")
    for key in raw:
        if key not in CASE_KEYS:
            raise ValueError(f"unknown key '{key}' (known: {', '.join(CASE_KEYS)})")
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ValueError("'name' is required")
    stage = raw.get("stage", "intake")
    if stage not in STAGES:
        raise ValueError(f"'stage' must be one of {', '.join(STAGES)}")
    obj = _table(raw, "object")
    for key in obj:
        if key not in OBJECT_FIELDS:
            raise ValueError(f"unknown key 'object.{key}' (known: {', '.join(OBJECT_FIELDS)})")
    asset = dict(_table(raw, "asset"))
    known = set(record_field_names())
    for key, value in list(asset.items()):
        if key not in known:
            raise ValueError(f"unknown record field 'asset.{key}'")
        if key in VALUE_FIELDS:
            try:
                normalized = fields.normalize(key, value)
            except ValueError as exc:
                raise ValueError(f"asset.{key}: {exc}") from None
            asset[key] = _plain(normalized)
    identity = _table(raw, "identity")
    for key in identity:
        if key not in IDENTITY_FIELDS:
            raise ValueError(f"unknown key 'identity.{key}' (known: "
                             f"{', '.join(IDENTITY_FIELDS)})")
    review = _table(raw, "review")
    for key in review:
        if key not in REVIEW_FIELDS:
            raise ValueError(f"unknown key 'review.{key}' (known: {', '.join(REVIEW_FIELDS)})")
    now = raw.get("now")
    if now is not None:
        try:
            now = parse_now(now) if isinstance(now, str) else parse_now(now.isoformat())
        except (ValueError, AttributeError):
            raise ValueError(f"'now' must be an RFC 3339 time, not {now!r}") from None
    expect = _table(raw, "expect")
    for rule_id, value in expect.items():
        if rule_id not in rule_ids:
            raise ValueError(f"expect: no rule '{rule_id}' in the policies")
        if value not in EXPECTATIONS:
            raise ValueError(f"expect.{rule_id}: must be one of {', '.join(EXPECTATIONS)}")
    decision = raw.get("decision")
    if decision is not None and decision not in SEVERITY:
        raise ValueError(f"'decision' must be one of {', '.join(SEVERITY)}")
    defaults = _table(raw, "defaults")
    targets = raw.get("targets")
    if targets is not None and not (isinstance(targets, list)
                                    and all(isinstance(t, str) for t in targets)):
        raise ValueError("'targets' must be a list of target names")
    apply_defaults = raw.get("apply_defaults", True)
    if not isinstance(apply_defaults, bool):
        raise ValueError("'apply_defaults' must be true or false")
    if not (expect or decision or defaults or targets is not None):
        raise ValueError("the case checks nothing: give expect, decision, defaults or targets")
    return {"name": raw["name"], "stage": stage, "object": obj, "asset": asset,
            "identity": identity or None, "review": review or None, "now": now,
            "apply_defaults": apply_defaults, "expect": expect, "decision": decision,
            "defaults": defaults, "targets": targets}


def _table(raw: dict, key: str) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"'{key}' must be a table")
    return value


def _plain(value: Any) -> Any:
    """Normalised record values as they appear in ``record.to_dict()``."""
    from gateway.provenance.record import _to_plain
    return str(value) if isinstance(value, str) else _to_plain(value)


def _run_case(policy_set, case: dict[str, Any]) -> list[Check]:
    from gateway.provenance import fields
    obj = case["object"]
    asset = dict(case["asset"])

    def context():
        return build_context(bucket=obj.get("bucket", "test"), key=obj.get("key", "object"),
                             size=obj.get("size", 0),
                             content_type=obj.get("content_type", "application/octet-stream"),
                             door=obj.get("door", "s3"),
                             detected_type=obj.get("detected_type"), record=asset,
                             identity=case["identity"], review=case["review"], now=case["now"])

    checks: list[Check] = []
    name = case["name"]
    defaults = policy_set.defaults(context())
    for field_name, expected in case["defaults"].items():
        got = defaults.get(field_name)
        if expected == "":                           # "" = the field gets no default
            checks.append(Check(name, f"defaults.{field_name}", "(none)",
                                "(none)" if got is None else str(got)))
            continue
        same = got is not None and _normal(fields, field_name, got) == \
            _normal(fields, field_name, expected)
        checks.append(Check(name, f"defaults.{field_name}", str(expected),
                            str(expected) if same else str(got)))
    if case["apply_defaults"]:
        for field_name, value in defaults.items():
            if field_name not in asset:
                asset[field_name] = _plain(fields.normalize(field_name, value))
    ctx = context()
    if case["expect"] or case["decision"]:
        decision = policy_set.evaluate(case["stage"], ctx, prior=defaults.errors)
        for rule_id, expected in case["expect"].items():
            outcome = decision.outcome(rule_id)
            if outcome is None:                      # the rule is not in this stage
                got, message = "skip", f"rule does not run at stage {case['stage']}"
            else:
                got = outcome.result if expected in RESULTS else outcome.action
                message = outcome.message or ""
            checks.append(Check(name, rule_id, expected, got, message))
        if case["decision"]:
            denial = decision.denial or decision.quarantine
            checks.append(Check(name, "decision", case["decision"], decision.action,
                                denial.message if denial and denial.message else ""))
    if case["targets"] is not None:
        routing = policy_set.routing(ctx)
        expected = ",".join(sorted(case["targets"]))
        checks.append(Check(name, "targets", expected or "(none)",
                            ",".join(sorted(routing.targets)) or "(none)"))
    return checks


def _normal(fields, name: str, value: Any) -> Any:
    try:
        return _plain(fields.normalize(name, value))
    except ValueError:
        return value


def format_table(report: Report) -> str:
    """The results as a fixed-width table, one row per check."""
    header = ("CASE", "CHECK", "EXPECTED", "GOT", "RESULT")
    rows = [(c.case, c.check, c.expected, c.got, "ok" if c.ok else "MISMATCH")
            for c in report.checks]
    widths = [min(max(len(r[i]) for r in rows + [header]), 48) for i in range(4)]
    lines = []
    for row in [header] + rows:
        cells = [_cut(row[i], widths[i]).ljust(widths[i]) for i in range(4)] + [row[4]]
        lines.append("  ".join(cells))
    for c in report.failures:
        if c.message:
            lines.append(f"  {c.case} / {c.check}: {c.message}")
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
