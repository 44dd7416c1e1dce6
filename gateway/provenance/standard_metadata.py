"""Standard metadata already in the file: XMP (IPTC Core/Extension, PLUS, Dublin Core,
xmpRights, photoshop), IPTC IIM and EXIF.

Produces one ``Finding`` (format ``xmp``) with the record fields these carry. Values are
raw; extract.py validates them, which is where a DigitalSourceType written with
``https://`` (Midjourney) or as a bare term becomes the canonical ``http://`` URI, and a
PLUS code printed without its vocabulary prefix becomes the full URI again.

ExifTool names (``-G1``), first match wins:

====================  ===========================================================
record field          ExifTool tags
====================  ===========================================================
source_type           XMP-iptcExt:DigitalSourceType
model                 XMP-iptcExt:AISystemUsed
model_version         XMP-iptcExt:AISystemVersionUsed
prompt                XMP-iptcExt:AIPromptInformation (a provgate-written
                      "\\nNegative prompt: ..." tail is split off when
                      XMP-pg:NegativePrompt is present)
prompt_author         XMP-iptcExt:AIPromptWriterName
job_id                XMP-iptcExt:DigitalImageGUID
people                XMP-iptcExt:PersonInImage
creator               XMP-dc:Creator, IPTC:By-line, IFD0:Artist
copyright             XMP-dc:Rights, IPTC:CopyrightNotice, IFD0:Copyright
owner                 XMP-xmpRights:Owner
credit                XMP-photoshop:Credit, IPTC:Credit
license               XMP-plus:LicenseID
license_url           XMP-xmpRights:WebStatement
usage_terms           XMP-xmpRights:UsageTerms
licensor              XMP-plus:Licensor (LicensorName), XMP-plus:LicensorName
license_expires       XMP-plus:LicenseEndDate
model_release         XMP-plus:ModelReleaseStatus, else XMP-plus:ModelReleaseID
data_mining           XMP-plus:DataMining
title                 XMP-dc:Title, IPTC:ObjectName
description           XMP-dc:Description, IPTC:Caption-Abstract, IFD0:ImageDescription
keywords              XMP-dc:Subject, IPTC:Keywords
rating                XMP-xmp:Rating
created_at            XMP-xmp:CreateDate, XMP-photoshop:DateCreated,
                      ExifIFD:DateTimeOriginal, PNG:CreationTime
negative_prompt, seed, steps, sampler, cfg_scale, cost, campaign, brand, sku, channel
                      XMP-pg:* (a file that was exported by provgate with its XMP)
====================  ===========================================================

``xmp:CreatorTool`` is deliberately not read as ``generator``: it names any editing tool
(Photoshop, GIMP), and a generator is evidence of AI generation (see assemble.py).
"""

from __future__ import annotations

from typing import Any

from gateway.provenance.generators.finding import Finding
from gateway.provenance.tags import Tags, as_list

FORMAT = "xmp"

