"""The distribution stage: what an approval, a rejection or an expiry does to the copies.

``Distributor.on_review_change(bucket, key, version_id)`` is the one entry point the
review code calls after it records a decision (and ``provgate distribute resync`` calls
for every version). It reads the version's review state from its catalog entry and:

- ``approved`` (or ``published``, on a resync): the ``[[route]]`` entries are evaluated
  (their ``when`` sees ``review.status == "approved"``), then the ``stage = "distribute"``
  rules. A denial queues the routed targets as ``blocked`` with the rule's id and
  message; otherwise one delivery job per target is queued (idempotent: a version is
  delivered to a target once). A version whose licence has already expired is marked
  ``expired`` and goes nowhere.
- ``rejected``, ``taken_down``, ``expired`` with copies out: a takedown job per target.

Rights expiry: every ``expiry_interval`` seconds the versions whose ``license_expires``
has passed while approved or published are marked ``expired`` and taken down.
"""

from __future__ import annotations

import asyncio
import logging

from gateway import errors, kv
from gateway.catalog import Catalog
from gateway.distribution.keys import licence_expired
from gateway.distribution.queue import ACTIVE, Job, JobQueue
from gateway.distribution.settings import DISTRIBUTION_IDENTITY, DistributionConfig
from gateway.provenance.record import SOFTWARE_AGENT, iso_now
from gateway.policy import build_context
from gateway.provenance import HistoryEvent, ProvenanceRecord
from gateway.provenance.record import Review

log = logging.getLogger("provgate.distribution")

DELIVERING = ("approved", "published")
REMOVING = ("rejected", "taken_down", "expired")
STATUS_JOBS = 1000         # jobs listed by one status call ("more": true beyond)


