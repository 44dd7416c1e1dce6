"""The names of provgate's provenance headers: S3 user metadata (``x-amz-meta-<name>``)
that a writer sends with PUT, CreateMultipartUpload or Copy (DESIGN.md, "Provenance
headers").

Only the vocabulary lives here, so that every writer (the folder sidecar, tests, scripts)
and the reader (:mod:`gateway.provenance.headers`, which decodes and validates values)
agree on it without the writer importing the provenance rules.
"""

from __future__ import annotations

# x-amz-meta-provenance: a base64url JSON record for structured parameters.
PROVENANCE_HEADER = "provenance"

# Header names of the vocabulary -> record field ("-" in the header, "_" in the field).
HEADER_TO_FIELD = {name.replace("_", "-"): name for name in (
    "prompt", "negative_prompt", "prompt_author", "generator", "model", "model_version",
    "seed", "steps", "sampler", "cfg_scale", "source_type", "derived_from", "job_id", "cost",
    "creator", "copyright", "license", "license_url", "usage_terms", "licensor",
    "license_expires", "model_release", "people", "data_mining",
    "campaign", "brand", "sku", "channel",
)}
