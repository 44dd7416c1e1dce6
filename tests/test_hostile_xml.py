"""Hostile XML request bodies: malformed, wrong, expanding, external, huge.

Every XML-consuming operation (DeleteObjects, CompleteMultipartUpload, PutObjectTagging,
CreateBucket, PutBucketCors) must answer 400 MalformedXML, quickly and without memory growth, and leave
stored data exactly as it was. Requests are signed by botocore and sent raw.
"""

from __future__ import annotations

import socket
import threading

import pytest

from tests.support.hostile import (assert_error, md5_b64, quote_key, send, sign_v4,
                                   unique)
from tests.support.polling import wait_for

OPERATIONS = ["DeleteObjects", "CompleteMultipartUpload", "PutObjectTagging", "CreateBucket",
              "PutBucketCors"]
SENTINEL_CORS = [{"AllowedMethods": ["GET"], "AllowedOrigins": ["https://sentinel.test"]}]
CORS_RULE = b"<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>"


class XmlTarget:
    """Where an operation's XML document goes, and how to see that it changed nothing."""

    def __init__(self, operation: str, guard) -> None:
        self.operation = operation
        self.guard = guard
        s3, bucket = guard.s3, guard.bucket
        self.new_bucket = None
        self.upload_id = None
        if operation == "DeleteObjects":
            self.method, self.target = "POST", f"/{bucket}?delete"
        elif operation == "PutObjectTagging":
            s3.put_object_tagging(Bucket=bucket, Key="sentinel.bin",
                                  Tagging={"TagSet": [{"Key": "keep", "Value": "me"}]})
            self.method, self.target = "PUT", f"/{bucket}/sentinel.bin?tagging"
        elif operation == "PutBucketCors":
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": SENTINEL_CORS})
            self.method, self.target = "PUT", f"/{bucket}?cors"
        elif operation == "CompleteMultipartUpload":
            self.key = unique("mpu")
            self.upload_id = s3.create_multipart_upload(Bucket=bucket, Key=self.key)["UploadId"]
            self.part = s3.upload_part(Bucket=bucket, Key=self.key, UploadId=self.upload_id,
                                       PartNumber=1, Body=b"part one")
            self.method = "POST"
            self.target = f"/{bucket}/{quote_key(self.key)}?uploadId={self.upload_id}"
        else:
            self.new_bucket = unique("hostile-xml")
            self.method, self.target = "PUT", f"/{self.new_bucket}"

    def send(self, body: bytes, **kwargs):
        gateway = self.guard.gateway
        headers = sign_v4(gateway.endpoint, self.method, self.target, body=body,
                          headers={"Content-MD5": md5_b64(body),
                                   "Content-Type": "application/xml"})
        return send(gateway, self.method, self.target, headers=headers, body=body, **kwargs)

    def valid_document(self) -> bytes:
        return {
            "DeleteObjects": b"<Delete><Object><Key>does-not-exist</Key></Object></Delete>",
            "PutObjectTagging": (b"<Tagging><TagSet><Tag><Key>keep</Key><Value>me</Value></Tag>"
                                 b"</TagSet></Tagging>"),
            "CompleteMultipartUpload": (
                b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"
                + getattr(self, "part", {}).get("ETag", "").encode()
                + b"</ETag></Part></CompleteMultipartUpload>"),
            "CreateBucket": (b"<CreateBucketConfiguration><LocationConstraint>us-east-1"
                             b"</LocationConstraint></CreateBucketConfiguration>"),
            "PutBucketCors": (b"<CORSConfiguration>" + CORS_RULE
                              + b"*</AllowedOrigin></CORSRule></CORSConfiguration>"),
        }[self.operation]

    def wrap(self, inner: bytes) -> bytes:
        """A document of the right root whose one text field holds ``inner``."""
        return {
            "DeleteObjects": b"<Delete><Object><Key>" + inner + b"</Key></Object></Delete>",
            "PutObjectTagging": (b"<Tagging><TagSet><Tag><Key>k</Key><Value>" + inner
                                 + b"</Value></Tag></TagSet></Tagging>"),
            "CompleteMultipartUpload": (b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"
                                        + inner + b"</ETag></Part></CompleteMultipartUpload>"),
            "CreateBucket": (b"<CreateBucketConfiguration><LocationConstraint>" + inner
                             + b"</LocationConstraint></CreateBucketConfiguration>"),
            "PutBucketCors": (b"<CORSConfiguration>" + CORS_RULE + inner
                              + b"</AllowedOrigin></CORSRule></CORSConfiguration>"),
        }[self.operation]

    def root(self) -> bytes:
        return {"DeleteObjects": b"Delete", "PutObjectTagging": b"Tagging",
                "CompleteMultipartUpload": b"CompleteMultipartUpload",
                "CreateBucket": b"CreateBucketConfiguration",
                "PutBucketCors": b"CORSConfiguration"}[self.operation]

    def unchanged(self) -> None:
        s3, bucket = self.guard.s3, self.guard.bucket
        if self.operation == "PutObjectTagging":
            tags = s3.get_object_tagging(Bucket=bucket, Key="sentinel.bin")["TagSet"]
            assert tags == [{"Key": "keep", "Value": "me"}]
        if self.operation == "CompleteMultipartUpload":
            parts = s3.list_parts(Bucket=bucket, Key=self.key, UploadId=self.upload_id)["Parts"]
            assert [p["ETag"] for p in parts] == [self.part["ETag"]]
        if self.operation == "CreateBucket":
            names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
            assert self.new_bucket not in names
        if self.operation == "PutBucketCors":
            assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == SENTINEL_CORS
        self.guard.check(uploads=1 if self.upload_id else 0)


