"""Reading an object by the parts it was uploaded in: GET/HEAD ``?partNumber=N`` and
GetObjectAttributes (boto3 and the aws CLI)."""

from __future__ import annotations

import pytest

from tests.support.functional import (checksum_b64, multipart_etag, payload, quoted_md5,
                                      signed_request)
from tests.support.hostile import client_error, unique
from tests.test_awscli import AWS, AwsCli

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def datas():
    return [payload(5 * MiB, seed=31), payload(5 * MiB + 17, seed=32), payload(999, seed=33)]


def complete(s3, bucket, key, datas, algorithm=None):
    extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]
    parts = []
    for number, data in enumerate(datas, 1):
        sent = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                              Body=data, **extra)
        parts.append({"PartNumber": number, "ETag": sent["ETag"],
                      **({f"Checksum{algorithm}": sent[f"Checksum{algorithm}"]} if algorithm else {})})
    return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})


def test_get_and_head_each_part(s3, bucket, datas):
    key = unique()
    etag = complete(s3, bucket, key, datas)["ETag"]
    offset, whole = 0, sum(len(d) for d in datas)
    for number, data in enumerate(datas, 1):
        got = s3.get_object(Bucket=bucket, Key=key, PartNumber=number)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["PartsCount"] == len(datas)
        assert got["ContentRange"] == f"bytes {offset}-{offset + len(data) - 1}/{whole}"
        assert got["ContentLength"] == len(data) and got["ETag"] == etag
        assert got["Body"].read() == data
        head = s3.head_object(Bucket=bucket, Key=key, PartNumber=number)
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert (head["ContentLength"], head["PartsCount"]) == (len(data), len(datas))
        offset += len(data)
    assert client_error(lambda: s3.get_object(Bucket=bucket, Key=key, PartNumber=4)) \
        == (416, "InvalidPartNumber")
    assert client_error(lambda: s3.head_object(Bucket=bucket, Key=key, PartNumber=4))[0] == 416
    assert client_error(lambda: s3.get_object(Bucket=bucket, Key=key, PartNumber=1,
                                         Range="bytes=0-1")) == (400, "InvalidRequest")


def test_part_number_of_an_object_put_whole(s3, bucket):
    data = payload(3000, seed=34)
    key = unique()
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    got = s3.get_object(Bucket=bucket, Key=key, PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes 0-{len(data) - 1}/{len(data)}"
    assert got["Body"].read() == data
    assert "PartsCount" not in got
    assert client_error(lambda: s3.get_object(Bucket=bucket, Key=key, PartNumber=2)) \
        == (416, "InvalidPartNumber")



@pytest.mark.parametrize("bad", ["0", "10001", "x", "-1"])
def test_part_number_out_of_range_is_invalid_argument(gateway, s3, bucket, bad):
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    reply = signed_request(gateway.endpoint, "GET", f"/{bucket}/k?partNumber={bad}")
    assert (reply.status, reply.error_code) == (400, "InvalidArgument")


def test_part_number_reads_a_noncurrent_version(s3, bucket, datas):
    key = unique()
    first = complete(s3, bucket, key, datas[1:])
    s3.put_object(Bucket=bucket, Key=key, Body=b"newer")
    got = s3.get_object(Bucket=bucket, Key=key, VersionId=first["VersionId"], PartNumber=2)
    assert got["Body"].read() == datas[2] and got["PartsCount"] == 2


def test_get_object_attributes(s3, bucket, datas):
    key = unique()
    done = complete(s3, bucket, key, datas, algorithm="SHA256")
    everything = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
    attributes = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=everything)
    assert attributes["ETag"] == multipart_etag(datas).strip('"')
    assert attributes["ObjectSize"] == sum(len(d) for d in datas)
    assert attributes["StorageClass"] == "STANDARD"
    assert attributes["VersionId"] == done["VersionId"]
    assert attributes["Checksum"] == {"ChecksumSHA256": done["ChecksumSHA256"],
                                      "ChecksumType": "COMPOSITE"}
    parts = attributes["ObjectParts"]
    assert parts["TotalPartsCount"] == 3 and parts["IsTruncated"] is False
    assert [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in parts["Parts"]] == \
        [(n, len(d), checksum_b64("SHA256", d)) for n, d in enumerate(datas, 1)]
    # Paging through the parts.
    first = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["ObjectParts"],
                                     MaxParts=2)["ObjectParts"]
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["IsTruncated"] is True and first["NextPartNumberMarker"] == 2
    rest = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["ObjectParts"],
                                    MaxParts=2, PartNumberMarker=2)["ObjectParts"]
    assert [p["PartNumber"] for p in rest["Parts"]] == [3] and rest["IsTruncated"] is False
    # Only what was asked for.
    only = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["ObjectSize"])
    assert "ETag" not in only and "ObjectParts" not in only


def test_get_object_attributes_of_a_whole_object_and_errors(s3, bucket):
    data = payload(4000, seed=35)
    key = unique()
    s3.put_object(Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm="CRC32C")
    attributes = s3.get_object_attributes(
        Bucket=bucket, Key=key, ObjectAttributes=["ETag", "Checksum", "ObjectParts", "ObjectSize"])
    assert attributes["ETag"] == quoted_md5(data).strip('"')
    assert attributes["Checksum"] == {"ChecksumCRC32C": checksum_b64("CRC32C", data),
                                      "ChecksumType": "FULL_OBJECT"}
    assert "ObjectParts" not in attributes and attributes["ObjectSize"] == len(data)
    assert client_error(lambda: s3.get_object_attributes(
        Bucket=bucket, Key="absent", ObjectAttributes=["ETag"])) == (404, "NoSuchKey")
    assert client_error(lambda: s3.get_object_attributes(
        Bucket=bucket, Key=key, ObjectAttributes=["Colour"])) == (400, "InvalidArgument")


@pytest.mark.skipif(AWS is None, reason="the aws CLI is not installed")
def test_aws_cli_get_object_attributes(gateway, s3, bucket):
    data = payload(2048, seed=36)
    s3.put_object(Bucket=bucket, Key="cli", Body=data)
    got = AwsCli(gateway.endpoint).json("s3api", "get-object-attributes", "--bucket", bucket,
                                        "--key", "cli", "--object-attributes", "ETag", "ObjectSize")
    assert got["ETag"] == quoted_md5(data).strip('"') and got["ObjectSize"] == len(data)
