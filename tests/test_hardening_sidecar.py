"""The folder sidecar under hostile conditions: the gateway's own self-signed TLS
certificate, a share it cannot deliver to, a file name that is not UTF-8."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import client
from tests.support.metrics import metric, scrape
from tests.support.sidecar import share, sidecar_section, wait_until


def _bucket() -> str:
    return f"drops-{uuid.uuid4().hex[:10]}"


def readyz(server) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(server.admin + "/readyz", timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    from tests.support.tls import make_certificate
    return make_certificate(tmp_path_factory.mktemp("tls"))


def test_in_process_sidecar_trusts_the_gateways_own_certificate(make_server, tmp_path, tls_files):
    cert, key = tls_files
    bucket = _bucket()
    config = share(tmp_path, bucket)
    server = make_server(server={"tls_cert": str(cert), "tls_key": str(key)},
                         sections={"sidecar": sidecar_section(tmp_path, [config])})
    assert server.endpoint.startswith("https://")
    dropped = Path(config["path"]) / "over-tls.txt"
    dropped.write_bytes(b"dropped into a share served over TLS")
    xmp = dropped.with_name(dropped.name + ".xmp")
    wait_until(xmp.exists, 60, f"{xmp.name} beside {dropped.name}", server.log)
    s3 = client(server.endpoint, verify=str(cert))
    assert s3.get_object(Bucket=bucket, Key="over-tls.txt")["Body"].read() == dropped.read_bytes()
    assert readyz(server)[0] == 200


def test_readiness_reports_a_share_that_cannot_deliver(make_server, tmp_path):
    with_nothing_listening = "https://127.0.0.1:9"     # discard port: refused on loopback
    config = share(tmp_path, _bucket())
    server = make_server(sections={"sidecar": sidecar_section(
        tmp_path, [config], endpoint=with_nothing_listening)})
    assert readyz(server)[0] == 200
    (Path(config["path"]) / "stuck.txt").write_bytes(b"nowhere to go")

    def stuck():
        status, body = readyz(server)
        return status == 503 and "sidecar" in body and body
    body = wait_until(stuck, 60, "/readyz to report the stuck share", server.log)
    assert with_nothing_listening in body["sidecar"]
