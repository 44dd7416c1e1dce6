"""The XMP sidecar ``<key>.xmp``: render it from a record, parse it back.

``render_sidecar(record, document_id, instance_id, history)`` writes RDF/XML directly
(no ExifTool round trip on the write path: it is pure string building, deterministic,
and costs microseconds). Tests read every rendered sidecar back with ExifTool and the
shipped ``exiftool.config``, and parse it as RDF/XML with defusedxml.

``parse_sidecar(data)`` reads a sidecar back into a record (``provgate reindex``) and is
the first step of ``merge_client_edit`` (a DAM saving its edits, see client_edit.py).
``parse_sidecar(render_sidecar(r, ...)).record == r`` for every record.

Mapping (DESIGN.md "XMP sidecar mapping"; docs/provenance.md has the full table):

- ``Iptc4xmpExt`` (IPTC 2025.1): DigitalSourceType (full URI) <- source_type,
  AISystemUsed <- model, AISystemVersionUsed <- model_version, AIPromptInformation <-
  prompt (+ ``"\\nNegative prompt: "`` + negative_prompt), AIPromptWriterName <-
  prompt_author, DigImageGUID <- job_id, PersonInImage <- people;
- ``xmp``: CreatorTool <- generator, Rating <- rating, CreateDate <- created_at,
  MetadataDate <- modified_at or captured_at;
- ``dc``: format <- content_type, creator, rights <- copyright, title, description,
  subject <- keywords;
- ``xmpRights``: Owner, WebStatement <- license_url, UsageTerms;
- ``photoshop``: Credit;
- ``plus``: LicenseID <- license, LicenseEndDate <- license_expires, Licensor/LicensorName
  <- licensor, DataMining (full URI), ModelReleaseStatus (a status URI) or ModelReleaseID
  (anything else) <- model_release;
- ``xmpMM``: DocumentID (stable per key), InstanceID (per version), DerivedFrom (the first
  parent), Ingredients (every parent and every named input), History (stEvt events);
- ``pg`` (``http://ns.provgate.dev/1.0/``): everything else, see exiftool.config.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.provenance.rdf import LangAlt, XmpError, read_xmp
from gateway.provenance.record import (C2paSummary, Generation, HistoryEvent, Media, Notice,
                                       ObjectRef, ProvenanceRecord, RawMetadata, Review,
                                       ReviewComment, ReviewDecision, Source,
                                       _from_plain, _to_plain)
from gateway.provenance.vocab import PLUS_VOCAB_BASE

PG_NS = "http://ns.provgate.dev/1.0/"
NAMESPACES = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
    "stRef": "http://ns.adobe.com/xap/1.0/sType/ResourceRef#",
    "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "plus": "http://ns.useplus.org/ldf/xmp/1.0/",
    "pg": PG_NS,
}
TOOLKIT = "provgate"
NEGATIVE_SEPARATOR = "\nNegative prompt: "

# Fixed namespace for provgate's document/instance ids (uuid5 of bucket/key[/version]).
_ID_NAMESPACE = uuid.UUID("6f1d3c62-9a8e-5b1f-8d7e-70726f766761")


class SidecarError(XmpError):
    """The bytes are not a readable XMP sidecar."""


def document_id_for(bucket: str, key: str) -> str:
    """``xmpMM:DocumentID`` of an asset: the same for every version of bucket/key."""
    return f"xmp.did:{uuid.uuid5(_ID_NAMESPACE, f'{bucket}/{key}')}"


def instance_id_for(bucket: str, key: str, version_id: str | None) -> str:
    """``xmpMM:InstanceID`` of one version of bucket/key."""
    name = f"{bucket}/{key}?versionId={version_id or ''}"
    return f"xmp.iid:{uuid.uuid5(_ID_NAMESPACE, name)}"


# ---------------------------------------------------------------------------------------
# rendering

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _esc(text: str) -> str:
    text = _INVALID_XML.sub("\ufffd", text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def simple(self, name: str, value: Any, indent: int = 3) -> None:
        if value is None or value == "":
            return
        self.lines.append(f"{' ' * indent}<{name}>{_esc(_fmt(value))}</{name}>")

    def lang_alt(self, name: str, value: str | None) -> None:
        if not value:
            return
        self.lines += [f"   <{name}>", "    <rdf:Alt>",
                       f'     <rdf:li xml:lang="x-default">{_esc(value)}</rdf:li>',
                       "    </rdf:Alt>", f"   </{name}>"]

    def array(self, name: str, kind: str, items: Sequence[Any]) -> None:
        items = [i for i in items if i is not None and i != ""]
        if not items:
            return
        self.lines += [f"   <{name}>", f"    <rdf:{kind}>"]
        self.lines += [f"     <rdf:li>{_esc(_fmt(i))}</rdf:li>" for i in items]
        self.lines += [f"    </rdf:{kind}>", f"   </{name}>"]

    def struct(self, name: str, fields_: dict[str, Any]) -> None:
        fields_ = {k: v for k, v in fields_.items() if v is not None and v != ""}
        if not fields_:
            return
        self.lines.append(f'   <{name} rdf:parseType="Resource">')
        for key, value in fields_.items():
            self.simple(key, value, indent=4)
        self.lines.append(f"   </{name}>")

    def structs(self, name: str, kind: str, items: Sequence[dict[str, Any]]) -> None:
        items = [{k: v for k, v in i.items() if v is not None and v != ""} for i in items]
        items = [i for i in items if i]
        if not items:
            return
        self.lines += [f"   <{name}>", f"    <rdf:{kind}>"]
        for item in items:
            self.lines.append('     <rdf:li rdf:parseType="Resource">')
            for key, value in item.items():
                self.simple(key, value, indent=6)
            self.lines.append("     </rdf:li>")
        self.lines += [f"    </rdf:{kind}>", f"   </{name}>"]


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _json(value: Any) -> str | None:
    if value in (None, {}, []):
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def compose_prompt(prompt: str | None, negative: str | None) -> str | None:
    """AIPromptInformation: the prompt, then the negative prompt in A1111's convention."""
    if negative:
        return (prompt or "") + NEGATIVE_SEPARATOR + negative if prompt else \
            NEGATIVE_SEPARATOR.lstrip("\n") + negative
    return prompt


