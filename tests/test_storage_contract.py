"""The storage backend contract, run against every backend.

Each test runs on the embedded ``fs`` backend (a temporary directory) and on the ``s3``
backend over a real SeaweedFS (``--backend fs|s3`` narrows it). They speak only the
``StorageBackend`` interface and assert behaviour a client can observe: bytes, keys,
listings, attributes, preconditions, ranges, multipart uploads, errors. A few tests at
the end concern the s3 backend alone: upstream outage and recovery, stalls, large files,
and its key encoding.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import random
import time
import uuid
from pathlib import Path

import pytest

from gateway import errors
from gateway.config import StorageConfig
from gateway.storage.base import (MIN_PART_SIZE, ByteRange, ObjectAttributes, StorageBackend,
                                  multipart_etag)
from tests.support.faults import CuttingProxy

MiB = 1 << 20
BACKENDS = ("fs", "s3")


# -- harness ----------------------------------------------------------------------------
class Harness:
    """A started backend and the event loop it lives on."""

    def __init__(self, backend: StorageBackend) -> None:
        self.backend = backend
        self.runner = asyncio.Runner()
        self.runner.run(backend.start())

    def run(self, coro):
        return self.runner.run(coro)

    def close(self) -> None:
        try:
            self.runner.run(self.backend.close())
        finally:
            self.runner.close()


def s3_backend(weed, tmp_path: Path, **options):
    from gateway.storage.s3 import S3Backend
    config = StorageConfig(kind="s3", endpoint=weed.endpoint, region=weed.region,
                           access_key=weed.access_key, secret=weed.secret,
                           bucket_prefix=f"ct{uuid.uuid4().hex[:6]}-",
                           timeout=options.pop("timeout", 10.0))
    if "endpoint" in options:                  # e.g. a fault-injecting proxy in front
        config.endpoint = options.pop("endpoint")
    return S3Backend(config, spool_dir=tmp_path / "spool", **options)


def _chosen_backends(config) -> list[str]:
    chosen = config.getoption("backend", default=None)
    return [b for b in BACKENDS if not chosen or b in chosen]


def pytest_generate_tests(metafunc):  # noqa: D103 — module-level hook, pytest calls it
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", _chosen_backends(metafunc.config), indirect=True)


@pytest.fixture
def backend(request, tmp_path):
    if request.param == "fs":
        from gateway.storage.fs import FsBackend
        instance = FsBackend(tmp_path / "data")
    else:
        instance = s3_backend(request.getfixturevalue("seaweedfs"), tmp_path)
    harness = Harness(instance)
    yield harness
    harness.close()


def contract(test):
    """Write a test as ``async def test_x(b, ...)`` taking the backend first; it runs once
    per backend on the harness's event loop."""
    @functools.wraps(test)
    def run(backend: Harness, **fixtures):
        backend.run(test(backend.backend, **fixtures))

    signature = inspect.signature(test)
    first, *rest = signature.parameters.values()
    run.__signature__ = signature.replace(parameters=[first.replace(name="backend"), *rest])
    return run


# -- helpers ----------------------------------------------------------------------------
async def new_bucket(b: StorageBackend) -> str:
    name = f"ct-{uuid.uuid4().hex[:12]}"
    await b.create_bucket(name)
    return name


async def stage(b: StorageBackend, data: bytes, checksums: dict[str, str] | None = None):
    path = b.spool_dir / f"test-{uuid.uuid4().hex}"
    path.write_bytes(data)
    return await b.stage_file(path, len(data), hashlib.md5(data).hexdigest(), checksums or {})


async def put(b: StorageBackend, bucket: str, key: str, data: bytes,
              attributes: ObjectAttributes | None = None, **conditions):
    staged = await stage(b, data)
    try:
        return await b.commit(bucket, key, staged, attributes or ObjectAttributes(), **conditions)
    finally:
        await staged.discard()


async def read(b: StorageBackend, bucket: str, key: str, byte_range: ByteRange | None = None):
    stream = await b.open_object(bucket, key, byte_range)
    try:
        return stream, b"".join([chunk async for chunk in stream.body])
    finally:
        await stream.close()


async def list_all(b: StorageBackend, bucket: str, **kwargs) -> list[str]:
    page = await b.list_objects(bucket, **kwargs)
    assert not page.truncated
    return [o.key for o in page.objects]


def utf8_sorted(keys) -> list[str]:
    return sorted(keys, key=lambda k: k.encode("utf-8"))


class Body:
    """A part body as the S3 layer hands it over: verified while read, checksums after."""

    def __init__(self, data: bytes, *, declare_length: bool = True, fail_at_end: bool = False,
                 checksums: dict[str, str] | None = None, chunk: int = 256 * 1024) -> None:
        self.data = data
        self.length = len(data) if declare_length else None
        self.checksums: dict[str, str] = {}
        self.md5_hex = ""
        self._final_checksums = checksums or {}
        self._fail = fail_at_end
        self._chunk = chunk

    async def _chunks(self):
        for offset in range(0, len(self.data), self._chunk):
            await asyncio.sleep(0)
            yield self.data[offset:offset + self._chunk]
        if self._fail:
            raise errors.BadDigest("checksum mismatch at the end of the body")
        self.checksums = dict(self._final_checksums)
        self.md5_hex = hashlib.md5(self.data).hexdigest()

    def __aiter__(self):
        return self._chunks()


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


# -- bytes and keys ---------------------------------------------------------------------
@pytest.mark.parametrize("size", [0, 1, MiB + 3, 9 * MiB + 17])
@contract
async def test_bytes_round_trip(b: StorageBackend, size):
    bucket = await new_bucket(b)
    data = payload(size, size)
    before = int(time.time())                  # Last-Modified has whole seconds
    info = await put(b, bucket, "blob.bin", data)
    after = time.time()
    assert info.size == size and info.etag == hashlib.md5(data).hexdigest()
    head = await b.head_object(bucket, "blob.bin")
    assert (head.size, head.etag, head.parts_count) == (size, info.etag, None)
    assert before <= head.last_modified <= after     # stamped by this write, not another
    stream, body = await read(b, bucket, "blob.bin")
    assert body == data and stream.span is None and stream.info.etag == info.etag
    [listed] = (await b.list_objects(bucket)).objects
    assert (listed.key, listed.size, listed.etag) == ("blob.bin", size, info.etag)


KEYS = ["with space", "plus+sign", "percent%20literal", "amp&er", 'quote"d', "é", "日本/語",
        "emoji 🎉", "a/b/../c", "a/./b", "a//b", "/leading", "trailing/", ".", "..",
        "back\\slash", "tab\tand\nnewline", "~tilde", "[brackets]", "$dollar!bang",
        "a", "a/b", "a/b/c", "x" * 300, "/".join(["deep"] * 40), "é" * 150 + "/end"]


@contract
async def test_keys_with_any_utf8_round_trip(b: StorageBackend):
    bucket = await new_bucket(b)
    for n, key in enumerate(KEYS):
        await put(b, bucket, key, key.encode() + bytes([n]))
    for n, key in enumerate(KEYS):
        assert (await b.head_object(bucket, key)).key == key
        assert (await read(b, bucket, key))[1] == key.encode() + bytes([n])
    assert await list_all(b, bucket) == utf8_sorted(KEYS)
    for key in KEYS:
        await b.delete_object(bucket, key)
    assert await list_all(b, bucket) == []


# On the s3 backend most of these exceed the upstream's limits once encoded (a component
# over 255 bytes, a key over 1024): they are stored under digest names. Keys sharing
# their first ~990 encoded bytes are the one case where its listing order may differ.
LONG_KEYS = ["k/" + "é" * 511, "k" * 1024, "." * 1024, "a/" * 512, "日" * 341,
             "é" * 400 + "/tail", "é" * 400 + "/tail2", "k" * 600 + "/x"]


@contract
async def test_keys_up_to_1024_bytes(b: StorageBackend):
    bucket = await new_bucket(b)
    assert all(len(k.encode()) <= 1024 for k in LONG_KEYS)
    for key in LONG_KEYS + ["k", "k/short"]:
        await put(b, bucket, key, key.encode()[-50:])
    for key in LONG_KEYS:
        assert (await read(b, bucket, key))[1] == key.encode()[-50:]
        assert (await b.head_object(bucket, key)).key == key
    everything = utf8_sorted(LONG_KEYS + ["k", "k/short"])
    assert await list_all(b, bucket) == everything
    assert (await all_pages(b, bucket, max_keys=2))[0] == everything
    assert await list_all(b, bucket, prefix="é" * 400) == ["é" * 400 + "/tail", "é" * 400 + "/tail2"]
    assert await list_all(b, bucket, prefix="k" * 500) == ["k" * 600 + "/x", "k" * 1024]
    assert await list_all(b, bucket, prefix="k" * 900) == ["k" * 1024]
    assert await list_all(b, bucket, start_after="é" * 400 + "/tail") == \
        ["é" * 400 + "/tail2", "日" * 341]
    page = await b.list_objects(bucket, prefix="k", delimiter="/")
    assert page.common_prefixes == ["k/", "k" * 600 + "/"]
    for key in LONG_KEYS:
        await b.delete_object(bucket, key)
    assert await list_all(b, bucket) == ["k", "k/short"]


