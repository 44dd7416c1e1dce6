"""Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import client, remove_bucket
from tests.support.functional import error_code, http_status, signed_request
from tests.support.server import ADMIN, WRITER


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


def test_create_existing_bucket_by_its_owner(s3, bucket):
    # S3 in us-east-1 answers the owner's re-create with 200 and changes nothing.
    s3.put_object(Bucket=bucket, Key="kept", Body=b"still here")
    again = s3.create_bucket(Bucket=bucket)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"still here"
    assert s3.get_bucket_acl(Bucket=bucket)["Owner"]["DisplayName"] == ADMIN["name"]


def test_another_identity_cannot_take_a_bucket_name(gateway, s3, bucket):
    s3.put_object(Bucket=bucket, Key="kept", Body=b"mine")
    writer = client(gateway.endpoint, WRITER)
    with pytest.raises(ClientError) as exc:
        writer.create_bucket(Bucket=bucket)
    assert (error_code(exc.value), http_status(exc.value)) == ("BucketAlreadyExists", 409)
    assert s3.get_bucket_acl(Bucket=bucket)["Owner"]["DisplayName"] == ADMIN["name"]
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"mine"


def test_the_creator_owns_the_bucket(gateway, s3):
    name = fresh_name()
    writer = client(gateway.endpoint, WRITER)
    writer.create_bucket(Bucket=name)
    try:
        acl = s3.get_bucket_acl(Bucket=name)
        assert acl["Owner"]["DisplayName"] == WRITER["name"]
        assert acl["Grants"] == [{"Grantee": {"ID": acl["Owner"]["ID"], "Type": "CanonicalUser",
                                              "DisplayName": WRITER["name"]},
                                  "Permission": "FULL_CONTROL"}]
        # Even the admin does not own it: its create is refused as another's name.
        with pytest.raises(ClientError) as exc:
            s3.create_bucket(Bucket=name)
        assert (error_code(exc.value), http_status(exc.value)) == ("BucketAlreadyExists", 409)
        assert writer.create_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
        writer.put_object(Bucket=name, Key="o", Body=b"x")
        assert s3.get_object_acl(Bucket=name, Key="o")["Owner"]["DisplayName"] == WRITER["name"]
    finally:
        remove_bucket(s3, name)


def test_owner_survives_a_restart(make_server):
    server = make_server()
    name = fresh_name()
    client(server.endpoint, WRITER).create_bucket(Bucket=name)
    server.stop()
    server.start()
    with pytest.raises(ClientError) as exc:
        client(server.endpoint).create_bucket(Bucket=name)
    assert (error_code(exc.value), http_status(exc.value)) == ("BucketAlreadyExists", 409)
    assert client(server.endpoint).get_bucket_acl(Bucket=name)["Owner"]["DisplayName"] == \
        WRITER["name"]


def test_outside_us_east_1_the_owner_gets_bucket_already_owned_by_you(make_server):
    server = make_server(server={"region": "eu-west-1"})
    admin = boto3.client("s3", endpoint_url=server.endpoint, region_name="eu-west-1",
                         aws_access_key_id=ADMIN["access_key"],
                         aws_secret_access_key=ADMIN["secret"])
    name = fresh_name()
    admin.create_bucket(Bucket=name,
                        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    with pytest.raises(ClientError) as exc:
        admin.create_bucket(Bucket=name,
                            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert (error_code(exc.value), http_status(exc.value)) == ("BucketAlreadyOwnedByYou", 409)


def test_list_buckets_pages_with_prefix(s3):
    prefix = f"pg-{uuid.uuid4().hex[:10]}-"
    names = [prefix + suffix for suffix in ("c", "a", "b")]
    for name in names:
        s3.create_bucket(Bucket=name)
    try:
        first = s3.list_buckets(Prefix=prefix, MaxBuckets=2)
        assert [b["Name"] for b in first["Buckets"]] == [prefix + "a", prefix + "b"]
        assert first["Prefix"] == prefix and first["ContinuationToken"]
        assert all(b["BucketRegion"] == "us-east-1" for b in first["Buckets"])
        second = s3.list_buckets(Prefix=prefix, MaxBuckets=2,
                                 ContinuationToken=first["ContinuationToken"])
        assert [b["Name"] for b in second["Buckets"]] == [prefix + "c"]
        assert "ContinuationToken" not in second
        paged = [b["Name"] for page in s3.get_paginator("list_buckets").paginate(
            Prefix=prefix, PaginationConfig={"PageSize": 1}) for b in page["Buckets"]]
        assert paged == sorted(names)
        assert s3.list_buckets(Prefix=prefix, BucketRegion="eu-west-1")["Buckets"] == []
    finally:
        for name in names:
            s3.delete_bucket(Bucket=name)


@pytest.mark.parametrize("query", ["max-buckets=0", "max-buckets=10001", "max-buckets=x",
                                   "continuation-token=%25%25not-base64"])
def test_list_buckets_bad_paging(gateway, query):
    reply = signed_request(gateway.endpoint, "GET", f"/?{query}")
    assert (reply.status, reply.error_code) == (400, "InvalidArgument")


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


def test_racing_creates_have_one_owner(gateway, s3):
    """Creates of one new name at the same moment (a folder share's first files, two
    tools): one identity wins, the other is told the name is taken; the winner's own
    racing creates all succeed and the bucket works at once."""
    from concurrent.futures import ThreadPoolExecutor
    name = fresh_name()
    clients = [s3] * 4 + [client(gateway.endpoint, WRITER)] * 4

    def create(who):
        try:
            return who.create_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"]
        except ClientError as exc:
            return (error_code(exc), http_status(exc))

    with ThreadPoolExecutor(len(clients)) as pool:
        answers = list(pool.map(create, clients))
    try:
        owner = s3.get_bucket_acl(Bucket=name)["Owner"]["DisplayName"]
        mine = answers[:4] if owner == ADMIN["name"] else answers[4:]
        theirs = answers[4:] if owner == ADMIN["name"] else answers[:4]
        assert mine == [200] * 4, answers
        assert theirs == [("BucketAlreadyExists", 409)] * 4, answers
        s3.put_object(Bucket=name, Key="first.txt", Body=b"at once")
        assert s3.get_object(Bucket=name, Key="first.txt.xmp")["ContentLength"] > 0
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]] == ["first.txt"]
    finally:
        remove_bucket(s3, name)
