"""The audit log: every policy decision, append-only, in the catalog's LMDB environment.

One entry per rule that applied to an object (its match held or could not be
evaluated), plus an entry whenever a policy set is loaded or a change is rejected. Keys
are 8-byte big-endian sequence numbers, so LMDB's key order is the order of appending
and ``iter(since)`` resumes exactly where a reader stopped; the next number is taken
inside the write transaction, which LMDB serialises across threads and processes, so
numbers are strictly increasing with no gaps.

There is deliberately no update or delete method: the class is the only interface to
the ``audit`` table and it only appends and reads. (``provgate reindex`` clears the
catalog's index tables, never this one.)

Entry (JSON)::

    seq        int     position in the log, from 1
    time       str     ISO 8601 UTC, millisecond precision
    kind       str     decision | policy-loaded | policy-rejected | review
    action     str     for review: decided | commented | resolved | rated | released |
                       discarded (with decision, status, note, comment, rating, target)
    revision   str     policy-set revision the decision was made with (or loaded)
    stage      str     intake | review | distribute                 (decision)
    rule       str     rule id                                       (decision)
    result     str     pass | fail | error                          (decision)
    action     str     allow | deny | quarantine | warn | audit, after modes/dry-run
    intended   str     the rule's own action (what enforce mode does)
    mode       str     enforce | warn | audit (dry-run shows as audit)
    message    str     why it failed, if it did
    error      str     the evaluation error, if any
    bucket, key, version_id   the asset version (version_id null when none was stored)
    identity   str     who acted
    detail     object  for policy-loaded/-rejected: files, or the problems
"""

from __future__ import annotations

import datetime as dt
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lmdb

from gateway import kv

_DB = "audit"
_SEQ = struct.Struct(">Q")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


