"""Shared fixtures: a real provgate process per storage backend, and real clients.

Every test that takes ``gateway`` (or ``s3``/``bucket``) runs once per backend: the
embedded ``fs`` backend and the ``s3`` backend over a real SeaweedFS on loopback.
"""

from __future__ import annotations

import os
import uuid

import boto3
import pytest
from botocore.config import Config

from tests.support.server import ADMIN, ProvgateServer

BACKENDS = ["fs", "s3"]


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    from tests.support.seaweedfs import SeaweedFS
    weed = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    weed.start()
    yield weed
    weed.stop()


def storage_section(kind: str, workdir, request) -> dict:
    if kind == "fs":
        return {"kind": "fs", "path": str(workdir / "data")}
    weed = request.getfixturevalue("seaweedfs")
    return {"kind": "s3", "endpoint": weed.endpoint, "region": weed.region,
            "access_key": weed.access_key, "secret": weed.secret,
            "bucket_prefix": f"pg{uuid.uuid4().hex[:6]}-", "timeout": 10.0,
            "spool_dir": str(workdir / "spool")}


def pytest_addoption(parser):
    parser.addoption("--backend", action="append", choices=BACKENDS,
                     help="run the suite on this storage backend only (repeatable; default: all)")


def pytest_generate_tests(metafunc):
    if "backend_kind" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("backend") or BACKENDS
        metafunc.parametrize("backend_kind", chosen, scope="session")


@pytest.fixture(scope="session")
def gateway(backend_kind, tmp_path_factory, request):
    """A provgate server shared by the session's tests on one backend."""
    workdir = tmp_path_factory.mktemp(f"provgate-{backend_kind}")
    server = ProvgateServer(workdir, storage_section(backend_kind, workdir, request))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_server(tmp_path, backend_kind, request):
    """Start extra provgate processes with their own settings (stopped afterwards)."""
    started: list[ProvgateServer] = []

    def make(server: dict | None = None, storage: dict | None = None, **kwargs) -> ProvgateServer:
        workdir = tmp_path / f"server{len(started)}"
        section = storage or storage_section(backend_kind, workdir, request)
        instance = ProvgateServer(workdir, section, server=server or {}, **kwargs)
        started.append(instance)
        return instance.start()

    yield make
    for instance in started:
        instance.stop()


@pytest.fixture
def make_local_server(tmp_path):
    """Start provgate processes whose storage the test gives in full (not parametrized)."""
    started: list[ProvgateServer] = []

    def make(storage: dict, server: dict | None = None, **kwargs) -> ProvgateServer:
        instance = ProvgateServer(tmp_path / f"local{len(started)}", storage,
                                  server=server or {}, **kwargs)
        started.append(instance)
        return instance.start()

    yield make
    for instance in started:
        instance.stop()


def client(endpoint: str, identity: dict = ADMIN, verify=None, **config):
    """A boto3 S3 client with default checksum behaviour, as users run it."""
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", verify=verify,
        aws_access_key_id=identity["access_key"], aws_secret_access_key=identity["secret"],
        config=Config(retries={"max_attempts": 1}, **config))


@pytest.fixture
def s3(gateway):
    return client(gateway.endpoint)


@pytest.fixture
def bucket(s3) -> str:
    name = f"t-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def guard(gateway, s3, bucket):
    """Checks, after hostile requests, that the server is up and stored data untouched."""
    from tests.support.hostile import make_guard
    return make_guard(gateway, s3, bucket)


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch):
    # Test traffic stays on loopback even where a proxy is configured.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    os.environ.setdefault("AWS_CONFIG_FILE", os.devnull)