# -- listing ----------------------------------------------------------------------------
LISTED = ["a", "a b", "a-c", "a.b", "a/b", "a/b/c", "a/b/d", "a/b-c", "a/bc", "a0", "b",
          "b/x", "é", "日本/x", "🎉"]


async def listed_bucket(b: StorageBackend) -> str:
    bucket = await new_bucket(b)
    for key in LISTED:
        await put(b, bucket, key, b"x")
    return bucket


async def all_pages(b: StorageBackend, bucket: str, **kwargs) -> tuple[list[str], list[str], int]:
    objects, prefixes, pages = [], [], 0
    start_after = kwargs.pop("start_after", "")
    while True:
        page = await b.list_objects(bucket, start_after=start_after, **kwargs)
        pages += 1
        objects += [o.key for o in page.objects]
        prefixes += page.common_prefixes
        assert len(page.objects) + len(page.common_prefixes) <= kwargs.get("max_keys", 1000)
        if not page.truncated:
            return objects, prefixes, pages
        start_after = page.last


@contract
async def test_listing_is_in_utf8_byte_order(b: StorageBackend):
    bucket = await listed_bucket(b)
    assert await list_all(b, bucket) == utf8_sorted(LISTED)


@contract
async def test_listing_prefix_delimiter_and_start_after(b: StorageBackend):
    bucket = await listed_bucket(b)
    assert await list_all(b, bucket, prefix="a/") == ["a/b", "a/b-c", "a/b/c", "a/b/d", "a/bc"]
    assert await list_all(b, bucket, prefix="a/b") == ["a/b", "a/b-c", "a/b/c", "a/b/d", "a/bc"]
    assert await list_all(b, bucket, prefix="zzz") == []
    page = await b.list_objects(bucket, delimiter="/")
    assert [o.key for o in page.objects] == ["a", "a b", "a-c", "a.b", "a0", "b", "é", "🎉"]
    assert page.common_prefixes == ["a/", "b/", "日本/"]
    page = await b.list_objects(bucket, prefix="a/", delimiter="/")
    assert [o.key for o in page.objects] == ["a/b", "a/b-c", "a/bc"]
    assert page.common_prefixes == ["a/b/"]
    page = await b.list_objects(bucket, delimiter="b")
    assert [o.key for o in page.objects] == ["a", "a-c", "a0", "é", "日本/x", "🎉"]
    assert page.common_prefixes == ["a b", "a.b", "a/b", "b"]
    assert await list_all(b, bucket, start_after="a/b") == utf8_sorted(LISTED)[5:]
    assert await list_all(b, bucket, start_after="a/b/c", prefix="a/") == ["a/b/d", "a/bc"]
    assert await list_all(b, bucket, start_after="🎉") == []
    assert await list_all(b, bucket, start_after="0", prefix="b") == ["b", "b/x"]
    page = await b.list_objects(bucket, delimiter="/", start_after="a/")  # a prefix as marker
    assert page.common_prefixes == ["b/", "日本/"] and "a/b" not in [o.key for o in page.objects]


@pytest.mark.parametrize("max_keys", [1, 2, 3, 7])
@contract
async def test_listing_pages_add_up(b: StorageBackend, max_keys):
    bucket = await listed_bucket(b)
    objects, prefixes, pages = await all_pages(b, bucket, max_keys=max_keys)
    assert objects == utf8_sorted(LISTED) and prefixes == []
    assert pages == -(-len(LISTED) // max_keys)
    objects, prefixes, _ = await all_pages(b, bucket, max_keys=max_keys, delimiter="/")
    assert objects == ["a", "a b", "a-c", "a.b", "a0", "b", "é", "🎉"]
    assert prefixes == ["a/", "b/", "日本/"]
    page = await b.list_objects(bucket, max_keys=max_keys)
    assert page.truncated and page.last == page.objects[-1].key


# -- attributes, tags -------------------------------------------------------------------
@contract
async def test_attributes_and_tags_round_trip(b: StorageBackend):
    bucket = await new_bucket(b)
    attributes = ObjectAttributes(
        content_type="image/png",
        content_headers={"Cache-Control": "max-age=60", "Content-Disposition":
                         'attachment; filename="cat 01.png"', "Content-Encoding": "gzip",
                         "Content-Language": "de-CH", "Expires": "Wed, 21 Oct 2037 07:28:00 GMT"},
        user_metadata={"prompt": "a cat, in the rain", "model": "Grüße 日本 🎉",
                       "spaced": "  padded  ", "encoded-looking": "=?UTF-8?B?eA==?=",
                       "~provgate": "mine", "~tilde": "t", "empty": ""},
        tags={"review": "pending", "team": "créa tive"}, owner="alice")
    data = b"\x1f\x8b not really gzip"
    staged = await stage(b, data, {"CRC32": "AAAAAA=="})
    info = await b.commit(bucket, "cat.png", staged, attributes)
    await staged.discard()
    assert info.checksums == {"CRC32": "AAAAAA=="}
    for got in (await b.head_object(bucket, "cat.png"), (await read(b, bucket, "cat.png"))[0].info):
        assert got.attributes.content_type == "image/png"
        assert got.attributes.content_headers == attributes.content_headers
        assert got.attributes.user_metadata == attributes.user_metadata
        assert got.attributes.tags == attributes.tags
        assert got.attributes.owner == "alice"
        assert got.checksums == {"CRC32": "AAAAAA=="}
        assert got.etag == hashlib.md5(data).hexdigest()
    assert (await read(b, bucket, "cat.png"))[1] == data  # Content-Encoding never decoded
    tagged = await b.set_tags(bucket, "cat.png", {"review": "approved"})
    assert tagged.attributes.tags == {"review": "approved"}
    assert tagged.attributes.user_metadata == attributes.user_metadata
    assert (await b.set_tags(bucket, "cat.png", {})).attributes.tags == {}
    assert (await b.head_object(bucket, "cat.png")).attributes.tags == {}
    with pytest.raises(errors.NoSuchKey):
        await b.set_tags(bucket, "missing", {"a": "b"})


@contract
async def test_overwrite_replaces_bytes_and_attributes(b: StorageBackend):
    bucket = await new_bucket(b)
    await put(b, bucket, "k", b"one", ObjectAttributes(user_metadata={"a": "1"}, tags={"t": "1"}))
    await put(b, bucket, "k", b"two", ObjectAttributes(content_type="text/plain"))
    head = await b.head_object(bucket, "k")
    assert head.attributes.user_metadata == {} and head.attributes.tags == {}
    assert head.attributes.content_type == "text/plain"
    assert (await read(b, bucket, "k"))[1] == b"two"


# -- preconditions ----------------------------------------------------------------------
@contract
async def test_conditional_commit(b: StorageBackend):
    bucket = await new_bucket(b)
    first = await put(b, bucket, "k", b"first", if_none_match=True)
    with pytest.raises(errors.PreconditionFailed):
        await put(b, bucket, "k", b"second", if_none_match=True)
    with pytest.raises(errors.PreconditionFailed):
        await put(b, bucket, "k", b"second", if_match="0" * 32)
    second = await put(b, bucket, "k", b"second", if_match=first.etag)
    assert (await read(b, bucket, "k"))[1] == b"second"
    with pytest.raises(errors.PreconditionFailed):
        await put(b, bucket, "k", b"third", if_match=first.etag)
    with pytest.raises((errors.NoSuchKey, errors.PreconditionFailed)):
        await put(b, bucket, "absent", b"x", if_match=second.etag)
    assert await list_all(b, bucket) == ["k"]
    assert (await b.head_object(bucket, "k")).etag == second.etag


@contract
async def test_concurrent_create_only_commits_have_one_winner(b: StorageBackend):
    bucket = await new_bucket(b)
    staged = [await stage(b, f"writer {n}".encode()) for n in range(6)]
    outcomes = await asyncio.gather(*(
        b.commit(bucket, "race", s, ObjectAttributes(), if_none_match=True) for s in staged),
        return_exceptions=True)
    for s in staged:
        await s.discard()
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, errors.PreconditionFailed) for o in outcomes if o not in winners)
    assert (await b.head_object(bucket, "race")).etag == winners[0].etag


