"""The one LMDB wrapper: every table provgate keeps on local disk goes through it.

Used by the catalog (assets, versions, lineage), the policy audit log (which shares the
catalog's environment), the fs backend's index, and the folder sidecar's ledger.  What it
settles once for all of them:

- **Opening.**  ``Store(path)`` opens (and creates) an environment with ``sync`` and
  ``metasync`` on: a committed write transaction is on stable storage when the commit
  returns, which is what "acknowledged means durable" needs.  ``map_size`` is address
  space, not disk; the file grows as entries are written.
- **Keys.**  LMDB keys hold at most 511 bytes, S3 keys and share paths up to 1024 and
  more.  :func:`key` joins parts with NUL (which bucket names, keys and paths never hold)
  and shortens a part over ``MAX_PART`` bytes to its start plus a SHA-256 of the whole;
  the full names live in the values.
- **Values.**  JSON, compact, UTF-8 (lone surrogates of undecodable file names survive
  a round trip).  :func:`get`, :func:`put` and :func:`scan` read and write them.
- **Writes off the event loop.**  A syncing commit waits for the disk (milliseconds, or
  far longer on a busy or network disk); on the event loop that stalls every request.
  Async code therefore never opens a write transaction itself: it awaits
  :func:`offload` ``(method, ...)``, which runs the method in a worker thread.  ``write()``
  refuses to run on a thread that is running an event loop, so a forgotten ``offload``
  fails in the tests instead of stalling production.  LMDB serialises write
  transactions across threads and processes, so concurrent offloaded writes are safe.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import lmdb

SEP = b"\x00"
MAP_SIZE = 1 << 40       # 1 TiB of address space
# A key part longer than this many bytes is stored as its start plus a digest of it.
MAX_PART = 150

T = TypeVar("T")


def _part(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= MAX_PART:
        return raw
    return raw[:80] + b"#" + hashlib.sha256(raw).hexdigest().encode()


def key(*parts: str) -> bytes:
    """An LMDB key from its text parts, NUL-separated, each bounded (see ``MAX_PART``)."""
    return SEP.join(_part(p) for p in parts)


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False,
                      sort_keys=True).encode("utf-8", "surrogatepass")


def loads(raw: bytes) -> Any:
    return json.loads(bytes(raw).decode("utf-8", "surrogatepass"))


def get(txn: lmdb.Transaction, db, k: bytes) -> Any:
    """The JSON value under ``k`` in table ``db``, or None."""
    raw = txn.get(k, db=db)
    return None if raw is None else loads(raw)


def put(txn: lmdb.Transaction, db, k: bytes, doc: Any, *, overwrite: bool = True,
        append: bool = False) -> bool:
    """Store ``doc`` as JSON under ``k``.  ``overwrite=False`` keeps an existing value;
    ``append=True`` asserts ``k`` sorts after every key in the table.  False when LMDB
    stored nothing because of either."""
    return txn.put(k, dumps(doc), db=db, overwrite=overwrite, append=append)


def scan(txn: lmdb.Transaction, db, start: bytes,
         prefix: bytes | None = None) -> Iterator[tuple[bytes, Any]]:
    """``(key, value)`` in key order from the first key ``>= start``, while keys start
    with ``prefix`` (default: ``start``)."""
    prefix = start if prefix is None else prefix
    cursor = txn.cursor(db=db)
    if not cursor.set_range(start):
        return
    for raw_key, raw in cursor:
        if not raw_key.startswith(prefix):
            return
        yield raw_key, loads(raw)


async def offload(method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``method`` (which writes to a store) in a worker thread; its result."""
    return await asyncio.to_thread(method, *args, **kwargs)


class Store:
    """One LMDB environment and its named tables.

    ``path``      the environment's folder (created unless ``readonly``)
    ``max_dbs``   how many named tables the environment may hold
    ``readonly``  open for reading only; ``FileNotFoundError`` when there is no
                  environment at ``path``
    """

    def __init__(self, path: str | Path, *, max_dbs: int = 16, readonly: bool = False,
                 map_size: int = MAP_SIZE) -> None:
        self.path = Path(path)
        if readonly and not (self.path / "data.mdb").exists():
            raise FileNotFoundError(f"no LMDB environment at {self.path}")
        if not readonly:
            self.path.mkdir(parents=True, exist_ok=True)
        self.readonly = readonly
        self.env = lmdb.open(str(self.path), map_size=map_size, max_dbs=max_dbs,
                             readonly=readonly, subdir=True, sync=True, metasync=True,
                             lock=True)

    def table(self, name: str, *, create: bool = True):
        """The handle of table ``name``; ``lmdb.NotFoundError`` if it does not exist and
        ``create`` is False (or the store is read-only)."""
        return self.env.open_db(name.encode(), create=create and not self.readonly)

    def read(self) -> lmdb.Transaction:
        """A read transaction (a context manager); cheap, fine on the event loop."""
        return self.env.begin()

    def write(self) -> lmdb.Transaction:
        """A write transaction (a context manager) that syncs to disk on commit.
        ``RuntimeError`` on an event loop's thread: async callers use :meth:`offload`."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self.env.begin(write=True)
        raise RuntimeError("a syncing LMDB write on the event loop; "
                           "await gateway.kv.offload(...) instead")

    def generation(self) -> int:
        """LMDB's last write transaction id: it changes whenever anything was written."""
        return self.env.info()["last_txnid"]

    def entries(self, db) -> int:
        with self.env.begin() as txn:
            return txn.stat(db)["entries"]

    def close(self) -> None:
        """Flush and close; nothing may use the store afterwards."""
        if not self.readonly:
            self.env.sync(True)
        self.env.close()