class AuditLog:
    """Append-only log over an LMDB store (the catalog's: ``AuditLog(catalog.env)``).

    Appending syncs to disk: async callers run ``record`` through ``gateway.kv.offload``.
    """

    def __init__(self, env: kv.Store, *, readonly: bool = False) -> None:
        self.env = env
        self._owned = False
        self._lock = threading.Lock()
        try:
            self._db = env.table(_DB, create=not readonly)
        except lmdb.NotFoundError:
            self._db = None                    # read-only and never written: empty log

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False) -> AuditLog:
        """Open the log in its own environment (CLI, tests; the server shares the catalog's).

        Opens the same LMDB environment as ``Catalog(path)``, so the two must not both be
        opened by one process: pass ``catalog.env`` there instead.
        """
        path = Path(path)
        if readonly and not (path / "data.mdb").exists():
            raise FileNotFoundError(f"no catalog at {path}")
        log = cls(kv.Store(path, readonly=readonly), readonly=readonly)
        log._owned = True
        return log

    def close(self) -> None:
        if self._owned:
            self.env.close()

    # -- appending ---------------------------------------------------------------------
    def record(self, decision, *, bucket: str, key: str, version_id: str | None = None,
               identity: str | None = None) -> list[int]:
        """Append one entry per applied rule of ``decision``; returns their seqs."""
        return self._append(self._decision_docs(decision, bucket, key, version_id, identity))

    def record_in(self, txn, decision, *, bucket: str, key: str,
                  version_id: str | None = None, identity: str | None = None) -> list[int]:
        """``record`` inside ``txn``, a write transaction the caller holds on this log's
        environment (the catalog's): the entries commit, and sync, with whatever else
        it writes."""
        return self._append_in(txn, self._decision_docs(decision, bucket, key, version_id,
                                                        identity))

    @staticmethod
    def _decision_docs(decision, bucket: str, key: str, version_id: str | None,
                       identity: str | None) -> list[dict[str, Any]]:
        base = {"kind": "decision", "revision": decision.revision, "stage": decision.stage,
                "bucket": bucket, "key": key, "version_id": version_id,
                "identity": identity}
        docs = []
        for o in decision.matched:
            doc = dict(base, rule=o.rule_id, result=o.result, action=o.action,
                       intended=o.intended, mode=o.mode)
            if o.action != "allow" and o.message:
                doc["message"] = o.message
            if o.error:
                doc["error"] = o.error
            docs.append(doc)
        return docs

    def append_review(self, action: str, *, bucket: str, key: str, version_id: str | None,
                      identity: str, **detail: Any) -> int:
        """A review event (kind ``review``): ``action`` is decided, commented, resolved,
        rated, released or discarded; ``detail`` holds decision, status, note,
        comment id, rating, or where a released write went."""
        doc = {"kind": "review", "action": action, "bucket": bucket, "key": key,
               "version_id": version_id, "identity": identity}
        doc.update({k: v for k, v in detail.items() if v is not None})
        return self._append([doc])[0]

    def append_event(self, kind: str, *, revision: str | None = None,
                     detail: dict | None = None) -> int:
        """A policy-set event (``policy-loaded``, ``policy-rejected``)."""
        return self._append([{"kind": kind, "revision": revision, "detail": detail or {}}])[0]

    def _append(self, docs: list[dict[str, Any]]) -> list[int]:
        if not docs:
            return []
        with self._lock, self.env.write() as txn:
            return self._append_in(txn, docs)

    def _append_in(self, txn, docs: list[dict[str, Any]]) -> list[int]:
        # The sequence is read and extended within one write transaction, which LMDB
        # holds for one writer at a time: no other lock is needed here (and none may be
        # taken, as the caller of ``record_in`` already holds the transaction).
        if not docs:
            return []
        if self._db is None:
            raise RuntimeError("audit log is read-only")
        when = _now()
        seqs = []
        cursor = txn.cursor(db=self._db)
        seq = _SEQ.unpack(cursor.key())[0] if cursor.last() else 0
        for doc in docs:
            seq += 1
            entry = {"seq": seq, "time": when, **doc}
            # append=True: LMDB refuses a key that is not after the last one
            if not kv.put(txn, self._db, _SEQ.pack(seq), entry, append=True):
                raise RuntimeError(f"audit sequence {seq} already used")
            seqs.append(seq)
        return seqs

    # -- reading -----------------------------------------------------------------------
    def intake_warnings(self) -> dict[tuple[str, str, str], list[str]]:
        """``rule: message`` of every intake warning, by the version it was stored as
        (bucket, key, version id): what a catalog rebuild gives back to the review queue,
        since warnings are not part of the record."""
        found: dict[tuple[str, str, str], list[str]] = {}
        for entry in self.iter():
            if (entry.get("kind") == "decision" and entry.get("stage") == "intake"
                    and entry.get("action") == "warn" and entry.get("version_id")):
                found.setdefault((entry["bucket"], entry["key"], entry["version_id"]),
                                 []).append(f"{entry.get('rule')}: {entry.get('message', '')}")
        return found

    def iter(self, since: int = 0, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Entries with ``seq > since``, oldest first, at most ``limit`` of them.

        Reads in batches, each in its own short read transaction, so a slow consumer
        never pins an old snapshot of a growing log.
        """
        if self._db is None:
            return
        remaining = limit
        while remaining is None or remaining > 0:
            batch = self._read(since, 500 if remaining is None else min(500, remaining))
            if not batch:
                return
            yield from batch
            since = batch[-1]["seq"]
            if remaining is not None:
                remaining -= len(batch)

    def _read(self, since: int, count: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        with self.env.read() as txn:
            for _, entry in kv.scan(txn, self._db, _SEQ.pack(since + 1), b""):
                out.append(entry)
                if len(out) >= count:
                    break
        return out

    def last_seq(self) -> int:
        if self._db is None:
            return 0
        with self.env.read() as txn:
            cursor = txn.cursor(db=self._db)
            return _SEQ.unpack(cursor.key())[0] if cursor.last() else 0

    def __len__(self) -> int:
        if self._db is None:
            return 0
        return self.env.entries(self._db)
