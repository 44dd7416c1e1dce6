"""The intake stage of the policy engine: defaults, the verdict, the audit trail.

Between extraction and commit the pipeline asks the gate about the write. The gate takes
one policy set for the whole write (a reload in between never mixes two sets), fills
the ``[[set]]`` defaults into the record, evaluates the ``intake`` rules and leaves the
pipeline one of four things to do: refuse (deny), keep in quarantine, store with
warnings, or store. Every decision is appended to the audit log and counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gateway import metrics
from gateway.policy import AuditLog, Decision, PolicyStore, build_context
from gateway.provenance import ProvenanceRecord
from gateway.provenance.assemble import apply_defaults


@dataclass
class Verdict:
    """The decision on one write, and the set revision that made it."""

    decision: Decision

    @property
    def denial(self):
        return self.decision.denial

    @property
    def quarantine(self):
        return self.decision.quarantine

    @property
    def warnings(self) -> list[str]:
        return [f"{o.rule_id}: {o.message}" for o in self.decision.warnings]


class PolicyGate:
    def __init__(self, store: PolicyStore, audit: AuditLog, quarantine_bucket: str) -> None:
        self.store = store
        self.audit = audit
        self.quarantine_bucket = quarantine_bucket

    async def judge(self, *, bucket: str, key: str, size: int, content_type: str | None,
                    door: str, identity, record: ProvenanceRecord) -> Verdict:
        """Apply defaults to ``record`` (in place) and evaluate the intake rules."""
        started = time.perf_counter()
        policies = self.store.current

        def context():
            return build_context(bucket=bucket, key=key, size=size,
                                 content_type=content_type or "", door=door, record=record,
                                 identity=identity)

        defaults = await policies.defaults_async(context())
        apply_defaults(record, defaults)
        decision = await policies.evaluate_async("intake", context(), prior=defaults.errors)
        metrics.INTAKE_STAGE_SECONDS.labels("policy").observe(time.perf_counter() - started)
        for outcome in decision.matched:
            metrics.POLICY_DECISIONS.labels(outcome.rule_id, outcome.action).inc()
        return Verdict(decision)

    def record(self, verdict: Verdict, *, bucket: str, key: str, version_id: str | None,
               identity: str) -> None:
        """Append the decision to the audit log (version_id None: nothing was stored)."""
        self.audit.record(verdict.decision, bucket=bucket, key=key, version_id=version_id,
                          identity=identity)

    def quarantine_key(self, bucket: str, key: str) -> str:
        """Where a quarantined write is kept: ``<quarantine bucket>/<bucket>/<key>``."""
        return f"{bucket}/{key}"