class Distributor:
    def __init__(self, config: DistributionConfig, catalog: Catalog, policies, *,
                 audit=None, pipeline=None, region: str = "us-east-1") -> None:
        """``policies`` is a ``PolicyStore``; ``pipeline`` (an ``IntakePipeline``) is needed
        only to run deliveries — without it (the CLI) jobs are queued for the server."""
        s = config.settings
        self.config = config
        self.catalog = catalog
        self.policies = policies
        self.audit = audit
        self.queue = JobQueue(catalog.env, max_attempts=s.max_attempts,
                              backoff_initial=s.backoff_initial, backoff_max=s.backoff_max)
        self.pipeline = pipeline
        self.worker = None
        if pipeline is not None:
            from gateway.distribution.worker import DeliveryWorker
            self.worker = DeliveryWorker(config, self.queue, catalog, pipeline, region=region)
        self._expiry: asyncio.Task | None = None

    async def start(self, own_endpoint: str = "") -> None:
        """Resume the queue (jobs left by a crash or queued by the CLI) and the expiry scan;
        ``own_endpoint`` is the S3 listener's URL, for webhook presigned URLs."""
        if self.worker is not None:
            self.worker.own_endpoint = own_endpoint
            await self.worker.start()
        self._expiry = asyncio.create_task(self._expiry_loop(), name="rights-expiry")

    async def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            await asyncio.gather(self._expiry, return_exceptions=True)
        if self.worker is not None:
            await self.worker.close()

    def replication_status(self, bucket: str, key: str, version_id: str) -> str | None:
        return self.queue.replication_status(bucket, key, version_id)

    # -- decisions ------------------------------------------------------------------------
    async def on_review_change(self, bucket: str, key: str, version_id: str) -> list[Job]:
        """Queue what the version's current review state asks for; returns the jobs."""
        entry = self.catalog.version(bucket, key, version_id)
        if entry is None:
            raise errors.NoSuchVersion(f"{bucket}/{key} has no version {version_id}",
                                       Key=key, VersionId=version_id)
        review = entry.get("review") or entry["record"].get("review") or {"status": "pending"}
        status = review.get("status", "pending")
        if status in DELIVERING:
            if licence_expired(entry["record"]):
                await self._set_status(bucket, key, version_id, review, "expired")
                return await self.takedown(bucket, key, version_id, reason="licence expired",
                                           status="expired")
            return await self._route(bucket, key, version_id, entry, review)
        if status in REMOVING:
            reason = {"rejected": "rejected after publishing", "expired": "licence expired"}.get(
                status, "taken down")
            return await self.takedown(bucket, key, version_id, reason=reason, status=None)
        return []

    async def _route(self, bucket: str, key: str, version_id: str, entry: dict,
                     review: dict) -> list[Job]:
        policies = self.policies.current
        context = build_context(bucket=bucket, key=key, record=entry["record"],
                                review={**review, "status": "approved"})
        routing = await asyncio.to_thread(policies.routing, context)
        for problem in routing.errors:
            log.warning("route %s on %s/%s: %s", problem.rule_id, bucket, key, problem.message)
        targets = {}
        for route in routing.routes:
            for target in route.targets:
                targets.setdefault(target, []).append(route.id)
        if not targets:
            return []
        decision = await policies.evaluate_async("distribute", context)
        if self.audit is not None and decision.matched:
            await kv.offload(self.audit.record, decision, bucket=bucket, key=key,
                             version_id=version_id, identity=review.get("by"))
        denial = decision.denial
        jobs = []
        for target, routes in targets.items():
            job = Job(bucket, key, version_id, target, "deliver", routes=routes)
            supersedes = None
            if target not in self.config.targets:
                job.state, job.reason = "blocked", f"target {target!r} is not configured"
                job.last_error = job.reason
            elif denial is not None:
                job.state = "blocked"
                job.reason = f"{denial.rule_id}: {denial.message or 'denied'}"
                job.last_error = job.reason
            else:
                # A new delivery supersedes an earlier takedown of the same copy.
                supersedes = Job(bucket, key, version_id, target, "takedown").id
            stored, _ = await asyncio.to_thread(self.queue.enqueue, job, supersedes=supersedes)
            jobs.append(stored)
        self._wake()
        return jobs

    async def takedown(self, bucket: str, key: str, version_id: str | None = None, *,
                       reason: str = "manual takedown", status: str | None = "taken_down",
                       target: str | None = None) -> list[Job]:
        """Remove the copies of a version (all versions of the key when None) from every
        target (or one); ``status`` (when given) becomes the versions' review state."""
        versions = [version_id] if version_id else [
            v["version_id"] for v in self.catalog.history(bucket, key)]
        if version_id and self.catalog.version(bucket, key, version_id) is None:
            raise errors.NoSuchVersion(f"{bucket}/{key} has no version {version_id}",
                                       Key=key, VersionId=version_id)
        jobs = []
        for vid in versions:
            delivered = [j for j in self.queue.for_version(bucket, key, vid)
                         if j.op == "deliver" and (target is None or j.target == target)]
            for job in delivered:
                pending = job.state in ACTIVE
                if pending or job.state == "blocked":
                    # A delivery already running completes and then finds the takedown
                    # queued here (DeliveryWorker._follow_late_takedown).
                    await asyncio.to_thread(self.queue.set_state, job, "cancelled", reason=reason)
                if job.state == "done" or pending:
                    takedown = Job(bucket, key, vid, job.target, "takedown", reason=reason,
                                   dest_key=job.dest_key, extra_keys=job.extra_keys,
                                   location=job.location, routes=job.routes)
                    stored, _ = await asyncio.to_thread(self.queue.enqueue, takedown, force=True)
                    jobs.append(stored)
            if status is not None and delivered:
                entry = self.catalog.version(bucket, key, vid)
                if entry is not None:
                    await self._set_status(bucket, key, vid,
                                           entry.get("review") or {"status": "pending"}, status)
        self._wake()
        return jobs

    async def resync(self, bucket: str | None = None, key: str | None = None) -> list[Job]:
        """Evaluate the routes again for every approved or published version (of one
        bucket or key): targets added since are delivered to, dead jobs stay dead
        (``retry`` restarts them)."""
        jobs = []
        assets = ([self.catalog.asset(bucket, key)] if bucket and key
                  else list(self.catalog.iter_assets(bucket)))
        for asset in filter(None, assets):
            for entry in self.catalog.history(asset["bucket"], asset["key"]):
                status = (entry.get("review") or {}).get("status")
                if status in DELIVERING or status in REMOVING:
                    jobs += await self.on_review_change(asset["bucket"], asset["key"],
                                                        entry["version_id"])
        return jobs

    def retry(self, *, target: str | None = None, bucket: str | None = None,
              key: str | None = None) -> list[Job]:
        jobs = self.queue.retry(target=target, bucket=bucket, key=key)
        self._wake()
        return jobs

    def status(self, *, target: str | None = None, bucket: str | None = None,
               key: str | None = None) -> dict:
        """Per target: jobs by state, depth, oldest age; and up to STATUS_JOBS jobs —
        the unfinished ones, or every job of one bucket or key."""
        stats = self.queue.stats()
        if target is not None:
            stats = {target: stats.get(target, {"states": {}, "depth": 0, "oldest_age": 0.0})}
        jobs, more = [], False
        for job in self.queue.iter_jobs(target=target, bucket=bucket, key=key):
            if job.state in ("done", "cancelled") and bucket is None:
                continue
            if len(jobs) == STATUS_JOBS:
                more = True
                break
            jobs.append(job.to_json())
        return {"targets": stats, "jobs": jobs, "more": more}

    # -- rights expiry --------------------------------------------------------------------
    async def expire_due(self) -> list[Job]:
        """Versions approved or published whose licence has ended: ``expired``, copies removed."""
        jobs = []
        for asset in list(self.catalog.iter_assets()):
            for entry in self.catalog.history(asset["bucket"], asset["key"]):
                review = entry.get("review") or {}
                if review.get("status") in DELIVERING and licence_expired(entry["record"]):
                    log.info("licence of %s/%s version %s expired: taking its copies down",
                             asset["bucket"], asset["key"], entry["version_id"])
                    await self._set_status(asset["bucket"], asset["key"], entry["version_id"],
                                           review, "expired")
                    jobs += await self.takedown(asset["bucket"], asset["key"],
                                                entry["version_id"], reason="licence expired",
                                                status=None)
        return jobs

    async def _expiry_loop(self) -> None:
        while True:
            try:
                await self.expire_due()
            except Exception:  # noqa: BLE001 - the scan runs again next interval
                log.exception("rights-expiry scan failed")
            await asyncio.sleep(self.config.settings.expiry_interval)

    async def _set_status(self, bucket: str, key: str, version_id: str, review: dict,
                          status: str) -> None:
        """Set a version's review state (expired, taken_down, ...) in its record, with a
        history event, through the gatekeeper's record write; the decisions and comments
        already in the record stay."""
        if self.pipeline is None:
            raise RuntimeError("a review state changes only through a running gateway")
        async with self.pipeline.key_lock(bucket, key):
            entry = self.catalog.version(bucket, key, version_id)
            if entry is None:
                return
            record = ProvenanceRecord.from_dict(entry["record"])
            if record.review is None:
                record.review = Review(status=status)
            record.review.status = status
            history = [HistoryEvent(**e) for e in entry.get("history", [])]
            if status not in ("published", "taken_down"):
                # Those two have an event per target, with where the copy went, written
                # by the delivery worker when the copy lands or goes.
                history.append(HistoryEvent(status, iso_now(), instance_id=entry["instance_id"],
                                            software_agent=SOFTWARE_AGENT, changed="/"))
            await self.pipeline.write_record(bucket, key, version_id, record, history,
                                             DISTRIBUTION_IDENTITY)

    def _wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()
