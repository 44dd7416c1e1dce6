"""The canonical provenance record: one per object version, versioned schema, JSON form.

A ``ProvenanceRecord`` is what provgate knows about how one version of an object was made
and under what rights. It is assembled at intake from three layers (see ``assemble.py``):
explicit headers, metadata embedded in the file, and policy defaults; it is written to
the XMP sidecar (``xmp.py``) and indexed by the catalog. ``docs/provenance.md`` is the
field-by-field reference; every field is also explained where it is defined below.

JSON form (``to_dict``/``from_dict``): field names as below, ``None`` values and empty
collections omitted, nested dataclasses as objects. ``from_dict`` ignores keys it does not
know, so a reader of schema N accepts a record written by schema N+1.

Schema history:
  1 — first version.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1

# Where a field's value came from (``ProvenanceRecord.field_sources``).
ORIGIN_HEADER = "header"      # an x-amz-meta-* header, incl. the base64url `provenance` JSON
ORIGIN_EMBEDDED = "embedded"  # metadata inside the file (generator params, XMP/IPTC, C2PA)
ORIGIN_DEFAULT = "default"    # a policy default, or the generator rule for source_type
ORIGIN_CLIENT = "client"      # a DAM's edit of the sidecar, accepted by merge_client_edit
ORIGINS = (ORIGIN_HEADER, ORIGIN_EMBEDDED, ORIGIN_DEFAULT, ORIGIN_CLIENT)

DOORS = ("s3", "sidecar")   # an S3 client; the folder sidecar (x-provgate-door)

# Who the records name as the software that wrote an event.
SOFTWARE_AGENT = "provgate 0.1.0"


def iso_now(epoch: float | None = None) -> str:
    """An ISO 8601 UTC time with milliseconds (now, or ``epoch``), as records write it."""
    moment = time.time() if epoch is None else epoch
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment * 1000) % 1000:03d}Z"


@dataclass
class ObjectRef:
    """A provgate object (optionally one version of it): a parent named by ``derived-from``."""

    bucket: str
    key: str
    version_id: str | None = None      # None: whichever version was current

    def __str__(self) -> str:
        suffix = f"?versionId={self.version_id}" if self.version_id else ""
        return f"{self.bucket}/{self.key}{suffix}"


@dataclass
class Source:
    """An input the content was made from, as some piece of metadata names it.

    Sources are lineage candidates: img2img init images, ControlNet / IP-Adapter inputs,
    ComfyUI LoadImage files, C2PA ingredients. Only some name a file; ``ref`` is set when
    the source is (or has been resolved to) a provgate object.
    """

    role: str                          # init_image | controlnet | ip_adapter | mask |
                                       # load_image | c2pa_ingredient | reference
    origin: str                        # which metadata named it: a1111, comfyui, invokeai,
                                       # novelai, fooocus, c2pa, header
    name: str | None = None            # file name / title as the tool recorded it
    relationship: str | None = None    # C2PA relationship: parentOf | componentOf | inputTo
    format: str | None = None          # MIME type, when known
    instance_id: str | None = None     # XMP/C2PA instance id of the ingredient, when known
    ref: ObjectRef | None = None       # the provgate object, when known
    details: dict[str, Any] = field(default_factory=dict)  # tool-specific: model, weight, ...


@dataclass
class Generation:
    """Generation parameters beyond the header vocabulary, and the generator's raw metadata."""

    width: int | None = None           # requested output size in pixels
    height: int | None = None
    scheduler: str | None = None       # noise schedule, e.g. "karras", "normal"
    model_hash: str | None = None      # checkpoint hash as the tool printed it
    denoise: float | None = None       # denoising strength (img2img / second pass), 0..1
    extra: dict[str, Any] = field(default_factory=dict)   # every other parameter, by the
                                       # tool's own name (loras, clip_skip, styles, ...)
    raw: list[RawMetadata] = field(default_factory=list)  # the metadata as embedded


@dataclass
class RawMetadata:
    """One piece of generator metadata kept verbatim (e.g. the ComfyUI workflow JSON)."""

    name: str                          # where it was found: "PNG:Workflow", "IFD0:Make", ...
    format: str                        # what it is: a1111-parameters, comfyui-prompt,
                                       # comfyui-workflow, invokeai-metadata, novelai-comment,
                                       # fooocus-parameters, midjourney-description
    value: str


@dataclass
class C2paAction:
    action: str                        # e.g. c2pa.created, c2pa.edited
    digital_source_type: str | None = None
    software_agent: str | None = None  # "name version" of the tool that acted
    when: str | None = None


@dataclass
class C2paIngredient:
    title: str | None = None
    format: str | None = None
    relationship: str | None = None    # parentOf | componentOf | inputTo
    instance_id: str | None = None
    document_id: str | None = None


