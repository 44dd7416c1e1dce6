"""The catalog: an LMDB index of assets, their versions, records and lineage.

The durable provenance record is the XMP sidecar in the storage backend; the catalog is
an index over those sidecars that answers "what is this asset, what were its versions,
what was it made from and what was made from it" without reading the backend.
``provgate reindex`` rebuilds it from the backend alone.

Tables (keys are UTF-8; ``\\0`` separates parts, which bucket names and keys never hold):

    assets    bucket\\0key                       -> {document_id, current, versions, ...}
    versions  bucket\\0key\\0<seq:012d>            -> {version_id, instance_id, record, ...}
    by_vid    bucket\\0key\\0version_id            -> seq (the version's place in history)
    parents   bucket\\0key\\0version_id            -> [{bucket, key, version_id, relation}]
    children  pbucket\\0pkey\\0bucket\\0key\\0vid     -> {bucket, key, version_id, relation, ...}

Keys and values are those of :mod:`gateway.kv` (a part longer than ``kv.MAX_PART``
bytes is shortened to its start plus a sha256).  Every method that writes syncs to disk:
async callers run it through ``gateway.kv.offload``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway import kv
from gateway.kv import SEP


@dataclass(frozen=True)
class Ref:
    """A pointer to an asset version (``version_id`` None: whatever is current)."""

    bucket: str
    key: str
    version_id: str | None = None
    relation: str = "derived-from"

    def to_json(self) -> dict:
        return {"bucket": self.bucket, "key": self.key, "version_id": self.version_id,
                "relation": self.relation}


class Catalog:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Shared with the policy audit log: ``AuditLog(catalog.env)``.
        self.env = kv.Store(path)
        self.assets, self.versions, self.by_vid, self.parents, self.children = (
            self.env.table(name) for name in ("assets", "versions", "by_vid", "parents",
                                              "children"))

    def close(self) -> None:
        self.env.close()

    # -- writing --------------------------------------------------------------------
    def add_version(self, bucket: str, key: str, *, version_id: str, document_id: str,
                    instance_id: str, record: dict, committed: float,
                    parents: list[Ref] = (), history: list[dict] = ()) -> None:
        """Record a committed version; re-adding the same version id replaces it.

        ``history`` is the asset's xmpMM:History as of this version (stEvt events as
        dicts), so the next version's sidecar continues it.
        """
        with self.env.write() as txn:
            asset = kv.get(txn, self.assets, kv.key(bucket, key)) or {
                "bucket": bucket, "key": key, "document_id": document_id, "next_seq": 0,
                "created": committed}
            existing = txn.get(kv.key(bucket, key, version_id), db=self.by_vid)
            if existing is not None:
                seq = int(existing)
            else:
                seq = asset["next_seq"]
                asset["next_seq"] = seq + 1
            asset.update(current=version_id, updated=committed, deleted=False)
            txn.put(kv.key(bucket, key), kv.dumps(asset), db=self.assets)
            txn.put(kv.key(bucket, key, f"{seq:012d}"), kv.dumps({
                "version_id": version_id, "instance_id": instance_id, "record": record,
                "committed": committed, "history": list(history)}), db=self.versions)
            txn.put(kv.key(bucket, key, version_id), str(seq).encode(), db=self.by_vid)
            self._set_parents(txn, bucket, key, version_id, list(parents))

    def _set_parents(self, txn, bucket: str, key: str, version_id: str, parents: list[Ref]) -> None:
        old = kv.get(txn, self.parents, kv.key(bucket, key, version_id)) or []
        for p in old:
            txn.delete(kv.key(p["bucket"], p["key"], bucket, key, version_id), db=self.children)
        if parents:
            txn.put(kv.key(bucket, key, version_id), kv.dumps([p.to_json() for p in parents]), db=self.parents)
        else:
            txn.delete(kv.key(bucket, key, version_id), db=self.parents)
        for p in parents:
            txn.put(kv.key(p.bucket, p.key, bucket, key, version_id),
                    kv.dumps({"bucket": bucket, "key": key, "version_id": version_id,
                            "relation": p.relation, "parent_version_id": p.version_id}),
                    db=self.children)

    def mark_deleted(self, bucket: str, key: str, when: float) -> None:
        """The key has no current version any more (S3 delete marker); history stays."""
        with self.env.write() as txn:
            asset = kv.get(txn, self.assets, kv.key(bucket, key))
            if asset is not None:
                asset.update(current=None, deleted=True, updated=when)
                txn.put(kv.key(bucket, key), kv.dumps(asset), db=self.assets)

    def restore(self, bucket: str, key: str) -> None:
        """The key's delete marker was removed: its newest version is current again."""
        with self.env.write() as txn:
            asset = kv.get(txn, self.assets, kv.key(bucket, key))
            versions = list(kv.scan(txn, self.versions, kv.key(bucket, key) + SEP))
            if asset is not None and versions:
                asset.update(current=versions[-1][1]["version_id"], deleted=False)
                txn.put(kv.key(bucket, key), kv.dumps(asset), db=self.assets)

    def remove_version(self, bucket: str, key: str, version_id: str) -> None:
        """A version was permanently deleted from storage."""
        with self.env.write() as txn:
            seq = txn.get(kv.key(bucket, key, version_id), db=self.by_vid)
            if seq is None:
                return
            txn.delete(kv.key(bucket, key, f"{int(seq):012d}"), db=self.versions)
            txn.delete(kv.key(bucket, key, version_id), db=self.by_vid)
            self._set_parents(txn, bucket, key, version_id, [])
            asset = kv.get(txn, self.assets, kv.key(bucket, key))
            remaining = list(kv.scan(txn, self.versions, kv.key(bucket, key) + SEP))
            if not remaining:
                txn.delete(kv.key(bucket, key), db=self.assets)
            elif asset is not None and asset.get("current") == version_id:
                asset["current"] = remaining[-1][1]["version_id"]
                txn.put(kv.key(bucket, key), kv.dumps(asset), db=self.assets)

    def clear(self) -> None:
        with self.env.write() as txn:
            for db in (self.assets, self.versions, self.by_vid, self.parents, self.children):
                txn.drop(db, delete=False)

    # -- reading --------------------------------------------------------------------
    def asset(self, bucket: str, key: str) -> dict | None:
        with self.env.read() as txn:
            asset = kv.get(txn, self.assets, kv.key(bucket, key))
            if asset is None:
                return None
            asset = {k: v for k, v in asset.items() if k != "next_seq"}
            asset["version_count"] = sum(1 for _ in kv.scan(txn, self.versions, kv.key(bucket, key) + SEP))
            return asset

    def history(self, bucket: str, key: str) -> list[dict]:
        """Every version still stored, oldest first."""
        with self.env.read() as txn:
            return [doc for _, doc in kv.scan(txn, self.versions, kv.key(bucket, key) + SEP)]

    def version(self, bucket: str, key: str, version_id: str | None = None) -> dict | None:
        with self.env.read() as txn:
            if version_id is None:
                asset = kv.get(txn, self.assets, kv.key(bucket, key))
                if asset is None or asset.get("current") is None:
                    return None
                version_id = asset["current"]
            seq = txn.get(kv.key(bucket, key, version_id), db=self.by_vid)
            if seq is None:
                return None
            return kv.get(txn, self.versions, kv.key(bucket, key, f"{int(seq):012d}"))

    def lineage(self, bucket: str, key: str, version_id: str | None = None) -> dict:
        """Direct parents of a version and every stored version derived from the asset."""
        with self.env.read() as txn:
            if version_id is None:
                asset = kv.get(txn, self.assets, kv.key(bucket, key)) or {}
                version_id = asset.get("current")
            parents = kv.get(txn, self.parents, kv.key(bucket, key, version_id or "")) or []
            children = []
            for _, doc in kv.scan(txn, self.children, kv.key(bucket, key) + SEP):
                children.append(doc)
            return {"bucket": bucket, "key": key, "version_id": version_id,
                    "parents": parents, "children": children}

    def iter_assets(self, bucket: str | None = None) -> Iterator[dict]:
        """Every asset (of one bucket, when given), in key order."""
        with self.env.read() as txn:
            for _, doc in kv.scan(txn, self.assets, b"" if bucket is None else kv.key(bucket) + SEP):
                yield {k: v for k, v in doc.items() if k != "next_seq"}

    def count_assets(self) -> int:
        return self.env.entries(self.assets)

