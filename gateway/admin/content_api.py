"""Admin API for the bytes of a stored version, as the review UI's players need them.

    GET /api/v1/content/{bucket}/{key}?versionId=V     the object (current, or version V)

Reading needs the reader role and the bucket in the caller's scope (the quarantine:
reviewers), as ``/api/v1/assets`` does. ``Range: bytes=first-last`` answers ``206`` with
that span (a ``<video>`` element seeks this way); a range past the end answers ``416``.

What a client wrote is served from the same origin as the UI, so it must never run
there: every answer carries ``Content-Security-Policy: sandbox`` and ``nosniff``, and
only media a browser renders passively (raster images, video, audio) is served
``inline``; everything else (HTML, SVG, scripts, PDFs, ...) is an attachment.
"""

from __future__ import annotations

from aiohttp import web

from gateway.admin.auth import require
from gateway.gatekeeper.gatekeeper import Gatekeeper
from gateway.s3.headers import parse_range

# Types shown in the page rather than downloaded: none of them can carry script.
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/avif")
INLINE_PREFIXES = ("video/", "audio/")
CHUNK_HEADERS = {"Content-Security-Policy": "sandbox; default-src 'none'",
                 "X-Content-Type-Options": "nosniff", "Accept-Ranges": "bytes",
                 "Cache-Control": "private, max-age=300"}


def disposition(content_type: str, key: str) -> str:
    base = content_type.split(";")[0].strip().lower()
    inline = base in INLINE_TYPES or base.startswith(INLINE_PREFIXES)
    name = key.rsplit("/", 1)[-1].replace('"', "").replace("\\", "")
    return f'{"inline" if inline else "attachment"}; filename="{name}"'


def add_content_routes(app: web.Application, gatekeeper: Gatekeeper) -> None:
    async def content(request: web.Request) -> web.StreamResponse:
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        role = "reviewer" if bucket == gatekeeper.quarantine_bucket else "reader"
        require(request, role=role, bucket=bucket)
        version_id = request.query.get("versionId") or None
        wanted = parse_range(request.headers.get("Range"))
        stream = await gatekeeper.open_object(bucket, key, wanted, version_id=version_id)
        try:
            info = stream.info
            content_type = info.attributes.content_type
            reply = web.StreamResponse(status=206 if stream.span else 200, headers={
                **CHUNK_HEADERS, "Content-Type": content_type, "ETag": f'"{info.etag}"',
                "Content-Disposition": disposition(content_type, key)})
            if stream.span:
                first, last = stream.span
                reply.headers["Content-Range"] = f"bytes {first}-{last}/{info.size}"
                reply.content_length = last - first + 1
            else:
                reply.content_length = info.size
            await reply.prepare(request)
            async for piece in stream.body:
                await reply.write(piece)
            await reply.write_eof()
            return reply
        finally:
            await stream.close()

    app.router.add_get("/api/v1/content/{bucket}/{key:.+}", content)
