"""The folder door: watch shares, send complete files through the gateway's S3 API, write
the gateway's XMP beside them, quarantine what a policy denies.

Flow per file::

    event / poll / rescan → candidate (ledger says new or changed)
      → stable for the window → queue → worker:
        hash → unchanged content? done : PUT (door header, provenance, sha256 checksum)
          200           → GET <key>.xmp (after merging a person's edit) → write beside
                          → ledger "ingested" → keep | move | delete the source
          403 + policy  → move to quarantine with <file>.reason.json
          away / 5xx    → retry with backoff (an outage closes the gate for everyone)
          other refusal → ledger "failed" (tried again when the file changes)

The source is moved or deleted only after the gateway acknowledged it (the acknowledged
answer is the gateway's word that bytes, XMP and catalog entry are durable).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from stat import S_ISDIR, S_ISREG

from gateway.config import Config
from gateway.wire.client import Failure
from sidecar import files, metrics
from sidecar.companions import MetadataTooLarge, provenance_headers
from sidecar.gateway_client import WARNING_HEADER, Answer, GatewayClient
from sidecar.ledger import Entry, Ledger
from sidecar.names import XMP_SUFFIX, ignored, is_companion, xmp_owner
from sidecar.quarantine import quarantine
from sidecar.settings import Share
from sidecar.stability import Ready, StabilityTracker, stat_files

log = logging.getLogger("provgate.sidecar")

XMP_CONTENT_TYPE = "application/rdf+xml"
SHUTDOWN_TIMEOUT = 30.0          # seconds in-flight uploads get to finish on SIGTERM
FIRST_RETRY = 0.5


@dataclass
class XmpBeside:
    """What the ledger knows of the XMP beside a file (fields of ``Entry``)."""

    xmp_sha256: str | None = None
    xmp_stat: list[int] | None = None
    person_edited: bool = False

    @classmethod
    def of(cls, entry: Entry | None) -> "XmpBeside":
        if entry is None:
            return cls()
        return cls(entry.xmp_sha256, entry.xmp_stat, entry.person_edited)


class _Retry(Exception):
    """This file is to be tried again later (the gateway is away or busy)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.describe())
        self.answer = answer


