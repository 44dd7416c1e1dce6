"""Helpers for the functional S3 tests: raw HTTP, signed raw requests, expected values.

Expected ETags and checksums are computed here from the bytes a test sent, independently
of the gateway's code, so that a test compares the server against S3's definition.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree import ElementTree

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.server import ADMIN

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"

# Keys that have broken gateways before: every one must list and read back exactly.
AWKWARD_KEYS = [
    "with space", "plus+sign", "percent%20literal", "100%", "amp&ersand", 'quote"d',
    "café é", "日本/語.txt", "emoji 😀🎨", "a/../b", "/leading-slash", "./dot", "..",
    "trailing/", "a//double", "&+-é\"", "q?x=1#frag", "semi;colon,comma=eq", "tilde~star*",
    "brackets[]{}()", "back\\slash", "apos'trophe", "<angle>", "tab\there",
]


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def quoted_md5(data: bytes) -> str:
    return f'"{md5_hex(data)}"'


def multipart_etag(parts: list[bytes]) -> str:
    """S3's multipart ETag: md5 of the concatenated binary part MD5s, then ``-N``."""
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _reflected_table(poly: int) -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


# CRC-32C (Castagnoli) and CRC-64/NVME, reflected, as S3 defines them; written out here
# (slow, plain Python) so that tests do not check the gateway against its own library.
_CRC32C = (_reflected_table(0x82F63B78), 0xFFFFFFFF, 4)
_CRC64NVME = (_reflected_table(0x9A6C9329AC4BC9B5), 0xFFFFFFFFFFFFFFFF, 8)


def _crc(spec, data: bytes) -> bytes:
    table, mask, size = spec
    crc = mask
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return (crc ^ mask).to_bytes(size, "big")


def checksum_b64(algorithm: str, data: bytes) -> str:
    """The base64 ``x-amz-checksum-<algorithm>`` value of ``data``."""
    if algorithm == "CRC32":
        return crc32_b64(data)
    if algorithm == "CRC32C":
        return b64(_crc(_CRC32C, data))
    if algorithm == "CRC64NVME":
        return b64(_crc(_CRC64NVME, data))
    return b64(hashlib.new(algorithm.lower(), data).digest())


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def payload(size: int, seed: int = 0) -> bytes:
    """Incompressible test bytes, made quickly in memory."""
    if size <= 0:
        return b""
    block = hashlib.sha256(b"provgate-%d" % seed).digest() + os.urandom(4096 - 32)
    return (block * (size // len(block) + 1))[:size]


def error_code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def http_status(exc: ClientError) -> int:
    return exc.response["ResponseMetadata"]["HTTPStatusCode"]


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def xml(self) -> ElementTree.Element:
        return ElementTree.fromstring(self.body)

    @property
    def error_code(self) -> str | None:
        if not self.body:
            return None
        return self.xml().findtext("Code")


def http_request(url: str, method: str = "GET", body: bytes | None = None,
                 headers: dict | None = None, host: str | None = None,
                 timeout: float = 30.0) -> Reply:
    """A plain HTTP request, sent exactly as given (no client-side re-encoding).

    ``host`` overrides the Host header while connecting to the URL's address.
    """
    parts = urlsplit(url)
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(parts.hostname, parts.port, timeout=timeout)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        all_headers = {"Host": host or parts.netloc, **(headers or {})}
        if body is not None or method in ("PUT", "POST"):
            all_headers.setdefault("Content-Length", str(len(body or b"")))
        for name, value in all_headers.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, response.headers, data)
    finally:
        conn.close()


def signed_request(endpoint: str, method: str, target: str, *, identity: dict = ADMIN,
                   headers: dict | None = None, body: bytes = b"", host: str | None = None,
                   region: str = "us-east-1") -> Reply:
    """A SigV4-signed raw request; ``target`` is the already-encoded path and query.

    ``host`` (e.g. ``bucket.s3.example.test:PORT``) is signed and sent as the Host header
    while the connection goes to ``endpoint``'s address.
    """
    base = urlsplit(endpoint)
    netloc = host or base.netloc
    request = AWSRequest(method=method, url=f"{base.scheme}://{netloc}{target}",
                         data=body, headers=dict(headers or {}))
    S3SigV4Auth(Credentials(identity["access_key"], identity["secret"]), "s3", region).add_auth(request)
    sent = {k: v for k, v in request.headers.items()}
    return http_request(f"{endpoint}{target}", method, body if body or method in ("PUT", "POST") else None,
                        headers=sent, host=netloc)


def listing_keys(document: ElementTree.Element) -> list[str]:
    return [c.findtext(f"{S3_NS}Key") for c in document.findall(f"{S3_NS}Contents")]


def listing_prefixes(document: ElementTree.Element) -> list[str]:
    return [c.findtext(f"{S3_NS}Prefix") for c in document.findall(f"{S3_NS}CommonPrefixes")]
