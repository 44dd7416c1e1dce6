"""Streaming in constant memory: 1 GiB in and out of a dedicated provgate process while
its RSS is sampled; growth must stay under 100 MB, and the bytes must come back intact.

Measured, not timed. The object is generated on the fly by a repeatable generator (never
held in memory) and hashed on both sides as it streams. The upload is the shape boto3
uses over HTTPS (``STREAMING-UNSIGNED-PAYLOAD-TRAILER``: aws-chunked framing with a
CRC32 trailer), sent from the generator through a raw socket; the download goes through
boto3 with checksum validation on.

``PROVGATE_STREAM_BYTES`` overrides the size for a quick local run.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
import zlib

import psutil
import pytest

from tests.conftest import client
from tests.support.hostile import (STREAMING_UNSIGNED_TRAILER, connect, crc32_b64,
                                   read_reply, request_head, sign_v4)
from tests.support.metrics import metric, scrape
from tests.support.polling import wait_for

SIZE = int(os.environ.get("PROVGATE_STREAM_BYTES", str(2**30)))
BLOCK = 2**20                      # generator block and aws-chunked chunk size
RSS_LIMIT = 100 * 10**6            # bytes of growth over the warmed-up baseline


class Generator:
    """Repeatable pseudo-random bytes: block i is a fixed random block stamped with i."""

    def __init__(self, size: int, seed: int = 20260101) -> None:
        self.size = size
        base = bytearray(hashlib.sha256(str(seed).encode()).digest() * (BLOCK // 32))
        self._base = base

    def blocks(self):
        sent = 0
        index = 0
        while sent < self.size:
            block = self._base[:]
            struct.pack_into(">QQ", block, 0, index, self.size)
            struct.pack_into(">Q", block, BLOCK // 2, index ^ 0x5A5A5A5A)
            take = min(BLOCK, self.size - sent)
            yield bytes(block[:take])
            sent += take
            index += 1


class RssSampler:
    """Samples a process's resident set size in a thread; ``peak`` is the maximum seen."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return self.process.memory_info().rss

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.rss())
                self.samples += 1
            except psutil.Error:
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, self.rss())


