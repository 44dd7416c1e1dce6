"""Every version in an upstream bucket, in S3 order, whatever the upstream's paging does.

Provgate's listings (current objects and versions alike) are built on one primitive,
:func:`walk`: the upstream's versions and delete markers under a prefix, keys in byte
order and each key's versions newest first, from a marker on.

Why not simply page through ListObjectVersions: SeaweedFS (4.48) keeps the versions of
``name`` in a directory ``name.versions`` and builds a page by walking its directory
tree in name order, collecting the first max-keys+1 versions and only then sorting them
by key. Where walk order and key order differ, a truncated page is not the start of the
listing. They differ wherever a name is extended by a character sorting before ``.``:
provgate's escapes and marks (``%XX``, ``&/``, ``!/``, ``#``, see ``keys``), so ``a``
(walked as ``a.versions``) comes *after* ``a b`` (``a%20b.versions``) and the whole
``a/`` subtree (directory ``a&``) although it sorts before them — and a sidecar
``a.png.xmp`` is walked before its ``a.png``. A page that stops inside such a stretch
may hold ``a b`` but not ``a``, and paging on from its last key loses ``a`` for good.
(ListObjectsV2 on a versioned bucket has the same blind spot and more, so provgate does
not use it there.)

So a truncated page is trusted only below a *frontier*. The keys a page can be missing
are exactly those walked after the last entry the walk collected, yet sorting before
some entry it holds: such a key is a proper prefix of the last-walked entry (or of the
largest one, when the page's own truncation dropped the last-walked entry), walked after
it. The frontier is the least of those candidate keys, the last-walked key and the
largest key (either may have more versions than the page holds). Entries below the
frontier are complete and final; the walk goes on after the last of them. When none are
below it, the frontier itself is settled first: a candidate key is looked up on its own
(:func:`exact`, which lists just ``name.versions``), or the first key's versions are
paged on by version id. Every round moves the marker forward, so the walk ends.

On an upstream whose pages are plain S3 prefixes of the listing (AWS, MinIO), a
candidate is never missing: the extra rule costs a few narrow requests, never an entry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from gateway import errors
from gateway.wire import xmldoc
from gateway.wire.client import S3Client
from gateway.wire.xmldoc import ListedVersion

UPSTREAM_PAGE = 1000
VERSIONS_DIR = ".versions"          # SeaweedFS: the directory holding a name's versions
_NEW_FORMAT = 0x4000000000000000    # SeaweedFS ids above this hold an inverted timestamp
_INT64_MAX = (1 << 63) - 1


async def walk(client: S3Client, upstream_bucket: str, prefix: str, *, after: str = "",
               after_version: str | None = None, latest_only: bool = False,
               subject: tuple[str, str] = ("", ""),
               _within_key: bool = False) -> AsyncIterator[ListedVersion]:
    """Versions and delete markers under the raw upstream ``prefix`` whose key sorts
    after ``after`` — or, with ``after_version``, that are ``after``'s versions older
    than that one, or later keys. With ``latest_only`` a key's older versions may be
    left out (listings of current objects need only the newest)."""
    marker, version_marker = after, after_version
    while True:
        page = await _page(client, upstream_bucket, prefix, marker, version_marker, subject)
        entries = in_order(page.versions)
        if not page.truncated:
            for entry in entries:
                yield entry
            return
        if not entries:
            raise errors.ServiceUnavailable(
                "the storage backend sent an empty page that says it is truncated")
        frontier, missing = _frontier(entries, prefix, marker, version_marker)
        settled = [e for e in entries if e.key < frontier]
        if settled:
            for entry in settled:
                yield entry
            marker, version_marker = settled[-1].key, None
        elif missing:
            resume = version_marker if frontier == marker else None
            if resume is not None and _within_key:
                raise _cannot_page(frontier, subject)  # exact() came here for this key
            async for entry in exact(client, upstream_bucket, frontier, after_version=resume,
                                     complete=not latest_only, subject=subject):
                yield entry
            marker, version_marker = frontier, None
        else:  # the first key: its newest versions on the page are final
            first = [e for e in entries if e.key == frontier]
            for entry in first:
                yield entry
            if latest_only:
                marker, version_marker = frontier, None
            else:  # page on through its older versions
                marker, version_marker = frontier, first[-1].version_id


async def exact(client: S3Client, upstream_bucket: str, name: str, *,
                after_version: str | None = None, complete: bool = True,
                subject: tuple[str, str] = ("", "")) -> AsyncIterator[ListedVersion]:
    """The versions of the one upstream key ``name``, newest first, or those older than
    ``after_version``: all of them, or (``complete`` false) those of the newest page."""
    page = await _page(client, upstream_bucket, name + VERSIONS_DIR, "", None, subject)
    entries = [e for e in in_order(page.versions) if e.key == name]
    if not entries:
        # Not SeaweedFS's layout, or an object stored before versioning (a plain file):
        # a plain prefix listing starts with the key itself on an upstream that pages in
        # key order, which is every other one.
        page = await _page(client, upstream_bucket, name, "", None, subject)
        entries = [e for e in in_order(page.versions) if e.key == name]
    if after_version is not None:
        ids = [e.version_id for e in entries]
        if after_version in ids:
            entries = entries[ids.index(after_version) + 1:]
        elif page.truncated:
            entries = []  # further back than the newest page: found by paging below
        else:  # that version is gone meanwhile: go on after where it stood
            gone = ListedVersion(name, after_version, False, False, 0, "", 0.0)
            entries = [e for e in entries if _age(e, len(entries)) > _age(gone, -1)]
    for entry in entries:
        yield entry
    if not complete or not page.truncated:
        return
    # Older versions: SeaweedFS cannot resume inside ``name.versions`` (its filer stops
    # at the first name after the marker that lacks the prefix), so page on through a
    # listing of everything starting with ``name``, of which ``name`` comes first.
    resume = entries[-1].version_id if entries else after_version
    rest = walk(client, upstream_bucket, name, after=name, after_version=resume,
                subject=subject, _within_key=True)
    try:
        async for entry in rest:
            if entry.key != name:
                return
            yield entry
    finally:
        await rest.aclose()


def _cannot_page(name: str, subject: tuple[str, str]) -> errors.GatewayError:
    """SeaweedFS 4.48 walks the keys that extend a key (``a.png.xmp`` for ``a.png``)
    before the key's own versions, and cannot resume inside those: when they fill a
    page, the key's older versions cannot be reached."""
    return errors.ServiceUnavailable(
        f"the storage backend cannot list the older versions of upstream key {name!r} in "
        f"{subject[0]!r}: keys that extend it hold more than a listing page of versions")