def render_sidecar(record: ProvenanceRecord, document_id: str, instance_id: str,
                   history: Sequence[HistoryEvent] = ()) -> bytes:
    """The XMP sidecar for one version: UTF-8 RDF/XML in an xpacket wrapper."""
    r = record
    w = _Writer()
    # IPTC Extension (2025.1 AI properties and DigitalSourceType)
    w.simple("Iptc4xmpExt:DigitalSourceType", r.source_type)
    w.simple("Iptc4xmpExt:AISystemUsed", r.model)
    w.simple("Iptc4xmpExt:AISystemVersionUsed", r.model_version)
    w.simple("Iptc4xmpExt:AIPromptInformation", compose_prompt(r.prompt, r.negative_prompt))
    w.simple("Iptc4xmpExt:AIPromptWriterName", r.prompt_author)
    w.simple("Iptc4xmpExt:DigImageGUID", r.job_id)
    w.array("Iptc4xmpExt:PersonInImage", "Bag", r.people)
    # XMP basic
    w.simple("xmp:CreatorTool", r.generator)
    w.simple("xmp:CreateDate", r.created_at)
    w.simple("xmp:MetadataDate", r.modified_at or r.captured_at)
    w.simple("xmp:Rating", r.rating)
    # Dublin Core
    w.simple("dc:format", r.content_type)
    w.array("dc:creator", "Seq", [r.creator])
    w.lang_alt("dc:rights", r.copyright)
    w.lang_alt("dc:title", r.title)
    w.lang_alt("dc:description", r.description)
    w.array("dc:subject", "Bag", r.keywords)
    # rights
    w.array("xmpRights:Owner", "Bag", [r.owner])
    w.simple("xmpRights:WebStatement", r.license_url)
    w.lang_alt("xmpRights:UsageTerms", r.usage_terms)
    w.simple("photoshop:Credit", r.credit)
    w.simple("plus:LicenseID", r.license)
    w.simple("plus:LicenseEndDate", r.license_expires)
    if r.licensor:
        w.structs("plus:Licensor", "Seq", [{"plus:LicensorName": r.licensor}])
    w.simple("plus:DataMining", r.data_mining)
    if r.model_release:
        if r.model_release.startswith(PLUS_VOCAB_BASE + "MR-"):
            w.simple("plus:ModelReleaseStatus", r.model_release)
        else:
            w.array("plus:ModelReleaseID", "Bag", [r.model_release])
    # media management: identity, lineage, history
    w.simple("xmpMM:DocumentID", document_id)
    w.simple("xmpMM:InstanceID", instance_id)
    if r.derived_from:
        w.struct("xmpMM:DerivedFrom", _resource_ref(r.derived_from[0]))
    ingredients = [_resource_ref(ref) for ref in r.derived_from]
    ingredients += [_source_ref(s) for s in r.sources if s.name or s.ref or s.instance_id]
    w.structs("xmpMM:Ingredients", "Bag", ingredients)
    w.structs("xmpMM:History", "Seq", [{
        "stEvt:action": e.action, "stEvt:when": e.when, "stEvt:instanceID": e.instance_id,
        "stEvt:softwareAgent": e.software_agent, "stEvt:changed": e.changed,
        "stEvt:parameters": e.parameters} for e in history])
    _render_pg(w, r)
    body = "\n".join(w.lines)
    declarations = "\n".join(f'    xmlns:{p}="{u}"' for p, u in NAMESPACES.items()
                             if p not in ("x", "rdf"))
    text = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        f'<x:xmpmeta xmlns:x="{NAMESPACES["x"]}" x:xmptk="{TOOLKIT}">\n'
        f' <rdf:RDF xmlns:rdf="{NAMESPACES["rdf"]}">\n'
        f'  <rdf:Description rdf:about=""\n{declarations}>\n'
        f"{body}\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>\n')
    return text.encode("utf-8")


