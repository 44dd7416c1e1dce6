"""The catalog: an LMDB index of assets, their versions, records and lineage.

The durable provenance record is the XMP sidecar in the storage backend; the catalog is
an index over those sidecars that answers "what is this asset, what were its versions,
what was it made from and what was made from it" without reading the backend.
``provgate reindex`` rebuilds it from the backend alone.

Tables (keys are UTF-8; ``\\0`` separates parts, which bucket names and keys never hold):

    assets    bucket\\0key                       -> {document_id, current, versions, ...}
    versions  bucket\\0key\\0<seq:012d>            -> {version_id, instance_id, record, history,
                                                  review: {status, decisions, comments, rating}}
    by_vid    bucket\\0key\\0version_id            -> seq (the version's place in history)
    parents   bucket\\0key\\0version_id            -> [{bucket, key, version_id, relation}]
    children  pbucket\\0pkey\\0bucket\\0key\\0vid     -> {bucket, key, version_id, relation, ...}

Search indexes (``index.py`` says what a document and a term are), written in the same
transaction as the tables above, so a search never sees a version the catalog lacks:

    ix_docs   doc_id                             -> {bucket, key, version_id, terms}
    ix_vdoc   bucket\\0key\\0version_id            -> doc_id
    ix_post   term parts\\0doc_id                 -> b"" (a posting: the term is in the doc)
    ix_meta   b"format" -> INDEX_FORMAT, b"serial" -> next document serial

A catalog written before the indexes existed (or with an older INDEX_FORMAT) is indexed
from its own tables when opened (``rebuild_indexes``).


Keys and values are those of :mod:`gateway.kv`. Every method that writes syncs to disk:
async callers run it through ``gateway.kv.offload``.
"""

from __future__ import annotations

import hashlib

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import lmdb

from gateway import kv
from gateway.catalog import index as ix
from gateway.catalog import search as searching
from gateway.catalog.search import Page, Query
from gateway.kv import SEP

# Bumped when what is indexed changes: a catalog with another format is re-indexed on open.
INDEX_FORMAT = b"1"

log = logging.getLogger("provgate.catalog")

# Record fields a search result carries (``provgate asset show`` has the whole record).
SUMMARY_FIELDS = ("prompt", "model", "generator", "campaign", "brand", "sku", "identity",
                  "door", "content_type", "size")


def posting_prefix(term) -> bytes:
    """Where the posting list of a term starts in ``ix_post`` (doc ids follow)."""
    return kv.key(*term) + SEP


