"""The evaluation context: what a policy expression can see (``docs/policies.md``).

Five variables, always present, each a plain JSON-like value so that the context can be
sent to an evaluation worker process, written to test files and shown in ``explain``:

``object``   the object being written or distributed: bucket, key, size, content_type (as
             declared), detected_type (what extraction found the bytes to be), door
``asset``    the provenance record (``ProvenanceRecord.to_dict()``): fields that are unknown
             are *absent*, not null, so optional ones are tested with ``has(asset.x)``
``identity`` who acts: name, role, groups (a list, possibly empty)
``review``   the review of this version: status (always), by, at (when decided); in the
             review stage also ``decision`` (what is being decided: approved) and
             ``approvals`` (every approval that stands, the one being made included:
             a list of {identity, role, groups})
``now``      the evaluation time, a CEL timestamp (UTC)

The sample contexts at the end are what the loader evaluates every expression against,
to find type errors and non-bool results before a file is accepted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from gateway.provenance.record import (C2paSummary, Generation, Media, ObjectRef,
                                       ProvenanceRecord, Review, Source)

ROOTS = ("object", "asset", "identity", "review", "now")

# Fields of each map, for the load-time typo check (``asset.promt`` is rejected when the
# file loads). Maps whose keys are open (``asset.custom``, ``asset.generation.extra``,
# ``asset.field_sources``) are not listed and not checked.
OBJECT_FIELDS = ("bucket", "key", "size", "content_type", "detected_type", "door")
IDENTITY_FIELDS = ("name", "role", "groups")
REVIEW_FIELDS = ("status", "by", "at", "decision", "approvals")


def _names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


KNOWN_FIELDS: dict[str, tuple[str, ...]] = {
    "object": OBJECT_FIELDS,
    "identity": IDENTITY_FIELDS,
    "review": REVIEW_FIELDS,
    "asset": _names(ProvenanceRecord),
    "asset.generation": _names(Generation),
    "asset.media": _names(Media),
    "asset.c2pa": _names(C2paSummary),
    "asset.review": _names(Review),
}


def build_context(*, bucket: str, key: str, size: int | None = None,
                  content_type: str | None = None, door: str | None = None,
                  detected_type: str | None = None,
                  record: ProvenanceRecord | Mapping[str, Any] | None = None,
                  identity: Any = None, review: Any = None,
                  now: dt.datetime | None = None) -> dict[str, Any]:
    """The context for one object version.

    ``size``/``content_type``/``door`` default to the record's values; ``detected_type``
    (the MIME type extraction read from the bytes, ``""`` when it could not tell) to the
    record's ``media.detected_type``. ``identity`` is a
    ``gateway.identities.Identity``, a mapping with name/role, or None (an unnamed
    caller: name and role ""). ``review`` is a ``Review``, a mapping, or None (the
    record's review, else ``{"status": "pending"}``). ``now`` defaults to the current time.
    """
    asset = _record_dict(record)
    obj = {
        "bucket": bucket,
        "key": key,
        "size": int(size if size is not None else asset.get("size", 0)),
        "content_type": content_type if content_type is not None else asset.get("content_type", ""),
        "detected_type": (detected_type if detected_type is not None
                          else (asset.get("media") or {}).get("detected_type") or ""),
        "door": door if door is not None else asset.get("door", "s3"),
    }
    return {
        "object": obj,
        "asset": asset,
        "identity": _identity_dict(identity),
        "review": _review_dict(review if review is not None else asset.get("review")),
        "now": _utc(now or dt.datetime.now(dt.timezone.utc)),
    }


def _record_dict(record) -> dict[str, Any]:
    if record is None:
        return {}
    if isinstance(record, ProvenanceRecord):
        return record.to_dict()
    return dict(record)


def _identity_dict(identity) -> dict[str, Any]:
    if identity is None:
        return {"name": "", "role": "", "groups": []}
    if isinstance(identity, Mapping):
        return {"name": str(identity.get("name", "")), "role": str(identity.get("role", "")),
                "groups": [str(g) for g in identity.get("groups", ())]}
    return {"name": identity.name, "role": identity.role,
            "groups": list(getattr(identity, "groups", ()))}


def _review_dict(review) -> dict[str, Any]:
    if review is None:
        return {"status": "pending"}
    if isinstance(review, Review):
        review = dataclasses.asdict(review)
    out: dict[str, Any] = {"status": str(review.get("status") or "pending")}
    for name in ("by", "at", "decision"):
        if review.get(name):
            out[name] = str(review[name])
    if "approvals" in review:
        out["approvals"] = [{"identity": str(a.get("identity", "")),
                             "role": str(a.get("role", "")),
                             "groups": [str(g) for g in a.get("groups", ())]}
                            for a in review["approvals"]]
    return out


def standing_approvals(decisions: list[dict]) -> list[dict]:
    """``review.approvals`` from a version's decisions (``ReviewDecision`` dicts): each
    reviewer's latest decision counts, and those that are approvals are listed as
    ``{identity, role, groups}`` in the order the reviewers first decided."""
    latest: dict[str, dict] = {}
    for d in decisions:
        latest[d["by"]] = d
    return [{"identity": d["by"], "role": d.get("role") or "", "groups": list(d.get("groups") or [])}
            for d in latest.values() if d["decision"] == "approved"]


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else \
        moment.astimezone(dt.timezone.utc)


def parse_now(text: str) -> dt.datetime:
    """An RFC 3339 time (``2026-06-01T12:00:00Z``) as an aware UTC datetime."""
    return _utc(dt.datetime.fromisoformat(text.strip().replace("z", "Z")))


# --- sample contexts for load-time checks ----------------------------------------------

def _full_record() -> ProvenanceRecord:
    """A record with every field set to a typical value of its type."""
    from gateway.provenance.record import C2paAction, C2paIngredient, Notice, RawMetadata
    return ProvenanceRecord(
        bucket="renders", key="campaign/hero.png", version_id="v1", content_type="image/png",
        size=1048576, sha256="0" * 64, identity="alice", door="s3",
        captured_at="2026-01-31T12:00:00Z", created_at="2026-01-31T11:59:00Z",
        modified_at="2026-01-31T12:05:00Z",
        prompt="a red sneaker on a white background", negative_prompt="blurry",
        prompt_author="alice", generator="ComfyUI", model="sd_xl_base_1.0",
        model_version="1.0", seed=42, steps=30, sampler="euler", cfg_scale=7.0,
        source_type="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
        derived_from=[ObjectRef("renders", "sketch.png", "v0")], job_id="job-1", cost=1.5,
        creator="alice", copyright="© Example Brand", owner="Example Brand",
        credit="Example Brand", license="CC-BY-4.0", license_url="https://example.com/l",
        usage_terms="internal use", licensor="Example Brand", license_expires="2030-12-31",
        model_release="http://ns.useplus.org/ldf/vocab/MR-UMR", people=["Jane Doe"],
        data_mining="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING",
        campaign="spring", brand="example", sku="SKU-1", channel="web",
        title="Hero", description="hero image", keywords=["sneaker", "red"], rating=4,
        custom={"team": "design"},
        generation=Generation(width=1024, height=1024, scheduler="karras",
                              model_hash="abc123", denoise=0.5, extra={"clip_skip": 2},
                              raw=[RawMetadata("PNG:Parameters", "a1111-parameters", "...")]),
        sources=[Source(role="init_image", origin="a1111", name="sketch.png",
                        ref=ObjectRef("renders", "sketch.png"))],
        c2pa=C2paSummary(manifest_label="urn:uuid:1", claim_generator="ChatGPT",
                         title="hero.png",
                         actions=[C2paAction("c2pa.created", software_agent="GPT-4o")],
                         digital_source_type="trainedAlgorithmicMedia",
                         ingredients=[C2paIngredient(title="sketch.png")],
                         validation_state="Valid", signature_issuer="OpenAI",
                         signature_time="2026-01-31T11:59:00Z"),
        review=Review(status="approved", by="bob", at="2026-02-01T09:00:00Z", comment="ok"),
        media=Media(detected_type="image/png", file_type="PNG", width=1024, height=1024,
                    duration=0.0),
        detected=["a1111-parameters"], field_sources={"prompt": "header"},
        notices=[Notice(code="value_truncated", message="cut", field="prompt")],
    )


def sample_contexts() -> list[tuple[str, dict[str, Any]]]:
    """(name, context) pairs every expression is evaluated against at load.

    ``full``: every field present — any error other than a missing map key is a
    mistake in the expression (type mismatch, unknown function, bad regex).
    ``minimal``: what an object with no provenance at all looks like — only a result of
    the wrong type is reported there, since missing fields are its point.
    """
    now = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
    full = build_context(bucket="renders", key="campaign/hero.png", record=_full_record(),
                         identity={"name": "alice", "role": "writer", "groups": ["design"]},
                         review={"status": "pending", "decision": "approved",
                                 "approvals": [{"identity": "bob", "role": "reviewer",
                                                "groups": ["legal"]}]},
                         now=now)
    minimal = build_context(bucket="inbox", key="upload.bin", size=0,
                            content_type="application/octet-stream", door="sidecar",
                            record={"schema_version": 1}, identity=None, now=now)
    return [("full", full), ("minimal", minimal)]
