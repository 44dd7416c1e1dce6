"""Running provgate unattended: metrics, health, request logs, TLS, stops."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.support.metrics import metric, scrape
from tests.support.polling import wait_for
from tests.support.server import ADMIN, ROOT


def test_metrics_move_with_an_s3_workload(gateway, s3, bucket):
    before = scrape(gateway.admin)
    body = os.urandom(200_000)
    for n in range(5):
        s3.put_object(Bucket=bucket, Key=f"m/{n}", Body=body)
    for n in range(3):
        assert s3.get_object(Bucket=bucket, Key=f"m/{n}")["Body"].read() == body
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="missing")
    after = scrape(gateway.admin)

    def delta(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta("provgate_s3_requests_total", operation="PutObject", status="200") == 5
    assert delta("provgate_s3_requests_total", operation="GetObject", status="200") == 3
    assert delta("provgate_s3_requests_total", operation="GetObject", status="404") == 1
    assert delta("provgate_s3_received_bytes_total") >= 5 * len(body)
    assert delta("provgate_s3_sent_bytes_total") >= 3 * len(body)
    assert delta("provgate_s3_request_duration_seconds_count", operation="PutObject") == 5
    assert delta("provgate_intake_stage_duration_seconds_count", stage="spool") == 5
    assert delta("provgate_intake_stage_duration_seconds_count", stage="commit") == 5
    assert delta("provgate_intake_writes_total", door="s3", outcome="committed") == 5


def test_health_and_readiness(gateway):
    health = json.load(urllib.request.urlopen(f"{gateway.admin}/healthz", timeout=5))
    ready = json.load(urllib.request.urlopen(f"{gateway.admin}/readyz", timeout=5))
    assert health["status"] == "ok"
    assert ready["status"] == "ready"


def test_readyz_reports_a_broken_data_directory(tmp_path, make_local_server):
    data = tmp_path / "fsdata"
    server = make_local_server(storage={"kind": "fs", "path": str(data)})
    shutil.rmtree(data / ".provgate" / "spool")  # the disk went away under the process
    with pytest.raises(urllib.error.HTTPError) as failure:
        urllib.request.urlopen(f"{server.admin}/readyz", timeout=5)
    assert failure.value.code == 503
    assert "not writable" in json.load(failure.value)["backend"]
    assert json.load(urllib.request.urlopen(f"{server.admin}/healthz", timeout=5))["status"] == "ok"


def test_request_log_carries_request_id_and_no_secrets(gateway, s3, bucket):
    s3.put_object(Bucket=bucket, Key="logged.txt", Body=b"x")
    response = s3.get_object(Bucket=bucket, Key="logged.txt")
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    url = client(gateway.endpoint, ADMIN, signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "logged.txt"}, ExpiresIn=60)
    assert urllib.request.urlopen(url, timeout=5).read() == b"x"
    bad = client(gateway.endpoint, {**ADMIN, "secret": "wrong-secret-value"})
    with pytest.raises(ClientError) as refused:
        bad.get_object(Bucket=bucket, Key="logged.txt")
    refused_id = refused.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    # The log line is written after the reply is sent: wait for the last request's line.
    wait_for(lambda: refused_id in gateway.log(), 30, "the refused request's log line")
    log = gateway.log()
    line = next(l for l in log.splitlines() if request_id in l)
    assert "GetObject" in line and " 200 " in line.replace("-> 200", " 200 ")
    signature = url.split("X-Amz-Signature=")[1].split("&")[0]
    for secret in (ADMIN["secret"], "wrong-secret-value", signature, "X-Amz-Credential",
                   "X-Amz-Signature"):
        assert secret not in log


def test_json_log_format(make_server):
    server = make_server(server={"log_format": "json"})
    s3 = client(server.endpoint)
    name = f"j-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    request_id = s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    wait_for(lambda: request_id in server.log(), 30, "the HeadBucket log line")
    records = [json.loads(l) for l in server.log().splitlines() if l.startswith("{")]
    mine = [r for r in records if r.get("request_id") == request_id]
    assert len(mine) == 1
    assert mine[0]["operation"] == "HeadBucket" and mine[0]["status"] == 200
    assert mine[0]["identity"] == ADMIN["name"]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    from tests.support.tls import make_certificate
    return make_certificate(tmp_path_factory.mktemp("tls"))


def test_tls_endpoint_with_default_boto3_checksums(make_server, tls_files):
    cert, key = tls_files
    server = make_server(server={"tls_cert": str(cert), "tls_key": str(key)})
    assert server.endpoint.startswith("https://")
    s3 = client(server.endpoint, verify=str(cert))
    name = f"tls-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    body = os.urandom(3 * 1024 * 1024 + 17)
    # Over HTTPS boto3 sends aws-chunked with an unsigned payload and a CRC32 trailer.
    s3.put_object(Bucket=name, Key="over-tls.bin", Body=body)
    got = s3.get_object(Bucket=name, Key="over-tls.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got.get("ContentEncoding") in (None, "")
    expected_crc = zlib.crc32(body).to_bytes(4, "big")
    import base64
    assert got["ChecksumCRC32"] == base64.b64encode(expected_crc).decode()
    s3.upload_fileobj(__import__("io").BytesIO(body * 3), name, "multipart-over-tls.bin")
    assert s3.get_object(Bucket=name, Key="multipart-over-tls.bin")["Body"].read() == body * 3


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_units_verify(tmp_path):
    # The provgate of the environment running the tests (a clone's .venv, or any venv).
    provgate = Path(sys.executable).parent / "provgate"
    if not provgate.exists():
        pytest.skip(f"no {provgate} (run through `make test`)")
    units = {unit.name: unit for unit in (Path(ROOT) / "systemd").glob("*.service")}
    assert {"provgate-gateway.service", "provgate-sidecar.service"} <= set(units)
    for unit in units.values():
        # Verify the unit as installed from a clone at this checkout's location.
        text = unit.read_text().replace("/opt/provgate/.venv/bin/provgate", str(provgate))
        text = text.replace("/opt/provgate", str(ROOT))
        target = tmp_path / unit.name
        target.write_text(text)
        result = subprocess.run(["systemd-analyze", "verify", str(target)],
                                capture_output=True, text=True)
        problems = [l for l in result.stderr.splitlines() if unit.name in l]
        assert result.returncode == 0 and not problems, result.stderr
    sidecar = units["provgate-sidecar.service"].read_text().splitlines()
    for setting in ("User=provgate-sidecar", "StateDirectory=provgate-sidecar",
                    "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                    "Restart=on-failure", "KillSignal=SIGTERM"):
        assert setting in sidecar
    writable = next(l for l in sidecar if l.startswith("ReadWritePaths="))
    assert writable.split("=", 1)[1].split() == [
        "/var/lib/provgate-sidecar", "-/srv/provgate/shares", "-/srv/provgate/quarantine",
        "-/srv/provgate/done"]


def test_sigterm_finishes_in_flight_upload(make_server):
    server = make_server()
    s3 = client(server.endpoint)
    name = f"term-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    body = os.urandom(64 * 1024 * 1024)
    result = {}

    def upload():
        try:
            result["etag"] = s3.put_object(Bucket=name, Key="slow.bin", Body=body)["ETag"]
        except Exception as exc:  # noqa: BLE001 — recorded for the assertion below
            result["error"] = exc

    thread = threading.Thread(target=upload)
    thread.start()
    wait_for(lambda: metric(scrape(server.admin), "provgate_s3_requests_in_flight") >= 1,
             30, "the upload to reach the server", interval=0.01)
    server.process.send_signal(signal.SIGTERM)
    thread.join(60)
    assert server.process.wait(60) == 0, server.log()[-3000:]
    assert "error" not in result, result
    restarted = server.start()
    stored = client(restarted.endpoint).get_object(Bucket=name, Key="slow.bin")["Body"].read()
    assert stored == body


def test_kill_9_loses_nothing_acknowledged(make_server):
    server = make_server()
    name = f"kill-{uuid.uuid4().hex[:12]}"
    client(server.endpoint).create_bucket(Bucket=name)
    payloads = {f"obj/{n:03d}": os.urandom(256 * 1024 + n) for n in range(200)}
    acknowledged: set[str] = set()
    stop_at = threading.Event()

    def put(key: str) -> None:
        if stop_at.is_set():
            return
        try:
            client(server.endpoint).put_object(Bucket=name, Key=key, Body=payloads[key])
            acknowledged.add(key)
        except Exception:  # noqa: BLE001 — the server is being killed; failures are expected
            pass

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(put, key) for key in payloads]
        wait_for(lambda: len(acknowledged) >= 40, 120, "40 acknowledged writes",
                 server.log, interval=0.01)
        server.process.send_signal(signal.SIGKILL)
        stop_at.set()
        for f in futures:
            f.result()
    server.process.wait(10)
    assert 40 <= len(acknowledged) < len(payloads)
    restarted = server.start()
    s3 = client(restarted.endpoint)
    listed = {o["Key"]: o["Size"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name)
              for o in page.get("Contents", [])}
    objects = listed               # records are never listed: only what clients wrote
    assert set(objects) <= set(payloads)
    assert acknowledged <= set(objects)
    # An acknowledged write has its provenance record too.
    for key in acknowledged:
        assert s3.get_object(Bucket=name, Key=key + ".xmp")["ContentType"] == "application/rdf+xml"
    for key, size in objects.items():
        # Visible means complete: acknowledged or not, no object is ever partial.
        assert size == len(payloads[key])
        assert s3.get_object(Bucket=name, Key=key)["Body"].read() == payloads[key]
