"""Every Prometheus metric provgate exports, defined and explained in one place.

Scraped at the admin listener's ``/metrics``. Names follow Prometheus conventions:
counters end in ``_total``, durations are ``_seconds`` histograms, sizes ``_bytes``.
Labels are low-cardinality by design: operations and status codes, never bucket or key.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)

# Latency buckets from 1 ms to ~1 min: small GETs sit at the low end, multi-GiB
# uploads at the high end.
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

S3_REQUESTS = Counter(
    "provgate_s3_requests_total",
    "S3 requests answered, by operation (e.g. PutObject) and HTTP status code.",
    ["operation", "status"], registry=REGISTRY)

S3_REQUEST_SECONDS = Histogram(
    "provgate_s3_request_duration_seconds",
    "Time from request start to the last byte of the response, by operation.",
    ["operation"], buckets=_LATENCY, registry=REGISTRY)

S3_BYTES_IN = Counter(
    "provgate_s3_received_bytes_total",
    "Request body bytes received on the S3 listener (as sent, framing included).",
    registry=REGISTRY)

S3_BYTES_OUT = Counter(
    "provgate_s3_sent_bytes_total",
    "Response body bytes sent on the S3 listener.",
    registry=REGISTRY)

S3_IN_FLIGHT = Gauge(
    "provgate_s3_requests_in_flight",
    "S3 requests being handled right now.",
    registry=REGISTRY)

INTAKE_STAGE_SECONDS = Histogram(
    "provgate_intake_stage_duration_seconds",
    "Time spent in each intake stage: spool (receiving the body to local disk), "
    "extract (reading provenance from headers and the file), commit (object, XMP "
    "sidecar and catalog entry made durable), policy (defaults and intake rules).",
    ["stage"], buckets=_LATENCY, registry=REGISTRY)

INTAKE_WRITES = Counter(
    "provgate_intake_writes_total",
    "Writes that went through intake, by door (s3 | sidecar) and outcome "
    "(committed | quarantined | denied | failed).",
    ["door", "outcome"], registry=REGISTRY)

POLICY_DECISIONS = Counter(
    "provgate_policy_decisions_total",
    "Policy rule outcomes on writes, by rule id and the action taken after modes and "
    "dry-run (allow | deny | quarantine | warn | audit). Skipped rules are not counted.",
    ["rule", "action"], registry=REGISTRY)

EXIFTOOL_PROCESSES = Gauge(
    "provgate_exiftool_processes",
    "ExifTool processes in the pool (configured size).",
    registry=REGISTRY)

EXIFTOOL_BUSY = Gauge(
    "provgate_exiftool_busy_processes",
    "ExifTool processes reading a file right now.",
    registry=REGISTRY)

EXIFTOOL_RESTARTS = Gauge(
    "provgate_exiftool_restarts",
    "ExifTool processes replaced since start after hanging or crashing (monotonic).",
    registry=REGISTRY)

CATALOG_ASSETS = Gauge(
    "provgate_catalog_assets",
    "Assets (bucket/key) in the catalog.",
    registry=REGISTRY)


REVIEW_DECISIONS = Counter(
    "provgate_review_decisions_total",
    "Review decisions recorded, by decision (approved | changes_requested | rejected), "
    "and approvals a review rule refused (refused).",
    ["decision"], registry=REGISTRY)

REVIEW_PENDING = Gauge(
    "provgate_review_pending_versions",
    "Current versions waiting for a review decision (the review queue).",
    registry=REGISTRY)

REVIEW_PENDING_OLDEST = Gauge(
    "provgate_review_pending_oldest_age_seconds",
    "Age of the oldest version in the review queue, in seconds (0 when it is empty).",
    registry=REGISTRY)


# The review queue's figures walk every pending version in the catalog's index, so
# it runs in a thread before a scrape is rendered (``refresh_review_queue``), at most once
# per ``max_age`` seconds, and the gauges read the result.
_review_queue = {"figures": None, "max_age": 5.0, "at": float("-inf"), "value": (0, 0.0)}


def watch_review_queue(figures, max_age: float = 5.0) -> None:
    """Export ``figures() -> (pending count, oldest age in seconds)`` as the two gauges."""
    _review_queue.update(figures=figures, max_age=max_age)
    REVIEW_PENDING.set_function(lambda: _review_queue["value"][0])
    REVIEW_PENDING_OLDEST.set_function(lambda: _review_queue["value"][1])


def refresh_review_queue() -> None:
    """Recompute the queue figures if they are older than ``max_age`` (blocking: call it
    from a worker thread)."""
    figures = _review_queue["figures"]
    now = time.monotonic()
    if figures is not None and now - _review_queue["at"] > _review_queue["max_age"]:
        _review_queue["value"], _review_queue["at"] = figures(), now


class _SpendCollector:
    """``provgate_spend_credits{by, group}``: credits of current catalogued versions,
    summed by campaign, brand, model and month (``gateway.catalog.spend``). Campaigns,
    brands and models are names a team chooses, a few dozen, not keys; the figures come
    from ``refresh_spend`` (a worker thread), the scrape only reads them."""

    def __init__(self) -> None:
        self.figures = None          # () -> {(by, group): credits}
        self.value: dict[tuple[str, str], float] = {}

    def describe(self):
        return [GaugeMetricFamily("provgate_spend_credits", _SPEND_HELP, labels=["by", "group"])]

    def collect(self):
        family = GaugeMetricFamily("provgate_spend_credits", _SPEND_HELP, labels=["by", "group"])
        for (by, group), credits in sorted(self.value.items()):
            family.add_metric([by, group], credits)
        yield family


_SPEND_HELP = ("Credits (the record field cost) of the current version of every catalogued "
               "asset outside the quarantine bucket, by dimension (by = campaign | brand | "
               "model | month) and group (its value; empty: not set).")
_spend = _SpendCollector()
REGISTRY.register(_spend)


def watch_spend(figures) -> None:
    """Export ``figures() -> {(by, group): credits}`` as ``provgate_spend_credits``."""
    _spend.figures = figures


def refresh_spend() -> None:
    """Read the spend figures for the next scrape (blocking: call it from a worker
    thread; ``figures`` itself recounts only after the catalog changed)."""
    if _spend.figures is not None:
        _spend.value = _spend.figures()


def watch_runtime(*, catalog, pool) -> None:
    """Point the gauges above at the live objects; read at every scrape, never stale."""
    EXIFTOOL_PROCESSES.set_function(lambda: pool.size)
    EXIFTOOL_BUSY.set_function(lambda: pool.busy)
    EXIFTOOL_RESTARTS.set_function(lambda: pool.restarts)
    CATALOG_ASSETS.set_function(catalog.count_assets)


DISTRIBUTION_QUEUE_DEPTH = Gauge(
    "provgate_distribution_queue_depth",
    "Distribution jobs not yet finished (queued or waiting for a retry), per target",
    ["target"], registry=REGISTRY)
DISTRIBUTION_OLDEST_JOB_SECONDS = Gauge(
    "provgate_distribution_oldest_job_seconds",
    "Age of the oldest unfinished distribution job, per target",
    ["target"], registry=REGISTRY)
DISTRIBUTION_DELIVERIES = Counter(
    "provgate_distribution_deliveries_total",
    "Distribution jobs completed, per target and operation (deliver | takedown)",
    ["target", "op"], registry=REGISTRY)
DISTRIBUTION_FAILURES = Counter(
    "provgate_distribution_failures_total",
    "Failed distribution attempts, per target and kind (retry | dead | blocked)",
    ["target", "kind"], registry=REGISTRY)
DISTRIBUTION_SECONDS = Histogram(
    "provgate_distribution_seconds",
    "Seconds from a job being queued to its completion, per target",
    ["target"], registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600))
