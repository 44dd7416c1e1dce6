"""Hostile multipart uploads: bad part numbers, parts out of order, unknown ETags, small
non-last parts, bogus upload ids.

A refused Complete leaves the upload open (so the client can retry or abort) and makes
nothing visible; a correct Complete afterwards still works.
"""

from __future__ import annotations

import os

import pytest

from tests.support.hostile import (assert_error, client_error, quote_key, send, sign_v4, unique)

MIB = 2**20


def _raw(gateway, method: str, target: str, body: bytes = b""):
    headers = sign_v4(gateway.endpoint, method, target, body=body)
    return send(gateway, method, target, headers=headers, body=body)


class Upload:
    def __init__(self, guard, sizes: list[int]) -> None:
        self.guard = guard
        self.s3, self.bucket, self.key = guard.s3, guard.bucket, unique("mpu")
        self.id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
        self.data = {}
        self.etags = {}
        for number, size in enumerate(sizes, start=1):
            self.data[number] = os.urandom(size)
            self.etags[number] = self.s3.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=self.id, PartNumber=number,
                Body=self.data[number])["ETag"]

    def complete(self, parts: list[tuple[int, str]]):
        return self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]})

    def complete_error(self, parts) -> tuple[int, str]:
        return client_error(lambda: self.complete(parts))

    def all_parts(self) -> list[tuple[int, str]]:
        return sorted(self.etags.items())

    def still_open(self) -> None:
        listed = self.s3.list_parts(Bucket=self.bucket, Key=self.key, UploadId=self.id)["Parts"]
        assert [(p["PartNumber"], p["ETag"]) for p in listed] == self.all_parts()
        self.guard.check(uploads=1)

    def finish(self) -> None:
        self.complete(self.all_parts())
        self.guard.objects[self.key] = b"".join(self.data[n] for n in sorted(self.data))
        self.guard.check()


@pytest.mark.parametrize("number", ["0", "10001", "x", "-1", "", "1.5", "99999999999999999999", "%201"])
def test_invalid_part_number(gateway, guard, number):
    upload = Upload(guard, [100])
    target = f"/{guard.bucket}/{quote_key(upload.key)}?partNumber={number}&uploadId={upload.id}"
    assert_error(_raw(gateway, "PUT", target, body=b"part"), 400, "InvalidArgument")
    upload.still_open()
    upload.finish()


def test_part_number_limits_control(guard):
    upload = Upload(guard, [])
    for number in (1, 10000):
        upload.data[number] = os.urandom(10)
        upload.etags[number] = guard.s3.upload_part(
            Bucket=guard.bucket, Key=upload.key, UploadId=upload.id, PartNumber=number,
            Body=upload.data[number])["ETag"]
    upload.data[1] = os.urandom(5 * MIB)
    upload.etags[1] = guard.s3.upload_part(Bucket=guard.bucket, Key=upload.key, UploadId=upload.id,
                                           PartNumber=1, Body=upload.data[1])["ETag"]
    upload.finish()


def test_parts_out_of_order(guard):
    upload = Upload(guard, [5 * MIB, 5 * MIB, 1000])
    parts = upload.all_parts()
    assert upload.complete_error([parts[1], parts[0], parts[2]]) == (400, "InvalidPartOrder")
    assert upload.complete_error([parts[0], parts[1], parts[1], parts[0]]) == (400, "InvalidPartOrder")
    assert upload.complete_error(list(reversed(parts))) == (400, "InvalidPartOrder")
    upload.still_open()
    upload.finish()


def test_unknown_part_or_etag(guard):
    upload = Upload(guard, [5 * MIB, 1000])
    parts = upload.all_parts()
    wrong = '"' + "0" * 32 + '"'
    assert upload.complete_error([parts[0], (2, wrong)]) == (400, "InvalidPart")
    assert upload.complete_error([parts[0], parts[1], (3, parts[1][1])]) == (400, "InvalidPart")
    assert upload.complete_error([(1, parts[1][1]), (2, parts[0][1])]) == (400, "InvalidPart")
    assert upload.complete_error([(7, parts[0][1])]) == (400, "InvalidPart")
    upload.still_open()
    upload.finish()


def test_small_non_last_part(guard):
    upload = Upload(guard, [1000, 5 * MIB, 1000])
    assert upload.complete_error(upload.all_parts()) == (400, "EntityTooSmall")
    upload.still_open()
    # Dropping the small first part (a subset of parts is allowed) makes it valid.
    parts = upload.all_parts()[1:]
    upload.complete(parts)
    guard.objects[upload.key] = upload.data[2] + upload.data[3]
    guard.check()


def test_small_last_part_control(guard):
    upload = Upload(guard, [5 * MIB, 1])
    upload.finish()


def test_bogus_upload_id(gateway, guard):
    s3, bucket, key = guard.s3, guard.bucket, unique()
    for upload_id in ["nope", "../../etc", "0" * 32, "%00"]:
        target = f"/{bucket}/{key}?partNumber=1&uploadId={upload_id}"
        assert_error(_raw(gateway, "PUT", target, body=b"x"), 404, "NoSuchUpload")
        body = (b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>"
                b"</CompleteMultipartUpload>")
        assert_error(_raw(gateway, "POST", f"/{bucket}/{key}?uploadId={upload_id}", body=body),
                     404, "NoSuchUpload")
        assert_error(_raw(gateway, "DELETE", f"/{bucket}/{key}?uploadId={upload_id}"),
                     404, "NoSuchUpload")
        assert_error(_raw(gateway, "GET", f"/{bucket}/{key}?uploadId={upload_id}"),
                     404, "NoSuchUpload")
    assert client_error(lambda: s3.head_object(Bucket=bucket, Key=key))[0] == 404
    guard.check()


def test_upload_id_of_another_key(gateway, guard):
    upload = Upload(guard, [1000])
    other = unique("other")
    target = f"/{guard.bucket}/{other}?partNumber=2&uploadId={upload.id}"
    assert_error(_raw(gateway, "PUT", target, body=b"x"), 404, "NoSuchUpload")
    upload.still_open()
    upload.finish()


def test_complete_after_abort(guard):
    upload = Upload(guard, [1000])
    guard.s3.abort_multipart_upload(Bucket=guard.bucket, Key=upload.key, UploadId=upload.id)
    assert upload.complete_error(upload.all_parts()) == (404, "NoSuchUpload")
    assert client_error(lambda: guard.s3.upload_part(Bucket=guard.bucket, Key=upload.key, UploadId=upload.id,
                                               PartNumber=2, Body=b"late")) == (404, "NoSuchUpload")
    guard.check()