class Sidecar:
    def __init__(self, config: Config, endpoint: str, pinned_cert: str | None = None) -> None:
        """``pinned_cert``: the certificate to trust for an https ``endpoint`` (the
        gateway's own ``tls_cert`` when the sidecar talks to its own config's listener)."""
        assert config.sidecar is not None
        self.settings = config.sidecar.settings
        self.shares = config.sidecar.shares
        self.ledger = Ledger(config.sidecar.state_dir)
        self.client = GatewayClient(endpoint, config.server.region, self.settings.timeout,
                                    connections=self.settings.workers * 2 + 2,
                                    pinned_cert=pinned_cert)
        self.endpoint = endpoint
        self.tracker = StabilityTracker(self.settings.stable_seconds)
        self._owner: dict[str, Share] = {}                   # candidate path -> share
        self._pending: dict[str, set[str]] = {s.name: set() for s in self.shares}
        self._queue: asyncio.Queue[tuple[Share, Ready] | None] = asyncio.Queue()
        self._locks: dict[str, asyncio.Lock] = {}
        self._retry_handles: set[asyncio.TimerHandle] = set()
        self._backoff: dict[str, float] = {}
        self._unnameable: set[str] = set()                   # warned about once
        self._gate = asyncio.Event()                         # set while the gateway answers
        self._gate.set()
        self._prober: asyncio.Task | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._workers: list[asyncio.Task] = []
        metrics.SIDECAR_GATEWAY_UP.set(1)

    @property
    def gateway_up(self) -> bool:
        return self._gate.is_set()

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        for share in self.shares:
            for directory in (share.quarantine, share.done):
                if directory is not None:
                    directory.mkdir(parents=True, exist_ok=True)
            self._tasks.append(asyncio.create_task(self._watch(share), name=f"watch {share.name}"))
        self._tasks.append(asyncio.create_task(self._rescans(), name="rescans"))
        self._tasks.append(asyncio.create_task(self._settle_loop(), name="stability"))
        self._workers = [asyncio.create_task(self._work(), name=f"upload {n}")
                         for n in range(self.settings.workers)]
        log.info("sidecar: watching %d share(s), sending to %s",
                 len(self.shares), self.endpoint)

    async def stop(self) -> None:
        """Stop watching, let in-flight uploads finish, flush the ledger."""
        self._stop.set()
        self._gate.set()                                     # wake workers waiting for it
        for handle in self._retry_handles:
            handle.cancel()
        for task in self._tasks + ([self._prober] if self._prober else []):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for _ in self._workers:
            self._queue.put_nowait(None)
        done, running = await asyncio.wait(self._workers, timeout=SHUTDOWN_TIMEOUT) \
            if self._workers else (set(), set())
        if running:
            log.warning("sidecar: %d upload(s) still running after %.0fs are cut off; "
                        "their files are sent again at the next start", len(running),
                        SHUTDOWN_TIMEOUT)
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        await self.client.close()
        self.ledger.close()
        log.info("sidecar: stopped")

    # -- finding files --------------------------------------------------------------------
    async def _watch(self, share: Share) -> None:
        from watchfiles import Change, awatch
        catch_ups: set[asyncio.Task] = set()
        events_lost = False
        try:
            while not self._stop.is_set():
                try:
                    changes_seen = awatch(share.path, watch_filter=None, recursive=True,
                                          force_polling=share.poll,
                                          poll_delay_ms=int(share.poll_seconds * 1000),
                                          stop_event=self._stop,
                                          ignore_permission_denied=True)
                    if events_lost:
                        # The share is walked once the new watcher is registered, or a file
                        # written in between would be found by neither. awatch registers it
                        # in its first step, which this task runs up to its first wait
                        # before the event loop gets to the walk.
                        walk = asyncio.create_task(self._scan(share), name=f"catch up {share.name}")
                        catch_ups.add(walk)
                        walk.add_done_callback(catch_ups.discard)
                        events_lost = False
                    async for changes in changes_seen:
                        for change, path in changes:
                            if change == Change.deleted:
                                self._drop_candidate(path)
                        touched = [p for c, p in changes if c != Change.deleted]
                        if touched:
                            await self._consider(share, touched)
                except Exception as exc:  # noqa: BLE001 — watching must outlive any one failure
                    undecodable = _undecodable_path_error(exc)
                    if undecodable is not None:
                        self._note_undecodable_event(share, undecodable)
                        events_lost = True
                        continue
                    # An unmounted network share, a folder removed and restored: rescans
                    # keep finding files meanwhile; watching resumes when it can.
                    log.warning("sidecar: watching %s failed (%s); retrying", share.path, exc)
                    try:
                        await asyncio.wait_for(self._stop.wait(), timeout=5)
                    except TimeoutError:
                        pass
        finally:
            for walk in catch_ups:
                walk.cancel()

    def _note_undecodable_event(self, share: Share, message: str) -> None:
        """The native watcher gave up on a batch of events because one path in it is not
        UTF-8 (watchfiles cannot hand it to Python). Watching restarts at once, and the
        other files of the lost batch are found by walking the share then, not at the next
        periodic rescan. Logged once per message, counted every time."""
        metrics.SIDECAR_UNNAMEABLE_EVENTS.labels(share.name).inc()
        if message not in self._unnameable:
            self._unnameable.add(message)
            log.warning("sidecar: share %s: %s; a file name must be valid UTF-8 to become an "
                        "object key, so that file is skipped; watching goes on", share.name, message)

    async def _scan(self, share: Share) -> None:
        """Walk the whole share and take in what is new or changed."""
        await self._consider(share, await asyncio.to_thread(self._walk, share))

    async def _rescans(self) -> None:
        while not self._stop.is_set():
            for share in self.shares:
                await self._scan(share)
                metrics.SIDECAR_RESCANS.labels(share.name).inc()
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.settings.rescan_seconds)
            except TimeoutError:
                pass

    @staticmethod
    def _excluded_dirs(share: Share) -> set[Path]:
        return {d for d in (share.quarantine, share.done) if d is not None}

    def _walk(self, share: Share, start: Path | None = None) -> list[str]:
        """Every regular file below ``start`` (default: the share), not following links
        and not entering ignored, quarantine or done folders (blocking)."""
        found: list[str] = []
        excluded = self._excluded_dirs(share)
        stack = [start or share.path]
        while stack:
            directory = stack.pop()
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            if Path(entry.path) not in excluded and not ignored(
                                    self._relative(share, entry.path) + "/x", share.ignore):
                                stack.append(Path(entry.path))
                        elif entry.is_file(follow_symlinks=False):
                            found.append(entry.path)
            except OSError as exc:
                log.warning("sidecar: cannot read folder %s: %s", directory, exc)
        return found

    @staticmethod
    def _relative(share: Share, path: str) -> str:
        return Path(path).relative_to(share.path).as_posix()

    async def _consider(self, share: Share, paths: list[str]) -> None:
        """Turn paths from events or scans into candidates, skipping what is done."""
        fresh = await asyncio.to_thread(self._filter, share, paths)
        for path, size, mtime_ns, directory in fresh:
            if directory:
                await self._consider(share, await asyncio.to_thread(self._walk, share, Path(path)))
                continue
            if path not in self.tracker and path not in self._pending[share.name] \
                    and not path.endswith(XMP_SUFFIX):
                metrics.SIDECAR_FILES_SEEN.labels(share.name).inc()
            self._owner[path] = share
            self._pending[share.name].add(path)
            self.tracker.observe(path, size, mtime_ns)

    def _filter(self, share: Share, paths: list[str]) -> list[tuple[str, int, int, bool]]:
        """(path, size, mtime_ns, is_directory) of the paths that need a look (blocking)."""
        out = []
        excluded = self._excluded_dirs(share)
        for path in paths:
            p = Path(path)
            if p.is_symlink():
                continue          # a linked file or folder could point anywhere
            try:
                # Native watchers follow linked folders and report paths through them:
                # each file is known by its real path, which must lie inside the share.
                p = p.resolve()
                rel = p.relative_to(share.path).as_posix()
                rel.encode("utf-8")
            except UnicodeEncodeError:                 # (a ValueError: first)
                if path not in self._unnameable:       # once, not at every rescan
                    self._unnameable.add(path)
                    log.warning("sidecar: %r skipped: its name is not valid UTF-8, which an "
                                "object key must be", path)
                continue
            except ValueError:
                continue          # outside the share (or the share itself)
            path = str(p)
            if rel == "." or any(d == p or d in p.parents for d in excluded):
                continue
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if S_ISDIR(st.st_mode):
                if not ignored(rel + "/x", share.ignore):
                    out.append((path, 0, 0, True))
                continue
            if not S_ISREG(st.st_mode):
                continue
            owner = xmp_owner(rel)
            if owner is not None:
                # Only an XMP that changed since the sidecar wrote it can be a person's edit
                # (its file may be on its way in: the worker waits for that to finish).
                entry = self.ledger.get(share.name, owner)
                if entry is None or not entry.xmp_unchanged(st.st_size, st.st_mtime_ns):
                    out.append((path, st.st_size, st.st_mtime_ns, False))
                continue
            if ignored(rel, share.ignore):
                continue
            if is_companion(rel, lambda r: (share.path / r).is_file()):
                continue
            entry = self.ledger.get(share.name, rel)
            if entry is not None and entry.same_stat(st.st_size, st.st_mtime_ns) \
                    and entry.state in ("ingested", "failed") \
                    and not (entry.state == "ingested" and share.after != "keep"):
                continue
            out.append((path, st.st_size, st.st_mtime_ns, False))
        return out

    def _drop_candidate(self, path: str) -> None:
        if path in self.tracker:
            self.tracker.forget(path)
            share = self._owner.pop(path, None)
            if share is not None:
                self._pending[share.name].discard(path)

    async def _settle_loop(self) -> None:
        tick = min(0.25, self.settings.stable_seconds / 4)
        while not self._stop.is_set():
            paths = self.tracker.paths()
            started = time.monotonic()
            if paths:
                stats = await asyncio.to_thread(stat_files, paths)
                for ready in self.tracker.settle(stats):
                    share = self._owner.get(ready.path)
                    if share is not None:
                        self._queue.put_nowait((share, ready))
                for path, stat in stats.items():
                    if stat is None:              # gone before it was complete
                        share = self._owner.pop(path, None)
                        if share is not None:
                            self._pending[share.name].discard(path)
            for share in self.shares:
                metrics.SIDECAR_BACKLOG.labels(share.name).set(len(self._pending[share.name]))
            # Thousands of candidates (a big copy) take a while to stat: give the uploads
            # at least as much time as the looking took.
            await asyncio.sleep(max(tick, time.monotonic() - started))

    # -- sending ---------------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None or self._stop.is_set():
                return
            await self._gate.wait()
            if self._stop.is_set():
                return
            share, ready = item
            rel = self._relative(share, ready.path)
            owner = xmp_owner(rel)
            lock = self._locks.setdefault(f"{share.name}\0{owner or rel}", asyncio.Lock())
            try:
                async with lock:
                    if owner is not None:
                        await self._merge_edit(share, owner)
                    else:
                        await self._ingest(share, rel, ready)
            except _Retry as retry:
                self._schedule_retry(share, ready, retry.answer)
                continue
            except Exception:  # noqa: BLE001 — one file's surprise must not stop the door
                log.exception("sidecar: %s/%s failed unexpectedly; left in place", share.name, rel)
                metrics.SIDECAR_FILES_FAILED.labels(share.name, "rejected").inc()
            self._backoff.pop(ready.path, None)
            self._finish(share, ready.path)

    def _finish(self, share: Share, path: str) -> None:
        if path not in self.tracker:
            self._pending[share.name].discard(path)
            self._owner.pop(path, None)

    def _schedule_retry(self, share: Share, ready: Ready, answer: Answer) -> None:
        metrics.SIDECAR_FILES_FAILED.labels(share.name, "retry").inc()
        if answer.outage:
            self._close_gate(share, answer)
            delay = 0.0                    # it waits at the gate instead
        else:
            delay = min(self._backoff.get(ready.path, FIRST_RETRY / 2) * 2,
                        self.settings.retry_max_seconds)
            self._backoff[ready.path] = delay
            log.warning("sidecar: %s: %s; trying again in %.1fs", ready.path,
                        answer.describe(), delay)
        handle = asyncio.get_running_loop().call_later(
            delay, self._requeue, share, ready)
        self._retry_handles.add(handle)

    def _requeue(self, share: Share, ready: Ready) -> None:
        self._retry_handles = {h for h in self._retry_handles if not h.cancelled()
                               and h.when() > asyncio.get_running_loop().time()}
        if not self._stop.is_set():
            self._queue.put_nowait((share, ready))

    def _close_gate(self, share: Share, answer: Answer) -> None:
        if not self._gate.is_set():
            return
        log.warning("sidecar: the gateway at %s is away (%s); holding uploads until it "
                    "answers again", self.endpoint, answer.describe())
        self._gate.clear()
        metrics.SIDECAR_GATEWAY_UP.set(0)
        self._prober = asyncio.create_task(self._probe(share), name="probe gateway")

    async def _probe(self, share: Share) -> None:
        delay = FIRST_RETRY
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
                return
            except TimeoutError:
                pass
            answer = await self.client.probe(share.identity)
            if not answer.outage:
                log.info("sidecar: the gateway answers again; resuming uploads")
                metrics.SIDECAR_GATEWAY_UP.set(1)
                self._gate.set()
                return
            delay = min(delay * 2, self.settings.retry_max_seconds)

    async def _ingest(self, share: Share, rel: str, ready: Ready) -> None:
        path = share.path / rel
        entry = self.ledger.get(share.name, rel)
        stat = (await asyncio.to_thread(stat_files, [str(path)]))[str(path)]
        if stat is None:
            return                                           # gone meanwhile
        if stat != (ready.size, ready.mtime_ns):
            self._reobserve(share, str(path), stat, ready.first_seen)
            return
        if entry is not None and entry.same_stat(*stat) and entry.state == "ingested":
            await self._after_ingest(share, rel)             # a move that a crash cut short
            return
        sha256, size = await asyncio.to_thread(files.sha256_file, path)
        if size != ready.size:
            self._reobserve(share, str(path), (size, ready.mtime_ns), ready.first_seen)
            return
        if entry is not None and entry.sha256 == sha256 and entry.state == "ingested":
            await self.ledger.put(share.name, rel, replace(entry, size=stat[0], mtime_ns=stat[1]))
            metrics.SIDECAR_FILES_UNCHANGED.labels(share.name).inc()
            await self._after_ingest(share, rel)
            return
        key = share.key_for(rel)
        extra = {}
        first = self.ledger.first_with_content(sha256)
        if first is not None and first != f"{share.bucket}/{key}":
            extra["same-content-as"] = first
        try:
            metadata = await asyncio.to_thread(provenance_headers, share, share.path, rel, extra)
        except MetadataTooLarge as exc:
            await self._reject(share, rel, stat, sha256, str(exc))
            return
        beside = XmpBeside.of(entry)
        arrived = False
        if entry is not None and entry.state == "uploading" and entry.sha256 == sha256:
            # Sent before, answer unknown (a crash, a cut connection): ask before resending.
            arrived = await self.client.stored_sha256(share.identity, share.bucket, key) == sha256
        await self.ledger.put(share.name, rel, Entry(stat[0], stat[1], sha256, "uploading",
                                               **vars(beside)))
        version_id = None
        if not arrived:
            answer = await self._put(share, key, path, stat[0], sha256, metadata)
            if answer.denied_by or answer.held_by:
                await self._quarantine(share, rel, answer)
                return
            if answer.code in ("BadDigest", "IncompleteBody", "FileChanged"):
                self._reobserve(share, str(path), stat, ready.first_seen)
                return
            if answer.retry:
                raise _Retry(answer)
            if not answer.ok:
                await self._reject(share, rel, stat, sha256, answer.describe())
                return
            version_id = answer.headers.get("x-amz-version-id")
            if answer.headers.get(WARNING_HEADER):
                log.info("sidecar: %s accepted with warning: %s", path,
                         answer.headers[WARNING_HEADER])
        await self.ledger.remember_content(sha256, f"{share.bucket}/{key}")
        beside = await self._write_xmp(share, rel, key, beside)
        await self.ledger.put(share.name, rel, Entry(stat[0], stat[1], sha256, "ingested",
                                               version_id=version_id, **vars(beside)))
        metrics.SIDECAR_FILES_INGESTED.labels(share.name).inc()
        metrics.SIDECAR_DROP_TO_XMP_SECONDS.observe(time.monotonic() - ready.first_seen)
        await self._after_ingest(share, rel)

    async def _put(self, share: Share, key: str, path: Path, size: int, sha256: str,
                   metadata: dict[str, str]) -> Answer:
        try:
            answer = await self.client.put_file(share.identity, share.bucket, key, path, size,
                                                sha256, metadata)
            if answer.code == "NoSuchBucket":
                # DESIGN: a bucket that does not exist on first write to a share is created.
                created = await self.client.create_bucket(share.identity, share.bucket)
                if not created.ok:
                    return created
                log.info("sidecar: created bucket %s for share %s", share.bucket, share.name)
                answer = await self.client.put_file(share.identity, share.bucket, key, path,
                                                    size, sha256, metadata)
        except (OSError, Failure) as exc:
            # The file shrank or vanished while it was being sent.
            return Answer(0, "FileChanged", str(exc))
        return answer

    def _reobserve(self, share: Share, path: str, stat: tuple[int, int], first_seen: float) -> None:
        self._owner[path] = share
        self._pending[share.name].add(path)
        self.tracker.observe(path, stat[0], stat[1], first_seen)

    async def _reject(self, share: Share, rel: str, stat: tuple[int, int], sha256: str,
                reason: str) -> None:
        log.error("sidecar: %s/%s refused: %s (the file stays; it is tried again when it "
                  "changes)", share.name, rel, reason)
        await self.ledger.put(share.name, rel, Entry(stat[0], stat[1], sha256, "failed", error=reason))
        metrics.SIDECAR_FILES_FAILED.labels(share.name, "rejected").inc()

    # -- XMP beside the file ---------------------------------------------------------------
    async def _write_xmp(self, share: Share, rel: str, key: str,
                         before: XmpBeside) -> XmpBeside:
        """Put the gateway's XMP beside the file; returns what is beside it now.

        A sidecar there that the sidecar did not write (its hash differs from the last one
        written) is a person's edit: it goes to the gateway as a client edit of
        ``<key>.xmp`` first, so the XMP written back carries it. ``person_edited``: the
        sidecar there holds an edit merged into an earlier version; the gateway writes a
        new version's XMP from the file alone, so the edit is sent again for this one.
        """
        local = share.path / (rel + XMP_SUFFIX)
        written_sha, carry_edit = before.xmp_sha256, before.person_edited
        merged = False
        for _ in range(5):
            existing = await asyncio.to_thread(files.read_if_file, local)
            existing_sha = files.sha256_or_none(existing)
            if existing is not None and (existing_sha != written_sha or carry_edit):
                answer = await self.client.put_bytes(share.identity, share.bucket,
                                                     key + XMP_SUFFIX, existing, XMP_CONTENT_TYPE)
                if answer.retry:
                    raise _Retry(answer)
                if not answer.ok:
                    # Never overwritten: it stays until the person fixes it (every change
                    # and rescan tries again), and the new XMP is not written meanwhile.
                    log.error("sidecar: the edit in %s was refused (%s); it is left as the "
                              "person wrote it", local, answer.describe())
                    metrics.SIDECAR_FILES_FAILED.labels(share.name, "rejected").inc()
                    # Its stat is remembered so that rescans do not send it again; its
                    # hash is not, so the next version of the file tries it again.
                    st = await asyncio.to_thread(os.stat, local)
                    return replace(before, xmp_stat=[st.st_size, st.st_mtime_ns])
                merged = True
                if existing_sha != written_sha:
                    metrics.SIDECAR_XMP_EDITS.labels(share.name).inc()
                if answer.headers.get(WARNING_HEADER):
                    log.info("sidecar: edit in %s merged; not taken: %s", local,
                             answer.headers[WARNING_HEADER])
            answer = await self.client.get(share.identity, share.bucket, key + XMP_SUFFIX)
            if answer.retry:
                raise _Retry(answer)
            if not answer.ok:                     # e.g. deleted from the bucket meanwhile
                log.error("sidecar: no XMP for %s/%s: %s", share.bucket, key, answer.describe())
                return before
            if files.sha256_or_none(await asyncio.to_thread(files.read_if_file, local)) != existing_sha:
                continue                                      # edited meanwhile: merge that too
            size, mtime_ns = await asyncio.to_thread(files.write_atomically, local, answer.body)
            return XmpBeside(files.sha256_or_none(answer.body), [size, mtime_ns],
                             merged or carry_edit)
        log.warning("sidecar: %s keeps changing; its XMP is written at the next change", local)
        return before

    async def _merge_edit(self, share: Share, rel: str) -> None:
        entry = self.ledger.get(share.name, rel)
        if entry is None or entry.state != "ingested":
            return
        local = share.path / (rel + XMP_SUFFIX)
        current = files.sha256_or_none(await asyncio.to_thread(files.read_if_file, local))
        if current is None:
            return
        if current == entry.xmp_sha256:          # touched, not edited: remember its new stat
            st = await asyncio.to_thread(os.stat, local)
            await self.ledger.put(share.name, rel, replace(entry, xmp_stat=[st.st_size, st.st_mtime_ns]))
            return
        beside = await self._write_xmp(share, rel, share.key_for(rel), XmpBeside.of(entry))
        await self.ledger.put(share.name, rel, replace(entry, **vars(beside)))

    # -- after the gateway answered --------------------------------------------------------
    async def _after_ingest(self, share: Share, rel: str) -> None:
        if share.after == "keep":
            return
        path = share.path / rel
        if share.after == "move":
            assert share.done is not None
            await asyncio.to_thread(files.move_with_belongings, path, share.done / rel)
        else:
            await asyncio.to_thread(files.delete_with_belongings, path)
        await self.ledger.remove(share.name, rel)

    async def _quarantine(self, share: Share, rel: str, answer: Answer) -> None:
        target, reason = await asyncio.to_thread(quarantine, share, rel, answer)
        await self.ledger.remove(share.name, rel)
        metrics.SIDECAR_FILES_QUARANTINED.labels(share.name).inc()
        log.warning("sidecar: %s/%s %s by policy %s, moved to %s", share.name, rel,
                    "denied" if reason["action"] == "deny" else "held for review",
                    reason["rule"], target)


def _undecodable_path_error(exc: BaseException) -> str | None:
    """The message of a watchfiles "Unable to decode path" error inside ``exc`` (it comes
    wrapped in an ExceptionGroup from the watcher's task group), else None."""
    stack = [exc]
    while stack:
        current = stack.pop()
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        elif "Unable to decode path" in str(current):
            return str(current)
    return None