async def _page(client: S3Client, upstream_bucket: str, prefix: str, marker: str,
                version_marker: str | None,
                subject: tuple[str, str]) -> xmldoc.VersionListing:
    query = {"versions": "", "encoding-type": "url", "max-keys": str(UPSTREAM_PAGE)}
    if prefix:
        query["prefix"] = prefix
    # A marker before the prefix selects nothing more than no marker, and SeaweedFS's
    # filer, started there, stops at the first name without the prefix: leave it out.
    if marker and not (prefix and marker < prefix):
        query["key-marker"] = marker
        if version_marker:
            query["version-id-marker"] = version_marker
    reply = await client.send("GET", upstream_bucket, query=query, subject=subject)
    return xmldoc.version_listing(reply.body)


def in_order(entries: list[ListedVersion]) -> list[ListedVersion]:
    """Keys in byte order, each key's entries newest first."""
    ranked = sorted(enumerate(entries), key=lambda p: (p[1].key, _age(p[1], p[0])))
    return [entry for _, entry in ranked]


def _age(entry: ListedVersion, position: int) -> tuple:
    """Sorts a key's entries newest first: the latest, then by SeaweedFS's time-based
    ids, then (ids without a known order) as the document gave them, ``null`` last."""
    if entry.is_latest:
        return (0,)
    if entry.version_id == "null":
        return (3,)
    try:
        stamp = int(entry.version_id[:16], 16) if len(entry.version_id) >= 16 else None
    except ValueError:
        stamp = None
    if stamp is None or stamp > _INT64_MAX:
        return (2, position)
    if stamp > _NEW_FORMAT:  # inverted: a smaller id is a newer version
        return (1, -(_INT64_MAX - stamp), entry.version_id)
    return (1, -stamp, "")


def walk_position(name: str) -> tuple[str, ...]:
    """Where SeaweedFS's depth-first walk meets a key: its versions directory."""
    parts = name.split("/")
    return (*parts[:-1], parts[-1] + VERSIONS_DIR)


def _frontier(entries: list[ListedVersion], prefix: str, marker: str,
              version_marker: str | None) -> tuple[str, bool]:
    """The key below which a truncated page is complete, and whether that key is one
    the page may be missing (rather than one it holds, perhaps only in part)."""
    names = list(dict.fromkeys(e.key for e in entries))
    last_walked = max(names, key=walk_position)
    largest = names[-1]
    listed = set(names)
    after = walk_position(last_walked)
    missing = set()
    for name in {last_walked, largest}:
        for cut in range(max(len(prefix), 1), len(name)):
            candidate = name[:cut]
            if candidate in listed or candidate.endswith("/"):
                continue
            if candidate < marker or (candidate == marker and version_marker is None):
                continue  # already listed by an earlier page
            if walk_position(candidate) > after:
                missing.add(candidate)
    frontier = min(missing | {last_walked, largest})
    return frontier, frontier in missing
