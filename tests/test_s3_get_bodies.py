"""Object bodies on their way out: sent by the kernel from the upstream's socket or the
stored file to the client's (``gateway/wire/zerocopy.py``), exactly, whatever the size,
range or concurrency, and cut off honestly when the source fails part-way.

Every expected byte is computed here from the bytes sent.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import IncompleteReadError, ResponseStreamingError

from tests.conftest import client
from tests.support.functional import payload
from tests.support.hostile import ANSWERED, connect, request_head, sign_v4
from tests.support.metrics import scrape, total
from tests.support.polling import wait_for

MiB = 1 << 20
# Around the sizes the forwarding works in: its pipe (1 MiB), aiohttp's first read
# (256 KiB) and the common small objects.
SIZES = [0, 1, 64 * 1024, 256 * 1024 + 1, MiB - 1, MiB + 1, 5 * MiB + 3]
SHORT = (IncompleteReadError, ResponseStreamingError)


def test_bodies_of_every_size_arrive_exactly_under_concurrency(s3, bucket):
    """Many reads through the same keep-alive connections (client and upstream), mixed
    sizes and ranges at once: each answer carries its own bytes and nothing else."""
    bodies = {f"b{size}": payload(size, seed=size) for size in SIZES}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    big = bodies[f"b{5 * MiB + 3}"]
    ranges = {"bytes=1048000-3200000": big[1048000:3200001], "bytes=-1500000": big[-1500000:],
              f"bytes={MiB}-": big[MiB:], "bytes=7-7": big[7:8]}

    def whole(key: str) -> str:
        return hashlib.md5(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()

    def ranged(header: str) -> str:
        got = s3.get_object(Bucket=bucket, Key=f"b{5 * MiB + 3}", Range=header)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        return hashlib.md5(got["Body"].read()).hexdigest()

    jobs = [(whole, key) for key in bodies for _ in range(3)] + \
           [(ranged, header) for header in ranges for _ in range(2)]
    with ThreadPoolExecutor(6) as pool:
        digests = list(pool.map(lambda job: job[0](job[1]), jobs))
    expected = {**{k: hashlib.md5(v).hexdigest() for k, v in bodies.items()},
                **{h: hashlib.md5(v).hexdigest() for h, v in ranges.items()}}
    assert digests == [expected[arg] for _, arg in jobs]


def test_a_client_leaving_mid_body_breaks_nothing(gateway, s3, bucket):
    """Clients that hang up while a large body is on its way leave the server serving
    every later read in full (the half-sent upstream answer is not reused)."""
    body, other = payload(8 * MiB, seed=3), payload(3 * MiB + 5, seed=4)
    s3.put_object(Bucket=bucket, Key="large", Body=body)
    s3.put_object(Bucket=bucket, Key="other", Body=other)
    target = f"/{bucket}/large"
    for _ in range(3):
        answered = total(scrape(gateway.admin), ANSWERED)
        sock = connect(gateway)
        try:
            sock.sendall(request_head("GET", target, sign_v4(gateway.endpoint, "GET", target)))
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        finally:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # RST
            sock.close()
        wait_for(lambda: total(scrape(gateway.admin), ANSWERED) > answered, 30,
                 "the server to finish the abandoned read")
    for _ in range(3):
        assert s3.get_object(Bucket=bucket, Key="other")["Body"].read() == other
        assert s3.get_object(Bucket=bucket, Key="large")["Body"].read() == body


def test_a_stored_file_shorter_than_its_record_cuts_the_answer(make_local_server, tmp_path):
    """fs backend: a blob that lost its tail (a damaged disk) is sent as far as it goes
    and then the connection is cut, so the client sees a short body, never a full-length
    answer padded with something else; other objects are still served."""
    server = make_local_server({"kind": "fs", "path": str(tmp_path / "data")})
    s3 = client(server.endpoint)
    bucket = f"short-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    body, other = payload(3 * MiB, seed=5), payload(2 * MiB, seed=6)
    s3.put_object(Bucket=bucket, Key="damaged", Body=body)
    blobs = [p for p in Path(tmp_path / "data" / ".provgate" / "blobs").rglob("*")
             if p.is_file() and p.read_bytes() == body]
    assert len(blobs) == 1
    os.truncate(blobs[0], MiB + 100)
    s3.put_object(Bucket=bucket, Key="whole", Body=other)
    got = s3.get_object(Bucket=bucket, Key="damaged")
    assert got["ContentLength"] == len(body)
    with pytest.raises(SHORT):
        got["Body"].read()
    assert s3.get_object(Bucket=bucket, Key="whole")["Body"].read() == other