# -- ranges -----------------------------------------------------------------------------
@contract
async def test_ranges(b: StorageBackend):
    bucket = await new_bucket(b)
    data = payload(3 * MiB + 5, 7)
    await put(b, bucket, "r", data)
    size = len(data)
    for byte_range, span in [(ByteRange(0, 0), (0, 0)), (ByteRange(10, 19), (10, 19)),
                             (ByteRange(MiB, None), (MiB, size - 1)),
                             (ByteRange(None, 100), (size - 100, size - 1)),
                             (ByteRange(size - 3, size + 500), (size - 3, size - 1)),
                             (ByteRange(None, size * 2), (0, size - 1))]:
        stream, body = await read(b, bucket, "r", byte_range)
        assert stream.span == span and stream.info.size == size
        assert body == data[span[0]:span[1] + 1]
    for bad in (ByteRange(size, None), ByteRange(size + 10, size + 20)):
        with pytest.raises(errors.InvalidRange):
            await read(b, bucket, "r", bad)
    await put(b, bucket, "empty", b"")
    with pytest.raises(errors.InvalidRange):
        await read(b, bucket, "empty", ByteRange(0, 10))


@contract
async def test_reader_may_stop_early(b: StorageBackend):
    bucket = await new_bucket(b)
    data = payload(4 * MiB, 3)
    await put(b, bucket, "big", data)
    for _ in range(3):  # connections or files are given back, not leaked
        stream = await b.open_object(bucket, "big")
        first = await anext(aiter(stream.body))
        assert data.startswith(first)
        await stream.close()
    assert (await read(b, bucket, "big"))[1] == data


# -- multipart --------------------------------------------------------------------------
async def upload_parts(b, bucket, key, sizes, seed=0):
    upload_id = await b.create_upload(bucket, key, ObjectAttributes(
        content_type="video/mp4", user_metadata={"prompt": "a film"}, owner="bob"), "bob")
    datas = []
    for number, size in enumerate(sizes, 1):
        data = payload(size, seed + number)
        part = await b.upload_part(bucket, key, upload_id, number, Body(data))
        assert part.etag == hashlib.md5(data).hexdigest() and part.size == size
        datas.append(data)
    return upload_id, datas


@contract
async def test_multipart_upload_commit(b: StorageBackend):
    bucket = await new_bucket(b)
    upload_id, datas = await upload_parts(b, bucket, "film.mp4", [MIN_PART_SIZE, MIN_PART_SIZE, 1234])
    replacement = payload(MIN_PART_SIZE + 1, 99)  # the same part number, uploaded again
    await b.upload_part(bucket, "film.mp4", upload_id, 2,
                        Body(replacement, checksums={"CRC32": "q83vEg=="}))
    datas[1] = replacement
    parts = await b.list_parts(bucket, "film.mp4", upload_id)
    assert [(p.number, p.size) for p in parts] == [(1, MIN_PART_SIZE), (2, MIN_PART_SIZE + 1), (3, 1234)]
    assert parts[1].checksums == {"CRC32": "q83vEg=="} and parts[0].checksums == {}
    upload = await b.get_upload(bucket, "film.mp4", upload_id)
    assert (upload.key, upload.owner, upload.attributes.content_type) == ("film.mp4", "bob", "video/mp4")
    [listed] = await b.list_uploads(bucket, "film")
    assert listed.upload_id == upload_id and listed.attributes.user_metadata == {"prompt": "a film"}

    staged = await b.assemble_upload(bucket, "film.mp4", upload_id,
                                     [(p.number, p.etag) for p in parts])
    expected_etag = multipart_etag(parts)
    assert staged.md5_hex == expected_etag and expected_etag.endswith("-3")
    assert staged.size == sum(len(d) for d in datas) and staged.parts_count == 3
    # Intake inspects the staged object before it becomes visible.
    assert b"".join([c async for c in staged.read()]) == b"".join(datas)
    with pytest.raises(errors.NoSuchKey):
        await b.head_object(bucket, "film.mp4")
    assert await list_all(b, bucket) == []

    info = await b.commit(bucket, "film.mp4", staged, upload.attributes)
    await staged.discard()
    await b.finish_upload(bucket, "film.mp4", upload_id)
    assert info.etag == expected_etag and info.parts_count == 3
    head = await b.head_object(bucket, "film.mp4")
    assert (head.etag, head.size, head.parts_count) == (expected_etag, staged.size, 3)
    assert head.attributes.user_metadata == {"prompt": "a film"}
    assert (await read(b, bucket, "film.mp4"))[1] == b"".join(datas)
    assert await list_all(b, bucket) == ["film.mp4"]
    assert await b.list_uploads(bucket) == []
    with pytest.raises(errors.NoSuchUpload):
        await b.get_upload(bucket, "film.mp4", upload_id)
    # The version keeps its parts (GET ?partNumber=, GetObjectAttributes); a later version
    # written whole has none, and the earlier one still has its own.
    expected_parts = [(1, MIN_PART_SIZE, {}), (2, MIN_PART_SIZE + 1, {"CRC32": "q83vEg=="}),
                      (3, 1234, {})]
    assert [(p.number, p.size, p.checksums) for p in await b.object_parts(bucket, "film.mp4")] \
        == expected_parts
    await put(b, bucket, "film.mp4", b"whole")
    assert await b.object_parts(bucket, "film.mp4") is None
    assert [(p.number, p.size, p.checksums) for p in
            await b.object_parts(bucket, "film.mp4", info.version_id)] == expected_parts
    with pytest.raises(errors.NoSuchKey):
        await b.object_parts(bucket, "absent")


@contract
async def test_multipart_completion_errors(b: StorageBackend):
    bucket = await new_bucket(b)
    upload_id, _ = await upload_parts(b, bucket, "k", [MIN_PART_SIZE - 1, 10, 10])
    parts = await b.list_parts(bucket, "k", upload_id)
    etags = {p.number: p.etag for p in parts}
    with pytest.raises(errors.InvalidPart):
        await b.assemble_upload(bucket, "k", upload_id, [(1, etags[1]), (2, "0" * 32)])
    with pytest.raises(errors.InvalidPart):
        await b.assemble_upload(bucket, "k", upload_id, [(1, etags[1]), (4, etags[2])])
    with pytest.raises(errors.InvalidPartOrder):
        await b.assemble_upload(bucket, "k", upload_id, [(2, etags[2]), (1, etags[1])])
    with pytest.raises(errors.EntityTooSmall):
        await b.assemble_upload(bucket, "k", upload_id, [(1, etags[1]), (2, etags[2])])
    staged = await b.assemble_upload(bucket, "k", upload_id, [(2, f'"{etags[2]}"')])
    assert staged.size == 10  # a lone small part is a valid (last) part
    await staged.discard()
    await b.abort_upload(bucket, "k", upload_id)
    with pytest.raises(errors.NoSuchUpload):
        await b.list_parts(bucket, "k", upload_id)
    assert await list_all(b, bucket) == []


@contract
async def test_upload_ids_are_scoped(b: StorageBackend):
    bucket = await new_bucket(b)
    upload_id, _ = await upload_parts(b, bucket, "k", [10])
    for key, uid in [("other", upload_id), ("k", "0" * 32), ("k", "../../etc"), ("k", "")]:
        with pytest.raises(errors.NoSuchUpload):
            await b.get_upload(bucket, key, uid)
    with pytest.raises(errors.NoSuchUpload):
        await b.upload_part(bucket, "other", upload_id, 1, Body(b"x"))
    second, _ = await upload_parts(b, bucket, "j/k", [10])
    assert [u.key for u in await b.list_uploads(bucket)] == ["j/k", "k"]
    assert [u.upload_id for u in await b.list_uploads(bucket, "j/")] == [second]


@contract
async def test_refused_complete_leaves_the_upload_open(b: StorageBackend):
    bucket = await new_bucket(b)
    upload_id, datas = await upload_parts(b, bucket, "k", [MIN_PART_SIZE, 100])
    parts = [(p.number, p.etag) for p in await b.list_parts(bucket, "k", upload_id)]
    staged = await b.assemble_upload(bucket, "k", upload_id, parts)
    await staged.discard()  # intake refused it: nothing committed
    assert [p.number for p in await b.list_parts(bucket, "k", upload_id)] == [1, 2]
    again = await b.assemble_upload(bucket, "k", upload_id, parts)  # the client retries
    assert again.md5_hex == staged.md5_hex
    await again.discard()
    # ... or sends the last part again and completes with more parts.
    datas[1] = payload(MIN_PART_SIZE, 41)
    await b.upload_part(bucket, "k", upload_id, 2, Body(datas[1]))
    datas.append(b"tail")
    await b.upload_part(bucket, "k", upload_id, 3, Body(b"tail"))
    listed = await b.list_parts(bucket, "k", upload_id)
    assert [(p.number, p.size) for p in listed] == [(1, MIN_PART_SIZE), (2, MIN_PART_SIZE), (3, 4)]
    assert listed[0].etag == parts[0][1]
    final = await b.assemble_upload(bucket, "k", upload_id, [(p.number, p.etag) for p in listed])
    info = await b.commit(bucket, "k", final, ObjectAttributes())
    await final.discard()
    await b.finish_upload(bucket, "k", upload_id)
    assert info.etag == multipart_etag(listed)
    assert (await read(b, bucket, "k"))[1] == b"".join(datas)


