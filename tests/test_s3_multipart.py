"""Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort, ListParts,
ListMultipartUploads, and boto3's managed transfer on top of them."""

from __future__ import annotations

import hashlib
import io
import zlib

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.support.functional import (crc32_b64, error_code, md5_hex, multipart_etag, payload,
                                      quoted_md5)

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def parts():
    """Two full-size parts and a short last one, made once."""
    return [payload(5 * MiB, seed=1), payload(5 * MiB + 3, seed=2), payload(1234, seed=3)]


def upload_all(s3, bucket, key, upload_id, datas, start=1):
    return [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id,
                                                     PartNumber=n, Body=d)["ETag"]}
            for n, d in enumerate(datas, start)]


def test_multipart_roundtrip_etag_and_attributes(s3, bucket, parts):
    created = s3.create_multipart_upload(
        Bucket=bucket, Key="big/object.bin", ContentType="image/png",
        Metadata={"prompt": "a cat", "empty": ""}, CacheControl="no-store",
        ContentDisposition="inline", Tagging="stage=draft")
    upload_id = created["UploadId"]
    assert created["Bucket"] == bucket and created["Key"] == "big/object.bin" and upload_id

    done = []
    for number, data in enumerate(parts, 1):
        response = s3.upload_part(Bucket=bucket, Key="big/object.bin", UploadId=upload_id,
                                  PartNumber=number, Body=data)
        assert response["ETag"] == quoted_md5(data)
        assert response["ChecksumCRC32"] == crc32_b64(data)
        done.append({"PartNumber": number, "ETag": response["ETag"]})

    result = s3.complete_multipart_upload(Bucket=bucket, Key="big/object.bin", UploadId=upload_id,
                                          MultipartUpload={"Parts": done})
    expected_etag = multipart_etag(parts)
    assert result["ETag"] == expected_etag
    assert result["Bucket"] == bucket and result["Key"] == "big/object.bin"

    whole = b"".join(parts)
    got = s3.get_object(Bucket=bucket, Key="big/object.bin")
    assert got["ETag"] == expected_etag
    assert got["ContentLength"] == len(whole)
    assert got["Body"].read() == whole
    assert got["ContentType"] == "image/png"
    assert got["CacheControl"] == "no-store"
    assert got["ContentDisposition"] == "inline"
    assert got["Metadata"] == {"prompt": "a cat", "empty": ""}
    tags = s3.get_object_tagging(Bucket=bucket, Key="big/object.bin")["TagSet"]
    assert tags == [{"Key": "stage", "Value": "draft"}]

    ranged = s3.get_object(Bucket=bucket, Key="big/object.bin", Range=f"bytes={5 * MiB - 10}-{5 * MiB + 9}")
    assert ranged["Body"].read() == whole[5 * MiB - 10:5 * MiB + 10]

    # The upload is gone once completed.
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="big/object.bin", UploadId=upload_id)
    assert error_code(exc.value) == "NoSuchUpload"
    listed = s3.list_multipart_uploads(Bucket=bucket)
    assert upload_id not in [u["UploadId"] for u in listed.get("Uploads", [])]


def test_record_of_a_multipart_object_hashes_the_whole(s3, bucket, parts):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="whole.bin")["UploadId"]
    done = upload_all(s3, bucket, "whole.bin", upload_id, parts)
    s3.complete_multipart_upload(Bucket=bucket, Key="whole.bin", UploadId=upload_id,
                                 MultipartUpload={"Parts": done})
    whole = b"".join(parts)
    record = s3.get_object(Bucket=bucket, Key="whole.bin.xmp")["Body"].read().decode()
    assert f"<pg:SHA256>{hashlib.sha256(whole).hexdigest()}</pg:SHA256>" in record
    assert f"<pg:Size>{len(whole)}</pg:Size>" in record