def _resource_ref(ref: ObjectRef) -> dict[str, Any]:
    return {"stRef:documentID": document_id_for(ref.bucket, ref.key),
            "stRef:instanceID": instance_id_for(ref.bucket, ref.key, ref.version_id)
            if ref.version_id else None,
            "stRef:versionID": ref.version_id,
            "stRef:filePath": f"s3://{ref.bucket}/{ref.key}"}


def _source_ref(source: Source) -> dict[str, Any]:
    if source.ref is not None:
        return _resource_ref(source.ref)
    return {"stRef:filePath": source.name, "stRef:instanceID": source.instance_id}


def _render_pg(w: _Writer, r: ProvenanceRecord) -> None:
    p = "pg:"
    w.simple(p + "SchemaVersion", r.schema_version)
    w.simple(p + "Bucket", r.bucket)
    w.simple(p + "Key", r.key)
    w.simple(p + "VersionID", r.version_id)
    w.simple(p + "Size", r.size)
    w.simple(p + "SHA256", r.sha256)
    w.simple(p + "Identity", r.identity)
    w.simple(p + "Door", r.door)
    w.simple(p + "CapturedAt", r.captured_at)
    w.simple(p + "ModifiedAt", r.modified_at)
    w.simple(p + "NegativePrompt", r.negative_prompt)
    w.simple(p + "Seed", r.seed)
    w.simple(p + "Steps", r.steps)
    w.simple(p + "Sampler", r.sampler)
    w.simple(p + "CfgScale", r.cfg_scale)
    g = r.generation
    w.simple(p + "Scheduler", g.scheduler)
    w.simple(p + "ModelHash", g.model_hash)
    w.simple(p + "Denoise", g.denoise)
    w.simple(p + "Width", g.width)
    w.simple(p + "Height", g.height)
    w.simple(p + "Parameters", _json(g.extra))
    w.structs(p + "RawMetadata", "Bag", [{p + "Name": m.name, p + "Format": m.format,
                                          p + "Value": m.value} for m in g.raw])
    w.simple(p + "Sources", _json(_to_plain(r.sources)))
    w.array(p + "DerivedFrom", "Bag", [str(ref) for ref in r.derived_from])
    w.simple(p + "Cost", r.cost)
    w.simple(p + "Campaign", r.campaign)
    w.simple(p + "Brand", r.brand)
    w.simple(p + "SKU", r.sku)
    w.simple(p + "Channel", r.channel)
    w.structs(p + "Custom", "Bag", [{p + "Name": k, p + "Value": v}
                                    for k, v in sorted(r.custom.items())])
    if r.review is not None:
        w.simple(p + "ReviewStatus", r.review.status)
        w.simple(p + "ReviewedBy", r.review.by)
        w.simple(p + "ReviewedAt", r.review.at)
        w.simple(p + "ReviewComment", r.review.comment)
        w.structs(p + "ReviewDecisions", "Seq", [{
            p + "Decision": d.decision, p + "By": d.by, p + "At": d.at, p + "Role": d.role,
            p + "Groups": ",".join(d.groups), p + "Note": d.note} for d in r.review.decisions])
        w.structs(p + "ReviewComments", "Seq", [{
            p + "CommentID": c.id, p + "By": c.by, p + "At": c.at, p + "Text": c.text,
            p + "RegionX": c.x, p + "RegionY": c.y, p + "RegionW": c.w, p + "RegionH": c.h,
            p + "Start": c.start, p + "End": c.end, p + "ReplyTo": c.reply_to,
            p + "ResolvedBy": c.resolved_by, p + "ResolvedAt": c.resolved_at}
            for c in r.review.comments])
    if r.c2pa is not None:
        w.simple(p + "C2PA", _json(_to_plain(r.c2pa)) or "{}")
        w.simple(p + "C2PAValidation", r.c2pa.validation_state)
    m = r.media
    w.simple(p + "DetectedType", m.detected_type)
    w.simple(p + "FileType", m.file_type)
    w.simple(p + "MediaWidth", m.width)
    w.simple(p + "MediaHeight", m.height)
    w.simple(p + "Duration", m.duration)
    w.array(p + "Detected", "Bag", r.detected)
    w.array(p + "FieldSources", "Bag", [f"{k}={v}" for k, v in sorted(r.field_sources.items())])
    w.structs(p + "Notices", "Seq", [{p + "Severity": n.severity, p + "Code": n.code,
                                      p + "Message": n.message, p + "Field": n.field}
                                     for n in r.notices])


