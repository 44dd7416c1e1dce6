"""The intake stage of the policy engine: defaults, the verdict, the audit trail.

Between extraction and commit the pipeline asks the gate about the write. The gate takes
one policy set for the whole write (a reload in between never mixes two sets), fills
the ``[[set]]`` defaults into the record, evaluates the ``intake`` rules and leaves the
pipeline one of four things to do: refuse (deny), keep in quarantine, store with
warnings, or store. Every decision is appended to the audit log and counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import lmdb

from gateway import errors, kv, metrics
from gateway.policy import AuditLog, Decision, PolicyStore, build_context
from gateway.provenance import ProvenanceRecord
from gateway.provenance.assemble import apply_defaults
from gateway.wire.names import MAX_KEY_BYTES


@dataclass
class Verdict:
    """The decision on one write and where, if anywhere, it is to be stored."""

    decision: Decision
    bucket: str                    # where the write goes: its own bucket and key, or
    key: str                       # the quarantine location

    @property
    def quarantined(self) -> str | None:
        """``rule: message`` of the quarantine, for the writer's response header."""
        held = self.decision.quarantine
        return f"{held.rule_id}: {held.message}" if held and self.refusal() is None else None

    @property
    def warnings(self) -> list[str]:
        return [f"{o.rule_id}: {o.message}" for o in self.decision.warnings]

    def refusal(self) -> errors.PolicyDenied | None:
        """The error that ends the write, if the decision does not let it be stored."""
        denial = self.decision.denial
        if denial is not None:
            return errors.PolicyDenied(denial.rule_id, denial.message or "denied",
                                       denial.subject)
        held = self.decision.quarantine
        if held is not None and len(self.key.encode("utf-8")) > MAX_KEY_BYTES:
            # <bucket>/<key> must itself be a key; failing closed beats storing in the open
            return errors.PolicyDenied(held.rule_id, f"{held.message} [not quarantined: "
                                       f"'{self.key[:64]}...' is longer than a key may be]")
        return None


class PolicyGate:
    def __init__(self, store: PolicyStore, audit: AuditLog, quarantine_bucket: str) -> None:
        self.store = store
        self.audit = audit
        self.quarantine_bucket = quarantine_bucket

    async def judge(self, *, bucket: str, key: str, size: int, content_type: str | None,
                    door: str, identity, record: ProvenanceRecord) -> Verdict:
        """Apply defaults to ``record`` (in place) and evaluate the intake rules.

        A quarantined write's record is moved to its quarantine location, so that the
        catalog, the sidecar and ``provgate reindex`` agree on where it is.
        """
        started = time.perf_counter()
        policies = self.store.current

        def context():
            return build_context(bucket=bucket, key=key, size=size,
                                 content_type=content_type or "", door=door, record=record,
                                 identity=identity)

        def decide() -> Decision:
            defaults = policies.defaults(context())
            apply_defaults(record, defaults)
            return policies.evaluate("intake", context(), prior=defaults.errors)

        # Both sandbox exchanges in one worker-thread hop (each hop costs the event loop
        # a thread handoff); none at all for a set that gives the sandbox nothing to run.
        if policies.uses_sandbox("intake"):
            decision = await asyncio.to_thread(decide)
        else:
            decision = decide()
        metrics.INTAKE_STAGE_SECONDS.labels("policy").observe(time.perf_counter() - started)
        for outcome in decision.matched:
            metrics.POLICY_DECISIONS.labels(outcome.rule_id, outcome.action).inc()
        if decision.quarantine is not None and decision.denial is None:
            # Kept as <quarantine bucket>/<bucket>/<key>, where only reviewers look.
            verdict = Verdict(decision, self.quarantine_bucket, f"{bucket}/{key}")
            record.bucket, record.key = verdict.bucket, verdict.key
            return verdict
        return Verdict(decision, bucket, key)

    def recorder(self, verdict: Verdict, *, identity: str
                 ) -> Callable[[lmdb.Transaction, str], object] | None:
        """``record`` as a write into a transaction on the audit log's environment (the
        catalog's, where intake catalogues the version in the same transaction):
        ``recorder(txn, version_id)``. None when the decision has nothing to append."""
        if not verdict.decision.matched:
            return None

        def append(txn: lmdb.Transaction, version_id: str) -> object:
            return self.audit.record_in(txn, verdict.decision, bucket=verdict.bucket,
                                        key=verdict.key, version_id=version_id,
                                        identity=identity)
        return append

    async def record(self, verdict: Verdict, *, version_id: str | None, identity: str) -> None:
        """Append the decision to the audit log (version_id None: nothing was stored);
        the append syncs to disk, so it runs in a worker thread. A decision no rule took
        part in appends nothing, and costs no thread hop."""
        if not verdict.decision.matched:
            return
        await kv.offload(self.audit.record, verdict.decision, bucket=verdict.bucket,
                         key=verdict.key, version_id=version_id, identity=identity)