def test_single_part_upload_etag(s3, bucket):
    data = b"only part"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="one")["UploadId"]
    done = upload_all(s3, bucket, "one", upload_id, [data])
    result = s3.complete_multipart_upload(Bucket=bucket, Key="one", UploadId=upload_id,
                                          MultipartUpload={"Parts": done})
    assert result["ETag"] == multipart_etag([data])
    assert s3.get_object(Bucket=bucket, Key="one")["Body"].read() == data


def test_reuploaded_part_replaces_the_first(s3, bucket, parts):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="re")["UploadId"]
    upload_all(s3, bucket, "re", upload_id, [payload(5 * MiB, seed=9)])
    done = upload_all(s3, bucket, "re", upload_id, [parts[0], b"tail"])
    listed = s3.list_parts(Bucket=bucket, Key="re", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [
        (1, quoted_md5(parts[0]), len(parts[0])), (2, quoted_md5(b"tail"), 4)]
    s3.complete_multipart_upload(Bucket=bucket, Key="re", UploadId=upload_id,
                                 MultipartUpload={"Parts": done})
    assert s3.get_object(Bucket=bucket, Key="re")["Body"].read() == parts[0] + b"tail"


def test_complete_with_a_subset_of_parts(s3, bucket, parts):
    """Parts may be skipped: the object is made of the parts named, in order."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="subset")["UploadId"]
    done = upload_all(s3, bucket, "subset", upload_id, parts)
    chosen = [done[0], done[2]]
    result = s3.complete_multipart_upload(Bucket=bucket, Key="subset", UploadId=upload_id,
                                          MultipartUpload={"Parts": chosen})
    assert result["ETag"] == multipart_etag([parts[0], parts[2]])
    assert s3.get_object(Bucket=bucket, Key="subset")["Body"].read() == parts[0] + parts[2]


def test_list_parts_paging(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="lp")["UploadId"]
    datas = [f"part {n}".encode() for n in range(1, 6)]
    upload_all(s3, bucket, "lp", upload_id, datas)
    first = s3.list_parts(Bucket=bucket, Key="lp", UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["IsTruncated"] is True
    assert first["NextPartNumberMarker"] == 2
    assert first["UploadId"] == upload_id and first["Key"] == "lp"
    assert first["Parts"][0]["ETag"] == quoted_md5(datas[0])
    assert first["Parts"][0]["Size"] == len(datas[0])
    rest = s3.list_parts(Bucket=bucket, Key="lp", UploadId=upload_id, PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["Parts"]] == [3, 4, 5]
    assert rest["IsTruncated"] is False
    everything = [p["PartNumber"] for page in s3.get_paginator("list_parts").paginate(
        Bucket=bucket, Key="lp", UploadId=upload_id, PaginationConfig={"PageSize": 2})
        for p in page["Parts"]]
    assert everything == [1, 2, 3, 4, 5]
    s3.abort_multipart_upload(Bucket=bucket, Key="lp", UploadId=upload_id)


def test_abort_removes_upload_and_parts(s3, bucket, gateway, parts):
    part_dir = None
    if gateway.storage.get("kind") == "fs":
        from pathlib import Path
        part_dir = Path(gateway.storage["path"]) / ".provgate" / "parts"
        before = len(list(part_dir.iterdir()))
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="doomed")["UploadId"]
    upload_all(s3, bucket, "doomed", upload_id, [parts[0], b"second"])
    if part_dir is not None:
        assert len(list(part_dir.iterdir())) == before + 2

    response = s3.abort_multipart_upload(Bucket=bucket, Key="doomed", UploadId=upload_id)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    if part_dir is not None:
        assert len(list(part_dir.iterdir())) == before

    for call in (
        lambda: s3.list_parts(Bucket=bucket, Key="doomed", UploadId=upload_id),
        lambda: s3.upload_part(Bucket=bucket, Key="doomed", UploadId=upload_id, PartNumber=3, Body=b"x"),
        lambda: s3.complete_multipart_upload(Bucket=bucket, Key="doomed", UploadId=upload_id,
                                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": quoted_md5(parts[0])}]}),
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="doomed", UploadId=upload_id),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc.value) == "NoSuchUpload"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert upload_id not in [u["UploadId"] for u in
                             s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="doomed")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_unknown_upload_id(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="k", UploadId="does-not-exist", PartNumber=1, Body=b"x")
    assert error_code(exc.value) == "NoSuchUpload"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as exc:  # an upload id belongs to its key
        s3.list_parts(Bucket=bucket, Key="other", UploadId=upload_id)
    assert error_code(exc.value) == "NoSuchUpload"
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)


def test_complete_errors(s3, bucket, parts):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="bad")["UploadId"]
    done = upload_all(s3, bucket, "bad", upload_id, [b"small first", parts[2]])

    def complete(parts_list):
        with pytest.raises(ClientError) as exc:
            s3.complete_multipart_upload(Bucket=bucket, Key="bad", UploadId=upload_id,
                                         MultipartUpload={"Parts": parts_list})
        return error_code(exc.value)

    assert complete([{"PartNumber": 1, "ETag": quoted_md5(b"wrong")}]) == "InvalidPart"
    assert complete([{"PartNumber": 7, "ETag": done[0]["ETag"]}]) == "InvalidPart"
    assert complete([done[1], done[0]]) == "InvalidPartOrder"
    assert complete(done) == "EntityTooSmall"
    # Failed completions leave the upload usable.
    listed = s3.list_parts(Bucket=bucket, Key="bad", UploadId=upload_id)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2]
    s3.complete_multipart_upload(Bucket=bucket, Key="bad", UploadId=upload_id,
                                 MultipartUpload={"Parts": [done[0]]})
    assert s3.get_object(Bucket=bucket, Key="bad")["Body"].read() == b"small first"


def test_invalid_part_number(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="pn")["UploadId"]
    for number in (0, 10001):
        with pytest.raises(ClientError) as exc:
            s3.upload_part(Bucket=bucket, Key="pn", UploadId=upload_id, PartNumber=number, Body=b"x")
        assert error_code(exc.value) == "InvalidArgument"
    s3.abort_multipart_upload(Bucket=bucket, Key="pn", UploadId=upload_id)


def test_upload_part_copy_with_ranges(s3, bucket):
    source = payload(6 * MiB + 100, seed=11)
    s3.put_object(Bucket=bucket, Key="src/é source", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    first = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "src/é source"},
                                CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    slice1 = source[:5 * MiB]
    assert first["CopyPartResult"]["ETag"] == quoted_md5(slice1)
    second = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=2,
                                 CopySource={"Bucket": bucket, "Key": "src/é source"},
                                 CopySourceRange=f"bytes={5 * MiB}-{6 * MiB + 99}")
    slice2 = source[5 * MiB:]
    assert second["CopyPartResult"]["ETag"] == quoted_md5(slice2)
    s3.upload_part(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=3, Body=b"own bytes")
    whole_copy = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload_id,
                                     PartNumber=4, CopySource=f"{bucket}/src/é source")
    assert whole_copy["CopyPartResult"]["ETag"] == quoted_md5(source)
    parts = s3.list_parts(Bucket=bucket, Key="assembled", UploadId=upload_id)["Parts"]
    assert [p["Size"] for p in parts] == [len(slice1), len(slice2), 9, len(source)]

    result = s3.complete_multipart_upload(
        Bucket=bucket, Key="assembled", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
                                   {"PartNumber": 4, "ETag": whole_copy["CopyPartResult"]["ETag"]}]})
    assert result["ETag"] == multipart_etag([slice1, source])
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == slice1 + source


def test_upload_part_copy_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=5-50")
    assert error_code(exc.value) == "InvalidRange"
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "missing"})
    assert error_code(exc.value) == "NoSuchKey"
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"},
                            CopySourceIfMatch=quoted_md5(b"something else"))
    assert error_code(exc.value) == "PreconditionFailed"
    ok = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=2-4",
                             CopySourceIfMatch=quoted_md5(b"0123456789"))
    assert ok["CopyPartResult"]["ETag"] == quoted_md5(b"234")
    s3.abort_multipart_upload(Bucket=bucket, Key="dst", UploadId=upload_id)


def test_list_multipart_uploads(s3, bucket):
    created = {}
    for key in ("a/1", "a/2", "b/1", "c", "a/2"):
        created.setdefault(key, []).append(
            s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
    listing = s3.list_multipart_uploads(Bucket=bucket)
    uploads = [(u["Key"], u["UploadId"]) for u in listing["Uploads"]]
    assert sorted(uploads) == sorted((k, u) for k, ids in created.items() for u in ids)
    assert [k for k, _ in uploads] == sorted(k for k, _ in uploads)
    assert all(u["Initiated"] and u["Initiator"]["ID"] for u in listing["Uploads"])
    assert listing["IsTruncated"] is False

    only_a = s3.list_multipart_uploads(Bucket=bucket, Prefix="a/")
    assert sorted(u["Key"] for u in only_a["Uploads"]) == ["a/1", "a/2", "a/2"]

    rolled = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/", "b/"]
    assert [u["Key"] for u in rolled["Uploads"]] == ["c"]

    paged, kwargs = [], {"Bucket": bucket, "MaxUploads": 2}
    while True:
        page = s3.list_multipart_uploads(**kwargs)
        paged += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        kwargs.update(KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"])
    assert sorted(paged) == sorted(uploads) and len(paged) == len(uploads)

    entries, kwargs = [], {"Bucket": bucket, "MaxUploads": 1, "Delimiter": "/"}
    while True:
        page = s3.list_multipart_uploads(**kwargs)
        entries += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        entries += [u["Key"] for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        kwargs.update(KeyMarker=page["NextKeyMarker"], UploadIdMarker=page.get("NextUploadIdMarker", ""))
        assert len(entries) < 10
    assert entries == ["a/", "b/", "c"]

    for key, ids in created.items():
        for upload_id in ids:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_managed_transfer_up_and_down(s3, bucket):
    """boto3's upload_fileobj / download_fileobj: parallel parts, CRC32 per part, ranges."""
    data = payload(17 * MiB + 5, seed=21)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4)
    s3.upload_fileobj(io.BytesIO(data), bucket, "managed.bin", Config=config)
    chunks = [data[i:i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    head = s3.head_object(Bucket=bucket, Key="managed.bin")
    assert head["ETag"] == multipart_etag(chunks)
    assert head["ContentLength"] == len(data)
    out = io.BytesIO()
    s3.download_fileobj(bucket, "managed.bin", out, Config=config)
    assert md5_hex(out.getvalue()) == md5_hex(data)


def test_multipart_crc32_parts_reported_by_list_parts(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="crc", ChecksumAlgorithm="CRC32")["UploadId"]
    data = b"checksummed part"
    s3.upload_part(Bucket=bucket, Key="crc", UploadId=upload_id, PartNumber=1, Body=data,
                   ChecksumAlgorithm="CRC32")
    part = s3.list_parts(Bucket=bucket, Key="crc", UploadId=upload_id)["Parts"][0]
    assert part["ChecksumCRC32"] == crc32_b64(data)
    assert zlib.crc32(data)  # sanity: the expectation is computed here, not by the server
    s3.abort_multipart_upload(Bucket=bucket, Key="crc", UploadId=upload_id)


def test_conditional_complete(s3, bucket):
    s3.put_object(Bucket=bucket, Key="exists", Body=b"first")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="exists")["UploadId"]
    done = upload_all(s3, bucket, "exists", upload_id, [b"second"])
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="exists", UploadId=upload_id,
                                     MultipartUpload={"Parts": done}, IfNoneMatch="*")
    assert error_code(exc.value) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="exists")["Body"].read() == b"first"
    s3.complete_multipart_upload(Bucket=bucket, Key="exists", UploadId=upload_id,
                                 MultipartUpload={"Parts": done}, IfMatch=quoted_md5(b"first"))
    assert s3.get_object(Bucket=bucket, Key="exists")["Body"].read() == b"second"