# ---------------------------------------------------------------------------------------
# parsing


@dataclass
class ParsedSidecar:
    """A sidecar read back: the record, the asset/version ids and the history."""

    record: ProvenanceRecord
    document_id: str | None = None
    instance_id: str | None = None
    history: list[HistoryEvent] = field(default_factory=list)
    present: set[str] = field(default_factory=set)    # record fields the XMP carries
    prompt_information: str | None = None              # Iptc4xmpExt:AIPromptInformation
    problems: list[str] = field(default_factory=list)  # values that could not be read


def _q(prefix: str, local: str) -> tuple[str, str]:
    return NAMESPACES[prefix], local


class _Reader:
    def __init__(self, props: dict[tuple[str, str], Any], parsed: ParsedSidecar) -> None:
        self.props = props
        self.parsed = parsed

    def raw(self, prefix: str, local: str) -> Any:
        return self.props.get(_q(prefix, local))

    def text(self, prefix: str, local: str) -> str | None:
        value = self.raw(prefix, local)
        if isinstance(value, LangAlt):
            value = value.default()
        elif isinstance(value, list):
            value = "; ".join(str(v) for v in value if isinstance(v, str) and v)
        elif isinstance(value, dict):
            return None
        return value if isinstance(value, str) else None

    def texts(self, prefix: str, local: str) -> list[str]:
        value = self.raw(prefix, local)
        if isinstance(value, list):
            return [v for v in value if isinstance(v, str) and v]
        if isinstance(value, LangAlt):
            value = value.default()
        return [value] if isinstance(value, str) and value else []

    def structs(self, prefix: str, local: str) -> list[dict[str, Any]]:
        value = self.raw(prefix, local)
        items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        return [{k[1]: v for k, v in item.items()} for item in items if isinstance(item, dict)]

    def convert(self, name: str, value: str | None, kind: type) -> Any:
        if value is None or value == "":
            return None
        try:
            if kind is int:
                return int(value)
            if kind is float:
                return float(value)
            if kind is dict or kind is list:
                data = json.loads(value)
                if not isinstance(data, kind):
                    raise ValueError(f"expected a JSON {kind.__name__}")
                return data
        except ValueError as exc:
            self.parsed.problems.append(f"{name}: {value[:80]!r} ({exc})")
            return None
        return value


