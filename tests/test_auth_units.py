"""Unit tests for gateway.s3.auth signature math and checksums.

Vectors come from the AWS S3 API reference ("Signature Calculations for the
Authorization Header": single chunk GET example, presigned-URL example, and the
chunked-upload examples in sigv4-streaming / sigv4-streaming-trailers), from standard
CRC check values, and from botocore's own SigV4 signer.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import zlib

import botocore.auth
import crc32c
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gateway.s3.auth import ChecksumSet, Hasher
from gateway.wire import checksums
from gateway.wire import sigv2, sigv4
from gateway.wire.sigv4 import sign_request

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_TS = "20130524T000000Z"
AWS_SCOPE = "20130524/us-east-1/s3/aws4_request"


# --- checksums -----------------------------------------------------------------------

@pytest.mark.parametrize("algorithm, expected", [
    ("CRC32", zlib.crc32(b"123456789").to_bytes(4, "big")),
    ("CRC32C", crc32c.crc32c(b"123456789").to_bytes(4, "big")),
    ("CRC64NVME", bytes.fromhex("ae8b14860a799888")),   # CRC-64/NVME catalogue check value
    ("SHA1", hashlib.sha1(b"123456789").digest()),
    ("SHA256", hashlib.sha256(b"123456789").digest()),
    ("MD5", hashlib.md5(b"123456789").digest()),
])
def test_hasher_check_values_and_incremental_feed(algorithm, expected):
    hasher = Hasher(algorithm)
    for byte in b"123456789":
        hasher.update(bytes([byte]))
    assert hasher.digest() == expected
    assert hasher.b64() == base64.b64encode(expected).decode()
    assert hasher.hex() == expected.hex()


def test_aws_documented_crc32c_of_66560_a():
    hasher = Hasher("CRC32C")
    hasher.update(b"a" * 66560)
    assert hasher.b64() == "sOO8/Q=="


def test_checksum_set_always_has_md5_and_sha256():
    data = b"hello world" * 1000
    sums = ChecksumSet(["CRC32", "CRC32"])
    sums.update(data[:5])
    sums.update(data[5:])
    assert sums.md5_hex == hashlib.md5(data).hexdigest()
    assert sums.sha256_hex == hashlib.sha256(data).hexdigest()
    assert sums.values() == {"CRC32": base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()}
    assert sums.size == len(data)
    with pytest.raises(ValueError):
        ChecksumSet(["ADLER32"])


def test_header_names_map_both_ways():
    for algorithm in checksums.ALGORITHMS:
        assert checksums.algorithm_for_header(checksums.header_name(algorithm)) == algorithm
    assert checksums.algorithm_for_header("X-Amz-Checksum-CRC64NVME") == "CRC64NVME"
    for other in ("x-amz-checksum-mode", "x-amz-checksum-algorithm", "x-amz-checksum-type",
                  "content-md5"):
        assert checksums.algorithm_for_header(other) is None
    assert checksums.decode_value("CRC32", "AAAAAA==") == b"\0\0\0\0"
    assert checksums.decode_value("CRC32", "AAAAAAAA") is None      # 6 bytes
    assert checksums.decode_value("SHA1", "not base64!") is None


# --- SigV4 vectors ----------------------------------------------------------------------

def _key():
    return sigv4.signing_key(AWS_SECRET, "20130524", "us-east-1", "s3")


def test_aws_example_get_object_signature():
    headers = {"host": ["examplebucket.s3.amazonaws.com"], "range": ["bytes=0-9"],
               "x-amz-content-sha256": [sigv4.EMPTY_SHA256], "x-amz-date": [AWS_TS]}
    names = sorted(headers)
    canonical = sigv4.canonical_request("GET", "/test.txt", "",
                                        sigv4.canonical_headers(headers.__getitem__, names),
                                        ";".join(names), sigv4.EMPTY_SHA256)
    assert sigv4.signature(_key(), sigv4.string_to_sign(AWS_TS, AWS_SCOPE, canonical)) == (
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_aws_example_presigned_url_signature():
    query = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524"
             "%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
             "&X-Amz-SignedHeaders=host&X-Amz-Signature=ignored")
    canonical = sigv4.canonical_request(
        "GET", "/test.txt", sigv4.canonical_query(query, {"X-Amz-Signature"}),
        "host:examplebucket.s3.amazonaws.com\n", "host", sigv4.UNSIGNED_PAYLOAD)
    assert sigv4.signature(_key(), sigv4.string_to_sign(AWS_TS, AWS_SCOPE, canonical)) == (
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")


@pytest.mark.parametrize("seed, chunk_signatures", [
    ("4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
     ["ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
      "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
      "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"]),
    ("106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
     ["b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
      "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
      "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992"]),
])
def test_aws_streaming_chunk_signature_chain(seed, chunk_signatures):
    previous = seed
    for data, expected in zip([b"a" * 65536, b"a" * 1024, b""], chunk_signatures):
        previous = sigv4.signature(_key(), sigv4.chunk_string_to_sign(
            AWS_TS, AWS_SCOPE, previous, hashlib.sha256(data).hexdigest()))
        assert previous == expected


def test_aws_streaming_trailer_signature():
    to_sign = sigv4.trailer_string_to_sign(
        AWS_TS, AWS_SCOPE, "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
        b"x-amz-checksum-crc32c:sOO8/Q==\n")
    assert sigv4.signature(_key(), to_sign) == (
        "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435")


def test_aws_streaming_seed_signature():
    headers = {
        "content-encoding": ["aws-chunked"], "content-length": ["66824"],
        "host": ["s3.amazonaws.com"], "x-amz-content-sha256": [sigv4.STREAMING_SIGNED],
        "x-amz-date": [AWS_TS], "x-amz-decoded-content-length": ["66560"],
        "x-amz-storage-class": ["REDUCED_REDUNDANCY"],
    }
    names = sorted(headers)
    canonical = sigv4.canonical_request("PUT", "/examplebucket/chunkObject.txt", "",
                                        sigv4.canonical_headers(headers.__getitem__, names),
                                        ";".join(names), sigv4.STREAMING_SIGNED)
    assert sigv4.signature(_key(), sigv4.string_to_sign(AWS_TS, AWS_SCOPE, canonical)) == (
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")


def test_signing_key_is_cached():
    sigv4.signing_key.cache_clear()
    for _ in range(3):
        sigv4.signing_key("secret", "20240101", "us-east-1", "s3")
    info = sigv4.signing_key.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def test_canonical_query_normalises_and_sorts():
    assert sigv4.canonical_query("b=2&a=1&a=0&acl") == "a=0&a=1&acl=&b=2"
    # Percent-encoding case, raw reserved characters and '+' all canonicalise alike.
    assert sigv4.canonical_query("p=a%2fb+c&q=%7e!") == "p=a%2Fb%20c&q=~%21"
    assert sigv4.canonical_query("p=a+b", plus_as_space=False) == "p=a%2Bb"
    assert sigv4.canonical_query("X-Amz-Signature=x&a=1", {"X-Amz-Signature"}) == "a=1"
    # Sorted by encoded name: 'B' (0x42) before 'a' (0x61), '%' names before letters.
    assert sigv4.canonical_query("a=1&B=2&%C3%A9=3") == "%C3%A9=3&B=2&a=1"


def test_canonical_uri_variants():
    assert sigv4.canonical_uri_variants("/b/a%20b") == [("/b/a%20b", False)]
    assert sigv4.canonical_uri_variants("/b/it's") == [("/b/it's", False), ("/b/it%27s", False)]
    assert sigv4.canonical_uri_variants("/b/a+b") == [
        ("/b/a+b", False), ("/b/a%2Bb", False), ("/b/a%20b", True)]
    assert sigv4.split_target("/b/k%3Fx?acl&y=1") == ("/b/k%3Fx", "acl&y=1")
    assert sigv4.split_target("http://h:1/b/k?x=1") == ("/b/k", "x=1")


# --- outbound signer versus botocore ------------------------------------------------------

FIXED = datetime.datetime(2024, 3, 9, 12, 34, 56)


@pytest.fixture
def frozen_botocore(monkeypatch):
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: FIXED)


@pytest.mark.parametrize("method, url, headers, payload", [
    ("PUT", "http://127.0.0.1:8333/bucket/a%20b/%C3%A9%E6%97%A5%F0%9F%98%80%2B%25%26%22.png",
     {"Content-Type": "image/png", "x-amz-meta-prompt": "  a   cat  ", "Content-Length": "3"},
     b"abc"),
    ("GET", "http://seaweed.local/bucket?list-type=2&prefix=a%20b%2Fc&delimiter=%2F&max-keys=5",
     {}, b""),
    ("GET", "https://s3.example.com:8443/bucket/key?versionId=x%2By&uploads", {"Range": "bytes=0-9"},
     b""),
    ("POST", "http://127.0.0.1:8333/bucket/key?uploadId=abc%3D%3D&partNumber=2", {}, b"<xml/>"),
])
def test_sign_request_matches_botocore(frozen_botocore, method, url, headers, payload):
    payload_hash = hashlib.sha256(payload).hexdigest()
    ours = sign_request(method, url, headers, payload_hash, "AKID", "se/cr+et", "us-east-1",
                        now=FIXED)
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=payload)
    botocore.auth.S3SigV4Auth(Credentials("AKID", "se/cr+et"), "s3", "us-east-1").add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["x-amz-date"] == request.headers["X-Amz-Date"]
    assert ours["x-amz-content-sha256"] == request.headers["X-Amz-Content-SHA256"]


def test_sign_request_unsigned_payload_and_epoch_clock(frozen_botocore):
    epoch = FIXED.replace(tzinfo=datetime.timezone.utc).timestamp()
    url = "http://127.0.0.1:8333/bucket/key"
    ours = sign_request("PUT", url, {}, sigv4.UNSIGNED_PAYLOAD, "AKID", "secret", "eu-west-1",
                        now=epoch)
    request = AWSRequest(method="PUT", url=url, headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    signer = botocore.auth.SigV4Auth(Credentials("AKID", "secret"), "s3", "eu-west-1")
    signer._normalize_url_path = lambda path: path      # S3 rule: no path normalisation
    signer.add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]


# --- SigV2 --------------------------------------------------------------------------------

def test_sigv2_string_to_sign_matches_botocore():
    request = AWSRequest(method="PUT", url="http://h/bucket/a%20b?uploadId=x%2By&partNumber=3&foo=1",
                         headers={"Content-Type": "text/plain", "x-amz-meta-b": "2",
                                  "X-Amz-Meta-A": " 1 ", "Date": "Sat, 09 Mar 2024 12:34:56 GMT"})
    auth = botocore.auth.HmacV1Auth(Credentials("AKID", "secret"))
    auth._get_date = lambda: "Sat, 09 Mar 2024 12:34:56 GMT"
    auth.add_auth(request)
    expected = request.headers["Authorization"].split(":", 1)[1]
    to_sign = sigv2.string_to_sign(
        "PUT", "", "text/plain", "Sat, 09 Mar 2024 12:34:56 GMT",
        sigv2.amz_headers([("x-amz-meta-b", "2"), ("X-Amz-Meta-A", " 1 ")]),
        sigv2.canonical_resource("/bucket/a%20b", "uploadId=x%2By&partNumber=3&foo=1"))
    assert to_sign.endswith("/bucket/a%20b?partNumber=3&uploadId=x+y")
    assert sigv2.signature("secret", to_sign) == expected
