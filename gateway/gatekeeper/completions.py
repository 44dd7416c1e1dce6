"""Completed multipart uploads, remembered for a while so that a Complete can be retried.

A client whose CompleteMultipartUpload answer was lost (a cut connection, a timeout)
sends the same request again. S3 answers that retry with 200 and the object it made,
not with NoSuchUpload, so the gatekeeper keeps, for ``KEEP_SECONDS`` after each
completion, what the answer said: the parts named (a retry must name the same ones),
the ETag, the version id, the checksums and where the object went. The memo lives in
the catalog's LMDB environment, so a retry after a gateway restart is answered too;
entries older than ``KEEP_SECONDS`` are dropped whenever a new one is written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gateway import kv

TABLE = "completed_uploads"
KEEP_SECONDS = 24 * 3600       # how long a retried Complete is answered from the memo


@dataclass
class Completion:
    """What a completed upload's answer said (``quarantined`` as in ``IngestResult``)."""

    parts: list[tuple[int, str]]   # (number, unquoted ETag), as the Complete named them
    etag: str
    version_id: str | None
    size: int
    last_modified: float
    checksums: dict[str, str]
    parts_count: int
    quarantined: str | None
    completed: float

    def to_json(self) -> dict:
        return {"parts": [list(p) for p in self.parts], "etag": self.etag,
                "version_id": self.version_id, "size": self.size,
                "last_modified": self.last_modified, "checksums": self.checksums,
                "parts_count": self.parts_count,
                "quarantined": self.quarantined, "completed": self.completed}

    @classmethod
    def from_json(cls, doc: dict) -> Completion:
        return cls([(int(n), str(e)) for n, e in doc["parts"]], doc["etag"],
                   doc["version_id"], doc["size"], doc["last_modified"], doc["checksums"],
                   doc["parts_count"], doc["quarantined"], doc["completed"])


def same_parts(named: list[tuple[int, str]], remembered: list[tuple[int, str]]) -> bool:
    """A retry names the parts the completion named (ETags compared unquoted, any case)."""
    def norm(parts):
        return [(n, e.strip().strip('"').lower()) for n, e in parts]
    return norm(named) == norm(remembered)


class CompletedUploads:
    """The memo, in table ``completed_uploads`` of ``env`` (the catalog's environment).

    ``remember`` syncs to disk: async callers run it through ``kv.offload``."""

    def __init__(self, env: kv.Store) -> None:
        self.env = env
        self._db = env.table(TABLE)

    def remember(self, bucket: str, key: str, upload_id: str, done: Completion) -> None:
        with self.env.write() as txn:
            horizon = time.time() - KEEP_SECONDS
            stale = [k for k, doc in kv.scan(txn, self._db, b"", b"")
                     if doc["completed"] < horizon]
            for k in stale:
                txn.delete(k, db=self._db)
            kv.put(txn, self._db, kv.key(bucket, key, upload_id), done.to_json())

    def find(self, bucket: str, key: str, upload_id: str) -> Completion | None:
        """The completion of that upload within ``KEEP_SECONDS``, or None."""
        with self.env.read() as txn:
            doc = kv.get(txn, self._db, kv.key(bucket, key, upload_id))
        if doc is None or doc["completed"] < time.time() - KEEP_SECONDS:
            return None
        return Completion.from_json(doc)
