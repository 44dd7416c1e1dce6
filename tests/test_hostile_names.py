"""Hostile names and ranges: invalid bucket names, over-long keys, NUL and broken UTF-8
in keys, path-traversal keys, ranges past the end.

Traversal keys either get an S3 error or are stored as ordinary keys that round-trip
exactly; no file ever appears outside the data directory.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support.hostile import (assert_error, client_error, send, sign_v4)


def _raw(gateway, method: str, target: str, body: bytes = b"", headers: dict | None = None):
    signed = sign_v4(gateway.endpoint, method, target, body=body, headers=headers)
    return send(gateway, method, target, headers=signed, body=body)


# --- bucket names ----------------------------------------------------------------------

INVALID_BUCKETS = ["AB", "a", "ab", "-abc", "abc-", "a..b", "192.168.1.1", "a" * 64,
                   "Abc", "a_b", "a.-b", "a-.b", ".abc", "abc.", "xn--abc", "abc-s3alias",
                   "a%20b", "caf%C3%A9"]


@pytest.mark.parametrize("name", INVALID_BUCKETS)
def test_invalid_bucket_name_on_create(gateway, guard, name):
    assert_error(_raw(gateway, "PUT", f"/{name}"), 400, "InvalidBucketName")
    names = [b["Name"] for b in guard.s3.list_buckets()["Buckets"]]
    assert name not in names and name.lower() not in names
    guard.check()


@pytest.mark.parametrize("name", ["AB", "a..b", "192.168.1.1", "a" * 64])
def test_invalid_bucket_name_on_object_operations(gateway, guard, name):
    assert _raw(gateway, "PUT", f"/{name}/key", body=b"x").status == 400
    assert _raw(gateway, "GET", f"/{name}/key").status == 400
    assert _raw(gateway, "GET", f"/{name}").status == 400
    guard.check()


def test_valid_edge_bucket_names_control(gateway, guard):
    # The s3 backend puts its bucket_prefix in front upstream, which shortens the longest
    # name it can hold (a documented limit of that backend).
    longest = 63 - len(gateway.storage.get("bucket_prefix", ""))
    for name in ["abc", "a" * longest, "a.b-c.d", "0ab"]:
        name = name if len(name) > 30 else f"{name}{uuid.uuid4().hex[:8]}"
        guard.s3.create_bucket(Bucket=name)
        guard.s3.delete_bucket(Bucket=name)
    guard.check()


# --- key length, NUL, invalid UTF-8 ------------------------------------------------------

def test_key_too_long(gateway, guard):
    s3, bucket, too_long = guard.s3, guard.bucket, (400, "KeyTooLongError")
    for key in ["k" * 1025, "日" * 342, "a/" * 600]:
        assert client_error(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"x")) == too_long
        assert client_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key=key)) == too_long
    for key in ["k" * 1024, "日" * 341, "k" * 900]:   # at or under 1024 bytes
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        except ClientError as exc:
            # The s3 backend encodes keys for its upstream, whose 1024-byte cap then
            # bites a little earlier (documented in gateway/storage/s3/keys.py).
            assert gateway.storage["kind"] == "s3" and len(key.encode()) > 900, exc
            assert exc.response["Error"]["Code"] == "KeyTooLongError"
            continue
        guard.objects[key] = key.encode()
    guard.check()


@pytest.mark.parametrize("raw_key", ["a%00b", "%00", "x/%00/..", "%FF%FE", "%C0%AF..%C0%AF",
                                     "ok%ED%A0%80", "%80abc", "trailing%E6%97"])
def test_nul_and_invalid_utf8_keys(gateway, guard, raw_key):
    for method in ("PUT", "GET", "DELETE"):
        reply = _raw(gateway, method, f"/{guard.bucket}/{raw_key}",
                     body=b"x" if method == "PUT" else b"")
        assert reply.status == 400 and reply.code in ("InvalidArgument", "InvalidURI"), (method, reply)
    guard.check()


# --- traversal keys ----------------------------------------------------------------------

def _tree(root: Path, skip: set[Path]) -> dict[str, int]:
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        for name in filenames:
            path = here / name
            try:
                files[str(path.relative_to(root))] = path.stat().st_size
            except FileNotFoundError:
                pass
    return files


def _storage_dirs(gateway) -> set[Path]:
    """Where provgate itself writes: storage (or the spool) and the catalog index."""
    catalog = Path(gateway.workdir) / "catalog"
    if gateway.storage["kind"] == "fs":
        return {Path(gateway.storage["path"]), catalog}
    return {Path(gateway.storage["spool_dir"]), catalog}


def _escapes(marker: str, gateway) -> list[str]:
    """Files named with ``marker`` in any directory from the workdir up to ``/``."""
    found = []
    for directory in [Path(gateway.workdir), *Path(gateway.workdir).parents, Path("/tmp")]:
        try:
            found += [str(p) for p in directory.iterdir() if marker in p.name]
        except OSError:
            pass
    return found


def _traversal_keys(marker: str) -> list[str]:
    long_segment = "s" * 300
    return [
        f"../../{marker}", f"../../../../../../../../tmp/{marker}", f"/{marker}",
        f"/tmp/{marker}", f"a/../../{marker}", f"a/../../../{marker}", f"./{marker}",
        f"a/./b/{marker}", "..", ".", "../", f"a//../{marker}", f"..\\..\\{marker}",
        f"{long_segment}/{long_segment}/{marker}", f"{long_segment}{marker}",
        f"{'../' * 100}{marker}", f"a/%2e%2e/{marker}", f"~/{marker}", f"{marker}/..",
    ]


def test_traversal_keys_stay_inside(gateway, guard):
    marker = f"pg-escape-{uuid.uuid4().hex[:12]}"
    workdir = Path(gateway.workdir)
    skip = _storage_dirs(gateway)
    before = _tree(workdir, skip)
    s3, bucket = guard.s3, guard.bucket
    for key in _traversal_keys(marker):
        data = f"contents of {key}".encode()
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=data)
        except ClientError as exc:
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400, (key, exc.response)
            continue
        # Stored: it must be an ordinary key, exactly as given.
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data, key
        guard.objects[key] = data
    assert _escapes(marker, gateway) == []
    assert _tree(workdir, skip) == before
    if gateway.storage["kind"] == "fs":
        data_dir = Path(gateway.storage["path"])
        assert [p.name for p in data_dir.iterdir()] == [".provgate"]
        assert not any(marker in str(p) for p in data_dir.rglob("*"))
    guard.check()


def test_traversal_keys_raw_paths(gateway, guard):
    """The same keys sent exactly as written (dot segments not normalised by any client)."""
    marker = f"pg-escape-{uuid.uuid4().hex[:12]}"
    workdir = Path(gateway.workdir)
    skip = _storage_dirs(gateway)
    before = _tree(workdir, skip)
    bucket = guard.bucket
    raw_keys = [f"../../{marker}", f"..%2F..%2F{marker}", f"%2E%2E/%2E%2E/{marker}",
                f"a/../../../{marker}", f"%2F{marker}", f"/{marker}", f"..%5C..%5C{marker}",
                f"{'..%2f' * 40}{marker}"]
    for index, raw_key in enumerate(raw_keys):
        raw_key += f"-{index}"      # several spellings decode alike: keep the keys apart
        target = f"/{bucket}/{raw_key}"
        reply = _raw(gateway, "PUT", target, body=raw_key.encode())
        if reply.status == 400:
            assert reply.code is not None, reply
            continue
        assert reply.status == 200, (raw_key, reply)
        got = _raw(gateway, "GET", target)
        assert got.status == 200 and got.body == raw_key.encode(), (raw_key, got)
        listed = [k for k in guard.listing() if k not in guard.objects]
        assert len(listed) == 1, listed
        # What was listed reads back through boto3 too: it is an ordinary key.
        assert guard.s3.get_object(Bucket=bucket, Key=listed[0])["Body"].read() == raw_key.encode()
        guard.objects[listed[0]] = raw_key.encode()
    assert _escapes(marker, gateway) == []
    assert _tree(workdir, skip) == before
    guard.check()


def test_traversal_bucket_part_rejected(gateway, guard):
    for target in ["/..", "/../etc", "/%2E%2E/x", "/./x", f"/{guard.bucket}%2F..%2F..%2Fx"]:
        reply = _raw(gateway, "PUT", target, body=b"x")
        assert reply.status in (400, 405), (target, reply)
    guard.check()


# --- ranges --------------------------------------------------------------------------------

def test_range_past_end_is_invalid_range(guard):
    s3, bucket = guard.s3, guard.bucket
    size = len(guard.objects["sentinel.bin"])
    for value in [f"bytes={size}-", f"bytes={size}-{size + 10}", f"bytes={size * 10}-",
                  "bytes=-0"]:
        got = client_error(lambda: s3.get_object(Bucket=bucket, Key="sentinel.bin", Range=value))
        assert got == (416, "InvalidRange"), value
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    guard.objects["empty"] = b""
    got = client_error(lambda: s3.get_object(Bucket=bucket, Key="empty", Range="bytes=0-0"))
    assert got == (416, "InvalidRange")
    guard.check()


def test_range_control_and_junk(guard):
    s3, bucket = guard.s3, guard.bucket
    data = guard.objects["sentinel.bin"]
    size = len(data)
    got = s3.get_object(Bucket=bucket, Key="sentinel.bin", Range=f"bytes={size - 10}-{size * 2}")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == data[-10:]
    got = s3.get_object(Bucket=bucket, Key="sentinel.bin", Range=f"bytes=-{size * 3}")
    assert got["Body"].read() == data
    for junk in ["bytes=abc", "chars=0-1", "bytes=5-1", "bytes=0-1,5-6", "bytes=--1"]:
        got = s3.get_object(Bucket=bucket, Key="sentinel.bin", Range=junk)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 200, junk
        assert got["Body"].read() == data
    guard.check()


def test_range_past_end_raw_reply(gateway, guard):
    size = len(guard.objects["sentinel.bin"])
    target = f"/{guard.bucket}/sentinel.bin"
    reply = _raw(gateway, "GET", target, headers={"Range": f"bytes={size + 1}-"})
    assert_error(reply, 416, "InvalidRange")
    assert reply.body.count(b"<Code>") == 1 and guard.objects["sentinel.bin"][:50] not in reply.body
    guard.check()


def test_error_documents_stay_well_formed(gateway, guard):
    """Errors that echo a key holding control characters still parse as XML."""
    s3, bucket = guard.s3, guard.bucket
    for key in ["ctl\x01\x1f", "tab\there", "bell\x07", "del\x7f"]:
        assert client_error(lambda: s3.get_object(Bucket=bucket, Key=key)) == (404, "NoSuchKey")
    reply = _raw(gateway, "GET", f"/{bucket}/x?uploadId=%00%01")
    assert_error(reply, 404, "NoSuchUpload")
    guard.check()