@pytest.fixture(params=OPERATIONS)
def xml_target(request, guard):
    return XmlTarget(request.param, guard)


NOT_WELL_FORMED = {
    "unclosed": lambda root: b"<" + root + b"><Object><Key>a</Key></Object>",
    "mismatched": lambda root: b"<" + root + b"><A></B></" + root + b">",
    "text": lambda root: b"this is not xml",
    "declaration-only": lambda root: b'<?xml version="1.0" encoding="UTF-8"?>',
    "bad-utf8": lambda root: b"<" + root + b"><A>\xff\xfe\xc0</A></" + root + b">",
    "two-roots": lambda root: b"<" + root + b"/><" + root + b"/>",
    "control-char": lambda root: b"<" + root + b"><A>\x01</A></" + root + b">",
    "undefined-entity": lambda root: b"<" + root + b"><A>&nope;</A></" + root + b">",
}


@pytest.mark.parametrize("case", sorted(NOT_WELL_FORMED))
def test_not_well_formed_xml_is_malformed(xml_target, case):
    reply = xml_target.send(NOT_WELL_FORMED[case](xml_target.root()))
    assert_error(reply, 400, "MalformedXML")
    xml_target.unchanged()


def test_wrong_root_is_malformed(xml_target):
    reply = xml_target.send(b"<Something><Object><Key>sentinel.bin</Key></Object></Something>")
    assert_error(reply, 400, "MalformedXML")
    xml_target.unchanged()


MISSING_ELEMENTS = {
    "DeleteObjects": [b"<Delete></Delete>", b"<Delete><Object></Object></Delete>",
                      b"<Delete><Quiet>true</Quiet></Delete>",
                      b"<Delete><Object><VersionId>null</VersionId></Object></Delete>"],
    "CompleteMultipartUpload": [
        b"<CompleteMultipartUpload></CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
        b'<CompleteMultipartUpload><Part><ETag>"x"</ETag></Part></CompleteMultipartUpload>',
        b'<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>"x"</ETag></Part>'
        b'</CompleteMultipartUpload>'],
    "PutObjectTagging": [b"<Tagging></Tagging>",
                         b"<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>",
                         b"<Tagging><TagSet/><TagSet/></Tagging>"],
    "CreateBucket": [b"<CreateBucketConfiguration><LocationConstraint>us-east-1"
                     b"</LocationConstraint></Wrong>"],
    "PutBucketCors": [b"<CORSConfiguration></CORSConfiguration>",
                      b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>"
                      b"</CORSConfiguration>",
                      b"<CORSConfiguration>" + CORS_RULE + b"*</AllowedOrigin>"
                      b"<MaxAgeSeconds>-1</MaxAgeSeconds></CORSRule></CORSConfiguration>"],
}


def test_missing_elements_are_malformed(xml_target):
    for document in MISSING_ELEMENTS[xml_target.operation]:
        reply = xml_target.send(document)
        assert_error(reply, 400, "MalformedXML")
    xml_target.unchanged()


