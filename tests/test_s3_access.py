"""Who may do what (roles, bucket scope, anonymous) and how requests address buckets
(path style, virtual-host style under ``[server] domain``)."""

from __future__ import annotations

import socket
import uuid

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.support.functional import (AWKWARD_KEYS, error_code, http_request, http_status,
                                      listing_keys, signed_request)
from tests.support.server import READER, SCOPED, WRITER

SCOPED_BUCKET = SCOPED["buckets"][0]


def denied(call) -> ClientError:
    with pytest.raises(ClientError) as exc:
        call()
    assert error_code(exc.value) == "AccessDenied", exc.value.response["Error"]
    assert http_status(exc.value) == 403
    return exc.value


def test_reader_reads_but_cannot_write(gateway, s3, bucket):
    s3.put_object(Bucket=bucket, Key="doc", Body=b"readable", Tagging="a=1")
    reader = client(gateway.endpoint, READER)
    assert reader.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"readable"
    assert reader.head_object(Bucket=bucket, Key="doc")["ContentLength"] == 8
    assert [o["Key"] for o in reader.list_objects_v2(Bucket=bucket)["Contents"]] == ["doc"]
    assert b"<pg:Key>doc</pg:Key>" in reader.get_object(Bucket=bucket, Key="doc.xmp")["Body"].read()
    assert bucket in [b["Name"] for b in reader.list_buckets()["Buckets"]]
    assert reader.get_object_tagging(Bucket=bucket, Key="doc")["TagSet"]

    denied(lambda: reader.put_object(Bucket=bucket, Key="new", Body=b"x"))
    denied(lambda: reader.put_object(Bucket=bucket, Key="doc", Body=b"overwrite"))
    denied(lambda: reader.delete_object(Bucket=bucket, Key="doc"))
    denied(lambda: reader.put_object(Bucket=bucket, Key="doc.xmp", Body=b"<x/>"))
    denied(lambda: reader.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "doc"}]}))
    denied(lambda: reader.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/doc"))
    denied(lambda: reader.put_object_tagging(Bucket=bucket, Key="doc",
                                             Tagging={"TagSet": [{"Key": "b", "Value": "2"}]}))
    denied(lambda: reader.delete_object_tagging(Bucket=bucket, Key="doc"))
    denied(lambda: reader.create_multipart_upload(Bucket=bucket, Key="mp"))
    denied(lambda: reader.create_bucket(Bucket=f"r-{uuid.uuid4().hex[:12]}"))
    denied(lambda: reader.delete_bucket(Bucket=bucket))

    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"readable"
    assert s3.get_object_tagging(Bucket=bucket, Key="doc")["TagSet"] == [{"Key": "a", "Value": "1"}]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["doc"]


def test_writer_writes_objects(gateway, bucket):
    writer = client(gateway.endpoint, WRITER)
    writer.put_object(Bucket=bucket, Key="w", Body=b"written")
    assert writer.get_object(Bucket=bucket, Key="w")["Body"].read() == b"written"
    writer.delete_object(Bucket=bucket, Key="w")


@pytest.fixture
def scoped_bucket(s3):
    try:
        s3.create_bucket(Bucket=SCOPED_BUCKET)
    except ClientError as exc:
        if error_code(exc) != "BucketAlreadyOwnedByYou":
            raise
    return SCOPED_BUCKET


def test_scoped_identity_sees_only_its_bucket(gateway, s3, bucket, scoped_bucket):
    s3.put_object(Bucket=bucket, Key="secret", Body=b"not for scoped")
    scoped = client(gateway.endpoint, SCOPED)
    assert [b["Name"] for b in scoped.list_buckets()["Buckets"]] == [scoped_bucket]

    key = f"mine-{uuid.uuid4().hex[:8]}"
    scoped.put_object(Bucket=scoped_bucket, Key=key, Body=b"scoped data")
    assert scoped.get_object(Bucket=scoped_bucket, Key=key)["Body"].read() == b"scoped data"
    assert key in [o["Key"] for o in scoped.list_objects_v2(Bucket=scoped_bucket)["Contents"]]

    denied(lambda: scoped.get_object(Bucket=bucket, Key="secret"))
    denied(lambda: scoped.list_objects_v2(Bucket=bucket))
    denied(lambda: scoped.get_bucket_location(Bucket=bucket))
    denied(lambda: scoped.put_object(Bucket=bucket, Key="intrude", Body=b"x"))
    denied(lambda: scoped.delete_object(Bucket=bucket, Key="secret"))
    # Copy reads the source bucket: out of scope too.
    denied(lambda: scoped.copy_object(Bucket=scoped_bucket, Key="stolen",
                                      CopySource={"Bucket": bucket, "Key": "secret"}))
    upload_id = scoped.create_multipart_upload(Bucket=scoped_bucket, Key="mp")["UploadId"]
    denied(lambda: scoped.upload_part_copy(Bucket=scoped_bucket, Key="mp", UploadId=upload_id,
                                           PartNumber=1, CopySource={"Bucket": bucket, "Key": "secret"}))
    scoped.abort_multipart_upload(Bucket=scoped_bucket, Key="mp", UploadId=upload_id)
    # A bucket outside the scope is denied whether it exists or not.
    denied(lambda: scoped.create_bucket(Bucket=f"s-{uuid.uuid4().hex[:12]}"))

    assert s3.get_object(Bucket=bucket, Key="secret")["Body"].read() == b"not for scoped"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=scoped_bucket, Key="stolen")
    scoped.delete_object(Bucket=scoped_bucket, Key=key)