def _chunk_frame(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode()


def _framed_length(size: int, trailer: str) -> int:
    full, rest = divmod(size, BLOCK)
    length = full * (len(_chunk_frame(b"x" * BLOCK)) + BLOCK + 2)
    if rest:
        length += len(f"{rest:x}\r\n") + rest + 2
    return length + len(b"0\r\n") + len(trailer) + len(b"\r\n\r\n")


def _stream_put(server, target: str, generator: Generator) -> tuple[str, dict]:
    """PUT as boto3 does over HTTPS; returns (md5 hex of what was sent, reply)."""
    # The CRC32 trailer must be known before the framing length: one cheap pass first.
    crc = 0
    for block in generator.blocks():
        crc = zlib.crc32(block, crc)
    trailer = "x-amz-checksum-crc32:" + crc32_b64_from_int(crc)
    headers = sign_v4(server.endpoint, "PUT", target, payload_hash=STREAMING_UNSIGNED_TRAILER,
                      headers={"Content-Encoding": "aws-chunked",
                               "x-amz-trailer": "x-amz-checksum-crc32",
                               "x-amz-sdk-checksum-algorithm": "CRC32",
                               "x-amz-decoded-content-length": str(generator.size),
                               "Content-Length": str(_framed_length(generator.size, trailer))})
    md5 = hashlib.md5()
    sock = connect(server, timeout=300)
    try:
        sock.sendall(request_head("PUT", target, headers))
        for block in generator.blocks():
            md5.update(block)
            sock.sendall(_chunk_frame(block) + block + b"\r\n")
        sock.sendall(b"0\r\n" + trailer.encode() + b"\r\n\r\n")
        reply = read_reply(sock, "PUT")
    finally:
        sock.close()
    return md5.hexdigest(), reply


def crc32_b64_from_int(value: int) -> str:
    import base64
    return base64.b64encode(value.to_bytes(4, "big")).decode()


def test_generator_is_repeatable_and_varied():
    one = Generator(3 * BLOCK + 5)
    first, second = list(one.blocks()), list(one.blocks())
    assert first == second and sum(map(len, first)) == 3 * BLOCK + 5
    assert len(set(first)) == 4


def test_framed_length_matches():
    data_gen = Generator(2 * BLOCK + 17)
    trailer = "x-amz-checksum-crc32:AAAAAA=="
    framed = b"".join(_chunk_frame(b) + b + b"\r\n" for b in data_gen.blocks())
    framed += b"0\r\n" + trailer.encode() + b"\r\n\r\n"
    assert len(framed) == _framed_length(data_gen.size, trailer)
    assert crc32_b64(b"abc") == crc32_b64_from_int(zlib.crc32(b"abc"))


@pytest.mark.timeout(900)             # long by design: the default is 300 s
def test_1gib_put_and_get_in_constant_memory(make_server, backend_kind):
    server = make_server()
    s3 = client(server.endpoint)
    bucket = f"stream-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=bucket)
    # Warm up every code path (imports, buffers, pools) before taking the baseline.
    warm = os.urandom(3 * BLOCK)
    s3.put_object(Bucket=bucket, Key="warm", Body=warm)
    assert s3.get_object(Bucket=bucket, Key="warm")["Body"].read() == warm
    small = Generator(4 * BLOCK)
    _, reply = _stream_put(server, f"/{bucket}/warm-stream", small)
    assert reply.status == 200, reply
    # The baseline is taken once the warm-up requests are all finished on the server.
    wait_for(lambda: metric(scrape(server.admin), "provgate_s3_requests_in_flight") == 0,
             30, "no request in flight")

    generator = Generator(SIZE)
    sampler = RssSampler(server.process.pid)
    baseline = sampler.rss()
    with sampler:
        sent_md5, reply = _stream_put(server, f"/{bucket}/big.bin", generator)
        assert reply.status == 200, reply
        assert reply.headers["etag"] == f'"{sent_md5}"'

        got = s3.get_object(Bucket=bucket, Key="big.bin", ChecksumMode="ENABLED")
        assert got["ContentLength"] == SIZE
        received = hashlib.md5()
        count = 0
        for piece in got["Body"].iter_chunks(BLOCK):
            received.update(piece)
            count += len(piece)
    growth = sampler.peak - baseline
    # Throughput of large objects is measured by `python -m bench` (the 2 GiB object).
    print(f"\n[{backend_kind}] {SIZE / 2**30:.2f} GiB: RSS baseline {baseline / 1e6:.0f} MB, "
          f"peak {sampler.peak / 1e6:.0f} MB, growth {growth / 1e6:.1f} MB "
          f"({sampler.samples} samples)")
    assert count == SIZE
    assert received.hexdigest() == sent_md5
    assert sampler.samples > 10
    assert growth < RSS_LIMIT, f"server RSS grew {growth / 1e6:.0f} MB while streaming"
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == SIZE and "ContentEncoding" not in head


def _stream_form_post(server, bucket: str, fields: dict[str, str],
                      generator: Generator) -> tuple[str, object]:
    """POST a browser form whose file is ``generator``'s bytes, streamed from a raw
    socket; returns (md5 hex of the file sent, reply)."""
    boundary = "provgate-form-" + os.urandom(8).hex()
    head = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                   f"{value}\r\n" for name, value in fields.items())
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
             f'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n')
    tail = f"\r\n--{boundary}--\r\n".encode()
    netloc = server.endpoint.split("//", 1)[1]
    headers = {"Host": netloc, "Content-Type": f"multipart/form-data; boundary={boundary}",
               "Content-Length": str(len(head.encode()) + generator.size + len(tail))}
    md5 = hashlib.md5()
    sock = connect(server, timeout=300)
    try:
        sock.sendall(request_head("POST", f"/{bucket}", headers) + head.encode())
        for block in generator.blocks():
            md5.update(block)
            sock.sendall(block)
        sock.sendall(tail)
        reply = read_reply(sock, "POST")
    finally:
        sock.close()
    return md5.hexdigest(), reply


@pytest.mark.timeout(900)
def test_form_upload_in_constant_memory(make_server, backend_kind):
    """A POST Object file streams to the spool: the form is never read whole."""
    server = make_server()
    s3 = client(server.endpoint, signature_version="s3v4")
    bucket = f"stream-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=bucket)
    size = max(SIZE // 4, 8 * BLOCK)
    presigned = s3.generate_presigned_post(bucket, "big.bin", ExpiresIn=3600,
                                           Conditions=[["content-length-range", 0, size]])
    warm_md5, reply = _stream_form_post(server, bucket, presigned["fields"], Generator(4 * BLOCK))
    assert reply.status == 204, reply
    wait_for(lambda: metric(scrape(server.admin), "provgate_s3_requests_in_flight") == 0,
             30, "no request in flight")
    sampler = RssSampler(server.process.pid)
    baseline = sampler.rss()
    with sampler:
        sent_md5, reply = _stream_form_post(server, bucket, presigned["fields"], Generator(size))
    growth = sampler.peak - baseline
    print(f"\n[{backend_kind}] POST {size / 2**20:.0f} MiB: RSS growth {growth / 1e6:.1f} MB")
    assert reply.status == 204, reply
    assert reply.headers["etag"] == f'"{sent_md5}"' != f'"{warm_md5}"'
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ContentLength"] == size
    assert sampler.samples > 10
    assert growth < RSS_LIMIT, f"server RSS grew {growth / 1e6:.0f} MB while streaming"
