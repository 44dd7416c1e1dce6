"""S3 conditional writes: ``If-None-Match: *`` and ``If-Match`` on PutObject and
CompleteMultipartUpload, and the 409 ConditionalRequestConflict a write gets when a
concurrent write or delete of its key wins between the request's arrival and its commit.

The conditions are judged when the request arrives (412 / 404 before the body is read)
and again, under the key's lock, when the object is committed.
"""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError

from tests.support.functional import error_code, http_status, payload, quoted_md5
from tests.support.hostile import (client_error, connect, leftover_files, read_reply,
                                   request_head, sign_v4, spool_dir, unique)
from tests.support.polling import wait_for
from tests.test_awscli import AWS, AwsCli

MiB = 1024 * 1024


def test_if_none_match_on_existing_and_deleted_key(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    assert client_error(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"two",
                                         IfNoneMatch="*")) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    # A delete marker is no object: the condition holds again.
    s3.delete_object(Bucket=bucket, Key="k")
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"three", IfNoneMatch="*")
    assert put["ETag"] == quoted_md5(b"three")


def test_if_match_mismatch_absent_and_deleted(s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    assert client_error(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x",
                                         IfMatch=quoted_md5(b"v0"))) == (412, "PreconditionFailed")
    assert client_error(lambda: s3.put_object(Bucket=bucket, Key="never", Body=b"x",
                                         IfMatch=first)) == (404, "NoSuchKey")
    # Unquoted ETags are accepted as S3 accepts them.
    second = s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch=first.strip('"'))["ETag"]
    assert second == quoted_md5(b"v2")
    s3.delete_object(Bucket=bucket, Key="k")
    assert client_error(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"v3",
                                         IfMatch=second)) == (404, "NoSuchKey")
    assert [v["ETag"] for v in s3.list_object_versions(Bucket=bucket, Prefix="k")["Versions"]] \
        == [second, first]


def _upload(s3, bucket, key, data):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1,
                          Body=data)["ETag"]
    return upload_id, {"Parts": [{"PartNumber": 1, "ETag": etag}]}


def test_complete_multipart_conditions(s3, bucket):
    upload_id, parts = _upload(s3, bucket, "mp", b"assembled")
    assert client_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload=parts,
        IfMatch=quoted_md5(b"x"))) == (404, "NoSuchKey")
    s3.put_object(Bucket=bucket, Key="mp", Body=b"meanwhile")
    assert client_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload=parts,
        IfNoneMatch="*")) == (412, "PreconditionFailed")
    assert client_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload=parts,
        IfMatch=quoted_md5(b"other"))) == (412, "PreconditionFailed")
    # The refused Completes left the upload open: it completes once the condition holds.
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                        MultipartUpload=parts, IfMatch=quoted_md5(b"meanwhile"))
    assert done["ETag"].endswith('-1"')
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"assembled"


def test_many_concurrent_if_none_match_puts_store_one(s3, bucket):
    """Writers racing to create one key: exactly one succeeds; every other one is told
    so (412 when the winner was there on arrival, 409 when it won during the upload)."""
    bodies = [payload(256 * 1024, seed=n) for n in range(12)]
    outcomes: dict[int, object] = {}
    start = threading.Barrier(len(bodies))

    def put(n: int) -> None:
        start.wait()
        try:
            outcomes[n] = s3.put_object(Bucket=bucket, Key="race", Body=bodies[n],
                                        IfNoneMatch="*")["ETag"]
        except ClientError as exc:
            outcomes[n] = (http_status(exc), error_code(exc))

    threads = [threading.Thread(target=put, args=(n,)) for n in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [n for n, o in outcomes.items() if isinstance(o, str)]
    assert len(winners) == 1, outcomes
    losers = {o for n, o in outcomes.items() if n not in winners}
    assert losers <= {(412, "PreconditionFailed"), (409, "ConditionalRequestConflict")}, losers
    assert s3.get_object(Bucket=bucket, Key="race")["Body"].read() == bodies[winners[0]]
    assert len(s3.list_object_versions(Bucket=bucket, Prefix="race")["Versions"]) == 1


def _half_sent_put(gateway, bucket: str, key: str, data: bytes, condition: dict):
    """A PUT whose headers and first half went out: its conditions were judged (its body
    is being spooled) and its commit waits for the rest. Returns (finish, read)."""
    target = f"/{bucket}/{key}"
    headers = sign_v4(gateway.endpoint, "PUT", target, payload_hash="UNSIGNED-PAYLOAD",
                      headers={**condition, "Content-Length": str(len(data))})
    sock = connect(gateway.endpoint)
    sock.sendall(request_head("PUT", target, headers) + data[:len(data) // 2])
    spool = spool_dir(gateway)
    wait_for(lambda: leftover_files(spool), 30, "the half-sent body to be spooled")

    def finish():
        try:
            sock.sendall(data[len(data) // 2:])
            return read_reply(sock, "PUT")
        finally:
            sock.close()
    return finish


@pytest.mark.parametrize("condition", ["If-None-Match", "If-Match", "If-Match-deleted"])
def test_write_that_loses_during_upload_is_a_conflict(gateway, s3, bucket, condition):
    key = unique()
    if condition == "If-None-Match":
        header = {"If-None-Match": "*"}
    else:
        header = {"If-Match": s3.put_object(Bucket=bucket, Key=key, Body=b"base")["ETag"]}
    data = payload(2 * MiB, seed=5)
    finish = _half_sent_put(gateway, bucket, key, data, header)
    if condition == "If-Match-deleted":
        s3.delete_object(Bucket=bucket, Key=key)
    else:
        s3.put_object(Bucket=bucket, Key=key, Body=b"the concurrent writer")
    reply = finish()
    assert (reply.status, reply.code) == (409, "ConditionalRequestConflict"), reply
    if condition == "If-Match-deleted":
        assert client_error(lambda: s3.head_object(Bucket=bucket, Key=key))[0] == 404
    else:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"the concurrent writer"
    etags = [v["ETag"] for v in s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]]
    assert quoted_md5(data) not in etags


@pytest.mark.skipif(AWS is None, reason="the aws CLI is not installed")
def test_aws_cli_put_object_if_none_match(gateway, s3, bucket, tmp_path):
    aws = AwsCli(gateway.endpoint)
    source = tmp_path / "body.bin"
    source.write_bytes(b"from the cli")
    created = aws.json("s3api", "put-object", "--bucket", bucket, "--key", "cli",
                       "--body", str(source), "--if-none-match", "*")
    assert created["ETag"] == quoted_md5(b"from the cli")
    again = aws.run("s3api", "put-object", "--bucket", bucket, "--key", "cli",
                    "--body", str(source), "--if-none-match", "*", check=False)
    assert again.returncode != 0
    assert "(PreconditionFailed)" in again.stderr, again.stderr
    updated = aws.json("s3api", "put-object", "--bucket", bucket, "--key", "cli",
                       "--body", str(source), "--if-match", created["ETag"])
    assert updated["ETag"] == created["ETag"]
    assert len(s3.list_object_versions(Bucket=bucket, Prefix="cli")["Versions"]) == 2