@dataclass
class C2paSummary:
    """What the active C2PA manifest claims, and whether it validated."""

    manifest_label: str | None = None
    claim_generator: str | None = None  # "name/version" of the claim generator
    title: str | None = None
    actions: list[C2paAction] = field(default_factory=list)
    digital_source_type: str | None = None  # from the c2pa.created (or first) action
    ingredients: list[C2paIngredient] = field(default_factory=list)
    validation_state: str | None = None     # Invalid | Valid | Trusted (c2pa-rs terms)
    validation_failures: list[str] = field(default_factory=list)  # failure codes
    signature_issuer: str | None = None
    signature_time: str | None = None


@dataclass
class ReviewDecision:
    """One reviewer's decision on this version (``gateway.review``)."""

    decision: str                      # approved | changes_requested | rejected
    by: str                            # identity name
    at: str                            # ISO 8601 time
    role: str | None = None            # the identity's role when it decided
    groups: list[str] = field(default_factory=list)  # its groups (review rules read them)
    note: str | None = None


@dataclass
class ReviewComment:
    """A comment on this version, optionally pinned to a region or a time range."""

    id: str                            # c1, c2, ... in the order they were made
    by: str
    at: str
    text: str
    # Region of the image, fractions of its width/height (0..1): x, y from the top left.
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None
    start: float | None = None         # time range in seconds (video, audio)
    end: float | None = None
    reply_to: str | None = None        # id of the comment this one answers
    resolved_by: str | None = None     # set once someone marks the thread resolved
    resolved_at: str | None = None


@dataclass
class Review:
    """The review of this version (a new version starts again at pending).

    ``by``/``at``/``comment`` repeat the decision that set ``status`` (its note);
    ``decisions`` holds every decision in order (approvals that did not yet reach the
    quorum included), ``comments`` every comment and reply.
    """

    status: str                        # pending | approved | changes_requested | rejected |
                                       # published | taken_down | expired
    by: str | None = None              # reviewer identity
    at: str | None = None              # ISO 8601 time of the decision
    comment: str | None = None
    decisions: list[ReviewDecision] = field(default_factory=list)
    comments: list[ReviewComment] = field(default_factory=list)


@dataclass
class Media:
    """What ExifTool found the bytes to be (independent of the declared content type)."""

    detected_type: str | None = None   # MIME type from the content, e.g. image/png
    file_type: str | None = None       # ExifTool FileType, e.g. PNG, MP4
    width: int | None = None           # pixels, for images and video
    height: int | None = None
    duration: float | None = None      # seconds, for audio and video


@dataclass
class Notice:
    """An extraction or validation problem: the record is partial, never absent."""

    code: str                          # stable identifier, see docs/provenance.md
    message: str                       # human-readable, names the field and value
    severity: str = "warning"          # warning: a value ignored or cut;
                                       # error: a whole metadata source could not be read
    field: str | None = None           # record field concerned, if any


@dataclass
class HistoryEvent:
    """One ``xmpMM:History`` entry (stEvt): what happened to the asset, and when."""

    action: str                        # created | edited | reviewed | published | ...
    when: str                          # ISO 8601
    instance_id: str | None = None     # xmpMM:InstanceID of the version it produced
    software_agent: str | None = None  # e.g. "provgate 0.1.0"
    changed: str | None = None         # what changed, e.g. "/metadata"
    parameters: str | None = None      # free text, e.g. "review: approved by alice"


