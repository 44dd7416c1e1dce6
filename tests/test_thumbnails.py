"""Thumbnails (``GET /api/v1/thumbnails/{bucket}/{key}``) end to end, on both backends.

Media are written through a running gateway with boto3; the thumbnails are opened with
Pillow as a browser would show them: real images, of bounded size, of the version asked
for. Hostile media (truncated, corrupt, a decompression bomb, huge dimensions, bytes
that are no image at all) get a clear JSON error and leave the server and the object as
they were. The server's thumbnail cache is small, so the test can see it stay bounded.
"""

from __future__ import annotations

import io
import json
import struct
import urllib.error
import urllib.request
import uuid
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image

from gateway.thumbnails.cache import ThumbnailCache
from tests.conftest import client, storage_section
from tests.support.admin import basic_auth
from tests.support.media import corrupt_png, glb, mp4, pdf, truncated_png, wav
from tests.support.policies import rule, write
from tests.support.server import ADMIN, READER, SCOPED, ProvgateServer

CACHE_BYTES = 60_000
QUARANTINE = "provgate-quarantine"
# Writes to hold-* buckets are held in the quarantine bucket.
HOLD_RULE = rule("held-for-review", "false", match="'object.bucket.startsWith(\"hold-\")'",
                 action='"quarantine"')


@pytest.fixture(scope="module")
def studio(backend_kind, tmp_path_factory, request):
    workdir = tmp_path_factory.mktemp(f"thumbs-{backend_kind}")
    server = ProvgateServer(workdir, storage_section(backend_kind, workdir, request), sections={
        "catalog": {"path": str(workdir / "catalog"), "thumbnails": str(workdir / "thumbs"),
                    "thumbnails_max_bytes": CACHE_BYTES}})
    write(server.policy_dir, "hold.toml", HOLD_RULE)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("thumb-media")
    return {f.name: f for f in (mp4(d), wav(d), pdf(d), glb(d), truncated_png(d), corrupt_png(d))}


@pytest.fixture
def bucket(studio):
    name = f"th-{uuid.uuid4().hex[:12]}"
    client(studio.endpoint).create_bucket(Bucket=name)
    return name


