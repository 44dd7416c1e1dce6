"""What evaluating a policy set says: one outcome per rule, and the overall verdict.

An ``Outcome`` keeps both what the rule asked for (``intended``: its action) and what is
actually done after modes and dry-run (``action``), so the audit log of a rule in audit
mode shows "would deny", which is how a new rule is trialled before it enforces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Results: pass (validate true), fail (validate false), skip (match false), error (the
# expression could not be evaluated: missing field, type mismatch, timeout).
RESULTS = ("pass", "fail", "skip", "error")
# Effective actions, strongest first; "allow" is what a passing/skipped rule does.
SEVERITY = ("deny", "quarantine", "warn", "audit", "allow")


@dataclass(frozen=True)
class Outcome:
    rule_id: str
    result: str                    # pass | fail | skip | error
    action: str                    # effective: allow | deny | quarantine | warn | audit
    intended: str                  # the rule's action: what enforce mode would do on failure
    mode: str                      # effective mode: enforce | warn | audit
    message: str | None = None     # why it failed (message / message_expression / error)
    error: str | None = None       # the evaluation error, when result is "error"
    file: str = ""
    # What the rule's validate expression reads: "provenance" (the record: fields a
    # writer can add) or "object" (type, size, name: provenance cannot fix it). Senders
    # such as the sidecar choose their advice by it.
    subject: str = "object"

    @property
    def matched(self) -> bool:
        """The rule applied to this object (its match held, or could not be evaluated)."""
        return self.result != "skip"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["matched"] = self.matched
        return out


def apply_mode(action: str, mode: str) -> str:
    """The action a failing rule takes in ``mode``."""
    if mode == "audit":
        return "audit"
    if mode == "warn" and action in ("deny", "quarantine"):
        return "warn"
    return action


@dataclass
class Decision:
    """Every outcome of one evaluation; ``action`` is the strongest of them."""

    stage: str
    revision: str
    outcomes: list[Outcome] = field(default_factory=list)
    dry_run: bool = False

    @property
    def action(self) -> str:
        """deny > quarantine > warn > audit > allow."""
        actions = {o.action for o in self.outcomes}
        return next((a for a in SEVERITY if a in actions), "allow")

    @property
    def denial(self) -> Outcome | None:
        return next((o for o in self.outcomes if o.action == "deny"), None)

    @property
    def quarantine(self) -> Outcome | None:
        return next((o for o in self.outcomes if o.action == "quarantine"), None)

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == "warn"]

    @property
    def matched(self) -> list[Outcome]:
        """Outcomes of rules that applied (what the audit log records)."""
        return [o for o in self.outcomes if o.matched]

    def outcome(self, rule_id: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.rule_id == rule_id), None)

    def raise_if_denied(self) -> None:
        """Raise ``PolicyDenied`` (S3 403 AccessDenied + x-provgate-policy) on a denial."""
        denial = self.denial
        if denial is not None:
            from gateway.errors import PolicyDenied
            raise PolicyDenied(denial.rule_id, denial.message or "denied", denial.subject)

    def warning_header(self) -> str | None:
        """Value for ``x-provgate-warning``: ``rule: message`` pairs, header-safe ASCII."""
        if not self.warnings:
            return None
        text = "; ".join(f"{o.rule_id}: {o.message}" for o in self.warnings)
        return header_safe(text)

    def to_dict(self) -> dict:
        return {"stage": self.stage, "revision": self.revision, "dry_run": self.dry_run,
                "action": self.action, "outcomes": [o.to_dict() for o in self.outcomes]}


def header_safe(text: str, limit: int = 1024) -> str:
    """Printable ASCII only (HTTP header values), non-ASCII as \\u escapes, capped."""
    out = "".join(c if " " <= c <= "~" else c.encode("unicode_escape").decode("ascii")
                  if c not in "\r\n\t" else " " for c in text)
    return out if len(out) <= limit else out[:limit - 3] + "..."
