"""Provenance: what a file says about how it was made, as a record and an XMP sidecar.

Public API (for the intake pipeline, reindex and the admin API)::

    from gateway.provenance import (Extractor, ExifToolPool, ProvenanceRecord, HistoryEvent,
                                    render_sidecar, parse_sidecar, merge_client_edit,
                                    document_id_for, instance_id_for)

    extractor = Extractor(pool=ExifToolPool(size=4, timeout=10.0))   # one per process
    await extractor.start()                                          # optional warm-up
    record = await extractor.extract(
        spool_path, content_type, user_metadata, identity.name, door="s3",
        bucket=bucket, key=key, version_id=version_id,
        sha256=sha256_hex, size=size,        # pass if hashed while spooling (saves a read)
        defaults=policy_defaults)            # optional {field: value}, lowest precedence
    xmp_bytes = render_sidecar(record,
                               document_id=document_id_for(bucket, key),     # same per key
                               instance_id=instance_id_for(bucket, key, version_id),
                               history=[HistoryEvent("created", record.captured_at,
                                                     instance_id=..., software_agent=...)])
    parsed = parse_sidecar(xmp_bytes)        # .record, .document_id, .instance_id, .history
    new_record, rejected = merge_client_edit(record, dam_edited_xmp_bytes,
                                             document_id=..., instance_id=..., history=...)
    record.to_dict() / ProvenanceRecord.from_dict(d)                 # catalog / admin JSON
    await extractor.close()

- ``Extractor.extract`` never raises because of the file or the headers: problems become
  ``record.notices`` (``Notice(code, message, severity, field)``). It needs ExifTool on
  PATH; a missing or hung ExifTool yields a record from headers and defaults with an
  ``exiftool_failed`` / ``exiftool_timeout`` error notice.
- ``render_sidecar`` is pure and fast; ``parse_sidecar`` and ``merge_client_edit`` raise
  ``SidecarError`` (a ValueError) on bytes that are not XMP.
- ``CONFIG_FILE`` is the shipped ExifTool config (``exiftool -config CONFIG_FILE``) that
  lets ExifTool 12.57 read and write the IPTC 2025.1 AI tags, ``plus:DataMining`` and
  the ``pg:`` namespace.

Modules: record (schema), fields (validation), vocab (IPTC/PLUS vocabularies), headers
(S3 metadata capture), exiftool_pool, tags, generators/* (one per AI tool),
standard_metadata (XMP/IPTC/EXIF), c2pa_reader, assemble (precedence), extract, rdf,
xmp (sidecar), client_edit (DAM edits). The schema and the rules are documented in
docs/provenance.md.
"""

from gateway.provenance.client_edit import EDITABLE, RejectedField, merge_client_edit
from gateway.provenance.exiftool_pool import (CONFIG_FILE, ExifToolError, ExifToolPool,
                                              ExifToolTimeout)
from gateway.provenance.extract import Extractor
from gateway.provenance.headers import capture_headers
from gateway.provenance.record import (SCHEMA_VERSION, HistoryEvent, Notice, ObjectRef,
                                       ProvenanceRecord, Review, Source)
from gateway.provenance.xmp import (PG_NS, ParsedSidecar, SidecarError,
                                    document_id_for, instance_id_for, parse_sidecar,
                                    render_sidecar)

__all__ = [
    "CONFIG_FILE", "EDITABLE", "PG_NS", "SCHEMA_VERSION", "ExifToolError", "ExifToolPool",
    "ExifToolTimeout", "Extractor", "HistoryEvent", "Notice", "ObjectRef", "ParsedSidecar",
    "ProvenanceRecord", "RejectedField", "Review", "SidecarError", "Source",
    "capture_headers", "document_id_for", "instance_id_for", "merge_client_edit",
    "parse_sidecar", "render_sidecar",
]