@dataclass
class ProvenanceRecord:
    """How one object version was made and under what rights. Fields are optional unless noted."""

    schema_version: int = SCHEMA_VERSION

    # -- the object (filled by intake) --
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None
    content_type: str | None = None    # as declared by the writer
    size: int | None = None            # bytes
    sha256: str | None = None          # lower-case hex digest of the bytes
    identity: str | None = None        # provgate identity that wrote the version
    door: str | None = None            # "s3" or "sidecar"
    captured_at: str | None = None     # ISO 8601 UTC: when provgate recorded the version
    created_at: str | None = None      # ISO 8601: when the content was made, if known
    modified_at: str | None = None     # ISO 8601 UTC: last change of the record after capture

    # -- generation: the header vocabulary --
    prompt: str | None = None
    negative_prompt: str | None = None
    prompt_author: str | None = None   # who wrote the prompt (IPTC AIPromptWriterName)
    generator: str | None = None       # the tool: ComfyUI, AUTOMATIC1111, Midjourney, ...
    model: str | None = None           # the model / AI system: sd_xl_base_1.0, GPT-4o, ...
    model_version: str | None = None
    seed: int | None = None
    steps: int | None = None
    sampler: str | None = None
    cfg_scale: float | None = None
    source_type: str | None = None     # full IPTC Digital Source Type URI
    derived_from: list[ObjectRef] = field(default_factory=list)  # parents in provgate
    job_id: str | None = None          # generator's job / render id
    cost: float | None = None          # credits spent

    # -- rights --
    creator: str | None = None
    copyright: str | None = None       # copyright notice
    owner: str | None = None           # copyright owner (xmpRights:Owner)
    credit: str | None = None          # credit line (photoshop:Credit)
    license: str | None = None         # license id (plus:LicenseID), e.g. CC-BY-4.0
    license_url: str | None = None     # where the license terms live
    usage_terms: str | None = None
    licensor: str | None = None
    license_expires: str | None = None  # ISO 8601 date (or date-time)
    model_release: str | None = None   # PLUS MR-* status URI, or a model release ID
    people: list[str] = field(default_factory=list)  # persons shown
    data_mining: str | None = None     # full PLUS DMI URI

    # -- business --
    campaign: str | None = None
    brand: str | None = None
    sku: str | None = None
    channel: str | None = None

    # -- descriptive (a DAM may edit these through the sidecar) --
    title: str | None = None
    description: str | None = None
    keywords: list[str] = field(default_factory=list)
    rating: int | None = None          # XMP rating: -1 (rejected), 0..5

    custom: dict[str, str] = field(default_factory=dict)  # unknown x-amz-meta-* keys
    generation: Generation = field(default_factory=Generation)
    sources: list[Source] = field(default_factory=list)
    c2pa: C2paSummary | None = None
    review: Review | None = None
    media: Media = field(default_factory=Media)

    detected: list[str] = field(default_factory=list)  # metadata formats found in the file
    field_sources: dict[str, str] = field(default_factory=dict)  # field -> origin
    notices: list[Notice] = field(default_factory=list)

    # -- JSON --

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProvenanceRecord:
        return _from_plain(cls, data)

    @classmethod
    def from_json(cls, text: str | bytes) -> ProvenanceRecord:
        return cls.from_dict(json.loads(text))

    # -- helpers --

    def warn(self, code: str, message: str, field: str | None = None,
             severity: str = "warning") -> None:
        self.notices.append(Notice(code=code, message=message, severity=severity, field=field))

    @property
    def warnings(self) -> list[Notice]:
        return [n for n in self.notices if n.severity == "warning"]

    @property
    def errors(self) -> list[Notice]:
        return [n for n in self.notices if n.severity == "error"]


# Record fields that hold plain values (str/int/float/list[str]) and can be set from headers,
# the provenance JSON, embedded metadata or defaults; assemble.py and headers.py use it.
HEADER_FIELDS = (
    "prompt", "negative_prompt", "prompt_author", "generator", "model", "model_version",
    "seed", "steps", "sampler", "cfg_scale", "source_type", "derived_from", "job_id", "cost",
    "creator", "copyright", "license", "license_url", "usage_terms", "licensor",
    "license_expires", "model_release", "people", "data_mining",
    "campaign", "brand", "sku", "channel",
)
DESCRIPTIVE_FIELDS = ("title", "description", "keywords", "rating", "owner", "credit",
                      "created_at")
VALUE_FIELDS = HEADER_FIELDS + DESCRIPTIVE_FIELDS

# Nested dataclass types by (owner class, field name), for from_dict.
_NESTED: dict[tuple[type, str], tuple[type, bool]] = {}


def _register_nested() -> None:
    spec = {
        (ProvenanceRecord, "derived_from"): (ObjectRef, True),
        (ProvenanceRecord, "generation"): (Generation, False),
        (ProvenanceRecord, "sources"): (Source, True),
        (ProvenanceRecord, "c2pa"): (C2paSummary, False),
        (ProvenanceRecord, "review"): (Review, False),
        (Review, "decisions"): (ReviewDecision, True),
        (Review, "comments"): (ReviewComment, True),
        (ProvenanceRecord, "media"): (Media, False),
        (ProvenanceRecord, "notices"): (Notice, True),
        (Generation, "raw"): (RawMetadata, True),
        (Source, "ref"): (ObjectRef, False),
        (C2paSummary, "actions"): (C2paAction, True),
        (C2paSummary, "ingredients"): (C2paIngredient, True),
    }
    _NESTED.update(spec)


_register_nested()


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in dataclasses.fields(obj):
            value = _to_plain(getattr(obj, f.name))
            if value is None or value == [] or value == {}:
                continue
            out[f.name] = value
        return out
    if isinstance(obj, list):
        return [_to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    return obj


def _from_plain(cls: type, data: Any) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    kwargs = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for name, value in data.items():
        if name not in names:
            continue                   # written by a newer schema: ignore
        nested = _NESTED.get((cls, name))
        if nested and value is not None:
            inner, many = nested
            value = [_from_plain(inner, v) for v in value] if many else _from_plain(inner, value)
        kwargs[name] = value
    return cls(**kwargs)


def utc_now() -> str:
    """Current time as ISO 8601 UTC with second precision, e.g. 2026-01-31T12:00:00Z."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def record_field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(ProvenanceRecord)]
