"""Object tagging (Get/Put/DeleteObjectTagging, x-amz-tagging) and CopyObject."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from tests.support.functional import (crc32_b64, error_code, http_status, payload, quoted_md5,
                                      signed_request)
from tests.support.hostile import leftover_files, spool_dir
from tests.support.polling import wait_for


def tagset(s3, bucket, key):
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


# -- tagging ------------------------------------------------------------------------------------


def test_tagging_header_on_put(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="stage=draft&owner=team%20a&empty=")
    assert tagset(s3, bucket, "t") == {"stage": "draft", "owner": "team a", "empty": ""}
    assert s3.get_object(Bucket=bucket, Key="t")["TagCount"] == 3
    assert s3.head_object(Bucket=bucket, Key="t")["ResponseMetadata"]["HTTPHeaders"].get(
        "x-amz-tagging-count") in (None, "3")


def test_put_get_delete_tagging(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="t", Body=b"tagged", Metadata={"m": "1"})["ETag"]
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    # Tags allow UTF-8 letters, digits, spaces and + - = . _ : / @ (S3's rule).
    tags = [{"Key": "review", "Value": "approved"}, {"Key": "é key", "Value": "日本 +-=._:/@"}]
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": tags})
    assert tagset(s3, bucket, "t") == {"review": "approved", "é key": "日本 +-=._:/@"}
    # Replacing the tag set replaces it whole.
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "only", "Value": "1"}]})
    assert tagset(s3, bucket, "t") == {"only": "1"}
    # Tagging leaves the bytes, ETag and metadata alone.
    got = s3.get_object(Bucket=bucket, Key="t")
    assert got["Body"].read() == b"tagged"
    assert got["ETag"] == etag and got["Metadata"] == {"m": "1"}

    response = s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == b"tagged"


def test_overwrite_drops_tags(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"1", Tagging="a=1")
    s3.put_object(Bucket=bucket, Key="t", Body=b"2")
    assert tagset(s3, bucket, "t") == {}


def test_tagging_missing_object(s3, bucket):
    for call in (lambda: s3.get_object_tagging(Bucket=bucket, Key="nope"),
                 lambda: s3.put_object_tagging(Bucket=bucket, Key="nope",
                                               Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}),
                 lambda: s3.delete_object_tagging(Bucket=bucket, Key="nope")):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc.value) == "NoSuchKey"


def test_invalid_tags(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x")
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    with pytest.raises(ClientError) as exc:
        s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": too_many})
    assert error_code(exc.value) == "InvalidTag" and http_status(exc.value) == 400
    with pytest.raises(ClientError) as exc:
        s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "k" * 129, "Value": "v"}]})
    assert error_code(exc.value) == "InvalidTag"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="t2", Body=b"x", Tagging="a=1&a=2")
    assert error_code(exc.value) == "InvalidTag"
    assert tagset(s3, bucket, "t") == {}


# -- CopyObject ------------------------------------------------------------------------------------


@pytest.fixture
def source(s3, bucket):
    data = payload(300_000, seed=5)
    s3.put_object(Bucket=bucket, Key="src/é source+1", Body=data, ContentType="image/png",
                  Metadata={"prompt": "a red fox", "empty": ""}, CacheControl="max-age=5",
                  ContentDisposition="inline", ContentLanguage="de", Tagging="stage=draft")
    return data


def test_copy_with_metadata_directive_copy(s3, bucket, source):
    result = s3.copy_object(Bucket=bucket, Key="dst/copy", CopySource={"Bucket": bucket, "Key": "src/é source+1"})
    assert result["CopyObjectResult"]["ETag"] == quoted_md5(source)
    got = s3.get_object(Bucket=bucket, Key="dst/copy")
    assert got["Body"].read() == source
    assert got["ETag"] == quoted_md5(source)
    assert got["ContentType"] == "image/png"
    assert got["Metadata"] == {"prompt": "a red fox", "empty": ""}
    assert got["CacheControl"] == "max-age=5"
    assert got["ContentDisposition"] == "inline"
    assert got["ContentLanguage"] == "de"
    assert tagset(s3, bucket, "dst/copy") == {"stage": "draft"}


def test_copy_with_metadata_directive_replace(s3, bucket, source):
    s3.copy_object(Bucket=bucket, Key="dst/replaced", CopySource=f"{bucket}/src/é source+1",
                   MetadataDirective="REPLACE", ContentType="text/plain",
                   Metadata={"new": "yes"}, TaggingDirective="REPLACE", Tagging="fresh=1")
    got = s3.get_object(Bucket=bucket, Key="dst/replaced")
    assert got["Body"].read() == source
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"new": "yes"}
    assert "CacheControl" not in got and "ContentDisposition" not in got
    assert tagset(s3, bucket, "dst/replaced") == {"fresh": "1"}
    # The source is untouched.
    head = s3.head_object(Bucket=bucket, Key="src/é source+1")
    assert head["Metadata"] == {"prompt": "a red fox", "empty": ""} and head["ContentType"] == "image/png"


def test_copy_keeps_checksum(s3, bucket, source):
    s3.copy_object(Bucket=bucket, Key="dst/c", CopySource={"Bucket": bucket, "Key": "src/é source+1"})
    head = s3.head_object(Bucket=bucket, Key="dst/c", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == crc32_b64(source)


def test_copy_across_buckets_and_overwrite(s3, bucket, source):
    other = f"{bucket[:40]}-dst"
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=other, Key="target", Body=b"old")
    s3.copy_object(Bucket=other, Key="target", CopySource={"Bucket": bucket, "Key": "src/é source+1"})
    assert s3.get_object(Bucket=other, Key="target")["Body"].read() == source
    s3.delete_object(Bucket=other, Key="target")
    s3.delete_bucket(Bucket=other)


def test_copy_to_itself(s3, bucket, source):
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="src/é source+1",
                       CopySource={"Bucket": bucket, "Key": "src/é source+1"})
    assert error_code(exc.value) == "InvalidRequest" and http_status(exc.value) == 400
    # REPLACE is the usual way to change an object's metadata in place.
    s3.copy_object(Bucket=bucket, Key="src/é source+1", CopySource={"Bucket": bucket, "Key": "src/é source+1"},
                   MetadataDirective="REPLACE", Metadata={"prompt": "a blue fox"}, ContentType="image/webp")
    got = s3.get_object(Bucket=bucket, Key="src/é source+1")
    assert got["Body"].read() == source
    assert got["Metadata"] == {"prompt": "a blue fox"}
    assert got["ContentType"] == "image/webp"


def test_copy_source_conditions(s3, bucket, source):
    copy = {"Bucket": bucket, "Key": "dst/cond", "CopySource": {"Bucket": bucket, "Key": "src/é source+1"}}
    etag = quoted_md5(source)
    modified = s3.head_object(Bucket=bucket, Key="src/é source+1")["LastModified"]
    earlier, later = modified - timedelta(hours=1), modified + timedelta(hours=1)
    failing = [{"CopySourceIfMatch": quoted_md5(b"else")},
               {"CopySourceIfNoneMatch": etag},
               {"CopySourceIfModifiedSince": later},
               {"CopySourceIfUnmodifiedSince": earlier}]
    for condition in failing:
        with pytest.raises(ClientError) as exc:
            s3.copy_object(**copy, **condition)
        assert error_code(exc.value) == "PreconditionFailed", condition
        assert http_status(exc.value) == 412
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="dst/cond")
    passing = [{"CopySourceIfMatch": etag},
               {"CopySourceIfNoneMatch": quoted_md5(b"else")},
               {"CopySourceIfModifiedSince": earlier},
               {"CopySourceIfUnmodifiedSince": later},
               {"CopySourceIfMatch": etag, "CopySourceIfUnmodifiedSince": earlier}]
    for condition in passing:
        result = s3.copy_object(**copy, **condition)
        assert result["CopyObjectResult"]["ETag"] == etag, condition


def test_copy_destination_conditions(s3, bucket, source):
    s3.put_object(Bucket=bucket, Key="dst/exists", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="dst/exists", IfNoneMatch="*",
                       CopySource={"Bucket": bucket, "Key": "src/é source+1"})
    assert error_code(exc.value) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="dst/exists")["Body"].read() == b"x"


def test_copy_errors(s3, bucket, source):
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "missing"})
    assert error_code(exc.value) == "NoSuchKey"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": "no-such-bucket-here", "Key": "k"})
    assert error_code(exc.value) == "NoSuchBucket"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket="no-such-bucket-here", Key="d",
                       CopySource={"Bucket": bucket, "Key": "src/é source+1"})
    assert error_code(exc.value) == "NoSuchBucket"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="d", MetadataDirective="MERGE",
                       CopySource={"Bucket": bucket, "Key": "src/é source+1"})
    assert error_code(exc.value) == "InvalidArgument"


def test_copy_with_version_id(s3, bucket, source):
    version = s3.head_object(Bucket=bucket, Key="src/é source+1")["VersionId"]
    copied = s3.copy_object(Bucket=bucket, Key="dst/v",
                            CopySource={"Bucket": bucket, "Key": "src/é source+1", "VersionId": version})
    assert copied["CopySourceVersionId"] == version
    assert s3.get_object(Bucket=bucket, Key="dst/v")["Body"].read() == source


def test_copy_of_multipart_object(s3, bucket):
    parts = [payload(5 * 1024 * 1024, seed=31), b"tail"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp", Metadata={"a": "b"})["UploadId"]
    done = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id,
                                                     PartNumber=n, Body=d)["ETag"]}
            for n, d in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                 MultipartUpload={"Parts": done})
    s3.copy_object(Bucket=bucket, Key="mp-copy", CopySource={"Bucket": bucket, "Key": "mp"})
    got = s3.get_object(Bucket=bucket, Key="mp-copy")
    assert got["Body"].read() == b"".join(parts)
    assert got["Metadata"] == {"a": "b"}


# -- tag order, limits, tags set with a write ------------------------------------------------


def tag_list(s3, bucket, key, **version) -> list[tuple[str, str]]:
    return [(t["Key"], t["Value"])
            for t in s3.get_object_tagging(Bucket=bucket, Key=key, **version)["TagSet"]]


def test_tags_come_back_in_the_order_they_were_set(s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="o", Body=b"1",
                          Tagging="zeta=1&alpha=2&mid=3&b%20b=4")["VersionId"]
    assert tag_list(s3, bucket, "o") == [("zeta", "1"), ("alpha", "2"), ("mid", "3"),
                                         ("b b", "4")]
    s3.put_object_tagging(Bucket=bucket, Key="o", Tagging={"TagSet": [
        {"Key": "z", "Value": "1"}, {"Key": "a", "Value": "2"}, {"Key": "m", "Value": "3"}]})
    assert tag_list(s3, bucket, "o") == [("z", "1"), ("a", "2"), ("m", "3")]
    second = s3.put_object(Bucket=bucket, Key="o", Body=b"2", Tagging="y=1&x=2")["VersionId"]
    assert tag_list(s3, bucket, "o", VersionId=first) == [("z", "1"), ("a", "2"), ("m", "3")]
    assert tag_list(s3, bucket, "o", VersionId=second) == [("y", "1"), ("x", "2")]


def test_tagging_limits_are_at_s3s_bounds(s3, bucket):
    ten = "&".join(f"k{9 - i}=v" for i in range(10))
    s3.put_object(Bucket=bucket, Key="max", Body=b"x", Tagging=ten)
    assert len(tag_list(s3, bucket, "max")) == 10
    s3.put_object_tagging(Bucket=bucket, Key="max", Tagging={"TagSet": [
        {"Key": "k" * 128, "Value": "v" * 256}]})
    assert tag_list(s3, bucket, "max") == [("k" * 128, "v" * 256)]


INVALID_TAG_SETS = {
    "eleven tags": [(f"k{i}", "v") for i in range(11)],
    "key of 129": [("k" * 129, "v")],
    "value of 257": [("k", "v" * 257)],
    "duplicate key": [("dup", "1"), ("dup", "2")],
    "aws: prefix": [("aws:cloudformation:stack", "v")],
    "empty key": [("", "v")],
}


@pytest.mark.parametrize("case", INVALID_TAG_SETS)
def test_invalid_tag_sets_are_refused_everywhere(gateway, s3, bucket, case):
    from urllib.parse import quote
    tags = INVALID_TAG_SETS[case]
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="keep=1")
    header = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in tags)
    attempts = {
        "PutObject": lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"x", Tagging=header),
        "CopyObject": lambda: s3.copy_object(Bucket=bucket, Key="new", CopySource=f"{bucket}/t",
                                             TaggingDirective="REPLACE", Tagging=header),
        "CreateMultipartUpload": lambda: s3.create_multipart_upload(Bucket=bucket, Key="new",
                                                                    Tagging=header),
    }
    if case not in ("duplicate key", "empty key"):  # boto3 itself refuses these documents
        attempts["PutObjectTagging"] = lambda: s3.put_object_tagging(
            Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags]})
    for name, attempt in attempts.items():
        with pytest.raises(ClientError) as exc:
            attempt()
        assert (error_code(exc.value), http_status(exc.value)) == ("InvalidTag", 400), name
    body = ("<Tagging><TagSet>" + "".join(
        f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in tags) + "</TagSet></Tagging>")
    reply = signed_request(gateway.endpoint, "PUT", f"/{bucket}/t?tagging", body=body.encode())
    assert (reply.status, reply.error_code) == (400, "InvalidTag")
    assert tag_list(s3, bucket, "t") == [("keep", "1")]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_copy_tagging_directive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"s", Tagging="b=2&a=1")
    s3.copy_object(Bucket=bucket, Key="kept", CopySource=f"{bucket}/src",
                   Tagging="ignored=1")  # COPY (the default) takes the source's tags
    assert tag_list(s3, bucket, "kept") == [("b", "2"), ("a", "1")]
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource=f"{bucket}/src",
                   TaggingDirective="REPLACE", Tagging="new=1&also=2")
    assert tag_list(s3, bucket, "replaced") == [("new", "1"), ("also", "2")]
    s3.copy_object(Bucket=bucket, Key="none", CopySource=f"{bucket}/src",
                   TaggingDirective="REPLACE")
    assert tag_list(s3, bucket, "none") == []
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="bad", CopySource=f"{bucket}/src",
                       TaggingDirective="MERGE")
    assert (error_code(exc.value), http_status(exc.value)) == ("InvalidArgument", 400)
    assert "bad" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]


def test_multipart_tags_apply_at_complete(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="stage=raw&by=farm")
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=1,
                          Body=b"part")
    with pytest.raises(ClientError):
        s3.get_object_tagging(Bucket=bucket, Key="mp")     # nothing there before Complete
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1,
                                                             "ETag": part["ETag"]}]})
    assert tag_list(s3, bucket, "mp") == [("stage", "raw"), ("by", "farm")]
    assert s3.head_object(Bucket=bucket, Key="mp")["ResponseMetadata"]["HTTPHeaders"][
        "x-amz-tagging-count"] == "2"


def test_a_write_cannot_carry_a_review_decision(gateway, s3, bucket):
    for attempt in (
            lambda: s3.put_object(Bucket=bucket, Key="self", Body=b"x", Tagging="review=approved"),
            lambda: s3.create_multipart_upload(Bucket=bucket, Key="self",
                                               Tagging="review=approved")):
        with pytest.raises(ClientError) as exc:
            attempt()
        assert (error_code(exc.value), http_status(exc.value)) == ("InvalidTag", 400)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # the refused PutObject's body, received before its tags were judged, is released
    spool = spool_dir(gateway)
    wait_for(lambda: not leftover_files(spool), what="the refused body released",
             log=lambda: str(leftover_files(spool)))
    # A decision made on a version stays with it: a copy is a new, undecided version.
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="team=a")
    s3.put_object_tagging(Bucket=bucket, Key="src", Tagging={"TagSet": [
        {"Key": "team", "Value": "a"}, {"Key": "review", "Value": "approved"}]})
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/src")
    assert tag_list(s3, bucket, "copy") == [("team", "a")]
    assert tag_list(s3, bucket, "src") == [("team", "a"), ("review", "approved")]