def test_anonymous_requests_are_refused(gateway, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    anonymous = client(gateway.endpoint, signature_version=UNSIGNED)
    denied(lambda: anonymous.get_object(Bucket=bucket, Key="k"))
    denied(lambda: anonymous.list_objects_v2(Bucket=bucket))
    denied(lambda: anonymous.list_buckets())
    denied(lambda: anonymous.put_object(Bucket=bucket, Key="anon", Body=b"x"))
    reply = http_request(f"{gateway.endpoint}/")
    assert reply.status == 403 and reply.error_code == "AccessDenied"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="anon")


def test_bad_credentials(gateway, bucket):
    unknown = client(gateway.endpoint, {"access_key": "AKIANOBODY", "secret": "x"})
    with pytest.raises(ClientError) as exc:
        unknown.list_objects_v2(Bucket=bucket)
    assert error_code(exc.value) == "InvalidAccessKeyId" and http_status(exc.value) == 403
    wrong = client(gateway.endpoint, {**WRITER, "secret": "not-the-secret"})
    with pytest.raises(ClientError) as exc:
        wrong.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error_code(exc.value) == "SignatureDoesNotMatch" and http_status(exc.value) == 403


# -- virtual-host style -------------------------------------------------------------------------------

DOMAIN = "s3.provgate.test"


@pytest.fixture
def vhost(make_server, monkeypatch):
    """A server with ``[server] domain``; ``*.s3.provgate.test`` resolves to it in-process."""
    server = make_server(server={"domain": DOMAIN})
    port = int(server.endpoint.rsplit(":", 1)[1])
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and (host == DOMAIN or host.endswith("." + DOMAIN)):
            host = "127.0.0.1"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return server, f"http://{DOMAIN}:{port}"


def test_virtual_host_style_with_boto3(vhost):
    server, endpoint = vhost
    s3 = client(endpoint, fresh=True, s3={"addressing_style": "virtual"})
    hosts = []
    s3.meta.events.register("before-send.s3.*", lambda request, **_: hosts.append(request.url))
    name = f"vh-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    keys = ["plain", "dir/sub/file.txt"] + AWKWARD_KEYS[:12]
    for key in keys:
        s3.put_object(Bucket=name, Key=key, Body=key.encode(), Metadata={"k": "v"})
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]) == sorted(keys)
    for key in keys:
        got = s3.get_object(Bucket=name, Key=key)
        assert got["Body"].read() == key.encode()
        assert got["Metadata"] == {"k": "v"}
        assert s3.get_object(Bucket=name, Key=key + ".xmp")["ContentType"] == "application/rdf+xml"
    s3.copy_object(Bucket=name, Key="copied", CopySource={"Bucket": name, "Key": "plain"})
    assert s3.get_object(Bucket=name, Key="copied")["Body"].read() == b"plain"
    s3.put_object_tagging(Bucket=name, Key="plain", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert s3.get_object_tagging(Bucket=name, Key="plain")["TagSet"] == [{"Key": "a", "Value": "b"}]
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    # The requests really were virtual-host addressed.
    assert any(url.startswith(f"http://{name}.{DOMAIN}:") for url in hosts)

    # Path style keeps working on the same server, by name and by address.
    path_style = client(endpoint, s3={"addressing_style": "path"})
    assert path_style.get_object(Bucket=name, Key="plain")["Body"].read() == b"plain"
    by_ip = client(server.endpoint)
    assert by_ip.get_object(Bucket=name, Key="dir/sub/file.txt")["Body"].read() == b"dir/sub/file.txt"

    s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": k} for k in keys + ["copied"]]})
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert http_status(exc.value) == 404


def test_virtual_host_style_raw_host_header(vhost):
    server, _ = vhost
    s3 = client(server.endpoint)
    name = f"vr-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="a b/c+d", Body=b"raw")
    port = server.endpoint.rsplit(":", 1)[1]
    host = f"{name}.{DOMAIN}:{port}"
    reply = signed_request(server.endpoint, "GET", "/a%20b/c%2Bd", host=host)
    assert reply.status == 200 and reply.body == b"raw"
    listing = signed_request(server.endpoint, "GET", "/?list-type=2", host=host)
    assert listing.status == 200
    assert listing_keys(listing.xml()) == ["a b/c+d"]
    record = signed_request(server.endpoint, "GET", "/a%20b/c%2Bd.xmp", host=host)
    assert record.status == 200 and b"<pg:Key>a b/c+d</pg:Key>" in record.body
    missing = signed_request(server.endpoint, "GET", "/?list-type=2",
                             host=f"no-such-bucket-here.{DOMAIN}:{port}")
    assert missing.status == 404 and missing.error_code == "NoSuchBucket"
