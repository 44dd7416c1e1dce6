"""What the policy set says about a stored asset (``provgate policy explain``, re-checks).

A stored version is judged on the record the catalog holds for it: the object fields
come from the record (size, content type, door), the identity is the writer's name, the
review state is the record's. Every stage is evaluated, so the answer shows at once what
intake would say today, whether review may approve it and whether it may be distributed.
"""

from __future__ import annotations

from typing import Any

from gateway.policy.context import build_context, standing_approvals
from gateway.policy.policyset import PolicySet
from gateway.policy.schema import STAGES


def stored_context(bucket: str, key: str, version: dict[str, Any]) -> dict[str, Any]:
    """The evaluation context of a catalog version (``Catalog.version()``)."""
    record = version.get("record") or {}
    review = dict(record.get("review") or {"status": "pending"})
    # Review rules see the approvals that stand, as when the next approval is judged.
    review["approvals"] = standing_approvals(review.get("decisions", []))
    return build_context(bucket=bucket, key=key, record=record, review=review,
                         identity={"name": record.get("identity") or "", "role": ""})


def explain(policy_set: PolicySet, bucket: str, key: str, version: dict[str, Any]) -> dict:
    """Every rule at every stage, the defaults that would apply and the routes taken."""
    ctx = stored_context(bucket, key, version)
    stages = {}
    for stage in STAGES:
        decision = policy_set.evaluate(stage, ctx)
        stages[stage] = {"action": decision.action,
                         "outcomes": [_described(policy_set, o.to_dict())
                                      for o in decision.outcomes]}
    defaults = policy_set.defaults(ctx)
    routing = policy_set.routing(ctx)
    return {"bucket": bucket, "key": key, "version_id": version.get("version_id"),
            "revision": policy_set.revision, "dry_run": policy_set.dry_run,
            "stages": stages,
            "defaults": {name: {"value": value, "from": defaults.sources[name]}
                         for name, value in defaults.items()},
            "routes": [r.id for r in routing.routes], "targets": routing.targets}


def _described(policy_set: PolicySet, outcome: dict) -> dict:
    """An outcome with the expressions that produced it, for reading "why"."""
    rule = next(r for r in policy_set.rules if r.id == outcome["rule_id"])
    outcome.update(match=rule.match, validate=rule.validate, line=rule.line)
    return outcome