def posting_key(term, doc: bytes) -> bytes:
    return posting_prefix(term) + doc


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
        self.env = kv.Store(path, max_dbs=24)
        (self.assets, self.versions, self.by_vid, self.parents, self.children, self.ix_docs,
         self.ix_vdoc, self.ix_post, self.ix_meta) = (
            self.env.table(name) for name in ("assets", "versions", "by_vid", "parents",
                                              "children", "ix_docs", "ix_vdoc", "ix_post",
                                              "ix_meta"))
        self._lock = threading.Lock()
        with self.env.read() as txn:
            indexed = txn.get(b"format", db=self.ix_meta) == INDEX_FORMAT
        # Versions indexed by this open (a catalog older than its index format); doors
        # that have no log say so themselves.
        self.indexed_on_open = 0
        if not indexed:
            self.indexed_on_open = self.rebuild_indexes(if_stale=True)
            if self.indexed_on_open:
                log.info("catalog %s: built search indexes for %d versions (first open "
                         "since the index format changed)", path, self.indexed_on_open)

    def close(self) -> None:
        self.env.close()

    # -- writing --------------------------------------------------------------------
    def add_version(self, bucket: str, key: str, *, version_id: str, document_id: str,
                    instance_id: str, record: dict, committed: float,
                    parents: list[Ref] = (), history: list[dict] = (),
                    policy_warnings: list[str] | None = None,
                    record_id: str | None = None,
                    also: Callable[[lmdb.Transaction], object] | None = None) -> None:
        """Record a committed version; re-adding the same version id replaces it.

        ``record_id``: the id its XMP record is stored under, when it is not the version
        id (a ``null`` version: see ``gateway.storage.base``). A version added under the
        id of a catalogued one with another record id is a new version that replaced it
        (a null version overwritten): the old entry goes and the new one is the newest.

        ``history`` is the asset's xmpMM:History as of this version (stEvt events as
        dicts), so the next version's sidecar continues it. ``policy_warnings`` are the
        intake rules that answered with a warning (``rule: message``); None keeps what a
        re-added version had. Its ``review`` is the record's review state
        (``review_summary``). ``also(txn)`` writes more to the same environment in the
        same transaction (intake's audit entries), so one sync makes both durable.
        """
        with self.env.write() as txn:
            if also is not None:
                also(txn)
            asset = kv.get(txn, self.assets, kv.key(bucket, key)) or {
                "bucket": bucket, "key": key, "document_id": document_id, "next_seq": 0,
                "created": committed}
            existing = txn.get(kv.key(bucket, key, version_id), db=self.by_vid)
            entry = {"version_id": version_id, "instance_id": instance_id, "record": record,
                     "committed": committed, "history": list(history),
                     "review": review_summary(record)}
            if record_id is not None and record_id != version_id:
                entry["record_id"] = record_id
            if existing is not None and record_id is not None:
                where = kv.key(bucket, key, f"{int(existing):012d}")
                before = kv.get(txn, self.versions, where) or {}
                if (before.get("record_id") or version_id) != record_id:
                    txn.delete(where, db=self.versions)
                    self._set_parents(txn, bucket, key, version_id, [])
                    self._unindex(txn, bucket, key, version_id)
                    existing = None
            if existing is not None:
                seq = int(existing)
                before = kv.get(txn, self.versions, kv.key(bucket, key, f"{seq:012d}")) or {}
                for kept in ("policy_warnings",):
                    if kept in before:
                        entry[kept] = before[kept]
            else:
                seq = asset["next_seq"]
                asset["next_seq"] = seq + 1
            if policy_warnings is not None:
                entry["policy_warnings"] = list(policy_warnings)
            previous = asset.get("current")
            asset.update(current=version_id, updated=committed, deleted=False)
            txn.put(kv.key(bucket, key), kv.dumps(asset), db=self.assets)
            txn.put(kv.key(bucket, key, f"{seq:012d}"), kv.dumps(entry), db=self.versions)
            txn.put(kv.key(bucket, key, version_id), str(seq).encode(), db=self.by_vid)
            self._set_parents(txn, bucket, key, version_id, list(parents))
            if previous and previous != version_id:
                self._mark_current(txn, bucket, key, previous, False)
            self._index(txn, bucket, key, version_id, entry, current=True)

    def set_review(self, bucket: str, key: str, version_id: str, review: dict) -> None:
        """Store a version's review state (``{"status": ..., "decisions": [...], ...}``)
        in its catalog entry and index its status, in one transaction.

        Raises ``KeyError`` when the catalog has no such version.
        """
        if not isinstance(review, dict) or not isinstance(review.get("status"), str):
            raise ValueError("review must be a dict with a 'status'")
        if self._change_entry(bucket, key, version_id,
                              lambda entry: entry.__setitem__("review", review)) is None:
            raise KeyError(f"{bucket}/{key}?versionId={version_id}")

    def update_version(self, bucket: str, key: str, version_id: str, *, record: dict,
                       history: list[dict]) -> bool:
        """Replace the record and history of a stored version (a review decision, a
        comment), leaving which version is current alone; False if it is not catalogued."""
        def change(entry: dict) -> None:
            # The record's review state wins; what distribution keeps beside it (where
            # the copies went) stays.
            entry.update(record=record, history=list(history),
                         review={**(entry.get("review") or {}), **review_summary(record)})
        return self._change_entry(bucket, key, version_id, change) is not None

    def change_review(self, bucket: str, key: str, version_id: str,
                      change: Callable[[dict | None], dict]) -> dict:
        """Read, change and write a version's review in one transaction (no decision
        recorded meanwhile is lost); ``change`` gets the current review (or None) and
        returns the new one, which is returned. KeyError: no such version."""
        entry = self._change_entry(
            bucket, key, version_id,
            lambda entry: entry.__setitem__("review", change(entry.get("review"))))
        if entry is None:
            raise KeyError(f"{bucket}/{key} has no version {version_id}")
        return entry["review"]

    def set_committed(self, bucket: str, key: str, version_id: str, estimate: float,
                      committed: float) -> bool:
        """Correct the time a version was committed from ``estimate`` (what ``add_version``
        was given before the stored time was known) to ``committed``: its entry, its
        place among search results and the asset's created / updated dates that were that
        estimate. False if the version is not catalogued."""
        def change(entry: dict) -> None:
            entry["committed"] = committed

        def change_asset(asset: dict) -> None:
            for field in ("created", "updated"):
                if asset.get(field) == estimate:
                    asset[field] = committed

        return self._change_entry(bucket, key, version_id, change, change_asset) is not None

    def _change_entry(self, bucket: str, key: str, version_id: str,
                      change: Callable[[dict], None],
                      change_asset: Callable[[dict], None] | None = None) -> dict | None:
        """Change one version's catalog entry in place (``change`` mutates it) and its
        search terms, in one write transaction; the entry, or None if not catalogued.
        ``change_asset`` mutates the asset's own record in the same transaction."""
        with self.env.write() as txn:
            seq = txn.get(kv.key(bucket, key, version_id), db=self.by_vid)
            if seq is None:
                return None
            where = kv.key(bucket, key, f"{int(seq):012d}")
            entry = kv.get(txn, self.versions, where)
            change(entry)
            txn.put(where, kv.dumps(entry), db=self.versions)
            asset = kv.get(txn, self.assets, kv.key(bucket, key)) or {}
            if change_asset is not None and asset:
                change_asset(asset)
                txn.put(kv.key(bucket, key), kv.dumps(asset), db=self.assets)
            self._index(txn, bucket, key, version_id, entry,
                        current=asset.get("current") == version_id)
            return entry

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
                if asset.get("current"):
                    self._mark_current(txn, bucket, key, asset["current"], False)
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
                self._mark_current(txn, bucket, key, asset["current"], True)

    def remove_version(self, bucket: str, key: str, version_id: str) -> None:
        """A version was permanently deleted from storage."""
        with self.env.write() as txn:
            seq = txn.get(kv.key(bucket, key, version_id), db=self.by_vid)
            if seq is None:
                return
            txn.delete(kv.key(bucket, key, f"{int(seq):012d}"), db=self.versions)
            txn.delete(kv.key(bucket, key, version_id), db=self.by_vid)
            self._set_parents(txn, bucket, key, version_id, [])
            self._unindex(txn, bucket, key, version_id)
            asset = kv.get(txn, self.assets, kv.key(bucket, key))
            remaining = list(kv.scan(txn, self.versions, kv.key(bucket, key) + SEP))
            if not remaining:
                txn.delete(kv.key(bucket, key), db=self.assets)
            elif asset is not None and asset.get("current") == version_id:
                asset["current"] = remaining[-1][1]["version_id"]
                txn.put(kv.key(bucket, key), kv.dumps(asset), db=self.assets)
                self._mark_current(txn, bucket, key, asset["current"], True)

    def clear(self) -> None:
        with self.env.write() as txn:
            for db in (self.assets, self.versions, self.by_vid, self.parents, self.children,
                       self.ix_docs, self.ix_vdoc, self.ix_post):
                txn.drop(db, delete=False)

    # -- search indexes (same transaction as the change they follow) ---------------------
    def rebuild_indexes(self, *, if_stale: bool = False) -> int:
        """Index every version the catalog holds, from scratch; returns how many.

        ``if_stale``: only if the indexes are missing or of another INDEX_FORMAT (checked
        inside the write transaction, so two processes opening an old catalog at once
        index it once).
        """
        count = 0
        with self.env.write() as txn:
            if if_stale and txn.get(b"format", db=self.ix_meta) == INDEX_FORMAT:
                return 0
            for db in (self.ix_docs, self.ix_vdoc, self.ix_post):
                txn.drop(db, delete=False)
            txn.delete(b"serial", db=self.ix_meta)
            for _, asset in kv.scan(txn, self.assets, b""):
                bucket, key = asset["bucket"], asset["key"]
                for _, entry in kv.scan(txn, self.versions, kv.key(bucket, key) + SEP):
                    self._index(txn, bucket, key, entry["version_id"], entry,
                                current=entry["version_id"] == asset.get("current"))
                    count += 1
            txn.put(b"format", INDEX_FORMAT, db=self.ix_meta)
        return count

    def _index(self, txn, bucket: str, key: str, version_id: str, entry: dict, *,
               current: bool) -> None:
        self._unindex(txn, bucket, key, version_id)
        serial = int(txn.get(b"serial", b"0", db=self.ix_meta))
        txn.put(b"serial", str(serial + 1).encode(), db=self.ix_meta)
        doc = ix.doc_id(entry["committed"], serial)
        terms = ix.version_terms(bucket, key, entry, current=current)
        for term in terms:
            txn.put(posting_key(term, doc), b"", db=self.ix_post)
        txn.put(doc, kv.dumps({"bucket": bucket, "key": key, "version_id": version_id,
                             "terms": terms}), db=self.ix_docs)
        txn.put(kv.key(bucket, key, version_id), doc, db=self.ix_vdoc)

    def _unindex(self, txn, bucket: str, key: str, version_id: str) -> None:
        doc = txn.get(kv.key(bucket, key, version_id), db=self.ix_vdoc)
        if doc is None:
            return
        indexed = kv.get(txn, self.ix_docs, doc) or {"terms": []}
        for term in indexed["terms"]:
            txn.delete(posting_key(term, doc), db=self.ix_post)
        txn.delete(doc, db=self.ix_docs)
        txn.delete(kv.key(bucket, key, version_id), db=self.ix_vdoc)

    def _mark_current(self, txn, bucket: str, key: str, version_id: str, current: bool) -> None:
        doc = txn.get(kv.key(bucket, key, version_id), db=self.ix_vdoc)
        indexed = None if doc is None else kv.get(txn, self.ix_docs, doc)
        if indexed is None:
            return
        terms = [t for t in map(tuple, indexed["terms"]) if t != ix.CURRENT]
        if current:
            terms.append(ix.CURRENT)
            txn.put(posting_key(ix.CURRENT, doc), b"", db=self.ix_post)
        else:
            txn.delete(posting_key(ix.CURRENT, doc), db=self.ix_post)
        indexed["terms"] = terms
        txn.put(doc, kv.dumps(indexed), db=self.ix_docs)

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

    def search(self, query: Query | None = None, *, limit: int = searching.DEFAULT_LIMIT,
               page: str | None = None, buckets=None, **filters) -> Page:
        """Versions matching every filter, newest first, one page at a time.

        Filters are ``searching.build_query``'s keywords (prompt words, model, generator,
        campaign, brand, sku, review, identity, door, bucket, prefix, date_from, date_to,
        warned, all_versions) or a built ``query``; only current versions unless
        ``all_versions``. ``page`` is the ``next`` token of the previous page. ``buckets``
        limits results to these bucket names (a caller's scope; ``"*"`` in it: all).
        Raises ``errors.InvalidArgument`` for a bad filter or token.
        """
        query = query or searching.build_query(**filters)
        limit = max(1, min(int(limit), searching.MAX_LIMIT))
        with self.env.read() as txn:
            return self._run(txn, query, limit, page, buckets)

    def queue(self, *, limit: int = searching.DEFAULT_LIMIT, page: str | None = None,
              buckets=None, skip_buckets: tuple[str, ...] = (), **filters) -> Page:
        """Current versions waiting for review (pending), oldest first, paged.

        Filters: bucket, prefix, campaign, brand, model, door, warned
        (``searching.QUEUE_FILTERS``). ``skip_buckets`` are never queued (the quarantine
        bucket: its writes are released or discarded, not reviewed in place).
        """
        unknown = set(filters) - set(searching.QUEUE_FILTERS)
        if unknown:
            raise searching.invalid(sorted(unknown)[0], "not a queue filter (filters: "
                                    + ", ".join(searching.QUEUE_FILTERS) + ")")
        query = searching.build_query(review="pending", oldest_first=True,
                                      skip_buckets=skip_buckets, **filters)
        return self.search(query, limit=limit, page=page, buckets=buckets)

    def queue_summary(self, buckets=None, skip_buckets: tuple[str, ...] = ()) -> dict:
        """How many versions wait for review and since when (``oldest``: epoch seconds)."""
        query = searching.build_query(review="pending", oldest_first=True,
                                      skip_buckets=skip_buckets)
        count, oldest = 0, None
        with self.env.read() as txn:
            clauses = self._clauses(txn, query, buckets)
            if clauses is None:
                return {"count": 0, "oldest": None}
            for doc in searching.matching(clauses, 0, 0, searching.TOP, False):
                raw = doc.to_bytes(16, "big")
                if not self._wanted(query, kv.get(txn, self.ix_docs, raw)):
                    continue
                if oldest is None:
                    oldest = self._doc_entry(txn, raw)["committed"]
                count += 1
        return {"count": count, "oldest": oldest}

    def _clauses(self, txn, query: Query, buckets) -> list | None:
        """Posting lists to intersect; None when the caller may see no bucket at all."""
        clauses: list = [searching.Postings(txn, self.ix_post, posting_prefix(t))
                         for t in searching.terms_of(query)]
        if buckets is not None and "*" not in buckets:
            if not buckets:
                return None
            clauses.append(searching.AnyOf([searching.Postings(txn, self.ix_post,
                                                           posting_prefix(("bucket", b)))
                                          for b in sorted(set(buckets))]))
        return clauses or [searching.Postings(txn, self.ix_docs, b"")]

    def _run(self, txn, query: Query, limit: int, page: str | None, buckets) -> Page:
        reverse = not query.oldest_first
        low, high = searching.bounds(query)
        start = high if reverse else low
        if page is not None:
            after = int.from_bytes(searching.decode_token(query, page), "big")
            start = after - 1 if reverse else after + 1
        clauses = self._clauses(txn, query, buckets)
        result = Page()
        if clauses is None:
            return result
        looked = 0
        last = b""
        for doc in searching.matching(clauses, start, low, high, reverse):
            raw = doc.to_bytes(16, "big")
            indexed = kv.get(txn, self.ix_docs, raw)
            if self._wanted(query, indexed):
                if len(result.items) == limit:
                    result.next = searching.encode_token(query, last)
                    return result
                result.items.append(self._hit(txn, raw, indexed))
                last = raw
            looked += 1
            if looked >= searching.SCAN_BUDGET and len(result.items) < limit:
                result.next = searching.encode_token(query, raw)
                return result
        return result

    @staticmethod
    def _wanted(query: Query, indexed: dict) -> bool:
        """Filters the posting lists cannot answer alone (a prefix past its folder, a
        negation)."""
        if query.prefix and not indexed["key"].startswith(query.prefix):
            return False
        if query.warned is False and list(ix.WARNED) in indexed["terms"]:
            return False
        if indexed["bucket"] in query.skip_buckets:
            return False
        return True

    def _doc_entry(self, txn, raw: bytes) -> dict:
        indexed = kv.get(txn, self.ix_docs, raw)
        seq = txn.get(kv.key(indexed["bucket"], indexed["key"], indexed["version_id"]),
                      db=self.by_vid)
        return kv.get(txn, self.versions,
                    kv.key(indexed["bucket"], indexed["key"], f"{int(seq):012d}"))

    def _hit(self, txn, raw: bytes, indexed: dict) -> dict:
        """A search result: where the version is and the record fields people look for."""
        entry = self._doc_entry(txn, raw)
        record = entry.get("record") or {}
        hit = {"bucket": indexed["bucket"], "key": indexed["key"],
               "version_id": indexed["version_id"], "committed": entry["committed"],
               "current": list(ix.CURRENT) in indexed["terms"],
               "review": ix.review_status(entry),
               "policy_warnings": entry.get("policy_warnings", [])}
        for name in SUMMARY_FIELDS:
            hit[name] = record.get(name)
        return hit

    def current_versions(self, skip_buckets: tuple[str, ...] = ()) -> Iterator[tuple[str, str, dict]]:
        """``(bucket, key, entry)`` of every asset's current version, in key order, in one
        read transaction (deleted keys have none); ``skip_buckets`` are left out."""
        with self.env.read() as txn:
            for _, asset in kv.scan(txn, self.assets, b""):
                bucket, version_id = asset["bucket"], asset.get("current")
                if version_id is None or bucket in skip_buckets:
                    continue
                seq = txn.get(kv.key(bucket, asset["key"], version_id), db=self.by_vid)
                if seq is not None:
                    yield bucket, asset["key"], kv.get(
                        txn, self.versions, kv.key(bucket, asset["key"], f"{int(seq):012d}"))

    def matching_versions(self, query: Query, buckets=None) -> Iterator[tuple[dict, dict]]:
        """``(indexed, entry)`` of every version matching ``query`` (no paging, newest
        first), in one read transaction; ``buckets`` as for :meth:`search`. For callers
        that aggregate what they find (the prompt library)."""
        reverse = not query.oldest_first
        low, high = searching.bounds(query)
        with self.env.read() as txn:
            clauses = self._clauses(txn, query, buckets)
            if clauses is None:
                return
            for doc in searching.matching(clauses, high if reverse else low, low, high, reverse):
                raw = doc.to_bytes(16, "big")
                indexed = kv.get(txn, self.ix_docs, raw)
                if self._wanted(query, indexed):
                    yield indexed, self._doc_entry(txn, raw)

    def iter_assets(self, bucket: str | None = None) -> Iterator[dict]:
        """Every asset (of one bucket, when given), in key order."""
        with self.env.read() as txn:
            for _, doc in kv.scan(txn, self.assets, b"" if bucket is None else kv.key(bucket) + SEP):
                yield {k: v for k, v in doc.items() if k != "next_seq"}

    def current_fingerprints(self) -> Iterator[tuple[str, str, bytes]]:
        """``(bucket, key, digest)`` for the current version of every asset that has
        one: a 16-byte digest of its stored catalog entry, which changes whenever the
        entry does (a new version, an edited record, a review event). For callers that
        keep up with changes without holding every entry (the policy re-check)."""
        with self.env.read() as txn:
            for _, asset in kv.scan(txn, self.assets, b""):
                current = asset.get("current")
                seq = current and txn.get(kv.key(asset["bucket"], asset["key"], current),
                                          db=self.by_vid)
                raw = seq and txn.get(kv.key(asset["bucket"], asset["key"],
                                             f"{int(seq):012d}"), db=self.versions)
                if raw:
                    yield asset["bucket"], asset["key"], hashlib.blake2b(
                        raw, digest_size=16).digest()

    def count_assets(self) -> int:
        return self.env.entries(self.assets)


def review_summary(record: dict) -> dict:
    """The review state of a version as the catalog keeps it beside the record (the
    queue and search read it): status, decisions, comments and rating."""
    review = record.get("review") or {}
    return {"status": review.get("status") or "pending",
            "decisions": list(review.get("decisions", [])),
            "comments": list(review.get("comments", [])),
            "rating": record.get("rating")}
