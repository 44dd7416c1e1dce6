"""Admin API for thumbnails: a small picture of an object version, for lists and pages
that must not load the original (``gateway.thumbnails`` makes and caches them).

    GET /api/v1/thumbnails/{bucket}/{key}?versionId=V&size=small|large

answers the image bytes (``image/webp``; ``image/jpeg`` where Pillow lacks WebP), at most
256 (small, the default) or 1024 (large) pixels on the longer side, never enlarged; for
a video, its first frame. Headers: ``ETag`` (the version and size: a request with a
matching ``If-None-Match`` answers 304) and ``Cache-Control: private`` (kept for a day
when ``versionId`` names the version, revalidated otherwise, as the current version can
change).

Errors are ``{"error": {"code", "message"}}``: 404 ``NoSuchKey`` (no such version in the
catalog), 404 ``NoThumbnail`` (audio, PDF and other types: the message says why), 415
``UnsupportedMediaType`` (the bytes are not the image or video the record says: truncated,
corrupt, a decompression bomb, too many pixels, too large), 400 ``InvalidArgument`` (a
bad ``size``). Any reader in whose scope the bucket is may ask; the quarantine bucket's
objects (``{quarantine}/{bucket}/{key}``) are shown to reviewers and above only. The
bytes are read through the gatekeeper, as every read is.
"""

from __future__ import annotations

import functools

from aiohttp import web

from gateway import errors
from gateway.admin.auth import query_values, require
from gateway.catalog import Catalog
from gateway.gatekeeper.gatekeeper import QUARANTINE_ROLE, Gatekeeper
from gateway.thumbnails.service import Thumbnails, parse_size

PARAMETERS = ("versionId", "size")


def media_types(record: dict) -> tuple[str | None, str | None]:
    """The type a version was sent as, and the one ExifTool found in its bytes."""
    return record.get("content_type"), (record.get("media") or {}).get("detected_type")


def add_thumbnail_routes(app: web.Application, *, gatekeeper: Gatekeeper, catalog: Catalog,
                         thumbnails: Thumbnails) -> None:
    async def show(request: web.Request) -> web.Response:
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        quarantined = bool(gatekeeper.quarantine_bucket) and bucket == gatekeeper.quarantine_bucket
        require(request, role=QUARANTINE_ROLE if quarantined else "reader", bucket=bucket)
        params = query_values(request, PARAMETERS)
        size = parse_size(params.get("size"))
        asked = params.get("versionId")
        entry = catalog.version(bucket, key, asked)
        if entry is None:
            raise errors.NoSuchKey(f"no asset {bucket}/{key}"
                                   + (f" version {asked}" if asked else ""))
        version_id = entry["version_id"]
        headers = {"ETag": thumbnails.etag(bucket, key, version_id, size),
                   "Cache-Control": "private, max-age=86400" if asked else "private, no-cache"}
        # The browser's copy is this version's: nothing to read or make.
        if headers["ETag"] in (t.strip() for t in request.headers.get("If-None-Match", "").split(",")):
            return web.Response(status=304, headers=headers)
        opener = functools.partial(gatekeeper.open_object, bucket, key, version_id=version_id)
        made = await thumbnails.get(bucket, key, version_id, size,
                                    media_types(entry.get("record") or {}), opener)
        return web.Response(body=made.body, content_type=made.content_type, headers=headers)

    app.router.add_get("/api/v1/thumbnails/{bucket}/{key:.+}", show)
