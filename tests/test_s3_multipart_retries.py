"""What multipart clients do when answers get lost: a Complete sent again after it
succeeded, and a part sent again while its first upload is still running."""

from __future__ import annotations

from tests.support.functional import multipart_etag, payload, quoted_md5
from tests.support.hostile import (client_error, connect, read_reply, request_head, sign_v4,
                                   unique)

MiB = 1024 * 1024


def test_retried_complete_answers_the_same(s3, bucket):
    datas = [payload(5 * MiB, seed=1), payload(777, seed=2)]
    key = unique()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id,
                                                      PartNumber=n, Body=d)["ETag"]}
             for n, d in enumerate(datas, 1)]
    first = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                         MultipartUpload={"Parts": parts})
    assert first["ETag"] == multipart_etag(datas)
    again = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                         MultipartUpload={"Parts": parts})
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert (again["ETag"], again["VersionId"]) == (first["ETag"], first["VersionId"])
    assert again["Bucket"] == bucket and again["Key"] == key
    # One object version: the retry stored nothing.
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
    assert [v["VersionId"] for v in versions] == [first["VersionId"]]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"".join(datas)
    # Other parts than the completed ones: the upload is gone, as S3 says.
    assert client_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id,
        MultipartUpload={"Parts": parts[:1]})) == (404, "NoSuchUpload")
    assert client_error(lambda: s3.list_parts(Bucket=bucket, Key=key,
                                         UploadId=upload_id)) == (404, "NoSuchUpload")
    assert client_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key=key + "-other", UploadId=upload_id,
        MultipartUpload={"Parts": parts})) == (404, "NoSuchUpload")


def test_retried_complete_after_restart(make_server):
    """The memo of completed uploads is on disk: a gateway restarted between the
    Complete and its retry answers the retry alike."""
    from tests.conftest import client
    server = make_server()
    s3 = client(server.endpoint)
    s3.create_bucket(Bucket="retry")
    upload_id = s3.create_multipart_upload(Bucket="retry", Key="k")["UploadId"]
    etag = s3.upload_part(Bucket="retry", Key="k", UploadId=upload_id, PartNumber=1,
                          Body=b"only part")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    first = s3.complete_multipart_upload(Bucket="retry", Key="k", UploadId=upload_id,
                                         MultipartUpload=parts)
    server.stop()
    server.start()
    s3 = client(server.endpoint)
    again = s3.complete_multipart_upload(Bucket="retry", Key="k", UploadId=upload_id,
                                         MultipartUpload=parts)
    assert (again["ETag"], again["VersionId"]) == (first["ETag"], first["VersionId"])


def test_part_sent_again_while_the_first_runs_the_last_finished_wins(gateway, s3, bucket):
    key = unique()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    slow, fast = payload(3 * MiB, seed=11), payload(3 * MiB, seed=12)
    target = f"/{bucket}/{key}?partNumber=1&uploadId={upload_id}"
    headers = sign_v4(gateway.endpoint, "PUT", target, payload_hash="UNSIGNED-PAYLOAD",
                      headers={"Content-Length": str(len(slow))})
    sock = connect(gateway.endpoint)
    try:
        sock.sendall(request_head("PUT", target, headers) + slow[:len(slow) // 2])
        fast_etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1,
                                   Body=fast)["ETag"]
        assert fast_etag == quoted_md5(fast)
        sock.sendall(slow[len(slow) // 2:])
        reply = read_reply(sock, "PUT")
    finally:
        sock.close()
    assert reply.status == 200, reply
    assert reply.headers["etag"] == quoted_md5(slow)
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == \
        [(1, quoted_md5(slow), len(slow))]
    # The part that finished first is no longer the upload's part 1.
    fast_part = {"PartNumber": 1, "ETag": fast_etag}
    slow_part = {"PartNumber": 1, "ETag": quoted_md5(slow)}
    assert client_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id,
        MultipartUpload={"Parts": [fast_part]})) == (400, "InvalidPart")
    # A client that lists both answers, in the order they came, names the part last:
    # the entry named last counts.
    assert client_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id,
        MultipartUpload={"Parts": [slow_part, fast_part]})) == (400, "InvalidPart")
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                 MultipartUpload={"Parts": [fast_part, slow_part]})
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == slow


def test_completion_memo_forgets_after_its_time(tmp_path):
    """The memo answers for ``KEEP_SECONDS`` and is pruned after: it never grows with
    every upload ever completed."""
    import time

    from gateway import kv
    from gateway.gatekeeper.completions import KEEP_SECONDS, CompletedUploads, Completion

    store = kv.Store(tmp_path / "memo")
    memo = CompletedUploads(store)

    def completion(at: float) -> Completion:
        return Completion([(1, '"abc"')], "etag-1", "v1", 3, at, {}, 1, None, at)

    memo.remember("b", "old", "u1", completion(time.time() - KEEP_SECONDS - 1))
    assert memo.find("b", "old", "u1") is None
    memo.remember("b", "new", "u2", completion(time.time()))
    assert memo.find("b", "new", "u2").etag == "etag-1"
    assert store.entries(store.table("completed_uploads")) == 1
    store.close()
