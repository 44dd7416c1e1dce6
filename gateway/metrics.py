"""Every Prometheus metric provgate exports, defined and explained in one place.

Scraped at the admin listener's ``/metrics``. Names follow Prometheus conventions:
counters end in ``_total``, durations are ``_seconds`` histograms, sizes ``_bytes``.
Labels are low-cardinality by design: operations and status codes, never bucket or key.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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


def watch_runtime(*, catalog, pool) -> None:
    """Point the gauges above at the live objects; read at every scrape, never stale."""
    EXIFTOOL_PROCESSES.set_function(lambda: pool.size)
    EXIFTOOL_BUSY.set_function(lambda: pool.busy)
    EXIFTOOL_RESTARTS.set_function(lambda: pool.restarts)
    CATALOG_ASSETS.set_function(catalog.count_assets)
