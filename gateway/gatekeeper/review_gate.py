"""The review stage of the gatekeeper: decisions, comments, ratings, quarantine release.

Every door (admin API, the CLI through it, S3 object tagging) ends here, so the checks
are the same whichever way a reviewer comes: the role (``reviewer`` or above for
decisions, ratings, release and discard; ``writer`` or above for comments, so that the
author can answer), the bucket scope, the ``stage = "review"`` policy rules
(``gateway.review.quorum``), then the record and the catalog entry written through
``IntakePipeline.write_record``, a line in the audit log and the metrics.

Changes to one version are serialised (one lock per version): two reviewers approving
at once both count, and neither overwrites the other's decision.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable

from gateway import errors, kv, metrics
from gateway.identities import Identity
from gateway.gatekeeper.pipeline import IntakePipeline, StreamBody, WriteRequest
from gateway.provenance.record import iso_now
from gateway.provenance import HistoryEvent, ProvenanceRecord
from gateway.provenance.record import ReviewComment, ReviewDecision
from gateway.review import inputs, ledger, states
from gateway.review.quorum import judge_approval

DECIDER_ROLE = "reviewer"
COMMENTER_ROLE = "writer"


class ReviewGate:
    def __init__(self, pipeline: IntakePipeline, policies, audit,
                 quarantine_bucket: str, *,
                 on_decision: Callable[[str, str, str], Awaitable[object]] | None = None
                 ) -> None:
        """``policies``: the PolicyStore (its ``current`` set is used per decision);
        ``audit``: the AuditLog; ``quarantine_bucket``: where quarantined writes wait;
        ``on_decision(bucket, key, version_id)``: called once a decision is recorded
        (distribution routes the version by its new state)."""
        self.pipeline = pipeline
        self.on_decision = on_decision
        self.catalog = pipeline.catalog
        self.policies = policies
        self.audit = audit
        self.quarantine_bucket = quarantine_bucket
        self._locks: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    # -- reading ------------------------------------------------------------------------
    def authorize(self, identity: Identity, role: str, bucket: str) -> None:
        if not identity.has_role(role):
            raise errors.AccessDenied(f"'{identity.name}' has role {identity.role}; "
                                      f"this needs {role}")
        if not identity.may_access_bucket(bucket):
            raise errors.AccessDenied(f"bucket '{bucket}' is outside the scope of "
                                      f"'{identity.name}'")
        if bucket == self.quarantine_bucket and not identity.has_role(DECIDER_ROLE):
            raise errors.AccessDenied("the quarantine is for reviewers")

    def _entry(self, bucket: str, key: str, version_id: str | None) -> dict:
        entry = self.catalog.version(bucket, key, version_id)
        if entry is None:
            if version_id is not None and self.catalog.asset(bucket, key) is not None:
                raise errors.NoSuchVersion(f"{bucket}/{key} has no version {version_id}",
                                           resource=f"/{bucket}/{key}")
            raise errors.NoSuchKey(f"no asset {bucket}/{key} in the catalog",
                                   resource=f"/{bucket}/{key}")
        return entry

    def show(self, bucket: str, key: str, version_id: str | None = None) -> dict:
        """The review of one version (default: current) and the state of every version."""
        entry = self._entry(bucket, key, version_id)
        versions = [{"version_id": v["version_id"], "committed": v["committed"],
                     **(v.get("review") or {"status": states.PENDING})}
                    for v in self.catalog.history(bucket, key)]
        return {**self._state(bucket, key, entry), "versions": versions}

    @staticmethod
    def _state(bucket: str, key: str, entry: dict, **extra) -> dict:
        review = entry.get("review") or {"status": states.PENDING}
        return {"bucket": bucket, "key": key, "version_id": entry["version_id"],
                "status": review.get("status", states.PENDING),
                "decisions": review.get("decisions", []),
                "comments": review.get("comments", []), "rating": review.get("rating"),
                "approvals": states.approvals(review.get("decisions", [])), **extra}

    # -- changing -----------------------------------------------------------------------
    def _lock(self, bucket: str, key: str, version_id: str) -> asyncio.Lock:
        lock = self._locks.get((bucket, key, version_id))
        if lock is None:
            lock = asyncio.Lock()
            self._locks[(bucket, key, version_id)] = lock
        return lock

    async def _store(self, bucket: str, key: str, entry: dict, record: ProvenanceRecord,
                     event: HistoryEvent, identity: Identity) -> dict:
        history = [HistoryEvent(**e) for e in entry.get("history", [])] + [event]
        await self.pipeline.write_record(bucket, key, entry["version_id"], record, history,
                                         identity)
        return self.catalog.version(bucket, key, entry["version_id"])

    async def decide(self, bucket: str, key: str, version_id: str | None, decision: str,
                     identity: Identity, note: str | None = None) -> dict:
        """Record ``decision`` (approved | changes_requested | rejected) on a version.

        An approval a review rule refuses raises PolicyDenied (nothing recorded); an
        approval short of the quorum is recorded and the answer's ``waiting_for`` names
        the quorum rules still unmet.
        """
        self.authorize(identity, DECIDER_ROLE, bucket)
        if bucket == self.quarantine_bucket:
            raise errors.InvalidRequest("a quarantined write is released or discarded, "
                                        "not reviewed in place")
        decision = inputs.decision(decision)
        note = inputs.text(note, "note", required=False)
        version_id = self._entry(bucket, key, version_id)["version_id"]
        async with self.pipeline.key_lock(bucket, key):
            entry = self._entry(bucket, key, version_id)
            record = ProvenanceRecord.from_dict(entry["record"])
            made = ReviewDecision(decision, identity.name, iso_now(), role=identity.role,
                                  groups=list(identity.groups), note=note)
            status, extra = await self._judge(bucket, key, record, made, identity)
            ledger.add_decision(record, made, status)
            stored = await self._store(bucket, key, entry, record, ledger.event(
                ledger.REVIEWED, made.at, entry["instance_id"],
                ledger.decision_words(made, status)), identity)
        metrics.REVIEW_DECISIONS.labels(decision).inc()
        await kv.offload(self.audit.append_review, "decided", bucket=bucket, key=key,
                         version_id=version_id, identity=identity.name, decision=decision,
                         status=status, note=note,
                         waiting_for=extra.get("waiting_for") or None)
        if self.on_decision is not None:
            # After the key's lock is released: distribution writes the record too.
            await self.on_decision(bucket, key, version_id)
        return self._state(bucket, key, stored, **extra)

    async def _judge(self, bucket: str, key: str, record: ProvenanceRecord,
                     made: ReviewDecision, identity: Identity) -> tuple[str, dict]:
        """The status after ``made``, and what to tell the reviewer; raises PolicyDenied
        when a review rule refuses an approval."""
        review = ledger.review_of(record)
        decisions = [vars(d) for d in review.decisions] + [vars(made)]
        if made.decision != states.APPROVED:
            return states.status_of(decisions, quorum_reached=False,
                                    previous=review.status), {}
        verdict = await judge_approval(
            self.policies.current, bucket=bucket, key=key, record=record, identity=identity,
            status=review.status, approvals=states.approvals(decisions))
        await kv.offload(self.audit.record, verdict.decision, bucket=bucket, key=key,
                         version_id=record.version_id, identity=identity.name)
        if verdict.refusal is not None:
            metrics.REVIEW_DECISIONS.labels("refused").inc()
            raise errors.PolicyDenied(verdict.refusal.rule_id,
                                      verdict.refusal.message or "approval refused")
        status = states.status_of(decisions, quorum_reached=verdict.quorum_reached,
                                  previous=review.status)
        return status, {
            "waiting_for": [{"rule": o.rule_id, "message": o.message} for o in verdict.waiting],
            "warnings": [f"{o.rule_id}: {o.message}" for o in verdict.warnings]}

    async def comment(self, bucket: str, key: str, version_id: str | None, identity: Identity,
                      text: str, *, region: dict | None = None, timecode: dict | None = None,
                      reply_to: str | None = None) -> dict:
        """Add a comment (optionally on a region or a time range, or as a reply)."""
        self.authorize(identity, COMMENTER_ROLE, bucket)
        text = inputs.text(text, "text", required=True)
        box, span = inputs.region(region), inputs.timecode(timecode)
        reply_to = inputs.comment_id(reply_to)
        version_id = self._entry(bucket, key, version_id)["version_id"]
        async with self.pipeline.key_lock(bucket, key):
            entry = self._entry(bucket, key, version_id)
            record = ProvenanceRecord.from_dict(entry["record"])
            if len(ledger.review_of(record).comments) >= inputs.MAX_COMMENTS:
                raise errors.InvalidRequest(f"a version holds at most {inputs.MAX_COMMENTS} "
                                            "comments")
            if reply_to is not None and ledger.find_comment(record, reply_to) is None:
                raise errors.NoSuchReviewItem(f"no comment {reply_to} on this version")
            made = ReviewComment(ledger.next_comment_id(record), identity.name, iso_now(), text,
                                 **(box or {}), **(span or {}), reply_to=reply_to)
            ledger.review_of(record).comments.append(made)
            where = (f" at region {box}" if box else "") + (f" at {span['start']}-{span['end']}s"
                                                           if span else "")
            stored = await self._store(bucket, key, entry, record, ledger.event(
                ledger.COMMENTED, made.at, entry["instance_id"],
                f"comment {made.id} by {identity.name}"
                + (f" in reply to {reply_to}" if reply_to else "") + where), identity)
        await kv.offload(self.audit.append_review, "commented", bucket=bucket, key=key,
                         version_id=version_id, identity=identity.name, comment=made.id,
                         reply_to=reply_to)
        return self._state(bucket, key, stored, comment=vars(made))

    async def resolve(self, bucket: str, key: str, version_id: str | None, comment_id: str,
                      identity: Identity) -> dict:
        """Mark a comment thread resolved."""
        self.authorize(identity, COMMENTER_ROLE, bucket)
        comment_id = inputs.comment_id(comment_id, "comment")
        version_id = self._entry(bucket, key, version_id)["version_id"]
        async with self.pipeline.key_lock(bucket, key):
            entry = self._entry(bucket, key, version_id)
            record = ProvenanceRecord.from_dict(entry["record"])
            found = ledger.find_comment(record, comment_id)
            if found is None:
                raise errors.NoSuchReviewItem(f"no comment {comment_id} on this version")
            found.resolved_by, found.resolved_at = identity.name, iso_now()
            stored = await self._store(bucket, key, entry, record, ledger.event(
                ledger.COMMENTED, found.resolved_at, entry["instance_id"],
                f"comment {comment_id} resolved by {identity.name}"), identity)
        await kv.offload(self.audit.append_review, "resolved", bucket=bucket, key=key,
                         version_id=version_id, identity=identity.name, comment=comment_id)
        return self._state(bucket, key, stored)

    async def rate(self, bucket: str, key: str, version_id: str | None, rating,
                   identity: Identity) -> dict:
        """Set the version's rating (``xmp:Rating``, 0..5)."""
        self.authorize(identity, DECIDER_ROLE, bucket)
        rating = inputs.rating(rating)
        version_id = self._entry(bucket, key, version_id)["version_id"]
        async with self.pipeline.key_lock(bucket, key):
            entry = self._entry(bucket, key, version_id)
            record = ProvenanceRecord.from_dict(entry["record"])
            record.rating = rating
            when = iso_now()
            stored = await self._store(bucket, key, entry, record, ledger.event(
                ledger.REVIEWED, when, entry["instance_id"],
                f"rated {rating} by {identity.name}"), identity)
        await kv.offload(self.audit.append_review, "rated", bucket=bucket, key=key,
                         version_id=version_id, identity=identity.name, rating=rating)
        return self._state(bucket, key, stored)

    # -- quarantine ---------------------------------------------------------------------
    def _held(self, bucket: str, key: str) -> tuple[str, dict]:
        held_key = f"{bucket}/{key}"
        entry = self.catalog.version(self.quarantine_bucket, held_key)
        if entry is None:
            raise errors.NoSuchKey(f"nothing from {bucket}/{key} waits in quarantine",
                                   resource=f"/{self.quarantine_bucket}/{held_key}")
        return held_key, entry

    async def release(self, bucket: str, key: str, identity: Identity,
                      note: str | None = None) -> dict:
        """A reviewer approves a quarantined write: its bytes become a new version of
        ``bucket``/``key`` with its record (the approval recorded and judged by the
        review rules like any other), and the quarantined copy is deleted."""
        self.authorize(identity, DECIDER_ROLE, bucket)
        note = inputs.text(note, "note", required=False)
        held_key, entry = self._held(bucket, key)
        async with self._lock(self.quarantine_bucket, held_key, entry["version_id"]):
            held_key, entry = self._held(bucket, key)
            record = ProvenanceRecord.from_dict(entry["record"])
            record.bucket, record.key, record.review = bucket, key, None
            made = ReviewDecision(states.APPROVED, identity.name, iso_now(), role=identity.role,
                                  groups=list(identity.groups), note=note)
            status, extra = await self._judge(bucket, key, record, made, identity)
            ledger.add_decision(record, made, status)
            info = await self._commit_copy(held_key, entry, record, identity, [ledger.event(
                ledger.REVIEWED, made.at, "",
                f"released from quarantine; {ledger.decision_words(made, status)}")])
            held = ProvenanceRecord.from_dict(entry["record"])
            ledger.add_decision(held, made, states.APPROVED)
            await self._store(self.quarantine_bucket, held_key, entry, held, ledger.event(
                ledger.REVIEWED, made.at, entry["instance_id"],
                f"released to {bucket}/{key} version {info.version_id} by {identity.name}"),
                identity)
            await self.pipeline.delete(self.quarantine_bucket, held_key)
        metrics.REVIEW_DECISIONS.labels(states.APPROVED).inc()
        await kv.offload(self.audit.append_review, "released", bucket=bucket, key=key,
                         version_id=info.version_id, identity=identity.name, status=status,
                         note=note, source=f"{self.quarantine_bucket}/{held_key}"
                                           f"?versionId={entry['version_id']}")
        stored = self.catalog.version(bucket, key, info.version_id)
        return self._state(bucket, key, stored, **extra, released_from={
            "bucket": self.quarantine_bucket, "key": held_key,
            "version_id": entry["version_id"]})

    async def _commit_copy(self, held_key: str, entry: dict, record: ProvenanceRecord,
                           identity: Identity, events: list[HistoryEvent]):
        source = await self.pipeline.backend.head_object(self.quarantine_bucket, held_key,
                                                         entry["version_id"])
        stream = await self.pipeline.backend.open_object(self.quarantine_bucket, held_key,
                                                         version_id=entry["version_id"])
        try:
            staged = await self.pipeline.spool(StreamBody(stream.body, source.size))
        finally:
            await stream.close()
        attributes = source.attributes
        write = WriteRequest(record.bucket, record.key, staged, attributes, identity,
                             door=record.door or "s3")
        return await self.pipeline.commit_record(write, record, events)

    async def discard(self, bucket: str, key: str, identity: Identity,
                      note: str | None = None) -> dict:
        """A reviewer throws a quarantined write away: its record says so, then it is
        deleted (a delete marker: an admin can still recover it from the version)."""
        self.authorize(identity, DECIDER_ROLE, bucket)
        note = inputs.text(note, "note", required=False)
        held_key, entry = self._held(bucket, key)
        async with self._lock(self.quarantine_bucket, held_key, entry["version_id"]):
            held_key, entry = self._held(bucket, key)
            record = ProvenanceRecord.from_dict(entry["record"])
            made = ReviewDecision(states.REJECTED, identity.name, iso_now(), role=identity.role,
                                  groups=list(identity.groups), note=note)
            ledger.add_decision(record, made, states.REJECTED)
            await self._store(self.quarantine_bucket, held_key, entry, record, ledger.event(
                ledger.REVIEWED, made.at, entry["instance_id"],
                f"discarded from quarantine; {ledger.decision_words(made, states.REJECTED)}"),
                identity)
            await self.pipeline.delete(self.quarantine_bucket, held_key)
        metrics.REVIEW_DECISIONS.labels(states.REJECTED).inc()
        await kv.offload(self.audit.append_review, "discarded", bucket=bucket, key=key,
                         version_id=entry["version_id"], identity=identity.name, note=note,
                         source=f"{self.quarantine_bucket}/{held_key}")
        return {"bucket": bucket, "key": key, "discarded": {
            "bucket": self.quarantine_bucket, "key": held_key,
            "version_id": entry["version_id"]}}