_SIMPLE = {
    "source_type": ("XMP-iptcExt:DigitalSourceType",),
    "model": ("XMP-iptcExt:AISystemUsed",),
    "model_version": ("XMP-iptcExt:AISystemVersionUsed",),
    "prompt_author": ("XMP-iptcExt:AIPromptWriterName",),
    "job_id": ("XMP-iptcExt:DigitalImageGUID",),
    "copyright": ("XMP-dc:Rights", "IPTC:CopyrightNotice", "IFD0:Copyright"),
    "credit": ("XMP-photoshop:Credit", "IPTC:Credit"),
    "license": ("XMP-plus:LicenseID",),
    "license_url": ("XMP-xmpRights:WebStatement",),
    "usage_terms": ("XMP-xmpRights:UsageTerms",),
    "license_expires": ("XMP-plus:LicenseEndDate",),
    "data_mining": ("XMP-plus:DataMining",),
    "title": ("XMP-dc:Title", "IPTC:ObjectName"),
    "description": ("XMP-dc:Description", "IPTC:Caption-Abstract", "IFD0:ImageDescription"),
    "rating": ("XMP-xmp:Rating",),
    "created_at": ("XMP-xmp:CreateDate", "XMP-photoshop:DateCreated",
                   "ExifIFD:DateTimeOriginal", "PNG:CreationTime"),
    "negative_prompt": ("XMP-pg:NegativePrompt",),
    "seed": ("XMP-pg:Seed",),
    "steps": ("XMP-pg:Steps",),
    "sampler": ("XMP-pg:Sampler",),
    "cfg_scale": ("XMP-pg:CfgScale",),
    "cost": ("XMP-pg:Cost",),
    "campaign": ("XMP-pg:Campaign",),
    "brand": ("XMP-pg:Brand",),
    "sku": ("XMP-pg:SKU",),
    "channel": ("XMP-pg:Channel",),
}
_LISTS = {
    "people": ("XMP-iptcExt:PersonInImage",),
    "keywords": ("XMP-dc:Subject", "IPTC:Keywords"),
}
# AI properties: their presence is evidence that the content was generated.
AI_TAGS = ("XMP-iptcExt:AISystemUsed", "XMP-iptcExt:AIPromptInformation",
           "XMP-iptcExt:AIPromptWriterName", "XMP-iptcExt:AISystemVersionUsed")


def parse(tags: Tags) -> Finding | None:
    if not any(tags.has_group(g) for g in ("IPTC", "IFD0", "ExifIFD")) and not _has_xmp(tags):
        return None
    finding = Finding(format=FORMAT)
    for name, keys in _SIMPLE.items():
        finding.set(name, _first_text(tags, keys))
    for name, keys in _LISTS.items():
        for key in keys:
            values = [str(v) for v in as_list(tags.get(key)) if _plain(v)]
            if values:
                finding.set(name, values)
                break
    prompt = tags.text("XMP-iptcExt:AIPromptInformation")
    negative = tags.text("XMP-pg:NegativePrompt")
    if prompt and negative and prompt.endswith("\nNegative prompt: " + negative):
        prompt = prompt[:-len("\nNegative prompt: " + negative)]
    finding.set("prompt", prompt)
    creators = [str(v) for v in as_list(tags.get("XMP-dc:Creator", "IPTC:By-line",
                                                 "IFD0:Artist")) if _plain(v)]
    finding.set("creator", "; ".join(creators) if creators else None)
    owners = [str(v) for v in as_list(tags.get("XMP-xmpRights:Owner")) if _plain(v)]
    finding.set("owner", "; ".join(owners) if owners else None)
    finding.set("licensor", _licensor(tags))
    finding.set("model_release", _model_release(tags))
    return finding if finding.values else None


def _has_xmp(tags: Tags) -> bool:
    return any(key.startswith("XMP-") and not key.startswith("XMP-x:") for key in tags.data)


def _plain(value: Any) -> bool:
    return value is not None and not isinstance(value, (dict, list)) and str(value).strip() != ""


def _first_text(tags: Tags, keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = tags.get(key)
        if isinstance(value, list):
            value = next((v for v in value if _plain(v)), None)
        if _plain(value):
            return value
    return None


def _licensor(tags: Tags) -> str | None:
    names = []
    for item in as_list(tags.get("XMP-plus:Licensor")):
        if isinstance(item, dict) and _plain(item.get("LicensorName")):
            names.append(str(item["LicensorName"]))
    if not names:
        names = [str(v) for v in as_list(tags.get("XMP-plus:LicensorName")) if _plain(v)]
    return "; ".join(names) if names else None


def _model_release(tags: Tags) -> str | None:
    status = _first_text(tags, ("XMP-plus:ModelReleaseStatus",))
    if status is not None:
        return str(status)
    ids = [str(v) for v in as_list(tags.get("XMP-plus:ModelReleaseID")) if _plain(v)]
    return ids[0] if ids else None


def has_ai_properties(tags: Tags) -> bool:
    return any(tags.get(key) not in (None, "") for key in AI_TAGS)
