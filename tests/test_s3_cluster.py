"""provgate over SeaweedFS as a service sees it: shared by gateways, surviving outages."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError, IncompleteReadError, ResponseStreamingError

from tests.conftest import client
from tests.support.faults import CUT_WHEN, CuttingProxy
from tests.support.polling import wait_for
from tests.support.seaweedfs import SeaweedFS
from tests.support.server import ProvgateServer

# An upstream that stops answering must turn into an error well before clients give up.
UPSTREAM_TIMEOUT = 3.0
ERROR_DEADLINE = UPSTREAM_TIMEOUT * 3 + 5


def s3_storage(weed: SeaweedFS, prefix: str, spool) -> dict:
    return {"kind": "s3", "endpoint": weed.endpoint, "region": weed.region,
            "access_key": weed.access_key, "secret": weed.secret, "bucket_prefix": prefix,
            "timeout": UPSTREAM_TIMEOUT, "spool_dir": str(spool)}


def through_proxy(proxy: CuttingProxy, weed: SeaweedFS, make_local_server, tmp_path,
                  name: str):
    """A gateway whose upstream traffic passes ``proxy``: (its client, a new bucket)."""
    storage = s3_storage(weed, f"{name}{uuid.uuid4().hex[:6]}-", tmp_path / "spool")
    s3 = client(make_local_server(storage | {"endpoint": proxy.endpoint}).endpoint)
    bucket = f"{name}-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    return s3, bucket


def test_two_gateways_over_one_seaweedfs(seaweedfs, make_local_server, tmp_path):
    prefix = f"so{uuid.uuid4().hex[:6]}-"
    first = make_local_server(s3_storage(seaweedfs, prefix, tmp_path / "spool-a"))
    second = make_local_server(s3_storage(seaweedfs, prefix, tmp_path / "spool-b"))
    a, b = client(first.endpoint), client(second.endpoint)
    bucket = f"shared-{uuid.uuid4().hex[:8]}"
    a.create_bucket(Bucket=bucket)
    body = os.urandom(300_000)
    etag = a.put_object(Bucket=bucket, Key="renders/hero.png", Body=body,
                        Metadata={"prompt": "a red fox"})["ETag"]

    got = b.get_object(Bucket=bucket, Key="renders/hero.png")
    assert got["Body"].read() == body and got["ETag"] == etag
    assert got["Metadata"] == {"prompt": "a red fox"}
    assert [o["Key"] for o in b.list_objects_v2(Bucket=bucket)["Contents"]] == ["renders/hero.png"]
    # The record written through one gateway is served by the other.
    assert b"a red fox" in b.get_object(Bucket=bucket, Key="renders/hero.png.xmp")["Body"].read()
    assert bucket in [x["Name"] for x in b.list_buckets()["Buckets"]]

    b.delete_object(Bucket=bucket, Key="renders/hero.png")
    with pytest.raises(ClientError) as gone:
        a.head_object(Bucket=bucket, Key="renders/hero.png")
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # A multipart upload started on one gateway is completed through the other.
    upload = a.create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(1000)]
    etags = [a.upload_part(Bucket=bucket, Key="big.bin", UploadId=upload, PartNumber=1,
                           Body=parts[0])["ETag"],
             b.upload_part(Bucket=bucket, Key="big.bin", UploadId=upload, PartNumber=2,
                           Body=parts[1])["ETag"]]
    b.complete_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]})
    assert a.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == b"".join(parts)


def _readyz(server: ProvgateServer) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{server.admin}/readyz", timeout=ERROR_DEADLINE) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def _put_error(s3, bucket: str) -> tuple[str, int]:
    """(S3 error code, HTTP status) of a PUT that must fail. The client gives up after
    ERROR_DEADLINE seconds with a ReadTimeoutError, not a ClientError, so a server that
    answers late fails the test here; how soon it answers is measured by the bench."""
    impatient = client(s3.meta.endpoint_url, read_timeout=ERROR_DEADLINE)
    with pytest.raises(ClientError) as failure:
        impatient.put_object(Bucket=bucket, Key="during-outage", Body=b"x" * 1000)
    response = failure.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def own_weed(tmp_path):
    weed = SeaweedFS(tmp_path / "weed")
    weed.start()
    yield weed
    weed.stop()


def test_upstream_down_then_back(own_weed, make_local_server, tmp_path):
    server = make_local_server(s3_storage(own_weed, "out-", tmp_path / "spool"))
    s3 = client(server.endpoint)
    bucket = f"outage-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="before", Body=b"kept")

    own_weed.stop()
    code, status = _put_error(s3, bucket)
    assert (code, status) in {("ServiceUnavailable", 503), ("SlowDown", 503)}
    health = urllib.request.urlopen(f"{server.admin}/healthz", timeout=5)
    assert health.status == 200
    status, ready = _readyz(server)
    assert status == 503 and ready["status"] == "unavailable" and ready["backend"]

    own_weed.start()
    wait_for(lambda: _readyz(server)[0] == 200, 30, "provgate to notice the upstream came back",
             interval=0.5)
    s3.put_object(Bucket=bucket, Key="after", Body=b"new")
    assert s3.get_object(Bucket=bucket, Key="before")["Body"].read() == b"kept"
    assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == b"new"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "during-outage" not in keys


def test_upstream_frozen_is_a_bounded_error(own_weed, make_local_server, tmp_path):
    server = make_local_server(s3_storage(own_weed, "frz-", tmp_path / "spool"))
    s3 = client(server.endpoint)
    bucket = f"frozen-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    own_weed.pause()
    try:
        code, status = _put_error(s3, bucket)
        assert (code, status) in {("ServiceUnavailable", 503), ("SlowDown", 503)}
        assert urllib.request.urlopen(f"{server.admin}/healthz", timeout=5).status == 200
    finally:
        own_weed.resume()
    s3.put_object(Bucket=bucket, Key="after-thaw", Body=b"ok")
    assert s3.get_object(Bucket=bucket, Key="after-thaw")["Body"].read() == b"ok"


def _put_in_parts(s3, bucket: str, key: str, body: bytes) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    cut = 5 * 1024 * 1024
    parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key=key, UploadId=upload,
                                                      PartNumber=n, Body=chunk)["ETag"]}
             for n, chunk in enumerate((body[:cut], body[cut:]), 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                 MultipartUpload={"Parts": parts})


def _put_whole(s3, bucket: str, key: str, body: bytes) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body)


@pytest.mark.parametrize("when", CUT_WHEN)
@pytest.mark.parametrize("write", [_put_whole, _put_in_parts], ids=["put", "multipart"])
def test_a_write_whose_connection_is_cut_is_stored_once(seaweedfs, make_local_server, tmp_path,
                                                        when, write):
    # "answer": the upstream stored the object (and then its sidecar) but provgate never
    # heard back; "request": the write never reached the upstream. Either way the client
    # gets its 200 and the key holds exactly one version, not one per attempt.
    with CuttingProxy(seaweedfs.endpoint) as proxy:
        s3, bucket = through_proxy(proxy, seaweedfs, make_local_server, tmp_path, "cut")
        body = os.urandom(6 * 1024 * 1024)
        proxy.cut("cutme", times=1, when=when)    # the object's write
        write(s3, bucket, "cutme.bin", body)
        assert proxy.cuts == 1
        proxy.cut("records/", times=1, when=when)  # the next write's XMP record
        write(s3, bucket, "again.bin", body)
        assert proxy.cuts == 2

        versions = s3.list_object_versions(Bucket=bucket)["Versions"]
        assert sorted(v["Key"] for v in versions) == ["again.bin", "cutme.bin"]
        for version in versions:
            key = version["Key"]
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
            record = s3.get_object(Bucket=bucket, Key=key + ".xmp",
                                   VersionId=version["VersionId"])["Body"].read().decode()
            assert f"<pg:VersionID>{version['VersionId']}</pg:VersionID>" in record


def test_a_read_whose_upstream_dies_mid_body_is_cut_short(seaweedfs, make_local_server,
                                                          tmp_path):
    # The status and length are sent before the body: an upstream that dies part-way can
    # only be reported by cutting the client's connection, so the client sees a short
    # body (and retries) rather than a complete-looking wrong one. The next reads are
    # whole: the broken upstream connection is not reused.
    with CuttingProxy(seaweedfs.endpoint) as proxy:
        s3, bucket = through_proxy(proxy, seaweedfs, make_local_server, tmp_path, "mid")
        body = os.urandom(6 * 1024 * 1024)
        s3.put_object(Bucket=bucket, Key="cutme.bin", Body=body)
        s3.put_object(Bucket=bucket, Key="small.bin", Body=body[:70_000])
        for after in (3 * 1024 * 1024, 100_000, 2000):  # deep in the body, early, at its start
            proxy.cut_read("cutme", times=1, after=after)
            got = s3.get_object(Bucket=bucket, Key="cutme.bin")
            assert got["ContentLength"] == len(body)
            with pytest.raises((IncompleteReadError, ResponseStreamingError)):
                got["Body"].read()
            assert s3.get_object(Bucket=bucket, Key="small.bin")["Body"].read() == body[:70_000]
            assert s3.get_object(Bucket=bucket, Key="cutme.bin")["Body"].read() == body
        assert proxy.cuts == 3


def test_a_read_whose_upstream_freezes_mid_body_is_cut_short(own_weed, make_local_server,
                                                             tmp_path):
    # A frozen upstream mid-body is a cut too, once its silence outlasts the upstream
    # timeout: the client's read ends instead of hanging. (48 MiB: more than the socket
    # buffers between SeaweedFS, provgate and the client can hold.)
    server = make_local_server(s3_storage(own_weed, "frb-", tmp_path / "spool"))
    s3 = client(server.endpoint)
    bucket = f"frozen-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(48 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="big.bin", Body=body)
    got = s3.get_object(Bucket=bucket, Key="big.bin")["Body"]
    assert got.read(1024 * 1024) == body[:1024 * 1024]
    own_weed.pause()
    try:
        with pytest.raises((IncompleteReadError, ResponseStreamingError)):
            got.read()
    finally:
        own_weed.resume()
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == body
