"""A full disk: a clear S3 error, nothing half-stored, readiness warns first.

The local filesystem every write passes through (the fs backend's data directory, the
s3 backend's spool) is a small tmpfs mounted for the test and really filled, so the
gateway meets a real ENOSPC, not a simulated one. The catalog stays on the test's disk.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client, storage_section
from tests.support.admin import admin_call
from tests.support.hostile import assert_error, leftover_files, send, sign_v4, spool_dir
from tests.support.server import readiness

MIN_FREE = 4 * 1024 * 1024
PAGE = 4096


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs, unmounted afterwards (the server using it is stopped first)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs",
                           str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture
def server(small_disk, make_server, backend_kind, tmp_path, request):
    if backend_kind == "fs":
        storage = {"kind": "fs", "path": str(small_disk / "data")}
    else:
        storage = {**storage_section("s3", tmp_path, request), "spool_dir": str(small_disk / "spool")}
    return make_server(storage={**storage, "min_free_bytes": MIN_FREE})


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def fill(disk: Path, leave: int) -> Path:
    """Write a filler file so that about ``leave`` bytes stay free."""
    filler = disk / f"filler-{uuid.uuid4().hex[:6]}"
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(0, free_bytes(disk) - leave))
    return filler


def put(server, bucket: str, key: str, data: bytes):
    path = f"/{bucket}/{key}"
    return send(server, "PUT", path, body=data, headers=sign_v4(server, "PUT", path, body=data))


def stored(server, s3, bucket: str, key: str) -> dict[str, bool]:
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key)
    listed = [v["Key"] for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])]
    status = admin_call(server, "GET", f"/api/v1/assets/{bucket}/{key}")[0]
    assert status in (200, 404), status
    try:
        s3.head_object(Bucket=bucket, Key=key + ".xmp")     # the record served there
        record = True
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404, exc.response
        record = False
    return {"object": key in listed, "record": record, "catalog": status == 200}


def probe_files(server) -> list[str]:
    return [f for f in leftover_files(spool_dir(server)) if ".ready-" in f]


def test_full_disk_answers_storage_full_and_readiness_warns_first(server, small_disk):
    s3 = client(server.endpoint)
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    kept = os.urandom(100_000)
    assert put(server, bucket, "kept.bin", kept).status == 200

    for _ in range(3):
        assert readiness(server)[0] == 200
    assert probe_files(server) == []

    filler = fill(small_disk, MIN_FREE // 2)
    status, body = readiness(server)
    assert status == 503 and "min_free_bytes" in body["disk"], body
    assert probe_files(server) == []

    too_big = os.urandom(3 * 1024 * 1024)
    reply = put(server, bucket, "big.bin", too_big)
    assert_error(reply, 507, "XProvgateStorageFull")
    assert stored(server, s3, bucket, "big.bin") == {"object": False, "record": False,
                                                     "catalog": False}
    assert [f for f in leftover_files(spool_dir(server)) if "filler" not in f] == []
    assert server.process.poll() is None

    # Space freed: ready again, writes work, nothing earlier was harmed.
    filler.unlink()
    assert readiness(server)[0] == 200
    assert put(server, bucket, "big.bin", too_big).status == 200
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == too_big
    assert s3.get_object(Bucket=bucket, Key="kept.bin")["Body"].read() == kept


def test_an_error_answer_means_nothing_was_stored(server, small_disk):
    """Space runs out at every stage of a write in turn (spool, object commit, record,
    catalog): each answer is either a success with everything stored or 507 with
    nothing stored."""
    s3 = client(server.endpoint)
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    size = 16 * PAGE
    answers = []
    for slack in range(-2, 12):
        key = f"obj-{slack}.bin"
        filler = fill(small_disk, size + slack * PAGE)
        try:
            reply = put(server, bucket, key, os.urandom(size))
        finally:
            filler.unlink()
        answers.append(reply.status)
        found = stored(server, s3, bucket, key)
        if reply.status == 200:
            assert found == {"object": True, "record": True, "catalog": True}, (slack, found)
        else:
            assert_error(reply, 507, "XProvgateStorageFull")
            assert found == {"object": False, "record": False, "catalog": False}, (slack, found)
    assert 507 in answers, answers
    assert server.process.poll() is None
    assert [f for f in leftover_files(spool_dir(server))] == []