# record field -> (prefix, local name, kind) for simple properties
_SIMPLE: dict[str, tuple[str, str, type]] = {
    "source_type": ("Iptc4xmpExt", "DigitalSourceType", str),
    "model": ("Iptc4xmpExt", "AISystemUsed", str),
    "model_version": ("Iptc4xmpExt", "AISystemVersionUsed", str),
    "prompt_author": ("Iptc4xmpExt", "AIPromptWriterName", str),
    "job_id": ("Iptc4xmpExt", "DigImageGUID", str),
    "generator": ("xmp", "CreatorTool", str),
    "created_at": ("xmp", "CreateDate", str),
    "rating": ("xmp", "Rating", int),
    "content_type": ("dc", "format", str),
    "copyright": ("dc", "rights", str),
    "title": ("dc", "title", str),
    "description": ("dc", "description", str),
    "license_url": ("xmpRights", "WebStatement", str),
    "usage_terms": ("xmpRights", "UsageTerms", str),
    "credit": ("photoshop", "Credit", str),
    "license": ("plus", "LicenseID", str),
    "license_expires": ("plus", "LicenseEndDate", str),
    "data_mining": ("plus", "DataMining", str),
    "schema_version": ("pg", "SchemaVersion", int),
    "bucket": ("pg", "Bucket", str),
    "key": ("pg", "Key", str),
    "version_id": ("pg", "VersionID", str),
    "size": ("pg", "Size", int),
    "sha256": ("pg", "SHA256", str),
    "identity": ("pg", "Identity", str),
    "door": ("pg", "Door", str),
    "captured_at": ("pg", "CapturedAt", str),
    "modified_at": ("pg", "ModifiedAt", str),
    "negative_prompt": ("pg", "NegativePrompt", str),
    "seed": ("pg", "Seed", int),
    "steps": ("pg", "Steps", int),
    "sampler": ("pg", "Sampler", str),
    "cfg_scale": ("pg", "CfgScale", float),
    "cost": ("pg", "Cost", float),
    "campaign": ("pg", "Campaign", str),
    "brand": ("pg", "Brand", str),
    "sku": ("pg", "SKU", str),
    "channel": ("pg", "Channel", str),
}
_LISTS = {
    "people": ("Iptc4xmpExt", "PersonInImage"),
    "keywords": ("dc", "subject"),
    "detected": ("pg", "Detected"),
}
_JOINED = {
    "creator": ("dc", "creator"),
    "owner": ("xmpRights", "Owner"),
}


