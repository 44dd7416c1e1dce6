"""The ``stage = "review"`` policy rules, run when a reviewer approves a version.

Rules see the documented context (``docs/policies.md``): ``object``, ``asset`` (the
version's record), ``identity`` (the approver: name, role, groups) and ``review``
(``status`` before this decision, ``decision`` = ``"approved"``, ``approvals``: every
approval that stands, this one included, each ``{identity, role, groups}``).

Two kinds of rule, told apart by the rule's ``quorum`` key:

- an ordinary rule (``quorum = false``, the default) guards the approval itself: when it
  fails with action ``deny`` the approval is refused and nothing is recorded, and the
  answer names the rule (e.g. a model release is required when ``asset.people`` is set);
- a quorum rule (``quorum = true``) says whether the approvals that stand are enough
  (how many, from which roles or groups): while it fails the approval is recorded and
  the version stays ``pending``.

Rejections and requests for changes are never refused by a rule: anyone with the
reviewer role can stop a version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.policy import Decision, build_context
from gateway.policy.decision import Outcome
from gateway.provenance import ProvenanceRecord
from gateway.review.states import APPROVED

FAILED = ("fail", "error")


@dataclass
class ApprovalVerdict:
    """What the review rules say of one approval."""

    decision: Decision                        # every rule outcome (for the audit log)
    refusal: Outcome | None = None            # an ordinary rule that refuses the approval
    waiting: list[Outcome] = field(default_factory=list)   # quorum rules not yet met
    warnings: list[Outcome] = field(default_factory=list)

    @property
    def quorum_reached(self) -> bool:
        return not self.waiting


async def judge_approval(policies, *, bucket: str, key: str, record: ProvenanceRecord,
                         identity, status: str, approvals: list[dict]) -> ApprovalVerdict:
    """Evaluate the review rules of ``policies`` (a ``PolicySet``) for an approval.

    ``approvals`` are the approvals that would stand once this one is recorded.
    """
    context = build_context(bucket=bucket, key=key, record=record, identity=identity,
                            review={"status": status, "decision": APPROVED,
                                    "approvals": approvals})
    decision = await policies.evaluate_async("review", context)
    quorum_rules = {r.id for r in policies.rules if r.quorum}
    verdict = ApprovalVerdict(decision)
    for outcome in decision.outcomes:
        if outcome.result not in FAILED:
            continue
        if outcome.rule_id in quorum_rules:
            if outcome.action == "deny":        # warn/audit mode: trialled, not holding
                verdict.waiting.append(outcome)
            elif outcome.action == "warn":
                verdict.warnings.append(outcome)
        elif outcome.action == "deny" and verdict.refusal is None:
            verdict.refusal = outcome
        elif outcome.action == "warn":
            verdict.warnings.append(outcome)
    return verdict
