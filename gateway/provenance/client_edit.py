"""A DAM writing ``<key>.xmp`` itself: what its edit may change in the record.

Lightroom, digiKam, Bridge, darktable and friends rewrite sidecars when a user rates,
captions or tags an asset. Such a write updates the record instead of replacing the
sidecar: ``merge_client_edit`` applies the fields a person may legitimately edit and
reports the rest, and the gateway then renders a fresh sidecar from the new record.

May change (``EDITABLE``): descriptive fields — ``title`` (dc:title), ``description``
(dc:description), ``keywords`` (dc:subject), ``rating`` (xmp:Rating), ``people``
(Iptc4xmpExt:PersonInImage) — and rights — ``creator`` (dc:creator), ``copyright``
(dc:rights), ``owner`` (xmpRights:Owner), ``credit`` (photoshop:Credit), ``license``
(plus:LicenseID), ``license_url`` (xmpRights:WebStatement), ``usage_terms``
(xmpRights:UsageTerms), ``licensor`` (plus:Licensor), ``license_expires``
(plus:LicenseEndDate), ``model_release`` (plus:ModelReleaseStatus/ID), ``data_mining``
(plus:DataMining).

May not change: everything that records what happened — how the content was made
(prompt, model, generator, seed and the other generation parameters, source type,
sources, lineage, C2PA), what provgate measured (sha256, size, detected type, content
type), who wrote it and when (identity, door, timestamps), review decisions, business
fields and custom fields set by the writer, and the sidecar's identity and history
(xmpMM:DocumentID, InstanceID, History). A changed value of such a field is rejected and
reported; the current value stays.

Rules:
- a property *missing* from the edited XMP leaves the field unchanged (DAMs drop
  namespaces they do not know; dropping plus:DataMining must not lift an AI-training
  opt-out), to clear a field write the property empty;
- an edited value is validated like a header (``fields.normalize``); an invalid value is
  rejected with the reason (e.g. a rating of 7, an unknown DataMining code);
- properties outside the mapping (a DAM's own namespaces) are not kept: the sidecar is
  always re-rendered from the record.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple, Sequence

from gateway.provenance import fields
from gateway.provenance.record import ORIGIN_CLIENT, HistoryEvent, ProvenanceRecord, utc_now
from gateway.provenance.xmp import compose_prompt, parse_sidecar

EDITABLE = ("title", "description", "keywords", "rating", "people", "creator", "copyright",
            "owner", "credit", "license", "license_url", "usage_terms", "licensor",
            "license_expires", "model_release", "data_mining")


class RejectedField(NamedTuple):
    field: str
    reason: str


def merge_client_edit(current: ProvenanceRecord, edited_xmp: bytes, *,
                      document_id: str | None = None, instance_id: str | None = None,
                      history: Sequence[HistoryEvent] | None = None,
                      now: str | None = None) -> tuple[ProvenanceRecord, list[RejectedField]]:
    """(new record, rejected fields) for a client's edited sidecar.

    ``document_id``/``instance_id``/``history``: the values in the current sidecar; when
    given, a changed value in the edit is reported as rejected too. Raises
    ``xmp.SidecarError`` if ``edited_xmp`` is not readable XMP.
    """
    parsed = parse_sidecar(edited_xmp)
    edited = parsed.record
    new = copy.deepcopy(current)
    rejected: list[RejectedField] = []
    changed = False
    for name in EDITABLE:
        if name not in parsed.present:
            continue
        value = getattr(edited, name)
        if value in (None, "", []):
            new_value: Any = [] if isinstance(getattr(current, name), list) else None
        else:
            try:
                new_value = fields.normalize(name, value)
            except ValueError as exc:
                rejected.append(RejectedField(name, str(exc)))
                continue
            if isinstance(new_value, fields.Truncated):
                rejected.append(RejectedField(name, f"longer than {fields.MAX_TEXT} characters"))
                continue
        if new_value != getattr(current, name):
            setattr(new, name, new_value)
            if new_value in (None, []):
                new.field_sources.pop(name, None)
            else:
                new.field_sources[name] = ORIGIN_CLIENT
            changed = True
    current_plain = current.to_dict()
    edited_plain = edited.to_dict()
    # AIPromptInformation holds prompt + negative prompt: compare it as written, so that a
    # DAM dropping pg:NegativePrompt does not look like a prompt edit
    current_plain["prompt"] = compose_prompt(current.prompt, current.negative_prompt)
    edited_plain["prompt"] = parsed.prompt_information
    for name in sorted(parsed.present - set(EDITABLE)):
        if not _same(name, edited_plain.get(name), current_plain.get(name)):
            rejected.append(RejectedField(
                name, "recorded by provgate; a sidecar edit cannot change it"))
    for name, given, found in (("document_id", document_id, parsed.document_id),
                               ("instance_id", instance_id, parsed.instance_id)):
        if given is not None and found is not None and found != given:
            rejected.append(RejectedField(name, "the sidecar's identity cannot be changed"))
    if history is not None and parsed.history and list(parsed.history) != list(history):
        rejected.append(RejectedField("history", "xmpMM:History is written by provgate only"))
    if changed:
        new.modified_at = now or utc_now()
    return new, rejected


def _same(name: str, edited: Any, current: Any) -> bool:
    """Equal, or equal once canonicalised (a DAM may respell a date or a URI)."""
    if edited == current:
        return True
    if name == "prompt" or not fields.is_settable(name) or edited is None or current is None:
        return False
    try:
        return fields.normalize(name, edited) == fields.normalize(name, current)
    except (ValueError, TypeError):
        return False
