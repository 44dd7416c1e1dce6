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

A part longer than MAX_PART bytes is shortened to its start plus a sha256 (``_part``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import lmdb

SEP = b"\x00"


# LMDB keys are at most 511 bytes, S3 keys up to 1024: a part longer than this is
# stored as its start plus a digest of the whole (the full names live in the values).
MAX_PART = 150


def _part(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= MAX_PART:
        return raw
    return raw[:80] + b"#" + hashlib.sha256(raw).hexdigest().encode()


def lmdb_key(*parts: str) -> bytes:
    """An LMDB key from its parts, each bounded (see MAX_PART)."""
    return SEP.join(_part(p) for p in parts)


def _dumps(doc) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


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
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.env = lmdb.open(str(path), map_size=1 << 40, max_dbs=16, sync=True, metasync=True)
        self.assets = self.env.open_db(b"assets")
        self.versions = self.env.open_db(b"versions")
        self.by_vid = self.env.open_db(b"by_vid")
        self.parents = self.env.open_db(b"parents")
        self.children = self.env.open_db(b"children")
        self._lock = threading.Lock()

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
        with self.env.begin(write=True) as txn:
            asset = _get(txn, self.assets, lmdb_key(bucket, key)) or {
                "bucket": bucket, "key": key, "document_id": document_id, "next_seq": 0,
                "created": committed}
            existing = txn.get(lmdb_key(bucket, key, version_id), db=self.by_vid)
            if existing is not None:
                seq = int(existing)
            else:
                seq = asset["next_seq"]
                asset["next_seq"] = seq + 1
            asset.update(current=version_id, updated=committed, deleted=False)
            txn.put(lmdb_key(bucket, key), _dumps(asset), db=self.assets)
            txn.put(lmdb_key(bucket, key, f"{seq:012d}"), _dumps({
                "version_id": version_id, "instance_id": instance_id, "record": record,
                "committed": committed, "history": list(history)}), db=self.versions)
            txn.put(lmdb_key(bucket, key, version_id), str(seq).encode(), db=self.by_vid)
            self._set_parents(txn, bucket, key, version_id, list(parents))

    def _set_parents(self, txn, bucket: str, key: str, version_id: str, parents: list[Ref]) -> None:
        old = _get(txn, self.parents, lmdb_key(bucket, key, version_id)) or []
        for p in old:
            txn.delete(lmdb_key(p["bucket"], p["key"], bucket, key, version_id), db=self.children)
        if parents:
            txn.put(lmdb_key(bucket, key, version_id), _dumps([p.to_json() for p in parents]), db=self.parents)
        else:
            txn.delete(lmdb_key(bucket, key, version_id), db=self.parents)
        for p in parents:
            txn.put(lmdb_key(p.bucket, p.key, bucket, key, version_id),
                    _dumps({"bucket": bucket, "key": key, "version_id": version_id,
                            "relation": p.relation, "parent_version_id": p.version_id}),
                    db=self.children)

    def set_review(self, bucket: str, key: str, version_id: str, review: dict) -> None:
        """Set the review state of one version (its entry's ``review`` field): ``status``
        (pending | approved | changes_requested | rejected | published | taken_down |
        expired) and whatever else the decision carries (by, at, comment, ...).

        Raises ``KeyError`` when the catalog has no such version.
        """
        if not isinstance(review, dict) or not isinstance(review.get("status"), str):
            raise ValueError("review must be a dict with a 'status'")
        self._update_version(bucket, key, version_id, review=dict(review))

    def set_history(self, bucket: str, key: str, version_id: str, record: dict,
                    history: list[dict]) -> None:
        """Replace the record and xmpMM:History of one stored version (KeyError: none)."""
        self._update_version(bucket, key, version_id, record=record, history=list(history))

    def change_review(self, bucket: str, key: str, version_id: str,
                      change: Callable[[dict | None], dict]) -> dict:
        """Read, change and write a version's review in one transaction (no decision
        recorded meanwhile is lost); ``change`` gets the current review (or None) and
        returns the new one, which is returned. KeyError: no such version."""
        with self.env.begin(write=True) as txn:
            seq = txn.get(lmdb_key(bucket, key, version_id), db=self.by_vid)
            if seq is None:
                raise KeyError(f"{bucket}/{key} has no version {version_id}")
            vkey = lmdb_key(bucket, key, f"{int(seq):012d}")
            entry = _get(txn, self.versions, vkey)
            entry["review"] = change(entry.get("review"))
            txn.put(vkey, _dumps(entry), db=self.versions)
            return entry["review"]

    def _update_version(self, bucket: str, key: str, version_id: str, **fields) -> None:
        with self.env.begin(write=True) as txn:
            seq = txn.get(lmdb_key(bucket, key, version_id), db=self.by_vid)
            if seq is None:
                raise KeyError(f"{bucket}/{key} has no version {version_id}")
            vkey = lmdb_key(bucket, key, f"{int(seq):012d}")
            entry = _get(txn, self.versions, vkey)
            entry.update(fields)
            txn.put(vkey, _dumps(entry), db=self.versions)

    def mark_deleted(self, bucket: str, key: str, when: float) -> None:
        """The key has no current version any more (S3 delete marker); history stays."""
        with self.env.begin(write=True) as txn:
            asset = _get(txn, self.assets, lmdb_key(bucket, key))
            if asset is not None:
                asset.update(current=None, deleted=True, updated=when)
                txn.put(lmdb_key(bucket, key), _dumps(asset), db=self.assets)

    def restore(self, bucket: str, key: str) -> None:
        """The key's delete marker was removed: its newest version is current again."""
        with self.env.begin(write=True) as txn:
            asset = _get(txn, self.assets, lmdb_key(bucket, key))
            versions = list(self._scan(txn, self.versions, lmdb_key(bucket, key) + SEP))
            if asset is not None and versions:
                asset.update(current=versions[-1][1]["version_id"], deleted=False)
                txn.put(lmdb_key(bucket, key), _dumps(asset), db=self.assets)

    def remove_version(self, bucket: str, key: str, version_id: str) -> None:
        """A version was permanently deleted from storage."""
        with self.env.begin(write=True) as txn:
            seq = txn.get(lmdb_key(bucket, key, version_id), db=self.by_vid)
            if seq is None:
                return
            txn.delete(lmdb_key(bucket, key, f"{int(seq):012d}"), db=self.versions)
            txn.delete(lmdb_key(bucket, key, version_id), db=self.by_vid)
            self._set_parents(txn, bucket, key, version_id, [])
            asset = _get(txn, self.assets, lmdb_key(bucket, key))
            remaining = list(self._scan(txn, self.versions, lmdb_key(bucket, key) + SEP))
            if not remaining:
                txn.delete(lmdb_key(bucket, key), db=self.assets)
            elif asset is not None and asset.get("current") == version_id:
                asset["current"] = remaining[-1][1]["version_id"]
                txn.put(lmdb_key(bucket, key), _dumps(asset), db=self.assets)

    def clear(self) -> None:
        with self.env.begin(write=True) as txn:
            for db in (self.assets, self.versions, self.by_vid, self.parents, self.children):
                txn.drop(db, delete=False)

    # -- reading --------------------------------------------------------------------
    def asset(self, bucket: str, key: str) -> dict | None:
        with self.env.begin() as txn:
            asset = _get(txn, self.assets, lmdb_key(bucket, key))
            if asset is None:
                return None
            asset = {k: v for k, v in asset.items() if k != "next_seq"}
            asset["version_count"] = sum(1 for _ in self._scan(txn, self.versions, lmdb_key(bucket, key) + SEP))
            return asset

    def history(self, bucket: str, key: str) -> list[dict]:
        """Every version still stored, oldest first."""
        with self.env.begin() as txn:
            return [doc for _, doc in self._scan(txn, self.versions, lmdb_key(bucket, key) + SEP)]

    def version(self, bucket: str, key: str, version_id: str | None = None) -> dict | None:
        with self.env.begin() as txn:
            if version_id is None:
                asset = _get(txn, self.assets, lmdb_key(bucket, key))
                if asset is None or asset.get("current") is None:
                    return None
                version_id = asset["current"]
            seq = txn.get(lmdb_key(bucket, key, version_id), db=self.by_vid)
            if seq is None:
                return None
            return _get(txn, self.versions, lmdb_key(bucket, key, f"{int(seq):012d}"))

    def lineage(self, bucket: str, key: str, version_id: str | None = None) -> dict:
        """Direct parents of a version and every stored version derived from the asset."""
        with self.env.begin() as txn:
            if version_id is None:
                asset = _get(txn, self.assets, lmdb_key(bucket, key)) or {}
                version_id = asset.get("current")
            parents = _get(txn, self.parents, lmdb_key(bucket, key, version_id or "")) or []
            children = []
            for _, doc in self._scan(txn, self.children, lmdb_key(bucket, key) + SEP):
                children.append(doc)
            return {"bucket": bucket, "key": key, "version_id": version_id,
                    "parents": parents, "children": children}

    def iter_assets(self, bucket: str | None = None) -> Iterator[dict]:
        """Every asset (of one bucket, when given), in key order."""
        with self.env.begin() as txn:
            for _, doc in self._scan(txn, self.assets, b"" if bucket is None else lmdb_key(bucket) + SEP):
                yield {k: v for k, v in doc.items() if k != "next_seq"}

    def count_assets(self) -> int:
        with self.env.begin() as txn:
            return txn.stat(self.assets)["entries"]

    @staticmethod
    def _scan(txn, db, prefix: bytes) -> Iterator[tuple[bytes, dict]]:
        cursor = txn.cursor(db=db)
        if not cursor.set_range(prefix):
            return
        for raw_key, raw in cursor:
            if not raw_key.startswith(prefix):
                return
            yield raw_key, json.loads(raw)


def _get(txn, db, key: bytes):
    raw = txn.get(key, db=db)
    return None if raw is None else json.loads(raw)
