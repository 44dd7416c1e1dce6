"""Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from tests.support.functional import error_code, http_status, signed_request


def fresh_name() -> str:
    return f"b-{uuid.uuid4().hex[:20]}"


def test_bucket_lifecycle(s3):
    name = fresh_name()
    created = s3.create_bucket(Bucket=name)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert created["Location"] == f"/{name}"

    listing = s3.list_buckets()
    mine = [b for b in listing["Buckets"] if b["Name"] == name]
    assert len(mine) == 1
    assert abs(mine[0]["CreationDate"] - datetime.now(timezone.utc)) < timedelta(minutes=5)
    assert listing["Owner"]["ID"] and listing["Owner"]["DisplayName"]
    names = [b["Name"] for b in listing["Buckets"]]
    assert names == sorted(names)

    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"

    assert s3.delete_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert http_status(exc.value) == 404
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_create_existing_bucket(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=bucket)
    assert error_code(exc.value) == "BucketAlreadyOwnedByYou"
    assert http_status(exc.value) == 409


def test_create_bucket_with_location_and_acl(s3):
    name = fresh_name()
    s3.create_bucket(Bucket=name, ACL="private")
    other = fresh_name()
    s3.create_bucket(Bucket=other, CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    assert s3.head_bucket(Bucket=other)["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.delete_bucket(Bucket=name)
    s3.delete_bucket(Bucket=other)


def test_delete_bucket_not_empty(s3):
    name = fresh_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="keep/me", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert error_code(exc.value) == "BucketNotEmpty" and http_status(exc.value) == 409
    assert s3.get_object(Bucket=name, Key="keep/me")["Body"].read() == b"x"
    s3.delete_object(Bucket=name, Key="keep/me")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=name)
    assert error_code(exc.value) == "NoSuchBucket"


def test_delete_bucket_drops_open_uploads(s3):
    name = fresh_name()
    s3.create_bucket(Bucket=name)
    upload_id = s3.create_multipart_upload(Bucket=name, Key="pending")["UploadId"]
    s3.upload_part(Bucket=name, Key="pending", UploadId=upload_id, PartNumber=1, Body=b"part")
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
    s3.delete_bucket(Bucket=name)


def test_missing_bucket(s3):
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="no-such-bucket-here")
    assert error_code(exc.value) == "NoSuchBucket" and http_status(exc.value) == 404
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_location(Bucket="no-such-bucket-here")
    assert error_code(exc.value) == "NoSuchBucket"


def test_get_bucket_location(s3, bucket, gateway):
    # us-east-1 is reported as an empty constraint, which boto3 gives as None.
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None
    reply = signed_request(gateway.endpoint, "GET", f"/{bucket}?location")
    assert reply.status == 200
    assert reply.xml().tag.endswith("LocationConstraint")


@pytest.mark.parametrize("name", ["UpperCase", "under_score", "ab", "a" * 64, "-leading",
                                  "trailing-", "192.168.1.1", "double..dot"])
def test_invalid_bucket_names(s3, name):
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert error_code(exc.value) == "InvalidBucketName" and http_status(exc.value) == 400


def test_get_bucket_versioning_is_enabled(s3, bucket):
    # Every bucket is versioned (see test_s3_versions).
    response = s3.get_bucket_versioning(Bucket=bucket)
    assert response["Status"] == "Enabled"