def picture(size, color, fmt="PNG") -> bytes:
    image = Image.new("RGB", size, color)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def fetch(server, bucket, key, identity=ADMIN, headers=None, **params):
    """GET a thumbnail: (status, body bytes, headers)."""
    query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
    url = f"{server.admin}/api/v1/thumbnails/{bucket}/{quote(key)}" + (f"?{query}" if query else "")
    request = urllib.request.Request(url, headers=dict(headers or {}))
    if identity is not None:
        request.add_header("Authorization", basic_auth(identity))
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.read(), dict(reply.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def error_of(body: bytes) -> dict:
    return json.loads(body)["error"]


def shown(body: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(body))
    image.load()
    return image


def put(s3, bucket, key, body, content_type="image/png") -> str:
    return s3.put_object(Bucket=bucket, Key=key, Body=body,
                         ContentType=content_type)["VersionId"]


def test_thumbnails_are_small_images_of_the_version_asked_for(studio, bucket):
    s3 = client(studio.endpoint)
    red = put(s3, bucket, "hero.png", picture((1600, 1200), (200, 20, 20)))
    blue = put(s3, bucket, "hero.png", picture((300, 200), (20, 20, 200), "JPEG"), "image/jpeg")

    status, body, headers = fetch(studio, bucket, "hero.png")
    assert status == 200, body
    assert headers["Content-Type"] in ("image/webp", "image/jpeg")
    assert headers["Cache-Control"].startswith("private")
    current = shown(body)
    assert current.size == (256, 171)                  # the current, blue version
    r, g, b = current.convert("RGB").getpixel((128, 85))
    assert b > 150 and r < 80

    status, body, headers = fetch(studio, bucket, "hero.png", versionId=red)
    assert status == 200
    older = shown(body)
    assert older.size == (256, 192)
    r, g, b = older.convert("RGB").getpixel((128, 96))
    assert r > 150 and b < 80
    assert "max-age" in headers["Cache-Control"] and "private" in headers["Cache-Control"]

    status, body, _ = fetch(studio, bucket, "hero.png", versionId=red, size="large")
    assert status == 200 and shown(body).size == (1024, 768)
    # A picture smaller than the size asked for is not enlarged.
    status, body, _ = fetch(studio, bucket, "hero.png", versionId=blue, size="large")
    assert status == 200 and shown(body).size == (300, 200)

    status, _, again = fetch(studio, bucket, "hero.png", versionId=red,
                             headers={"If-None-Match": headers["ETag"]})
    assert status == 304 and again["ETag"] == headers["ETag"]
    assert fetch(studio, bucket, "hero.png", versionId=blue)[2]["ETag"] != headers["ETag"]

    status, body, _ = fetch(studio, bucket, "hero.png", size="huge")
    assert status == 400 and error_of(body)["code"] == "InvalidArgument"
    status, body, _ = fetch(studio, bucket, "missing.png")
    assert status == 404 and error_of(body)["code"] == "NoSuchKey"
    status, body, _ = fetch(studio, bucket, "hero.png", versionId="no-such-version")
    assert status == 404 and error_of(body)["code"] == "NoSuchKey"


def test_video_has_a_poster_frame_pdf_its_first_page_other_media_say_why_not(studio, bucket, media):
    s3 = client(studio.endpoint)
    for fixture in media.values():
        put(s3, bucket, fixture.path.name, fixture.path.read_bytes(), fixture.content_type)

    status, body, headers = fetch(studio, bucket, media["mp4"].path.name)
    assert status == 200, body
    poster = shown(body)
    assert poster.size == (64, 48)            # the video's own frame size: not enlarged
    assert len(poster.convert("RGB").getcolors(1 << 16)) > 10    # testsrc: a picture, not a blank

    # The brief's one page (120 × 160 points), drawn to fit the thumbnail.
    status, body, _ = fetch(studio, bucket, media["pdf"].path.name)
    assert status == 200, body
    page = shown(body)
    assert page.size == (192, 256)
    assert page.convert("RGB").getpixel((96, 128))[0] > 200     # the page is near white

    for name, says in (("wav", "audio"), ("glb", "model/gltf-binary")):
        status, body, headers = fetch(studio, bucket, media[name].path.name)
        assert status == 404, name
        assert headers["Content-Type"].startswith("application/json")
        error = error_of(body)
        assert error["code"] == "NoThumbnail" and says in error["message"]


def bomb_png(width: int, height: int) -> bytes:
    """A real 1-bit PNG of ``width`` × ``height`` white pixels: a few kB that decode to
    far more pixels than any thumbnail is made of."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    row = b"\0" + b"\xff" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
            + chunk(b"IEND", b""))


def huge_dimensions_png() -> bytes:
    """A PNG header claiming 100000 × 100000 pixels, and almost no data."""
    png = bomb_png(8, 8)
    return png[:16] + struct.pack(">II", 100_000, 100_000) + png[24:29] + \
        struct.pack(">I", zlib.crc32(png[12:16] + struct.pack(">II", 100_000, 100_000)
                                     + png[24:29]) & 0xFFFFFFFF) + png[33:]


def test_hostile_media_get_a_clear_error_and_nothing_is_lost(studio, bucket, media):
    s3 = client(studio.endpoint)
    hostile = {
        "truncated.png": media["truncated_png"].path.read_bytes(),
        "corrupt.png": media["corrupt_png"].path.read_bytes(),
        "bomb.png": bomb_png(10_000, 10_000),
        "huge.png": huge_dimensions_png(),
        "words.png": b"this is a shopping list, not a picture\n" * 50,
    }
    for key, body in hostile.items():
        put(s3, bucket, key, body)
    put(s3, bucket, "fake.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\xde\xad" * 4000, "video/mp4")
    put(s3, bucket, "fake.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n" + b"\xff" * 3000,
        "application/pdf")
    put(s3, bucket, "fine.png", picture((640, 480), (20, 200, 20)))

    for key in [*hostile, "fake.mp4", "fake.pdf"]:
        for attempt in range(2):            # the second answer comes from the cache
            status, body, headers = fetch(studio, bucket, key)
            assert status == 415, (key, body)
            error = error_of(body)
            assert error["code"] == "UnsupportedMediaType"
            assert error["message"].startswith(f"{bucket}/{key}: "), error
            assert str(studio.workdir) not in error["message"]
    assert "pixels" in error_of(fetch(studio, bucket, "bomb.png")[1])["message"]
    assert "pixels" in error_of(fetch(studio, bucket, "huge.png")[1])["message"]
    assert "sent as image/png, but the bytes are text/plain" in error_of(
        fetch(studio, bucket, "words.png")[1])["message"]

    # The server is fine and the objects are as they were written.
    status, body, _ = fetch(studio, bucket, "fine.png")
    assert status == 200 and shown(body).size == (256, 192)
    for key, written in hostile.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == written


def test_the_cache_stays_within_its_bound(studio, bucket):
    s3 = client(studio.endpoint)
    noisy = {}
    for n in range(12):
        image = Image.effect_noise((400, 300), 40 + n).convert("RGB")
        out = io.BytesIO()
        image.save(out, "PNG")
        noisy[f"noise-{n}.png"] = put(s3, bucket, f"noise-{n}.png", out.getvalue())
    first = fetch(studio, bucket, "noise-0.png")[1]
    served = 0
    for key in noisy:
        status, body, _ = fetch(studio, bucket, key)
        assert status == 200 and shown(body).size == (256, 192)
        served += len(body)
    assert served > 2 * CACHE_BYTES          # more than fits: some must have been evicted
    cache = Path(studio.workdir) / "thumbs"
    stored = sum(p.stat().st_size for p in cache.iterdir() if p.is_file())
    assert 0 < stored <= CACHE_BYTES
    # What was evicted is made again, the same picture.
    status, body, _ = fetch(studio, bucket, "noise-0.png")
    assert status == 200 and body == first


def test_only_callers_who_may_see_the_object_get_its_thumbnail(studio, bucket):
    s3 = client(studio.endpoint)
    put(s3, bucket, "a.png", picture((64, 48), (1, 2, 3)))
    assert fetch(studio, bucket, "a.png", identity=None)[0] == 401
    status, body, _ = fetch(studio, bucket, "a.png", identity=SCOPED)
    assert status == 403 and error_of(body)["code"] == "AccessDenied"
    assert fetch(studio, bucket, "a.png", identity=READER)[0] == 200

    hold = f"hold-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=hold)
    s3.put_object(Bucket=hold, Key="held.png", Body=picture((64, 48), (9, 9, 9)),
                  ContentType="image/png")          # held: kept in the quarantine bucket
    status, body, _ = fetch(studio, QUARANTINE, f"{hold}/held.png", identity=READER)
    assert status == 403 and error_of(body)["code"] == "AccessDenied"
    status, body, _ = fetch(studio, QUARANTINE, f"{hold}/held.png")
    assert status == 200 and shown(body).size == (64, 48)


def test_the_least_recently_viewed_go_first_also_after_a_restart(tmp_path):
    cache = ThumbnailCache(tmp_path / "thumbs", max_bytes=300)
    for name in ("a", "b", "c"):
        cache.put(name, name.encode() * 100)
    assert cache.get("a") == (b"a" * 100, None)          # a is now the most recent
    cache.put("d", b"d" * 100)
    assert cache.get("b") == (None, None)                # b was the least recently viewed
    assert [cache.get(n)[0][:1] for n in ("c", "a", "d")] == [b"c", b"a", b"d"]

    again = ThumbnailCache(tmp_path / "thumbs", max_bytes=200)   # restarted, smaller
    assert again.get("c") == (None, None)                # the oldest view goes
    assert again.get("a")[0] == b"a" * 100 and again.get("d")[0] == b"d" * 100
    again.put("e", reason="the bytes are not an image")
    assert again.get("e") == (None, "the bytes are not an image")
    assert sum(p.stat().st_size for p in (tmp_path / "thumbs").iterdir() if p.is_file()) <= 200
    again.put("huge", b"x" * 500)                         # larger than the whole cache
    assert again.get("huge") == (None, None)