def parse_sidecar(data: bytes) -> ParsedSidecar:
    """Read a sidecar (provgate's or a DAM's rewrite of it). Raises SidecarError if unreadable."""
    try:
        props = read_xmp(data)
    except XmpError as exc:
        raise SidecarError(str(exc)) from None
    parsed = ParsedSidecar(record=ProvenanceRecord())
    rd = _Reader(props, parsed)
    rec = parsed.record
    present = parsed.present
    for name, (prefix, local, kind) in _SIMPLE.items():
        if _q(prefix, local) in props:
            present.add(name)
            value = rd.convert(name, rd.text(prefix, local), kind)
            if value is not None:
                setattr(rec, name, value)
    for name, (prefix, local) in _LISTS.items():
        if _q(prefix, local) in props:
            present.add(name)
            setattr(rec, name, rd.texts(prefix, local))
    for name, (prefix, local) in _JOINED.items():
        if _q(prefix, local) in props:
            present.add(name)
            setattr(rec, name, "; ".join(rd.texts(prefix, local)) or None)
    _parse_prompt(rd, rec, present)
    _parse_rights(rd, rec, present)
    _parse_pg(rd, rec, present)
    parsed.document_id = rd.text("xmpMM", "DocumentID")
    parsed.instance_id = rd.text("xmpMM", "InstanceID")
    parsed.history = [HistoryEvent(
        action=item.get("action") or "", when=item.get("when") or "",
        instance_id=item.get("instanceID") or None,
        software_agent=item.get("softwareAgent") or None,
        changed=item.get("changed") or None, parameters=item.get("parameters") or None)
        for item in rd.structs("xmpMM", "History")]
    return parsed


def _parse_prompt(rd: _Reader, rec: ProvenanceRecord, present: set[str]) -> None:
    if _q("Iptc4xmpExt", "AIPromptInformation") not in rd.props:
        return
    present.add("prompt")
    info = rd.text("Iptc4xmpExt", "AIPromptInformation") or None
    rd.parsed.prompt_information = info
    negative = rec.negative_prompt
    if info and negative:
        if info == NEGATIVE_SEPARATOR.lstrip("\n") + negative:
            info = None
        elif info.endswith(NEGATIVE_SEPARATOR + negative):
            info = info[:-len(NEGATIVE_SEPARATOR + negative)]
    rec.prompt = info


def _parse_rights(rd: _Reader, rec: ProvenanceRecord, present: set[str]) -> None:
    if _q("plus", "Licensor") in rd.props:
        present.add("licensor")
        names = [str(s.get("LicensorName")) for s in rd.structs("plus", "Licensor")
                 if s.get("LicensorName")]
        rec.licensor = "; ".join(names) or None
    status = rd.text("plus", "ModelReleaseStatus")
    ids = rd.texts("plus", "ModelReleaseID")
    if _q("plus", "ModelReleaseStatus") in rd.props or _q("plus", "ModelReleaseID") in rd.props:
        present.add("model_release")
        rec.model_release = status or (ids[0] if ids else None)


