"""Runs due jobs: prepares each copy, hands it to its target, records what happened.

One dispatcher task takes due jobs from the queue (``queue.due``) and runs up to
``[distribution] workers`` at once. It wakes when this process queues a job
(``wake``) and otherwise looks every ``poll_interval`` seconds, which is how jobs queued
by another process (``provgate distribute resync`` / ``takedown``) are picked up, and
how retries come due. On start it first records finished jobs whose history event a
crash cut off (``queue.unrecorded``).

A delivery: the stored version is read from the backend to a work folder, the record's
XMP embedded and/or the copy signed as the target asks, the copy stored under the
templated key; then the job is marked done, and only then is the ``published``
xmpMM:History event written to the record (once per target: a repeat is recognised).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import time
import uuid
from pathlib import Path

from gateway import errors, metrics
from gateway.catalog import Catalog
from gateway.distribution.embed import EmbedError, embed_xmp, embeddable
from gateway.distribution.keys import render_key
from gateway.distribution.queue import Job, JobQueue
from gateway.distribution.settings import DISTRIBUTION_IDENTITY, DistributionConfig, Target
from gateway.distribution.sign import Publication, SignError, sign_copy
from gateway.distribution.targets import DeliveryError, open_destination
from gateway.provenance.record import SOFTWARE_AGENT, iso_now
from gateway.provenance import HistoryEvent, ProvenanceRecord, Review, instance_id_for
from gateway.wire.sigv4 import presign_url, uri_encode

log = logging.getLogger("provgate.distribution")

# Who record writes made by distribution are attributed to.
XMP_CONTENT_TYPE = "application/rdf+xml"


def delivery_id(job: Job) -> str:
    """A stable id for one job, sent to webhooks so receivers can drop repeats."""
    return hashlib.sha256(job.id).hexdigest()[:32]


class DeliveryWorker:
    def __init__(self, config: DistributionConfig, queue: JobQueue, catalog: Catalog,
                 pipeline, *, region: str = "us-east-1") -> None:
        self.config = config
        self.region = region               # provgate's own S3 region (presigned URLs)
        self.own_endpoint = ""             # the S3 listener's URL (webhooks without
                                           # public_endpoint); set by ``Distributor.start``
        self.queue = queue
        self.catalog = catalog
        self.pipeline = pipeline           # IntakePipeline: reads versions, writes records
        self.destinations = {name: open_destination(t) for name, t in config.targets.items()}
        # Copies are prepared beside the catalog unless [distribution] spool_dir says
        # otherwise: one folder per process, so leftovers of a crash can be swept at start.
        self.spool = config.spool_dir or Path(catalog.path) / "distribution-spool"
        self._running: dict[bytes, asyncio.Task] = {}
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task | None = None

    async def start(self) -> None:
        self.spool.mkdir(parents=True, exist_ok=True)
        for leftover in self.spool.glob("dist-*"):      # work folders of a killed process
            await asyncio.to_thread(shutil.rmtree, leftover, True)
        for destination in self.destinations.values():
            await destination.start()
        for job in self.queue.unrecorded():
            try:
                await self._record(job)
            except Exception:  # noqa: BLE001 - one bad record must not stop the queue
                log.exception("distribution %s: recording the history event failed", job.name)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="distribution")

    async def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for destination in self.destinations.values():
            await destination.close()

    def wake(self) -> None:
        self._wake.set()

    # -- dispatching ----------------------------------------------------------------------
    async def _dispatch(self) -> None:
        settings = self.config.settings
        while True:
            try:
                free = settings.workers - len(self._running)
                if free > 0:
                    for job in self.queue.due(time.time(), free, skip=set(self._running)):
                        task = asyncio.create_task(self._run(job))
                        self._running[job.id] = task
                        task.add_done_callback(lambda _, jid=job.id: self._finished(jid))
                self._update_gauges()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad read
                log.exception("distribution dispatcher failed; retrying")
            next_due = self.queue.next_due()
            wait = settings.poll_interval
            if next_due is not None and len(self._running) < settings.workers:
                wait = max(0.0, min(wait, next_due - time.time()))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass

    def _finished(self, job_id: bytes) -> None:
        self._running.pop(job_id, None)
        self._wake.set()

    def _update_gauges(self) -> None:
        stats = self.queue.active_stats()
        for name in set(self.config.targets) | set(stats):
            entry = stats.get(name, {"depth": 0, "oldest_age": 0.0})
            metrics.DISTRIBUTION_QUEUE_DEPTH.labels(name).set(entry["depth"])
            metrics.DISTRIBUTION_OLDEST_JOB_SECONDS.labels(name).set(entry["oldest_age"])

    # -- one job --------------------------------------------------------------------------
    async def _run(self, job: Job) -> None:
        target = self.config.targets.get(job.target)
        try:
            if target is None:
                raise DeliveryError(f"target {job.target!r} is not configured any more",
                                    permanent=True)
            if job.op == "deliver":
                await self._deliver(job, target)
            else:
                await self._take_down(job, target)
        except DeliveryError as exc:
            await asyncio.to_thread(self.queue.fail, job, str(exc), permanent=exc.permanent)
            kind = "dead" if job.state == "dead" else "retry"
            metrics.DISTRIBUTION_FAILURES.labels(job.target, kind).inc()
            log.warning("distribution %s failed (attempt %d, %s): %s", job.name, job.attempts,
                        job.state, exc)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - an unforeseen failure is retried, not lost
            log.exception("distribution %s failed unexpectedly", job.name)
            await asyncio.to_thread(self.queue.fail, job, f"{type(exc).__name__}: {exc}")
            metrics.DISTRIBUTION_FAILURES.labels(job.target, "retry").inc()
            return
        metrics.DISTRIBUTION_DELIVERIES.labels(job.target, job.op).inc()
        metrics.DISTRIBUTION_SECONDS.labels(job.target).observe(max(0.0, time.time() - job.created))
        try:
            await self._record(job)
        except Exception:  # noqa: BLE001 - the job stays unrecorded: recorded at next start
            log.exception("distribution %s: recording the history event failed", job.name)
        if job.op == "deliver":
            await self._follow_late_takedown(job)

    async def _deliver(self, job: Job, target: Target) -> None:
        entry = self.catalog.version(job.bucket, job.key, job.version_id)
        if entry is None:
            raise DeliveryError("the version is no longer stored", permanent=True)
        record = entry["record"]
        dest_key = render_key(target.settings.key_template, record, job.bucket, job.key,
                              job.version_id)
        destination = self.destinations[target.name]
        if target.kind == "webhook":
            payload = self._webhook_payload(job, target, entry, dest_key)
            location = await destination.notify("published", delivery_id(job), payload)
            await asyncio.to_thread(self.queue.complete, job, location=location, dest_key=dest_key)
            return
        work = self.spool / f"dist-{uuid.uuid4().hex}"
        work.mkdir(parents=True)
        try:
            suffix = Path(job.key).suffix[:16]
            original = work / ("original" + suffix)
            content_type = await self._download(job, original)
            content_type = record.get("content_type") or content_type
            copy = original
            beside: list[str] = []
            detected = (record.get("media") or {}).get("detected_type")
            if target.settings.embed_xmp or target.settings.c2pa_sign:
                xmp = await self.pipeline.read_record(job.bucket, job.key, job.version_id)
            if target.settings.embed_xmp:
                if embeddable(content_type, job.key, detected):
                    copy = work / ("embedded" + suffix)
                    await asyncio.to_thread(shutil.copyfile, original, copy)
                    try:
                        await embed_xmp(copy, xmp, work)
                    except EmbedError as exc:
                        raise DeliveryError(f"embedding XMP: {exc}", permanent=True) from None
                else:
                    beside.append(dest_key + ".xmp")
            if target.settings.c2pa_sign:
                signed = work / ("signed" + suffix)
                try:
                    await sign_copy(self.config.c2pa, self._publication(job, entry, content_type),
                                    copy, original, signed)
                except SignError as exc:
                    raise DeliveryError(str(exc), permanent=True) from None
                copy = signed
            location = await destination.put(dest_key, copy, content_type)
            for extra in beside:
                xmp_path = work / "record.xmp"
                await asyncio.to_thread(xmp_path.write_bytes, xmp)
                await destination.put(extra, xmp_path, XMP_CONTENT_TYPE)
            await asyncio.to_thread(self.queue.complete, job, location=location,
                                    dest_key=dest_key, extra_keys=beside)
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)

    async def _download(self, job: Job, path: Path) -> str:
        """The stored version's bytes into ``path``; returns its content type."""
        backend = self.pipeline.backend
        try:
            stream = await backend.open_object(job.bucket, job.key, version_id=job.version_id)
        except (errors.NoSuchKey, errors.NoSuchVersion, errors.NoSuchBucket):
            raise DeliveryError("the version is no longer stored", permanent=True) from None
        except errors.GatewayError as exc:
            raise DeliveryError(f"reading the stored version: {exc.message}") from None
        try:
            with open(path, "wb") as fh:
                async for chunk in stream.body:
                    await asyncio.to_thread(fh.write, chunk)
        except errors.GatewayError as exc:
            raise DeliveryError(f"reading the stored version: {exc.message}") from None
        finally:
            await stream.close()
        return stream.info.attributes.content_type

    def _publication(self, job: Job, entry: dict, content_type: str) -> Publication:
        review = _review_of(entry)
        decision = f"{review.get('status', 'approved')}"
        if review.get("by"):
            decision += f" by {review['by']}"
        if review.get("at"):
            decision += f" at {review['at']}"
        return Publication(title=Path(job.key).name, content_type=content_type,
                           decision=decision, target=job.target,
                           digital_source_type=entry["record"].get("source_type"),
                           instance_id=entry.get("instance_id")
                           or instance_id_for(job.bucket, job.key, job.version_id))

    def _webhook_payload(self, job: Job, target: Target, entry: dict, dest_key: str) -> dict:
        s = target.settings
        identity = target.identity
        url = ((s.public_endpoint or self.own_endpoint).rstrip("/") + "/" + uri_encode(job.bucket) + "/"
               + uri_encode(job.key, safe="/") + "?versionId=" + uri_encode(job.version_id))
        return {"bucket": job.bucket, "key": job.key, "version_id": job.version_id,
                "target": target.name, "target_key": dest_key,
                "url": presign_url("GET", url, identity.access_key, identity.secret, self.region,
                                   s.url_lifetime),
                "url_expires": int(time.time()) + s.url_lifetime,
                "review": _review_of(entry), "record": entry["record"]}

    async def _take_down(self, job: Job, target: Target) -> None:
        destination = self.destinations[target.name]
        if target.kind == "webhook":
            await destination.notify("taken_down", delivery_id(job), {
                "bucket": job.bucket, "key": job.key, "version_id": job.version_id,
                "target": target.name, "target_key": job.dest_key, "reason": job.reason})
            await asyncio.to_thread(self.queue.complete, job, location=destination.url)
            return
        if not job.dest_key:
            delivered = self.queue.get(Job(job.bucket, job.key, job.version_id, job.target,
                                           "deliver").id)
            if delivered is not None and delivered.state == "done":
                job.dest_key, job.extra_keys = delivered.dest_key, delivered.extra_keys
                job.location = delivered.location
        for key in [job.dest_key, *job.extra_keys]:
            if key:
                await destination.delete(key)
        await asyncio.to_thread(self.queue.complete, job, location=job.location,
                                dest_key=job.dest_key, extra_keys=job.extra_keys)

    async def _follow_late_takedown(self, job: Job) -> None:
        """A takedown queued while this delivery was running must remove its copy too."""
        takedown = self.queue.get(Job(job.bucket, job.key, job.version_id, job.target,
                                      "takedown").id)
        if takedown is not None:
            takedown.dest_key, takedown.extra_keys = job.dest_key, job.extra_keys
            takedown.location, takedown.state, takedown.recorded = job.location, "queued", False
            await asyncio.to_thread(self.queue.enqueue, takedown, force=True)
            self.wake()

    # -- the record -------------------------------------------------------------------------
    async def _record(self, job: Job) -> None:
        """The ``published`` / ``taken_down`` history event for a finished job (once), and
        the version's review state."""
        action = "published" if job.op == "deliver" else "taken_down"
        async with self.pipeline.key_lock(job.bucket, job.key):
            entry = self.catalog.version(job.bucket, job.key, job.version_id)
            if entry is None:
                await asyncio.to_thread(self.queue.mark_recorded, job)
                return
            record = ProvenanceRecord.from_dict(entry["record"])
            history = [HistoryEvent(**e) for e in entry.get("history", [])]
            where = f"{job.target}: {job.location}"
            if job.op == "takedown" and job.reason:
                where += f" ({job.reason})"
            if not any(e.action == action and e.parameters == where for e in history):
                history.append(HistoryEvent(
                    action, iso_now(),
                    instance_id=instance_id_for(job.bucket, job.key, job.version_id),
                    software_agent=SOFTWARE_AGENT, changed="/", parameters=where))
            siblings = [j for j in self.queue.for_version(job.bucket, job.key, job.version_id)
                        if j.op == "deliver" and j.state != "cancelled"]

            def change(current: dict | None) -> dict:
                review = dict(current or {"status": "approved"})
                copies = dict(review.get("copies") or {})
                if job.op == "deliver":
                    copies[job.target] = job.location
                    if review.get("status") in ("approved", "published") and all(
                            j.state == "done" for j in siblings):
                        review["status"] = "published"
                else:
                    copies.pop(job.target, None)
                    if review.get("status") in ("approved", "published", "taken_down"):
                        review["status"] = "taken_down"
                review["copies"] = copies
                return review

            review = await asyncio.to_thread(self.catalog.change_review, job.bucket, job.key,
                                             job.version_id, change)
            # Only the status changes: the decisions and comments in the record stay.
            if record.review is None:
                record.review = Review(status=review["status"])
            record.review.status = review["status"]
            await self.pipeline.write_record(job.bucket, job.key, job.version_id, record,
                                             history, DISTRIBUTION_IDENTITY)
            await asyncio.to_thread(self.queue.mark_recorded, job)


def _review_of(entry: dict) -> dict:
    """A version's review as its record holds it (status, who decided and when, the
    decisions), over what the catalog keeps beside it (where the copies went)."""
    return {**(entry.get("review") or {}), **(entry["record"].get("review") or {})}