@contract
async def test_part_failing_verification_is_not_stored(b: StorageBackend):
    bucket = await new_bucket(b)
    upload_id, _ = await upload_parts(b, bucket, "k", [MiB + 11])
    original = (await b.list_parts(bucket, "k", upload_id))[0]
    for size in (MiB + 11, 2 * MiB, 10):
        with pytest.raises(errors.BadDigest):
            await b.upload_part(bucket, "k", upload_id, 1, Body(payload(size, 5), fail_at_end=True))
        with pytest.raises(errors.BadDigest):
            await b.upload_part(bucket, "k", upload_id, 2, Body(payload(size, 6), fail_at_end=True))
    parts = await b.list_parts(bucket, "k", upload_id)
    assert [(p.number, p.etag) for p in parts] == [(1, original.etag)]


@contract
async def test_part_of_undeclared_length(b: StorageBackend):
    bucket = await new_bucket(b)
    upload_id = await b.create_upload(bucket, "k", ObjectAttributes(), "me")
    data = payload(MiB + 1, 8)
    part = await b.upload_part(bucket, "k", upload_id, 1, Body(data, declare_length=False))
    assert (part.size, part.etag) == (len(data), hashlib.md5(data).hexdigest())
    empty = await b.upload_part(bucket, "k", upload_id, 2, Body(b""))
    assert (empty.size, empty.etag) == (0, hashlib.md5(b"").hexdigest())


@contract
async def test_conditional_commit_of_an_assembled_upload(b: StorageBackend):
    bucket = await new_bucket(b)
    existing = await put(b, bucket, "k", b"old")
    upload_id, datas = await upload_parts(b, bucket, "k", [100])
    parts = [(p.number, p.etag) for p in await b.list_parts(bucket, "k", upload_id)]
    staged = await b.assemble_upload(bucket, "k", upload_id, parts)
    with pytest.raises(errors.PreconditionFailed):
        await b.commit(bucket, "k", staged, ObjectAttributes(), if_none_match=True)
    info = await b.commit(bucket, "k", staged, ObjectAttributes(), if_match=existing.etag)
    await b.finish_upload(bucket, "k", upload_id)
    assert (await read(b, bucket, "k"))[1] == datas[0]
    # If-Match compares the client-visible (multipart) ETag.
    await put(b, bucket, "k", b"newest", if_match=info.etag)


async def as_intake_reads(b: StorageBackend, staged) -> tuple[bytes, str | None]:
    """The staged bytes in the local file intake extracts from, and the SHA-256 they got
    on the way there (None: extraction has to hash the file itself)."""
    from gateway.gatekeeper.pipeline import _LocalCopy
    async with _LocalCopy(b, staged) as path:
        return Path(path).read_bytes(), staged.sha256_hex


@contract
async def test_intake_gets_an_assembled_upload_already_hashed(b: StorageBackend):
    bucket = await new_bucket(b)
    upload_id, datas = await upload_parts(b, bucket, "k", [MIN_PART_SIZE, MIN_PART_SIZE, 1234])
    datas[1] = payload(MIN_PART_SIZE + 5, 77)            # part 2 sent again, other bytes
    await b.upload_part(bucket, "k", upload_id, 2, Body(datas[1]))
    etags = {p.number: p.etag for p in await b.list_parts(bucket, "k", upload_id)}
    staged = await b.assemble_upload(bucket, "k", upload_id, sorted(etags.items()))
    whole = b"".join(datas)
    assert await as_intake_reads(b, staged) == (whole, hashlib.sha256(whole).hexdigest())
    await staged.discard()                               # refused; the client retries ...
    subset = await b.assemble_upload(bucket, "k", upload_id, [(1, etags[1]), (3, etags[3])])
    chosen = datas[0] + datas[2]                         # ... naming fewer parts
    assert await as_intake_reads(b, subset) == (chosen, hashlib.sha256(chosen).hexdigest())
    info = await b.commit(bucket, "k", subset, ObjectAttributes())
    await subset.discard()
    await b.finish_upload(bucket, "k", upload_id)
    assert info.etag == multipart_etag(_parts_of(datas, (1, 3)))
    assert (await read(b, bucket, "k"))[1] == chosen


def _parts_of(datas: list[bytes], numbers) -> list:
    from gateway.storage.base import PartInfo
    return [PartInfo(n, hashlib.md5(datas[n - 1]).hexdigest(), len(datas[n - 1]), 0)
            for n in numbers]


# -- versions ---------------------------------------------------------------------------
async def all_versions(b: StorageBackend, bucket: str, **kwargs) -> tuple[list, list, int]:
    """Every entry of a version listing, paged by its markers: ([(key, version id,
    is_latest, delete_marker)], common prefixes, pages)."""
    entries, prefixes, pages = [], [], 0
    key_marker, version_marker = "", ""
    while True:
        page = await b.list_versions(bucket, key_marker=key_marker,
                                     version_id_marker=version_marker, **kwargs)
        pages += 1
        entries += [(v.key, v.version_id, v.is_latest, v.delete_marker) for v in page.versions]
        prefixes += page.common_prefixes
        assert len(page.versions) + len(page.common_prefixes) <= kwargs.get("max_keys", 1000)
        if not page.truncated:
            assert page.next_key_marker is None
            return entries, prefixes, pages
        key_marker, version_marker = page.next_key_marker, page.next_version_id_marker or ""


def expected_versions(history: dict[str, list[tuple[str, bool]]]) -> list[tuple]:
    """S3's order, from each key's (version id, is delete marker) in commit order: keys
    in UTF-8 order, newest first, the newest one latest."""
    found = []
    for key in utf8_sorted(history):
        newest_first = list(reversed(history[key]))
        found += [(key, vid, n == 0, marker) for n, (vid, marker) in enumerate(newest_first)]
    return found


@contract
async def test_overwrite_keeps_every_version(b: StorageBackend):
    bucket = await new_bucket(b)
    first = await put(b, bucket, "k", b"one", ObjectAttributes(
        content_type="text/plain", user_metadata={"prompt": "a cat"}, tags={"t": "1"}, owner="ann"))
    second = await put(b, bucket, "k", b"two", ObjectAttributes(content_type="image/png"))
    assert first.version_id and second.version_id and first.version_id != second.version_id
    assert (await b.head_object(bucket, "k")).version_id == second.version_id
    old = await b.head_object(bucket, "k", first.version_id)
    assert (old.version_id, old.size, old.etag) == (first.version_id, 3, hashlib.md5(b"one").hexdigest())
    assert old.attributes.user_metadata == {"prompt": "a cat"} and old.attributes.tags == {"t": "1"}
    assert (old.attributes.content_type, old.attributes.owner) == ("text/plain", "ann")
    stream, data = await read_version(b, bucket, "k", first.version_id)
    assert data == b"one" and stream.info.version_id == first.version_id
    assert (await read_version(b, bucket, "k", first.version_id, ByteRange(1, 1)))[1] == b"n"
    assert (await read(b, bucket, "k"))[1] == b"two"
    assert await list_all(b, bucket) == ["k"]
    entries, _, _ = await all_versions(b, bucket)
    assert entries == [("k", second.version_id, True, False), ("k", first.version_id, False, False)]
    page = await b.list_versions(bucket)
    assert [v.size for v in page.versions] == [3, 3] and page.versions[1].etag == old.etag


async def read_version(b, bucket, key, version_id, byte_range=None):
    stream = await b.open_object(bucket, key, byte_range, version_id=version_id)
    try:
        return stream, b"".join([chunk async for chunk in stream.body])
    finally:
        await stream.close()


@contract
async def test_delete_marker_hides_the_key_and_can_be_undone(b: StorageBackend):
    bucket = await new_bucket(b)
    kept = await put(b, bucket, "k", b"kept")
    await put(b, bucket, "other", b"x")
    outcome = await b.delete_object(bucket, "k")
    assert outcome.delete_marker and outcome.version_id not in (None, kept.version_id)
    for call in (lambda: b.head_object(bucket, "k"), lambda: read(b, bucket, "k"),
                 lambda: b.set_tags(bucket, "k", {"a": "b"})):
        with pytest.raises(errors.NoSuchKey) as exc:
            await call()
        assert exc.value.headers == {"x-amz-delete-marker": "true",
                                     "x-amz-version-id": outcome.version_id}
    for call in (lambda: b.head_object(bucket, "k", outcome.version_id),
                 lambda: read_version(b, bucket, "k", outcome.version_id),
                 lambda: b.set_tags(bucket, "k", {"a": "b"}, outcome.version_id)):
        with pytest.raises(errors.MethodNotAllowed) as exc:
            await call()
        assert exc.value.headers["x-amz-delete-marker"] == "true"
        assert exc.value.headers["x-amz-version-id"] == outcome.version_id
    assert await list_all(b, bucket) == ["other"]
    assert (await read_version(b, bucket, "k", kept.version_id))[1] == b"kept"
    entries, _, _ = await all_versions(b, bucket)
    assert entries == [("k", outcome.version_id, True, True), ("k", kept.version_id, False, False),
                       ("other", entries[2][1], True, False)]
    # Removing the marker for good makes the previous version current again.
    undone = await b.delete_object(bucket, "k", outcome.version_id)
    assert (undone.version_id, undone.delete_marker) == (outcome.version_id, True)
    assert (await read(b, bucket, "k"))[1] == b"kept"
    assert (await b.head_object(bucket, "k")).version_id == kept.version_id
    assert await list_all(b, bucket) == ["k", "other"]


