"""The folder sidecar under hostile conditions: the gateway's own self-signed TLS
certificate, a share it cannot deliver to, a file name that is not UTF-8."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import client
from tests.support.server import readiness
from tests.support.metrics import scrape
from tests.support.polling import wait_for
from tests.support.sidecar import share, sidecar_section


def _bucket() -> str:
    return f"drops-{uuid.uuid4().hex[:10]}"


def total(server, name: str) -> float:
    """A counter summed over its labels."""
    return sum(v for (n, _), v in scrape(server.admin).items() if n == name)


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
    wait_for(xmp.exists, 60, f"{xmp.name} beside {dropped.name}", server.log)
    s3 = client(server.endpoint, verify=str(cert))
    assert s3.get_object(Bucket=bucket, Key="over-tls.txt")["Body"].read() == dropped.read_bytes()
    assert readiness(server)[0] == 200


def test_readiness_reports_a_share_that_cannot_deliver(make_server, tmp_path):
    with_nothing_listening = "https://127.0.0.1:9"     # discard port: refused on loopback
    config = share(tmp_path, _bucket())
    server = make_server(sections={"sidecar": sidecar_section(
        tmp_path, [config], endpoint=with_nothing_listening)})
    assert readiness(server)[0] == 200
    (Path(config["path"]) / "stuck.txt").write_bytes(b"nowhere to go")

    def stuck():
        status, body = readiness(server)
        return status == 503 and "sidecar" in body and body
    body = wait_for(stuck, 60, "/readyz to report the stuck share", server.log)
    assert with_nothing_listening in body["sidecar"]


def test_a_non_utf8_file_name_does_not_stop_native_watching(make_server, tmp_path):
    if sys.platform != "linux":
        pytest.skip("needs a filesystem that takes any bytes as a name")
    bucket = _bucket()
    config = share(tmp_path, bucket)
    # The periodic rescan is an hour away: only native events can deliver in time.
    server = make_server(sections={"sidecar": sidecar_section(tmp_path, [config],
                                                              rescan_seconds=3600.0)})
    folder = Path(config["path"])
    wait_for(lambda: total(server, "provgate_sidecar_rescans_total") >= 1, 30,
               "the first rescan")

    def deliver(name: str) -> None:
        dropped = folder / name
        dropped.write_bytes(f"{name} content".encode())
        xmp = dropped.with_name(name + ".xmp")
        wait_for(xmp.exists, 30, f"{xmp.name} beside {name}", server.log)

    deliver("before.txt")                     # native watching works
    bad = os.path.join(os.fsencode(folder), b"caf\xe9-latin1.txt")
    for content in (b"one", b"two", b"three"):   # several events on the bad name
        with open(bad, "wb") as fh:
            fh.write(content)
    deliver("after.txt")                      # and still works afterwards

    assert total(server, "provgate_sidecar_unnameable_events_total") >= 1
    warnings = [line for line in server.output
                if "Unable to decode path" in line and "watching goes on" in line]
    assert len(warnings) == 1, warnings
    s3 = client(server.endpoint)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert "after.txt" in keys and not any("latin1" in k for k in keys)