def test_valid_document_control(guard):
    """The same raw signing path with well-formed documents succeeds (controls for the above)."""
    targets = {operation: XmlTarget(operation, guard) for operation in OPERATIONS}
    for operation, target in targets.items():
        reply = target.send(target.valid_document())
        assert reply.status == 200, (operation, reply)
    s3 = guard.s3
    created = targets["CreateBucket"].new_bucket
    assert s3.head_bucket(Bucket=created)["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.delete_bucket(Bucket=created)
    assert s3.get_bucket_cors(Bucket=guard.bucket)["CORSRules"] == [
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""


def _quadratic_blowup(target: XmlTarget) -> bytes:
    # One 100 KB entity referenced 20,000 times: ~2 GB if expanded, ~1.2 MB on the wire.
    entity = b"A" * 100_000
    return (b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "' + entity + b'">]>\n'
            + target.wrap(b"&a;" * 20_000))


def _sent(target: XmlTarget, body: bytes):
    """(reply, growth of the server's RSS in bytes). How long a refusal takes is measured
    by `python -m bench --timings`; a server that expands entities runs into the per-test
    timeout or the memory bound here."""
    before = target.guard.rss()
    reply = target.send(body)
    return reply, target.guard.rss() - before


def test_billion_laughs_refused(xml_target):
    reply, growth = _sent(xml_target, BILLION_LAUGHS + xml_target.wrap(b"&lol9;"))
    assert_error(reply, 400, "MalformedXML")
    assert growth < 50 * 2**20, f"server RSS grew {growth / 2**20:.0f} MiB"
    xml_target.unchanged()


def test_quadratic_blowup_refused(xml_target):
    reply, growth = _sent(xml_target, _quadratic_blowup(xml_target))
    assert_error(reply, 400, "MalformedXML")
    assert growth < 50 * 2**20, f"server RSS grew {growth / 2**20:.0f} MiB"
    xml_target.unchanged()


class Listener:
    """A TCP listener that records whether anything connected (an XXE fetch)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.hits += 1
            conn.close()

    def seen_all(self) -> int:
        """Connect once more and wait until that connection is counted: connections are
        accepted in order, so every earlier one (a fetch the server made before it
        answered) is counted by then. Returns the hits before this probe."""
        before = self.hits
        with socket.create_connection(("127.0.0.1", self.port), timeout=5):
            pass
        wait_for(lambda: self.hits > before, 10, "the listener to count its probe")
        return self.hits - 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener():
    spy = Listener()
    yield spy
    spy.close()


def _external_documents(target: XmlTarget, port: int) -> dict[str, bytes]:
    root = target.root()
    url = f"http://127.0.0.1:{port}/evil".encode()
    return {
        "file-entity": (b'<?xml version="1.0"?><!DOCTYPE ' + root + b' [<!ENTITY xxe SYSTEM '
                        b'"file:///etc/passwd">]>' + target.wrap(b"&xxe;")),
        "http-entity": (b'<?xml version="1.0"?><!DOCTYPE ' + root + b' [<!ENTITY xxe SYSTEM "'
                        + url + b'">]>' + target.wrap(b"&xxe;")),
        "parameter-entity": (b'<?xml version="1.0"?><!DOCTYPE ' + root + b' [<!ENTITY % pe SYSTEM "'
                             + url + b'.dtd"> %pe;]>' + target.wrap(b"x")),
        "external-dtd": (b'<?xml version="1.0"?><!DOCTYPE ' + root + b' SYSTEM "' + url
                         + b'.dtd">' + target.wrap(b"x")),
        "internal-dtd": (b'<?xml version="1.0"?><!DOCTYPE ' + root + b' [<!ELEMENT '
                         + root + b' ANY>]>' + target.wrap(b"x")),
    }


def test_external_entities_and_dtds_refused(xml_target, listener):
    for name, document in _external_documents(xml_target, listener.port).items():
        reply = xml_target.send(document)
        assert_error(reply, 400, "MalformedXML")
        assert b"root:" not in reply.body, name
    assert listener.seen_all() == 0, "the server fetched an external entity"
    xml_target.unchanged()


def test_huge_document_refused(xml_target):
    """A document over 2 MiB: refused without reading it whole into memory."""
    padding = b"<!--" + b"x" * (3 * 2**20) + b"-->"
    document = xml_target.wrap(b"a").replace(b"<" + xml_target.root() + b">",
                                             b"<" + xml_target.root() + b">" + padding, 1)
    reply, growth = _sent(xml_target, document)
    assert_error(reply, 400, "MalformedXML")
    assert growth < 50 * 2**20, f"server RSS grew {growth / 2**20:.0f} MiB"
    xml_target.unchanged()


def test_deeply_nested_document(xml_target):
    depth = 100_000
    document = (b"<" + xml_target.root() + b">" + b"<Object>" * depth + b"x"
                + b"</Object>" * depth + b"</" + xml_target.root() + b">")
    reply = xml_target.send(document)
    # Object/Part without Key/PartNumber, or over the 64 KiB tagging/bucket document cap.
    assert_error(reply, 400, "MalformedXML")
    xml_target.unchanged()


def test_delete_objects_over_1000_keys_is_malformed(guard):
    keys = ["sentinel.bin"] + [f"k{i:05d}" for i in range(1000)]
    body = ("<Delete>" + "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
            + "</Delete>").encode()
    target = XmlTarget("DeleteObjects", guard)
    reply = target.send(body)
    assert_error(reply, 400, "MalformedXML")
    guard.check()


def test_delete_objects_with_an_entry_without_key_deletes_nothing(guard):
    """The guard's own object first, then an entry that names no key: the request is
    refused whole, so the object named before the bad entry is still there."""
    body = (b"<Delete><Object><Key>sentinel.bin</Key></Object>"
            b"<Object><VersionId>null</VersionId></Object></Delete>")
    reply = XmlTarget("DeleteObjects", guard).send(body)
    assert_error(reply, 400, "MalformedXML")
    guard.check()


def test_delete_objects_1000_keys_accepted(guard):
    """Exactly 1000 keys is the limit, not over it (control for the test above)."""
    keys = [f"gone-{i:04d}" for i in range(999)] + ["missing-key"]
    body = ("<Delete><Quiet>true</Quiet>" + "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
            + "</Delete>").encode()
    reply = XmlTarget("DeleteObjects", guard).send(body)
    assert reply.status == 200, reply
    guard.check()
