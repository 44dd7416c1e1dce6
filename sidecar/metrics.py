"""The folder sidecar's Prometheus metrics, in a registry of its own.

``provgate watch`` serves them on ``[sidecar] metrics_listen``; ``provgate serve`` shows
them on the admin listener's ``/metrics`` beside the gateway's, since it can run the
sidecar in-process.  Names follow the gateway's conventions (:mod:`gateway.metrics`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

SIDECAR_FILES_SEEN = Counter(
    "provgate_sidecar_files_seen_total",
    "Files in a watched share found new or changed (not yet known to the ledger), by share.",
    ["share"], registry=REGISTRY)

SIDECAR_FILES_INGESTED = Counter(
    "provgate_sidecar_files_ingested_total",
    "Files the gateway accepted, with their XMP written beside them, by share.",
    ["share"], registry=REGISTRY)

SIDECAR_FILES_UNCHANGED = Counter(
    "provgate_sidecar_files_unchanged_total",
    "Files whose mtime changed but whose content did not (a touch): not sent again.",
    ["share"], registry=REGISTRY)

SIDECAR_FILES_QUARANTINED = Counter(
    "provgate_sidecar_files_quarantined_total",
    "Files a policy denied, moved to the share's quarantine folder with a reason file.",
    ["share"], registry=REGISTRY)

SIDECAR_FILES_FAILED = Counter(
    "provgate_sidecar_files_failed_total",
    "Failed attempts, by share and kind: retry (the gateway was away or answered 5xx or "
    "an auth error; tried again with backoff) or rejected (the gateway refused this file, "
    "e.g. a name it cannot store; tried again when the file changes).",
    ["share", "kind"], registry=REGISTRY)

SIDECAR_XMP_EDITS = Counter(
    "provgate_sidecar_xmp_edits_merged_total",
    "Edits a person made to a <file>.xmp in a share, merged through the gateway.",
    ["share"], registry=REGISTRY)

SIDECAR_RESCANS = Counter(
    "provgate_sidecar_rescans_total",
    "Full walks of a share completed (one at start, then periodically).",
    ["share"], registry=REGISTRY)

SIDECAR_UNNAMEABLE_EVENTS = Counter(
    "provgate_sidecar_unnameable_events_total",
    "Native file events the watcher could not report because a path in them is not "
    "valid UTF-8; watching went on (the files concerned are skipped, as at rescans).",
    ["share"], registry=REGISTRY)

SIDECAR_BACKLOG = Gauge(
    "provgate_sidecar_backlog_files",
    "Files seen but not yet done: waiting to be complete, queued, uploading or retrying.",
    ["share"], registry=REGISTRY)

SIDECAR_GATEWAY_UP = Gauge(
    "provgate_sidecar_gateway_up",
    "1 while the sidecar reaches the gateway, 0 while it waits for it to come back.",
    registry=REGISTRY)

SIDECAR_DROP_TO_XMP_SECONDS = Histogram(
    "provgate_sidecar_drop_to_xmp_seconds",
    "From the sidecar first seeing a file to its XMP written beside it (includes the "
    "stability window).",
    buckets=(0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300, 1800), registry=REGISTRY)
