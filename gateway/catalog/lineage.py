"""What a provenance record becomes in the catalog: its lineage edges and its history.

Shared by the gatekeeper (at every write) and ``provgate reindex`` (rebuilding the
catalog from the stored records), so both index a record the same way.
"""

from __future__ import annotations

from gateway.catalog.store import Ref
from gateway.provenance import HistoryEvent, ProvenanceRecord

EXTERNAL = ""  # the "bucket" of an input that is not a provgate object


def record_parents(record: ProvenanceRecord) -> list[Ref]:
    """Lineage edges: declared parents, and every input the file names (C2PA
    ingredients, img2img / ControlNet / LoadImage inputs). An input that is a provgate
    object points at it; any other is an external parent named as the tool named it."""
    refs = [Ref(p.bucket, p.key, p.version_id, "derived-from") for p in record.derived_from]
    for source in record.sources:
        if source.ref is not None:
            refs.append(Ref(source.ref.bucket, source.ref.key, source.ref.version_id,
                            source.role))
        elif source.name or source.instance_id:
            refs.append(Ref(EXTERNAL, source.name or source.instance_id, None, source.role))
    return refs


def history_json(events: list[HistoryEvent]) -> list[dict]:
    """History events as the catalog stores them (unset fields left out)."""
    return [{k: v for k, v in vars(e).items() if v is not None} for e in events]