@contract
async def test_deleting_a_version_for_good(b: StorageBackend):
    bucket = await new_bucket(b)
    v1, v2, v3 = [await put(b, bucket, "k", data) for data in (b"1", b"2", b"3")]
    middle = await b.delete_object(bucket, "k", v2.version_id)
    assert (middle.version_id, middle.delete_marker) == (v2.version_id, False)
    with pytest.raises(errors.NoSuchVersion):
        await b.head_object(bucket, "k", v2.version_id)
    assert (await read(b, bucket, "k"))[1] == b"3"
    await b.delete_object(bucket, "k", v3.version_id)  # the current one: v1 takes over
    head = await b.head_object(bucket, "k")
    assert (head.version_id, head.etag) == (v1.version_id, hashlib.md5(b"1").hexdigest())
    assert (await all_versions(b, bucket))[0] == [("k", v1.version_id, True, False)]
    again = await b.delete_object(bucket, "k", v3.version_id)  # gone already: not an error
    assert not again.delete_marker
    await b.delete_object(bucket, "k", v1.version_id)
    assert (await all_versions(b, bucket))[0] == [] and await list_all(b, bucket) == []
    with pytest.raises(errors.NoSuchKey) as exc:
        await b.head_object(bucket, "k")
    assert "x-amz-delete-marker" not in exc.value.headers


@contract
async def test_deleting_a_missing_key_adds_a_marker(b: StorageBackend):
    bucket = await new_bucket(b)
    outcome = await b.delete_object(bucket, "never")
    assert outcome.delete_marker and outcome.version_id
    assert (await all_versions(b, bucket))[0] == [("never", outcome.version_id, True, True)]
    assert await list_all(b, bucket) == []


@contract
async def test_unknown_and_malformed_version_ids(b: StorageBackend):
    bucket = await new_bucket(b)
    real = (await put(b, bucket, "k", b"x")).version_id
    unknown = real[:-1] + ("0" if real[-1] != "0" else "1")
    for call in (lambda: b.head_object(bucket, "k", unknown),
                 lambda: read_version(b, bucket, "k", unknown),
                 lambda: b.set_tags(bucket, "k", {"a": "b"}, unknown),
                 lambda: b.head_object(bucket, "missing", unknown)):
        with pytest.raises(errors.NoSuchVersion):
            await call()
    for bad in ("", "../x", "a b", "v\n1", "x" * 1025):
        for call in (lambda: b.head_object(bucket, "k", bad), lambda: read_version(b, bucket, "k", bad),
                     lambda: b.delete_object(bucket, "k", bad),
                     lambda: b.set_tags(bucket, "k", {}, bad)):
            with pytest.raises(errors.InvalidArgument):
                await call()
    assert (await read(b, bucket, "k"))[1] == b"x"
    with pytest.raises(errors.NoSuchBucket):
        await b.head_object(f"ct-missing-{uuid.uuid4().hex[:8]}", "k", unknown)


@contract
async def test_tags_of_one_version(b: StorageBackend):
    bucket = await new_bucket(b)
    old = await put(b, bucket, "k", b"old", ObjectAttributes(tags={"review": "pending"}))
    await put(b, bucket, "k", b"new", ObjectAttributes(tags={"review": "pending"}))
    tagged = await b.set_tags(bucket, "k", {"review": "approved"}, old.version_id)
    assert (tagged.version_id, tagged.attributes.tags) == (old.version_id, {"review": "approved"})
    assert (await b.head_object(bucket, "k")).attributes.tags == {"review": "pending"}
    assert (await b.head_object(bucket, "k", old.version_id)).attributes.tags == {"review": "approved"}
    cleared = await b.set_tags(bucket, "k", {}, old.version_id)
    assert cleared.attributes.tags == {}
    assert (await read_version(b, bucket, "k", old.version_id))[1] == b"old"


@contract
async def test_conditional_commit_sees_the_current_version(b: StorageBackend):
    bucket = await new_bucket(b)
    first = await put(b, bucket, "k", b"1")
    await b.delete_object(bucket, "k")
    with pytest.raises(errors.NoSuchKey):  # a delete marker is no object to match
        await put(b, bucket, "k", b"2", if_match=first.etag)
    again = await put(b, bucket, "k", b"2", if_none_match=True)  # ... nor one to clash with
    with pytest.raises(errors.PreconditionFailed):
        await put(b, bucket, "k", b"3", if_none_match=True)
    await put(b, bucket, "k", b"3", if_match=again.etag)
    assert len((await all_versions(b, bucket))[0]) == 4


@contract
async def test_multipart_commit_is_a_new_version(b: StorageBackend):
    bucket = await new_bucket(b)
    before = await put(b, bucket, "film.mp4", b"draft")
    upload_id, datas = await upload_parts(b, bucket, "film.mp4", [MIN_PART_SIZE, 10])
    parts = [(p.number, p.etag) for p in await b.list_parts(bucket, "film.mp4", upload_id)]
    staged = await b.assemble_upload(bucket, "film.mp4", upload_id, parts)
    info = await b.commit(bucket, "film.mp4", staged, ObjectAttributes())
    await staged.discard()
    await b.finish_upload(bucket, "film.mp4", upload_id)
    assert info.version_id not in (None, before.version_id)
    assert (await b.head_object(bucket, "film.mp4")).version_id == info.version_id
    assert (await read_version(b, bucket, "film.mp4", before.version_id))[1] == b"draft"
    assert (await read(b, bucket, "film.mp4"))[1] == b"".join(datas)
    assert [v[1] for v in (await all_versions(b, bucket))[0]] == [info.version_id, before.version_id]


VERSIONED = ["a", "a b", "a.png", "a.png.xmp", "a/b", "a/b/c", "a0", "b", "é", "日本/x",
             "x" * 300, "é" * 200 + "/tail"]


async def versioned_bucket(b: StorageBackend) -> tuple[str, dict[str, list[tuple[str, bool]]]]:
    """A bucket whose keys have 1-3 versions and some delete markers (seeded), and each
    key's history in commit order."""
    bucket = await new_bucket(b)
    rng = random.Random(11)
    history: dict[str, list[tuple[str, bool]]] = {}
    for round_ in range(3):
        for key in VERSIONED:
            if round_ and rng.random() < 0.4:
                continue
            if round_ and rng.random() < 0.3:
                outcome = await b.delete_object(bucket, key)
                history.setdefault(key, []).append((outcome.version_id, True))
            else:
                info = await put(b, bucket, key, f"{key} {round_}".encode())
                history.setdefault(key, []).append((info.version_id, False))
    return bucket, history