def _parse_pg(rd: _Reader, rec: ProvenanceRecord, present: set[str]) -> None:
    gen = Generation(
        scheduler=rd.text("pg", "Scheduler"),
        model_hash=rd.text("pg", "ModelHash"),
        denoise=rd.convert("denoise", rd.text("pg", "Denoise"), float),
        width=rd.convert("width", rd.text("pg", "Width"), int),
        height=rd.convert("height", rd.text("pg", "Height"), int),
        extra=rd.convert("parameters", rd.text("pg", "Parameters"), dict) or {},
        raw=[RawMetadata(name=s.get("Name") or "", format=s.get("Format") or "",
                         value=s.get("Value") or "")
             for s in rd.structs("pg", "RawMetadata")])
    rec.generation = gen
    if any(_q("pg", n) in rd.props for n in ("Scheduler", "ModelHash", "Denoise", "Width",
                                              "Height", "Parameters", "RawMetadata")):
        present.add("generation")
    if _q("pg", "Sources") in rd.props:
        present.add("sources")
        items = rd.convert("sources", rd.text("pg", "Sources"), list) or []
        rec.sources = [s for s in (_struct(Source, i, rd) for i in items) if s is not None]
    if _q("pg", "DerivedFrom") in rd.props:
        present.add("derived_from")
        refs = []
        for text in rd.texts("pg", "DerivedFrom"):
            bucket_key, _, version = text.partition("?versionId=")
            bucket, _, key = bucket_key.partition("/")
            if bucket and key:
                refs.append(ObjectRef(bucket, key, version or None))
        rec.derived_from = refs
    if _q("pg", "Custom") in rd.props:
        present.add("custom")
        rec.custom = {s["Name"]: s.get("Value") or "" for s in rd.structs("pg", "Custom")
                      if s.get("Name")}
    status = rd.text("pg", "ReviewStatus")
    if any(_q("pg", n) in rd.props for n in ("ReviewStatus", "ReviewedBy", "ReviewedAt",
                                              "ReviewComment")):
        present.add("review")
        rec.review = Review(status=status or "", by=rd.text("pg", "ReviewedBy"),
                            at=rd.text("pg", "ReviewedAt"),
                            comment=rd.text("pg", "ReviewComment"),
                            decisions=_review_decisions(rd),
                            comments=_review_comments(rd)) if status else None
    if _q("pg", "C2PA") in rd.props:
        present.add("c2pa")
        data = rd.convert("c2pa", rd.text("pg", "C2PA"), dict)
        rec.c2pa = _struct(C2paSummary, data, rd) if data is not None else None
    media_keys = ("DetectedType", "FileType", "MediaWidth", "MediaHeight", "Duration")
    if any(_q("pg", n) in rd.props for n in media_keys):
        present.add("media")
    rec.media = Media(detected_type=rd.text("pg", "DetectedType"),
                      file_type=rd.text("pg", "FileType"),
                      width=rd.convert("media width", rd.text("pg", "MediaWidth"), int),
                      height=rd.convert("media height", rd.text("pg", "MediaHeight"), int),
                      duration=rd.convert("duration", rd.text("pg", "Duration"), float))
    if _q("pg", "FieldSources") in rd.props:
        present.add("field_sources")
        for item in rd.texts("pg", "FieldSources"):
            name, sep, origin = item.partition("=")
            if sep:
                rec.field_sources[name] = origin
    if _q("pg", "Notices") in rd.props:
        present.add("notices")
        rec.notices = [Notice(code=s.get("Code") or "", message=s.get("Message") or "",
                              severity=s.get("Severity") or "warning",
                              field=s.get("Field") or None)
                       for s in rd.structs("pg", "Notices")]


def _review_decisions(rd: _Reader) -> list[ReviewDecision]:
    return [ReviewDecision(decision=s.get("Decision") or "", by=s.get("By") or "",
                           at=s.get("At") or "", role=s.get("Role") or None,
                           groups=[g for g in (s.get("Groups") or "").split(",") if g],
                           note=s.get("Note") or None)
            for s in rd.structs("pg", "ReviewDecisions")]


def _review_comments(rd: _Reader) -> list[ReviewComment]:
    def number(item: dict, name: str) -> float | None:
        return rd.convert(f"comment {name}", item.get(name), float)

    return [ReviewComment(id=s.get("CommentID") or "", by=s.get("By") or "",
                          at=s.get("At") or "", text=s.get("Text") or "",
                          x=number(s, "RegionX"), y=number(s, "RegionY"),
                          w=number(s, "RegionW"), h=number(s, "RegionH"),
                          start=number(s, "Start"), end=number(s, "End"),
                          reply_to=s.get("ReplyTo") or None,
                          resolved_by=s.get("ResolvedBy") or None,
                          resolved_at=s.get("ResolvedAt") or None)
            for s in rd.structs("pg", "ReviewComments")]


def _struct(cls: type, data: Any, rd: _Reader) -> Any:
    try:
        return _from_plain(cls, data)
    except (ValueError, TypeError) as exc:
        rd.parsed.problems.append(f"{cls.__name__}: {exc}")
        return None
