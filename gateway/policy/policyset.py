"""A loaded, checked policy set: evaluate rules, compute defaults, find routes.

A ``PolicySet`` is immutable; a reload builds a new one and swaps it in whole (see
``store.py``), so an evaluation never sees half of an edit. All CEL runs in the
``Sandbox`` worker processes under a per-rule deadline; this module turns the raw
results into outcomes and applies the fail-closed rule: an expression that cannot be
evaluated counts as a *failed* rule (its action applies) unless the rule says
``on_error = "ignore"``.
"""

from __future__ import annotations

import asyncio
import re
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from gateway.policy.decision import Decision, Outcome, apply_mode
from gateway.policy.sandbox import Programs, Sandbox
from gateway.policy.schema import STAGES, Route, Rule, SetRule


def expr_id(kind: str, ident: str, key: str) -> str:
    """The id of one expression inside a policy set (``rule:require-prompt:validate``)."""
    return f"{kind}:{ident}:{key}"


class Defaults(dict):
    """Record field -> default value from the ``[[set]]`` entries that applied.

    ``sources`` names the set entry each value came from; ``errors`` holds an outcome for
    every set entry whose ``when`` could not be evaluated (action deny unless it says
    ``on_error = "ignore"``): pass them to ``evaluate(..., prior=defaults.errors)`` so the
    write is refused rather than stored without its defaults.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sources: dict[str, str] = {}
        self.errors: list[Outcome] = []


@dataclass
class Routing:
    """The ``[[route]]`` entries whose ``when`` held, and their targets (in order)."""

    routes: list[Route] = field(default_factory=list)
    errors: list[Outcome] = field(default_factory=list)   # a route that errored is not taken

    @property
    def targets(self) -> list[str]:
        return list(dict.fromkeys(t for r in self.routes for t in r.targets))


class PolicySet:
    def __init__(self, *, rules: list[Rule], sets: list[SetRule], routes: list[Route],
                 files: list[str], revision: str, sources: dict[str, str],
                 sandbox: Sandbox, dry_run: bool = False) -> None:
        self.rules = rules
        self.sets = sets
        self.routes = routes
        self.files = files                 # the policy files, in evaluation order
        self.revision = revision           # sha256 of the files' names and bytes (16 hex)
        self.dry_run = dry_run             # every enforce-mode rule evaluated as audit
        self.loaded_at = dt.datetime.now(dt.timezone.utc)
        self.sandbox = sandbox
        self._programs = Programs(revision, dict(sources))
        self._by_stage = {s: [r for r in rules if s in r.stages] for s in STAGES}

    # -- rules ------------------------------------------------------------------------
    def evaluate(self, stage: str, context: dict[str, Any], *,
                 prior: list[Outcome] = ()) -> Decision:
        """Evaluate the rules of ``stage`` on ``context`` (``context.build_context``).

        Blocks while the sandbox evaluates (microseconds per rule for sane expressions,
        at most the sandbox timeout per rule); from async code use ``evaluate_async``.
        ``prior`` outcomes (e.g. ``Defaults.errors``) are put first in the decision.
        """
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r} (expected {', '.join(STAGES)})")
        rules = self._by_stage[stage]
        items = [(expr_id("rule", r.id, "match") if r.match else None,
                  expr_id("rule", r.id, "validate"),
                  expr_id("rule", r.id, "message_expression") if r.message_expression else None)
                 for r in rules]
        results = self.sandbox.evaluate_rules(self._programs, items, context)
        outcomes = list(prior) + [self._outcome(r, res) for r, res in zip(rules, results)]
        return Decision(stage, self.revision, outcomes, self.dry_run)

    async def evaluate_async(self, stage: str, context: dict[str, Any], *,
                             prior: list[Outcome] = ()) -> Decision:
        """``evaluate`` in a worker thread; on the event loop when the stage has no rules
        (nothing blocks, and a thread hop would cost more than the call)."""
        if not self._by_stage[stage]:
            return self.evaluate(stage, context, prior=prior)
        return await asyncio.to_thread(self.evaluate, stage, context, prior=prior)

    def mode_of(self, mode: str) -> str:
        return "audit" if self.dry_run and mode == "enforce" else mode

    def _outcome(self, rule: Rule, res: dict[str, Any]) -> Outcome:
        mode = self.mode_of(rule.mode)
        common = dict(rule_id=rule.id, intended=rule.action, mode=mode, file=rule.file,
                      subject=rule_subject(rule.validate))
        if "error" in res:
            error = f"{res.get('phase', 'validate')}: {res['message']}"
            if rule.on_error == "ignore":
                return Outcome(result="error", action="allow", error=error,
                               message=f"evaluation error ignored (on_error = \"ignore\"): "
                                       f"{error}", **common)
            base = rule.message or f"rule '{rule.id}' could not be checked"
            return Outcome(result="error", action=apply_mode(rule.action, mode), error=error,
                           message=f"{base} [policy evaluation error, fail-closed: {error}]",
                           **common)
        if not res.get("matched"):
            return Outcome(result="skip", action="allow", **common)
        if res.get("valid"):
            return Outcome(result="pass", action="allow", **common)
        message = res.get("message") or rule.message or f"failed: {rule.validate.strip()}"
        return Outcome(result="fail", action=apply_mode(rule.action, mode), message=message,
                       **common)

    # -- defaults ---------------------------------------------------------------------
    def defaults(self, context: dict[str, Any]) -> Defaults:
        """Default record values for ``context`` (first matching [[set]] wins per field).

        At intake, ``asset`` in the context is the record as assembled from headers and
        embedded metadata, before defaults; the caller passes the result to
        ``gateway.provenance.assemble(..., defaults=...)``, which fills only empty fields.
        """
        out = Defaults()
        conditional = [s for s in self.sets if s.when]
        results = dict(zip((s.id for s in conditional), self.sandbox.evaluate_rules(
            self._programs, [(expr_id("set", s.id, "when"), None, None) for s in conditional],
            context)))
        for entry in self.sets:
            res = results.get(entry.id, {"matched": True})
            if "error" in res:
                if entry.on_error == "fail":
                    mode = self.mode_of("enforce")
                    out.errors.append(Outcome(
                        rule_id=entry.id, result="error", action=apply_mode("deny", mode),
                        intended="deny", mode=mode, file=entry.file,
                        error=f"when: {res['message']}",
                        message=f"defaults '{entry.id}' could not be checked [policy "
                                f"evaluation error, fail-closed: when: {res['message']}]"))
                continue
            if res.get("matched"):
                for name, value in entry.values.items():
                    if name not in out:
                        out[name] = value
                        out.sources[name] = entry.id
        return out

    def uses_sandbox(self, stage: str) -> bool:
        """Whether ``defaults`` or ``evaluate(stage)`` give the sandbox anything to run
        (and so block); without, both are plain computations, fine on the event loop."""
        return bool(self._by_stage[stage]) or any(s.when for s in self.sets)

    # -- routes -----------------------------------------------------------------------
    def routing(self, context: dict[str, Any]) -> Routing:
        """The [[route]] entries that apply to ``context`` (for the distribution stage)."""
        out = Routing()
        results = self.sandbox.evaluate_rules(
            self._programs, [(expr_id("route", r.id, "when"), None, None) for r in self.routes],
            context)
        for route, res in zip(self.routes, results):
            if "error" in res:
                out.errors.append(Outcome(rule_id=route.id, result="error", action="allow",
                                          intended="allow", mode="enforce", file=route.file,
                                          error=f"when: {res['message']}",
                                          message=f"route not taken: {res['message']}"))
            elif res.get("matched"):
                out.routes.append(route)
        return out

    # -- description ------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        return {"revision": self.revision, "loaded_at": self.loaded_at.isoformat(),
                "dry_run": self.dry_run, "files": list(self.files),
                "rules": [{"id": r.id, "stages": list(r.stages), "action": r.action,
                           "mode": self.mode_of(r.mode), "file": r.file} for r in self.rules],
                "sets": [{"id": s.id, "fields": sorted(s.values), "file": s.file}
                         for s in self.sets],
                "routes": [{"id": r.id, "targets": list(r.targets), "file": r.file}
                           for r in self.routes]}


_READS_RECORD = re.compile(r"\basset\b")


def rule_subject(validate: str) -> str:
    """"provenance" when a validate expression reads the record (``asset``), else
    "object" (it can only be about the object's bucket, key, size or type)."""
    return "provenance" if _READS_RECORD.search(validate) else "object"