@contract
async def test_version_listing_order_paging_prefix_delimiter(b: StorageBackend):
    bucket, history = await versioned_bucket(b)
    expected = expected_versions(history)
    assert any(e[3] for e in expected) and any(not e[2] for e in expected)
    assert (await all_versions(b, bucket))[0] == expected
    for max_keys in (1, 2, 5):
        entries, prefixes, pages = await all_versions(b, bucket, max_keys=max_keys)
        assert (entries, prefixes) == (expected, []) and pages == -(-len(expected) // max_keys)
    assert (await all_versions(b, bucket, prefix="a."))[0] == [e for e in expected if e[0].startswith("a.")]
    entries, prefixes, _ = await all_versions(b, bucket, delimiter="/", max_keys=2)
    assert prefixes == ["a/", "é" * 200 + "/", "日本/"]
    assert entries == [e for e in expected if "/" not in e[0]]
    entries, prefixes, _ = await all_versions(b, bucket, prefix="a/", delimiter="/")
    assert (entries, prefixes) == ([e for e in expected if e[0] == "a/b"], ["a/b/"])
    live = [k for k in utf8_sorted(history) if not history[k][-1][1]]
    assert await list_all(b, bucket) == live
    assert (await all_pages(b, bucket, max_keys=2))[0] == live
    # Resuming inside a key, after one of its versions.
    at = next(n for n, entry in enumerate(expected) if not entry[2])
    page = await b.list_versions(bucket, key_marker=expected[at][0],
                                 version_id_marker=expected[at][1])
    assert [(v.key, v.version_id) for v in page.versions] == [e[:2] for e in expected[at + 1:]]


@contract
async def test_deleting_a_bucket_purges_what_is_not_current(b: StorageBackend):
    bucket = await new_bucket(b)
    await put(b, bucket, "k", b"1")
    await put(b, bucket, "k", b"2")
    await put(b, bucket, "gone", b"x")
    await b.delete_object(bucket, "gone")
    with pytest.raises(errors.BucketNotEmpty):
        await b.delete_bucket(bucket)
    await b.delete_object(bucket, "k")
    await b.create_upload(bucket, "pending", ObjectAttributes(), "me")
    await b.delete_bucket(bucket)
    assert bucket not in [x.name for x in await b.list_buckets()]
    await b.create_bucket(bucket)  # the name is free, and nothing of the old bucket is back
    assert (await all_versions(b, bucket))[0] == [] and await b.list_uploads(bucket) == []


# -- buckets and missing things ---------------------------------------------------------
@contract
async def test_bucket_lifecycle_and_errors(b: StorageBackend):
    bucket = await new_bucket(b)
    assert bucket in [x.name for x in await b.list_buckets()]
    assert (await b.head_bucket(bucket)).name == bucket
    with pytest.raises(errors.BucketAlreadyOwnedByYou):
        await b.create_bucket(bucket)
    await put(b, bucket, "k", b"x")
    with pytest.raises(errors.BucketNotEmpty):
        await b.delete_bucket(bucket)
    await b.delete_object(bucket, "k")
    await b.create_upload(bucket, "pending", ObjectAttributes(), "me")  # does not block deletion
    await b.delete_bucket(bucket)
    assert bucket not in [x.name for x in await b.list_buckets()]
    missing = f"ct-missing-{uuid.uuid4().hex[:8]}"
    for call in (lambda: b.head_bucket(missing), lambda: b.delete_bucket(missing),
                 lambda: b.head_object(missing, "k"), lambda: b.open_object(missing, "k"),
                 lambda: b.list_objects(missing), lambda: b.delete_object(missing, "k"),
                 lambda: b.create_upload(missing, "k", ObjectAttributes(), "me"),
                 lambda: b.list_uploads(missing), lambda: put(b, missing, "k", b"x")):
        with pytest.raises(errors.NoSuchBucket):
            await call()
    assert missing not in [x.name for x in await b.list_buckets()]


@contract
async def test_missing_keys(b: StorageBackend):
    bucket = await new_bucket(b)
    with pytest.raises(errors.NoSuchKey):
        await b.head_object(bucket, "nope")
    with pytest.raises(errors.NoSuchKey):
        await b.open_object(bucket, "nope")
    with pytest.raises(errors.NoSuchKey):
        await b.open_object(bucket, "nope", ByteRange(0, 1))
    await b.delete_object(bucket, "nope")  # S3: deleting a missing key succeeds
    with pytest.raises(errors.NoSuchUpload):
        await b.abort_upload(bucket, "nope", uuid.uuid4().hex)


@contract
async def test_check_passes_when_healthy(b: StorageBackend):
    await b.check()


# -- the s3 backend alone ---------------------------------------------------------------
def _needs_s3(request):
    if "s3" not in _chosen_backends(request.config):
        pytest.skip("s3 backend not selected")


@pytest.fixture
def private_weed(request, tmp_path):
    """A SeaweedFS of the test's own, which it may stop, freeze and restart."""
    _needs_s3(request)
    from tests.support.seaweedfs import SeaweedFS
    weed = SeaweedFS(tmp_path / "weed")
    weed.start()
    yield weed
    weed.stop()


async def _failure(call) -> BaseException | None:
    """The GatewayError ``call()`` ends with, or None. How long it took is measured by
    `python -m bench --timings`: here only that it ends, and how."""
    try:
        await call()
    except errors.GatewayError as exc:
        return exc
    return None


def test_upstream_outage_is_service_unavailable_and_service_resumes(private_weed, tmp_path):
    harness = Harness(s3_backend(private_weed, tmp_path, timeout=3.0))
    b = harness.backend
    try:
        bucket = harness.run(new_bucket(b))
        harness.run(put(b, bucket, "kept", b"before the outage"))
        private_weed.stop()
        for call in (lambda: b.head_object(bucket, "kept"), lambda: read(b, bucket, "kept"),
                     lambda: put(b, bucket, "new", b"during"), lambda: b.list_objects(bucket),
                     lambda: b.check(), lambda: b.create_upload(bucket, "u", ObjectAttributes(), "me")):
            failure = harness.run(_failure(call))
            assert isinstance(failure, errors.ServiceUnavailable), failure
            assert failure.message  # says why
        assert not list(b.spool_dir.iterdir())  # the refused write left no spool file behind
        private_weed.start()
        harness.run(b.check())  # the same backend object serves again: no restart needed
        assert harness.run(read(b, bucket, "kept"))[1] == b"before the outage"
        harness.run(put(b, bucket, "new", b"after"))
        assert harness.run(list_all(b, bucket)) == ["kept", "new"]
    finally:
        harness.close()


def test_stalled_upstream_times_out(private_weed, tmp_path):
    harness = Harness(s3_backend(private_weed, tmp_path, timeout=2.0))
    b = harness.backend
    try:
        bucket = harness.run(new_bucket(b))
        harness.run(put(b, bucket, "k", b"x"))
        small, large = payload(MiB, 1), payload(48 * MiB, 2)  # large: more than socket buffers
        private_weed.pause()
        try:
            for call in (lambda: b.head_object(bucket, "k"), lambda: put(b, bucket, "small", small),
                         lambda: put(b, bucket, "large", large), lambda: b.check()):
                # A frozen upstream never answers: only the backend's own timeout can
                # end the call (the per-test timeout fails the test if it hangs).
                failure = harness.run(_failure(call))
                assert isinstance(failure, errors.ServiceUnavailable), failure
                assert failure.message
        finally:
            private_weed.resume()
        assert harness.run(read(b, bucket, "k"))[1] == b"x"
        # A write that timed out was not acknowledged. Its outcome is unknown (bytes the
        # upstream had already received may still be stored when it wakes up), but an
        # object never appears partly written.
        for key, data in (("small", small), ("large", large)):
            try:
                assert harness.run(read(b, bucket, key))[1] == data
            except errors.NoSuchKey:
                pass
    finally:
        harness.close()


@pytest.fixture
def s3_harness(request, tmp_path):
    _needs_s3(request)
    made: list[Harness] = []

    def make(**options) -> Harness:
        made.append(Harness(s3_backend(request.getfixturevalue("seaweedfs"), tmp_path, **options)))
        return made[-1]

    yield make
    for harness in made:
        harness.close()


def test_large_spool_files_go_up_in_parts_with_a_plain_md5_etag(s3_harness):
    harness = s3_harness(multipart_threshold=6 * MiB, part_size=5 * MiB)
    b = harness.backend
    bucket = harness.run(new_bucket(b))
    data = payload(13 * MiB + 7, 11)
    info = harness.run(put(b, bucket, "big", data, ObjectAttributes(tags={"t": "1"})))
    assert info.etag == hashlib.md5(data).hexdigest()
    head = harness.run(b.head_object(bucket, "big"))
    assert (head.etag, head.size, head.attributes.tags) == (info.etag, len(data), {"t": "1"})
    assert harness.run(read(b, bucket, "big"))[1] == data
    with pytest.raises(errors.PreconditionFailed):
        harness.run(put(b, bucket, "big", data, if_none_match=True))
    assert harness.run(b.list_uploads(bucket)) == []


def _client_etag(parts: list[bytes]) -> str:
    """The multipart ETag a client computes: MD5 of the parts' MD5s, "-", the count."""
    return (hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
            + f"-{len(parts)}")


def _upstream_uploads(weed, b, bucket: str) -> list[str]:
    """Keys of the multipart uploads open upstream, as SeaweedFS itself lists them
    (decoded back to the gateway's key names)."""
    import boto3
    from gateway.storage.s3 import keys
    direct = boto3.client("s3", endpoint_url=weed.endpoint, region_name=weed.region,
                          aws_access_key_id=weed.access_key, aws_secret_access_key=weed.secret)
    listed = direct.list_multipart_uploads(Bucket=b.names.upstream(bucket))
    return [keys.decode_key(u["Key"]) for u in listed.get("Uploads", [])]


def test_assembled_upload_over_the_copy_limit_is_copied_in_parts(s3_harness, seaweedfs):
    # 5 GiB in production; lowered so that a 10 MiB upload takes the part-by-part copy.
    harness = s3_harness(copy_limit=6 * MiB)
    b = harness.backend
    bucket = harness.run(new_bucket(b))
    upload_id, datas = harness.run(upload_parts(b, bucket, "long.mp4",
                                                [MIN_PART_SIZE, MIN_PART_SIZE, 4321]))
    parts = harness.run(b.list_parts(bucket, "long.mp4", upload_id))
    staged = harness.run(b.assemble_upload(bucket, "long.mp4", upload_id,
                                           [(p.number, p.etag) for p in parts]))
    upload = harness.run(b.get_upload(bucket, "long.mp4", upload_id))
    assert staged.size > b.copy_limit
    info = harness.run(b.commit(bucket, "long.mp4", staged, upload.attributes))
    harness.run(staged.discard())
    harness.run(b.finish_upload(bucket, "long.mp4", upload_id))
    head = harness.run(b.head_object(bucket, "long.mp4"))
    assert (head.etag, head.size, head.parts_count) == (_client_etag(datas), len(b"".join(datas)), 3)
    assert info.etag == head.etag
    assert head.attributes.user_metadata == {"prompt": "a film"}
    assert harness.run(read(b, bucket, "long.mp4"))[1] == b"".join(datas)
    assert harness.run(list_all(b, bucket)) == ["long.mp4"]
    assert harness.run(b.list_uploads(bucket)) == []
    assert "long.mp4" not in _upstream_uploads(seaweedfs, b, bucket)


@pytest.mark.parametrize("write", ["put in parts", "copy in parts"])
def test_a_part_that_fails_aborts_the_upstream_upload(request, tmp_path, write):
    """The connection of the second part's request is cut every time it is sent: the
    write fails with a GatewayError, the key does not appear, and the upstream multipart
    upload it had started is aborted (none is left open)."""
    _needs_s3(request)
    weed = request.getfixturevalue("seaweedfs")
    with CuttingProxy(weed.endpoint) as proxy:
        harness = Harness(s3_backend(weed, tmp_path, endpoint=proxy.endpoint,
                                     multipart_threshold=6 * MiB, part_size=MIN_PART_SIZE,
                                     copy_limit=6 * MiB))
        b = harness.backend
        try:
            bucket = harness.run(new_bucket(b))
            data = payload(2 * MIN_PART_SIZE + 99, 21)
            if write == "put in parts":
                proxy.cut("partNumber=2", times=1000, when="request")
                with pytest.raises(errors.GatewayError):
                    harness.run(put(b, bucket, "doomed.bin", data))
            else:
                upload_id, _ = harness.run(upload_parts(
                    b, bucket, "doomed.bin", [MIN_PART_SIZE, MIN_PART_SIZE, 99]))
                parts = harness.run(b.list_parts(bucket, "doomed.bin", upload_id))
                staged = harness.run(b.assemble_upload(bucket, "doomed.bin", upload_id,
                                                       [(p.number, p.etag) for p in parts]))
                upload = harness.run(b.get_upload(bucket, "doomed.bin", upload_id))
                proxy.cut("partNumber=2", times=1000, when="request")
                with pytest.raises(errors.GatewayError):
                    harness.run(b.commit(bucket, "doomed.bin", staged, upload.attributes))
                harness.run(staged.discard())
            assert proxy.cuts >= 1
            proxy.cut("", times=0, when="request")
            with pytest.raises(errors.NoSuchKey):
                harness.run(b.head_object(bucket, "doomed.bin"))
            assert "doomed.bin" not in _upstream_uploads(weed, b, bucket)
            assert harness.run(list_all(b, bucket)) == []
        finally:
            harness.close()


def test_upstream_layout_is_readable_and_hides_provgate_records(s3_harness):
    harness = s3_harness()
    b = harness.backend
    bucket = harness.run(new_bucket(b))
    harness.run(put(b, bucket, "renders/cat 01.png", b"x"))
    harness.run(b.create_upload(bucket, "renders/big.mp4", ObjectAttributes(), "me"))
    upstream = b.names.upstream(bucket)
    from gateway.storage.s3 import walk

    async def upstream_names():
        return [v.key async for v in walk.walk(b.client, upstream, "")]

    names = harness.run(upstream_names())
    assert "renders&/cat%2001%2Epng" in names
    assert any(n.startswith("!pg/uploads/") for n in names)
    assert harness.run(list_all(b, bucket)) == ["renders/cat 01.png"]
    assert [x.name for x in harness.run(b.list_buckets()) if x.name == bucket] == [bucket]


def test_key_encoding_keeps_order_and_is_one_to_one():
    from gateway.storage.s3 import keys
    rng = random.Random(4)
    alphabet = ["a", "b", "/", "-", ".", " ", "é", "日", "🎉", "[", "\\", "]", "%", "&", "!",
                "$", "~", "\x00", "\x7f", "0", "Z", "_", "+"]
    found = set()
    for _ in range(5000):
        length = rng.choice([1, 2, 3, 5, 8, 20, 120, 250, 420, 1000])
        found.add("".join(rng.choice(alphabet) for _ in range(length)))
    ordered = utf8_sorted(found)
    encoded = [keys.encode_key(k) for k in ordered]
    assert len(set(encoded)) == len(encoded)
    assert all(len(e.encode()) <= 1024 for e in encoded)
    # Names too long for the upstream become digest names; the key is then in metadata.
    assert [k if keys.is_digest_name(e) else keys.decode_key(e)
            for k, e in zip(ordered, encoded)] == ordered
    assert any(keys.is_digest_name(e) for e in encoded)
    # A filer lists directory by directory; that walk must be S3's byte order.
    assert sorted(encoded, key=lambda e: [c.encode() for c in e.split("/")]) == encoded
    assert all(0 < len(c.encode()) < 255 and c not in (".", "..")
               for e in encoded for c in e.split("/"))
    for key in ordered[::50]:
        prefix = key[:rng.randint(0, len(key))]
        upstream_prefix = keys.encode_prefix(prefix)
        for other, other_encoded in zip(ordered[::13], encoded[::13]):
            assert other.startswith(prefix) == other_encoded.startswith(upstream_prefix)
    assert keys.decode_key("written-by-someone-else.txt") is None
    assert keys.decode_key("!pg/uploads/x") is None


# -- versions on the s3 backend alone ---------------------------------------------------
SIBLINGS = ["a", "a b", "a.png", "a.png.xmp", "a/b", "a/b/c", "a0", "b", "b/x", "k!", "k" * 250]


def test_version_walk_survives_the_upstream_paging(s3_harness, monkeypatch):
    """SeaweedFS walks ``a.png.xmp`` before ``a.png`` and the ``a/`` subtree before
    ``a`` (see ``walk``): with three-entry upstream pages, every listing must still come
    out whole and in S3's order."""
    from gateway.storage.s3 import walk
    harness = s3_harness()
    b = harness.backend
    bucket = harness.run(new_bucket(b))
    history: dict[str, list[tuple[str, bool]]] = {}
    for round_ in range(3):
        for n, key in enumerate(SIBLINGS):
            if key == "a.png.xmp" and round_:
                continue  # a sidecar with fewer versions than its object (see below)
            if round_ == 2 and n % 3 == 0:
                outcome = harness.run(b.delete_object(bucket, key))
                history.setdefault(key, []).append((outcome.version_id, True))
            else:
                info = harness.run(put(b, bucket, key, key.encode()))
                history.setdefault(key, []).append((info.version_id, False))
    expected = expected_versions(history)
    monkeypatch.setattr(walk, "UPSTREAM_PAGE", 3)
    for max_keys in (1, 4, 1000):
        assert harness.run(all_versions(b, bucket, max_keys=max_keys))[0] == expected
    live = [k for k in utf8_sorted(history) if not history[k][-1][1]]
    assert harness.run(list_all(b, bucket)) == live
    assert harness.run(all_pages(b, bucket, max_keys=2))[0] == live
    page = harness.run(b.list_objects(bucket, delimiter="/"))
    assert page.common_prefixes == ["a/", "b/"]


def test_older_versions_behind_a_busier_extension_cannot_be_listed(s3_harness, monkeypatch):
    """The known limit of SeaweedFS 4.48's version paging: when the keys extending a key
    fill whole upstream pages, the key's older versions are out of reach. A version
    listing says so (ServiceUnavailable) rather than leaving them out; current objects
    still list (they need only each key's newest version)."""
    from gateway.storage.s3 import walk
    harness = s3_harness()
    b = harness.backend
    bucket = harness.run(new_bucket(b))
    for n in range(4):
        harness.run(put(b, bucket, "a.png", b"%d" % n))
        harness.run(put(b, bucket, "a.png.xmp", b"%d" % n))
    monkeypatch.setattr(walk, "UPSTREAM_PAGE", 3)
    assert harness.run(list_all(b, bucket)) == ["a.png", "a.png.xmp"]
    with pytest.raises(errors.ServiceUnavailable) as exc:
        harness.run(all_versions(b, bucket))
    assert "older versions" in exc.value.message


def test_bucket_made_before_versioning_is_versioned_on_first_write(s3_harness):
    harness = s3_harness()
    b = harness.backend
    bucket = f"ct-{uuid.uuid4().hex[:12]}"
    upstream = b.names.upstream(bucket)
    from gateway.storage.s3 import keys
    harness.run(b.client.send("PUT", upstream))  # as an older provgate made it: unversioned
    harness.run(b.client.send("PUT", upstream, keys.encode_key("old one"), body=b"legacy"))
    head = harness.run(b.head_object(bucket, "old one"))
    assert head.version_id == "null"
    newer = harness.run(put(b, bucket, "old one", b"newer"))
    assert newer.version_id != "null"
    assert harness.run(all_versions(b, bucket))[0] == [
        ("old one", newer.version_id, True, False), ("old one", "null", False, False)]
    assert harness.run(read_version(b, bucket, "old one", "null"))[1] == b"legacy"


def test_finished_uploads_leave_no_versions_of_provgate_records(s3_harness):
    from gateway.storage.s3 import walk
    harness = s3_harness()
    b = harness.backend
    bucket = harness.run(new_bucket(b))
    upload_id, _ = harness.run(upload_parts(b, bucket, "k", [MIN_PART_SIZE, 10]))
    parts = [(p.number, p.etag) for p in harness.run(b.list_parts(bucket, "k", upload_id))]
    harness.run(b.upload_part(bucket, "k", upload_id, 2, Body(b"again")))  # rewrites records
    parts[1] = (2, hashlib.md5(b"again").hexdigest())
    staged = harness.run(b.assemble_upload(bucket, "k", upload_id, parts))
    harness.run(b.commit(bucket, "k", staged, ObjectAttributes()))
    harness.run(b.finish_upload(bucket, "k", upload_id))
    aborted, _ = harness.run(upload_parts(b, bucket, "j", [10]))
    harness.run(b.abort_upload(bucket, "j", aborted))

    async def internal():
        return [v async for v in walk.walk(b.client, b.names.upstream(bucket), "!pg/")]

    # Only the bucket's notes (layout, owner) and the object's part list are left (one
    # version of each), nothing of the uploads.
    left = [(v.key, v.is_latest) for v in harness.run(internal())]
    assert [k for k, _ in left if not k.startswith("!pg/parts-of/")] == ["!pg/layout",
                                                                       "!pg/owner"]
    assert len(left) == 3 and all(latest for _, latest in left)
    assert [v[0] for v in harness.run(all_versions(b, bucket))[0]] == ["k"]


# -- versions on the fs backend alone ---------------------------------------------------
def _needs_fs(request):
    if "fs" not in _chosen_backends(request.config):
        pytest.skip("fs backend not selected")


def test_fs_restart_keeps_noncurrent_versions(request, tmp_path):
    """The start-up sweep removes blobs no record names; a noncurrent version's blob is
    named by its record and must survive it, bytes intact."""
    _needs_fs(request)
    from gateway.storage.fs import FsBackend
    harness = Harness(FsBackend(tmp_path / "data"))
    b = harness.backend
    bucket = harness.run(new_bucket(b))
    old = harness.run(put(b, bucket, "k", b"old bytes"))
    harness.run(put(b, bucket, "k", b"new bytes"))
    marker = harness.run(b.delete_object(bucket, "k"))
    (b.blob_dir / "00" / ("00" + "f" * 30)).write_bytes(b"orphan of a crashed commit")
    harness.close()
    harness = Harness(FsBackend(tmp_path / "data"))
    b = harness.backend
    try:
        assert not (b.blob_dir / "00" / ("00" + "f" * 30)).exists()
        assert harness.run(read_version(b, bucket, "k", old.version_id))[1] == b"old bytes"
        assert [v[1] for v in harness.run(all_versions(b, bucket))[0]][0] == marker.version_id
        harness.run(b.delete_object(bucket, "k", old.version_id))
        blobs = [p for p in b.blob_dir.rglob("*") if p.is_file()]
        assert len(blobs) == 1  # the removed version's blob went with it
    finally:
        harness.close()


def test_fs_objects_stored_before_versioning_are_the_null_version(request, tmp_path):
    _needs_fs(request)
    from gateway.storage.fs import FsBackend
    from gateway.storage.fs.index import object_key
    harness = Harness(FsBackend(tmp_path / "data"))
    b = harness.backend
    try:
        bucket = harness.run(new_bucket(b))
        harness.run(put(b, bucket, "k", b"legacy"))
        with b.index.write() as txn:  # as provgate wrote records before versions existed
            record = b.index.get_object(txn, object_key(bucket, "k"))
            del record["vid"]
            b.index.put_object(txn, object_key(bucket, "k"), record)
        assert harness.run(b.head_object(bucket, "k")).version_id == "null"
        newer = harness.run(put(b, bucket, "k", b"newer"))
        assert harness.run(all_versions(b, bucket))[0] == [
            ("k", newer.version_id, True, False), ("k", "null", False, False)]
        assert harness.run(read_version(b, bucket, "k", "null"))[1] == b"legacy"
        harness.run(b.delete_object(bucket, "k", "null"))
        assert harness.run(all_versions(b, bucket))[0] == [("k", newer.version_id, True, False)]
    finally:
        harness.close()


# -- versioning states ------------------------------------------------------------------------
@contract
async def test_versioning_states_and_null_versions(b):
    from gateway.storage.base import (NULL_VERSION, UNVERSIONED, VERSIONING_ENABLED,
                                      VERSIONING_SUSPENDED)
    bucket = f"ct-{uuid.uuid4().hex[:12]}"
    await b.create_bucket(bucket, versioning=UNVERSIONED)
    assert await b.get_versioning(bucket) == UNVERSIONED
    first = await put(b, bucket, "k", b"n1")
    second = await put(b, bucket, "k", b"n2")
    assert (first.version_id, second.version_id) == (NULL_VERSION, NULL_VERSION)
    # Each null version written has a record id of its own, and keeps its record.
    assert len({first.record_id, second.record_id, NULL_VERSION}) == 3
    await b.put_record(bucket, "k", first.record_id, b"<first/>")
    await b.put_record(bucket, "k", second.record_id, b"<second/>")
    page = await b.list_versions(bucket)
    assert [(v.version_id, v.record_id, v.is_latest) for v in page.versions] == [
        (NULL_VERSION, second.record_id, True)]
    assert (await b.get_record(bucket, "k", first.record_id)).body == b"<first/>"
    assert (await b.head_object(bucket, "k", NULL_VERSION)).record_id == second.record_id

    await b.set_versioning(bucket, VERSIONING_ENABLED)
    assert await b.get_versioning(bucket) == VERSIONING_ENABLED
    v1 = await put(b, bucket, "k", b"v1")
    assert v1.version_id != NULL_VERSION and v1.record_id == v1.version_id
    await b.set_versioning(bucket, VERSIONING_SUSPENDED)
    assert await b.get_versioning(bucket) == VERSIONING_SUSPENDED
    s1 = await put(b, bucket, "k", b"s1")
    page = await b.list_versions(bucket)
    assert [(v.version_id, v.is_latest) for v in page.versions] == [
        (NULL_VERSION, True), (v1.version_id, False)]
    assert page.versions[0].record_id == s1.record_id
    outcome = await b.delete_object(bucket, "k")
    assert (outcome.version_id, outcome.delete_marker, outcome.removed) == (
        NULL_VERSION, True, NULL_VERSION)
    page = await b.list_versions(bucket)
    assert [(v.version_id, v.is_latest, v.delete_marker) for v in page.versions] == [
        (NULL_VERSION, True, True), (v1.version_id, False, False)]
    with pytest.raises(errors.MethodNotAllowed):
        await b.head_object(bucket, "k", NULL_VERSION)
    removed = await b.delete_object(bucket, "k", NULL_VERSION)
    assert (removed.version_id, removed.delete_marker) == (NULL_VERSION, True)
    assert (await b.head_object(bucket, "k")).version_id == v1.version_id
    await b.delete_object(bucket, "k", v1.version_id)
    await b.delete_bucket(bucket)


@contract
async def test_unversioned_delete_removes_the_object(b):
    from gateway.storage.base import NULL_VERSION, UNVERSIONED
    bucket = f"ct-{uuid.uuid4().hex[:12]}"
    await b.create_bucket(bucket, versioning=UNVERSIONED)
    await put(b, bucket, "k", b"x")
    outcome = await b.delete_object(bucket, "k")
    assert (outcome.version_id, outcome.delete_marker, outcome.removed) == (
        None, False, NULL_VERSION)
    assert (await b.list_versions(bucket)).versions == []
    with pytest.raises(errors.NoSuchKey) as exc:
        await b.head_object(bucket, "k")
    assert "x-amz-delete-marker" not in exc.value.headers
    await b.delete_bucket(bucket)


# -- the record store -------------------------------------------------------------------------
@contract
async def test_a_versions_first_record_and_its_replacement(b):
    bucket = await new_bucket(b)
    version = await put(b, bucket, "k", b"pixels")
    first = await b.put_record(bucket, "k", version.record_id, b"<first/>", first=True)
    assert (await b.get_record(bucket, "k", version.record_id)).body == b"<first/>"
    assert first.etag == hashlib.md5(b"<first/>").hexdigest()
    await b.put_record(bucket, "k", version.record_id, b"<replaced record/>")
    assert (await b.get_record(bucket, "k", version.record_id)).body == b"<replaced record/>"
    # One record per version: the replacement is not kept beside the first one.
    assert [(r.version_id, r.size) for r in await b.list_records(bucket, "k")] == [
        (version.record_id, len(b"<replaced record/>"))]
