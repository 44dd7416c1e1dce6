"""The durable distribution queue: one job per (version, target, operation) in LMDB.

Jobs live in the catalog's LMDB environment, so a job exists on stable storage before
``on_review_change`` returns and survives kill -9 and restarts; the server resumes every
job that is not finished when it starts. Tables::

    dist_jobs  bucket\\0key\\0version_id\\0target\\0op  -> job (JSON, see ``Job``)
    dist_due   <next_at:017.3f>\\0<job key>             -> b""   (unfinished jobs only)

A job's key names its version, so queueing the same (version, target, op) again is a
no-op while the job is queued or done: delivery is idempotent by version id. A worker
that dies mid-delivery leaves the job queued; it is delivered again after a restart,
which rewrites the same copy under the same key, and the job completes once.

States: ``queued`` (waiting for its turn), ``retrying`` (the last attempt failed; shown as
FAILED until one succeeds), ``done``, ``dead`` (failed ``max_attempts`` times or
permanently: a 4xx from a webhook, a key template naming an empty field), ``blocked``
(a ``stage = "distribute"`` rule refused it; ``reason`` names the rule), ``cancelled``
(superseded by a takedown before it was delivered).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from gateway import kv
from gateway.kv import SEP

ACTIVE = ("queued", "retrying")
FINISHED = ("done", "dead", "blocked", "cancelled")
OPS = ("deliver", "takedown")


@dataclass
class Job:
    bucket: str
    key: str
    version_id: str
    target: str
    op: str                           # deliver | takedown
    state: str = "queued"
    attempts: int = 0
    created: float = 0.0
    updated: float = 0.0
    next_at: float = 0.0              # when an active job is due
    last_error: str = ""
    reason: str = ""                  # blocked: "rule-id: message"; takedown: why
    routes: list[str] = field(default_factory=list)
    location: str = ""                # where the copy went (s3://bucket/key, a path, a URL)
    dest_key: str = ""                # the key the copy was stored under on the target
    extra_keys: list[str] = field(default_factory=list)   # e.g. the .xmp beside the copy
    recorded: bool = False            # its history event is in the record
    completed: float = 0.0
    delivered_count: int = 0          # successful attempts (1 once done)

    @property
    def id(self) -> bytes:
        return kv.key(self.bucket, self.key, self.version_id, self.target, self.op)

    @property
    def name(self) -> str:
        return f"{self.bucket}/{self.key}?versionId={self.version_id} -> {self.target} ({self.op})"

    def to_json(self) -> dict:
        return asdict(self)


def _due_key(job: Job) -> bytes:
    return f"{job.next_at:017.3f}".encode() + SEP + job.id


def backoff(attempts: int, initial: float, cap: float) -> float:
    """Seconds before attempt ``attempts + 1``: initial, 2×, 4× ... up to ``cap``."""
    return min(cap, initial * (2 ** max(0, attempts - 1)))


class JobQueue:
    def __init__(self, env, *, max_attempts: int = 8, backoff_initial: float = 1.0,
                 backoff_max: float = 300.0) -> None:
        self.env = env
        self.jobs = env.table("dist_jobs")
        self.due_db = env.table("dist_due")
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max

    # -- writing ------------------------------------------------------------------------
    def enqueue(self, job: Job, *, force: bool = False,
                supersedes: bytes | None = None) -> tuple[Job, bool]:
        """Store ``job`` unless the same (version, target, op) is queued or done.

        ``force`` also restarts a finished job (retry of a dead one, a re-delivery after
        a takedown). ``supersedes`` names a finished job removed in the same transaction
        (a new delivery replaces an earlier takedown of that copy). Returns the job as
        stored and whether it was (re)queued.
        """
        now = time.time()
        with self.env.write() as txn:
            if supersedes is not None:
                old = self._get(txn, supersedes)
                if old is not None and old.state not in ACTIVE:
                    txn.delete(supersedes, db=self.jobs)
            existing = self._get(txn, job.id)
            if existing is not None:
                if existing.state in ACTIVE or not force and existing.state in ("done", "dead"):
                    return existing, False
                if existing.state in ACTIVE:
                    txn.delete(_due_key(existing), db=self.due_db)
            job.created = job.created or now
            job.updated = now
            if job.state in ACTIVE:
                job.next_at = now
                txn.put(_due_key(job), b"", db=self.due_db)
            txn.put(job.id, kv.dumps(job.to_json()), db=self.jobs)
            return job, True

    def complete(self, job: Job, *, location: str = "", dest_key: str = "",
                 extra_keys: list[str] = ()) -> Job:
        return self._update(job, lambda j: j.__dict__.update(
            state="done", location=location or j.location, dest_key=dest_key or j.dest_key,
            extra_keys=list(extra_keys) or j.extra_keys, completed=time.time(),
            last_error="", delivered_count=j.delivered_count + 1))

    def fail(self, job: Job, error: str, *, permanent: bool = False) -> Job:
        """Count a failed attempt: retried after a backoff, dead-lettered when permanent
        or after ``max_attempts``."""
        def change(j: Job) -> None:
            j.attempts += 1
            j.last_error = error[:2000]
            if permanent or j.attempts >= self.max_attempts:
                j.state = "dead"
            else:
                j.state = "retrying"
                j.next_at = time.time() + backoff(j.attempts, self.backoff_initial,
                                                  self.backoff_max)
        return self._update(job, change)

    def set_state(self, job: Job, state: str, *, reason: str = "") -> Job:
        return self._update(job, lambda j: j.__dict__.update(state=state, reason=reason or j.reason,
                                                            next_at=time.time()))

    def mark_recorded(self, job: Job) -> Job:
        return self._update(job, lambda j: setattr(j, "recorded", True))

    def retry(self, *, target: str | None = None, bucket: str | None = None,
              key: str | None = None) -> list[Job]:
        """Dead, retrying and blocked jobs due now again with a fresh attempt count."""
        chosen = [j for j in self.iter_jobs(target=target, bucket=bucket, key=key)
                  if j.state in ("dead", "retrying", "blocked")]
        out = []
        for job in chosen:
            out.append(self._update(job, lambda j: j.__dict__.update(
                state="queued", attempts=0, next_at=time.time(), reason="")))
        return out

    def _update(self, job: Job, change) -> Job:
        with self.env.write() as txn:
            current = self._get(txn, job.id) or job
            if current.state in ACTIVE:
                txn.delete(_due_key(current), db=self.due_db)
            change(current)
            current.updated = time.time()
            if current.state in ACTIVE:
                txn.put(_due_key(current), b"", db=self.due_db)
            txn.put(current.id, kv.dumps(current.to_json()), db=self.jobs)
            job.__dict__.update(current.__dict__)
            return current

    # -- reading ------------------------------------------------------------------------
    def due(self, now: float, limit: int, skip: set[bytes] = frozenset()) -> list[Job]:
        """Active jobs whose time has come, oldest first (``skip``: already running)."""
        out: list[Job] = []
        with self.env.read() as txn:
            cursor = txn.cursor(db=self.due_db)
            if not cursor.first():
                return out
            for raw_key, _ in cursor:
                when, _, job_id = raw_key.partition(SEP)
                if float(when) > now:
                    break
                if job_id in skip:
                    continue
                job = self._get(txn, job_id)
                if job is not None and job.state in ACTIVE:
                    out.append(job)
                    if len(out) >= limit:
                        break
        return out

    def next_due(self) -> float | None:
        with self.env.read() as txn:
            cursor = txn.cursor(db=self.due_db)
            if not cursor.first():
                return None
            return float(cursor.key().partition(SEP)[0])

    def get(self, job_id: bytes) -> Job | None:
        with self.env.read() as txn:
            return self._get(txn, job_id)

    def for_version(self, bucket: str, key: str, version_id: str) -> list[Job]:
        with self.env.read() as txn:
            return list(self._scan(txn, kv.key(bucket, key, version_id) + SEP))

    def iter_jobs(self, *, target: str | None = None, bucket: str | None = None,
                  key: str | None = None, state: str | None = None) -> Iterator[Job]:
        prefix = b""
        if bucket is not None:
            prefix = kv.key(bucket) + SEP if key is None else kv.key(bucket, key) + SEP
        with self.env.read() as txn:
            for job in self._scan(txn, prefix):
                if target is not None and job.target != target:
                    continue
                if state is not None and job.state != state:
                    continue
                yield job

    def unrecorded(self) -> list[Job]:
        """Finished jobs whose history event is not yet in the record (crash in between)."""
        return [j for j in self.iter_jobs(state="done") if not j.recorded]

    def replication_status(self, bucket: str, key: str, version_id: str) -> str | None:
        """``x-amz-replication-status`` of a version: None when it is not routed anywhere
        (or its copies were taken down), else PENDING | COMPLETED | FAILED."""
        jobs = self.for_version(bucket, key, version_id)
        if not jobs or any(j.op == "takedown" for j in jobs):
            return None
        states = {j.state for j in jobs if j.op == "deliver" and j.state != "cancelled"}
        if not states:
            return None
        if states & {"dead", "blocked", "retrying"}:
            return "FAILED"
        if states == {"done"}:
            return "COMPLETED"
        return "PENDING"

    def stats(self, now: float | None = None) -> dict:
        """Per target: jobs by state, and the age of the oldest unfinished job."""
        now = time.time() if now is None else now
        out: dict[str, dict] = {}
        for job in self.iter_jobs():
            entry = out.setdefault(job.target, {"states": {}, "depth": 0, "oldest_age": 0.0})
            entry["states"][job.state] = entry["states"].get(job.state, 0) + 1
            if job.state in ACTIVE:
                entry["depth"] += 1
                entry["oldest_age"] = max(entry["oldest_age"], now - job.created)
        return out

    def active_stats(self, now: float | None = None) -> dict:
        """``stats`` of unfinished jobs only, read from the due index (what the gauges
        need, without walking every job ever done)."""
        now = time.time() if now is None else now
        out: dict[str, dict] = {}
        with self.env.read() as txn:
            for raw_key, _ in txn.cursor(db=self.due_db):
                job = self._get(txn, raw_key.partition(SEP)[2])
                if job is None:
                    continue
                entry = out.setdefault(job.target, {"depth": 0, "oldest_age": 0.0})
                entry["depth"] += 1
                entry["oldest_age"] = max(entry["oldest_age"], now - job.created)
        return out

    def _scan(self, txn, prefix: bytes) -> Iterator[Job]:
        for _, doc in kv.scan(txn, self.jobs, prefix):
            yield Job(**doc)

    def _get(self, txn, job_id: bytes) -> Job | None:
        doc = kv.get(txn, self.jobs, job_id)
        return None if doc is None else Job(**doc)
