"""The aws CLI against provgate: ``aws s3 mb/cp/ls/sync/rm/rb`` and ``aws s3api``."""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.functional import multipart_etag, payload
from tests.support.server import ADMIN

MiB = 1024 * 1024


def aws_binary() -> str | None:
    beside = Path(sys.executable).parent / "aws"
    if beside.exists():
        return str(beside)
    return shutil.which("aws")


AWS = aws_binary()
pytestmark = pytest.mark.skipif(AWS is None, reason="the aws CLI is not installed")


class AwsCli:
    def __init__(self, endpoint: str, identity: dict = ADMIN) -> None:
        self.endpoint = endpoint
        # The CLI runs no provgate code: coverage's subprocess measurement
        # (COVERAGE_PROCESS_CONFIG) would only slow each call down.
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("AWS_") and k.lower() not in ("http_proxy", "https_proxy")
                    and k != "COVERAGE_PROCESS_CONFIG"}
        self.env.update(AWS_ACCESS_KEY_ID=identity["access_key"],
                        AWS_SECRET_ACCESS_KEY=identity["secret"],
                        AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.devnull,
                        AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true",
                        AWS_MAX_ATTEMPTS="1", AWS_PAGER="", NO_PROXY="127.0.0.1,localhost")

    def run(self, *args: str, check: bool = True, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
        result = subprocess.run([AWS, "--endpoint-url", self.endpoint, *args], env=self.env,
                                capture_output=True, text=True, cwd=cwd, timeout=timeout)
        if check:
            assert result.returncode == 0, f"aws {' '.join(args)}\n{result.stdout}\n{result.stderr}"
        return result

    def json(self, *args: str) -> dict:
        out = self.run(*args, "--output", "json").stdout
        return json.loads(out) if out.strip() else {}


@pytest.fixture
def aws(gateway):
    return AwsCli(gateway.endpoint)


def new_bucket() -> str:
    return f"cli-{uuid.uuid4().hex[:16]}"


def test_mb_cp_ls_rm_rb(aws, s3, tmp_path):
    name = new_bucket()
    aws.run("s3", "mb", f"s3://{name}")
    assert name in aws.run("s3", "ls").stdout

    source = tmp_path / "render 01+é.png"
    data = payload(300_000, seed=1)
    source.write_bytes(data)
    aws.run("s3", "cp", str(source), f"s3://{name}/in box/render 01+é.png",
            "--content-type", "image/png", "--metadata", "prompt=a cat,seed=42")
    head = s3.head_object(Bucket=name, Key="in box/render 01+é.png")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert head["ContentType"] == "image/png"
    assert head["Metadata"] == {"prompt": "a cat", "seed": "42"}

    listing = aws.run("s3", "ls", f"s3://{name}/").stdout
    assert "PRE in box/" in listing
    listing = aws.run("s3", "ls", "--recursive", f"s3://{name}").stdout
    assert "in box/render 01+é.png" in listing and str(len(data)) in listing
    assert [line.split(maxsplit=3)[3] for line in listing.splitlines() if line.strip()] == \
        ["in box/render 01+é.png"]

    back = tmp_path / "back.png"
    aws.run("s3", "cp", f"s3://{name}/in box/render 01+é.png", str(back))
    assert back.read_bytes() == data

    aws.run("s3", "cp", f"s3://{name}/in box/render 01+é.png", f"s3://{name}/copy/of it.png")
    assert s3.get_object(Bucket=name, Key="copy/of it.png")["Body"].read() == data

    assert aws.run("s3", "rb", f"s3://{name}", check=False).returncode != 0  # not empty
    aws.run("s3", "rm", f"s3://{name}/copy/of it.png")
    aws.run("s3", "rm", "--recursive", f"s3://{name}/in box/")
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
    aws.run("s3", "rb", f"s3://{name}")
    assert name not in aws.run("s3", "ls").stdout


def test_rb_force_and_stdin_streams(aws, s3, tmp_path):
    name = new_bucket()
    aws.run("s3", "mb", f"s3://{name}")
    data = payload(100_000, seed=2)
    result = subprocess.run([AWS, "--endpoint-url", aws.endpoint, "s3", "cp", "-", f"s3://{name}/piped.bin"],
                            input=data, env=aws.env, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    result = subprocess.run([AWS, "--endpoint-url", aws.endpoint, "s3", "cp", f"s3://{name}/piped.bin", "-"],
                            env=aws.env, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == data
    aws.run("s3", "rb", "--force", f"s3://{name}")
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_large_multipart_cp_up_and_down(aws, s3, bucket, tmp_path):
    """100 MiB through `aws s3 cp`: multipart up (8 MiB parts), parallel ranged GETs down."""
    size = 100 * MiB
    source = tmp_path / "big.bin"
    block = payload(MiB, seed=7)
    digest = hashlib.md5()
    with open(source, "wb") as fh:
        for i in range(size // MiB):
            chunk = block[i:] + block[:i]  # every MiB distinct
            fh.write(chunk)
            digest.update(chunk)
    aws.run("s3", "cp", str(source), f"s3://{bucket}/big/100MiB.bin")

    head = s3.head_object(Bucket=bucket, Key="big/100MiB.bin")
    assert head["ContentLength"] == size
    chunk = 8 * MiB  # the CLI's default multipart_chunksize
    with open(source, "rb") as fh:
        parts = [fh.read(chunk) for _ in range((size + chunk - 1) // chunk)]
    assert head["ETag"] == multipart_etag(parts)
    del parts

    target = tmp_path / "down.bin"
    aws.run("s3", "cp", f"s3://{bucket}/big/100MiB.bin", str(target))
    assert target.stat().st_size == size
    assert filecmp.cmp(source, target, shallow=False)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_sync_up_twice_then_down(aws, s3, bucket, tmp_path):
    local = tmp_path / "share"
    files = {"a.png": payload(1000, 1), "sub dir/b é.jpg": payload(20_000, 2),
             "sub dir/deeper/c+d&e.txt": b"text", "日本/語.bin": payload(5, 3),
             "empty.txt": b"", "many/" + "x" * 100 + ".dat": payload(333, 4)}
    # Files made a little while ago, as in a real share: sync compares the local mtime with
    # LastModified, which S3 (and some backends) report in whole seconds.
    made = time.time() - 30
    for rel, data in files.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(data)
        os.utime(local / rel, (made, made))

    first = aws.run("s3", "sync", str(local), f"s3://{bucket}/mirror/").stdout
    assert first.count("upload:") == len(files)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="mirror/")["Contents"])
    assert keys == sorted(f"mirror/{rel}" for rel in files)
    for rel, data in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"mirror/{rel}")["Body"].read() == data

    second = aws.run("s3", "sync", str(local), f"s3://{bucket}/mirror/").stdout
    assert "upload:" not in second, second

    # A changed file (new size) and a removed one: only those move. Records are not
    # listed, so `sync --delete` deletes only the removed file and leaves every record.
    # The change is aged like the rest: a file edited in the same second as its upload
    # (LastModified rounded down to that second) is older than the upload, and any
    # `aws s3 sync` sends it again, against S3 itself too.
    records = {rel: s3.get_object(Bucket=bucket, Key=f"mirror/{rel}.xmp")["Body"].read()
               for rel in files}
    (local / "a.png").write_bytes(payload(1500, 9))
    os.utime(local / "a.png", (made, made))
    (local / "empty.txt").unlink()
    third = aws.run("s3", "sync", "--delete", str(local), f"s3://{bucket}/mirror/").stdout
    assert third.count("upload:") == 1 and "a.png" in third
    deleted = sorted(line.split(f"s3://{bucket}/", 1)[1].strip()
                     for line in third.replace("\r", "\n").splitlines() if line.startswith("delete:"))
    assert deleted == ["mirror/empty.txt"], third
    remaining = sorted(f"mirror/{rel}" for rel in files if rel != "empty.txt")
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="mirror/")["Contents"])
    assert listed == remaining
    for rel, record in records.items():
        if rel in ("a.png", "empty.txt"):
            continue   # a.png has a new version (and record); empty.txt is deleted
        assert s3.get_object(Bucket=bucket, Key=f"mirror/{rel}.xmp")["Body"].read() == record
    assert b"<pg:Size>1500</pg:Size>" in s3.get_object(Bucket=bucket, Key="mirror/a.png.xmp")["Body"].read()
    again = aws.run("s3", "sync", "--delete", str(local), f"s3://{bucket}/mirror/").stdout
    assert "upload:" not in again and "delete:" not in again, again

    down = tmp_path / "down"
    aws.run("s3", "sync", f"s3://{bucket}/mirror/", str(down))
    assert _tree(down) == _tree(local)
    again = aws.run("s3", "sync", f"s3://{bucket}/mirror/", str(down)).stdout
    assert "download:" not in again, again


def test_s3api_calls(aws, s3, bucket, tmp_path):
    body = tmp_path / "body.txt"
    body.write_bytes(b"s3api body")
    put = aws.json("s3api", "put-object", "--bucket", bucket, "--key", "api/é k+1.txt",
                   "--body", str(body), "--metadata", "prompt=hello", "--tagging", "stage=draft",
                   "--content-type", "text/plain")
    assert put["ETag"] == f'"{hashlib.md5(b"s3api body").hexdigest()}"'

    head = aws.json("s3api", "head-object", "--bucket", bucket, "--key", "api/é k+1.txt")
    assert head["ContentLength"] == 10 and head["Metadata"] == {"prompt": "hello"}
    assert head["ContentType"] == "text/plain"

    listed = aws.json("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "api/")
    assert [o["Key"] for o in listed["Contents"]] == ["api/é k+1.txt"]

    tags = aws.json("s3api", "get-object-tagging", "--bucket", bucket, "--key", "api/é k+1.txt")
    assert tags["TagSet"] == [{"Key": "stage", "Value": "draft"}]

    out = tmp_path / "out.txt"
    got = aws.json("s3api", "get-object", "--bucket", bucket, "--key", "api/é k+1.txt",
                   "--range", "bytes=0-4", str(out))
    assert out.read_bytes() == b"s3api" and got["ContentRange"] == "bytes 0-4/10"

    aws.run("s3api", "head-bucket", "--bucket", bucket)
    location = aws.json("s3api", "get-bucket-location", "--bucket", bucket)
    assert location.get("LocationConstraint") in (None, "")

    deleted = aws.json("s3api", "delete-objects", "--bucket", bucket, "--delete",
                       json.dumps({"Objects": [{"Key": "api/é k+1.txt"}]}))
    assert [d["Key"] for d in deleted["Deleted"]] == ["api/é k+1.txt"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

    failed = aws.run("s3api", "put-bucket-acl", "--bucket", bucket, "--acl", "public-read",
                     check=False)
    assert failed.returncode != 0 and "NotImplemented" in failed.stderr


def test_s3api_multipart(aws, s3, bucket, tmp_path):
    key = "mp/cli object"
    upload_id = aws.json("s3api", "create-multipart-upload", "--bucket", bucket, "--key", key)["UploadId"]
    part1, part2 = tmp_path / "p1", tmp_path / "p2"
    part1.write_bytes(payload(5 * MiB, 5))
    part2.write_bytes(b"last part")
    etags = [aws.json("s3api", "upload-part", "--bucket", bucket, "--key", key, "--upload-id", upload_id,
                      "--part-number", str(n), "--body", str(p))["ETag"]
             for n, p in ((1, part1), (2, part2))]
    uploads = aws.json("s3api", "list-multipart-uploads", "--bucket", bucket)
    assert [u["UploadId"] for u in uploads["Uploads"]] == [upload_id]
    done = aws.json("s3api", "complete-multipart-upload", "--bucket", bucket, "--key", key,
                    "--upload-id", upload_id, "--multipart-upload",
                    json.dumps({"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]}))
    assert done["ETag"] == multipart_etag([part1.read_bytes(), b"last part"])
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == part1.read_bytes() + b"last part"


def test_reader_identity_cannot_upload(gateway, bucket, tmp_path):
    from tests.support.server import READER
    reader = AwsCli(gateway.endpoint, READER)
    source = tmp_path / "x.txt"
    source.write_bytes(b"x")
    result = reader.run("s3", "cp", str(source), f"s3://{bucket}/x.txt", check=False)
    assert result.returncode != 0
    assert "AccessDenied" in result.stderr
    assert reader.run("s3", "ls", f"s3://{bucket}/").returncode == 0


def test_s3api_list_buckets_pages(aws, s3):
    prefix = f"cli-pg-{uuid.uuid4().hex[:8]}-"
    names = [prefix + s for s in ("a", "b", "c")]
    for name in names:
        aws.run("s3api", "create-bucket", "--bucket", name)
    try:
        first = aws.json("s3api", "list-buckets", "--prefix", prefix, "--max-items", "2")
        assert [b["Name"] for b in first["Buckets"]] == names[:2]
        rest = aws.json("s3api", "list-buckets", "--prefix", prefix, "--max-items", "2",
                        "--starting-token", first["NextToken"])
        assert [b["Name"] for b in rest["Buckets"]] == names[2:]
        assert "NextToken" not in rest
        whole = aws.json("s3api", "list-buckets", "--prefix", prefix, "--page-size", "1")
        assert [b["Name"] for b in whole["Buckets"]] == names
    finally:
        for name in names:
            s3.delete_bucket(Bucket=name)


def test_s3api_bucket_cors(aws, s3, bucket, tmp_path):
    rules = {"CORSRules": [{"AllowedOrigins": ["https://studio.test"],
                            "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["*"],
                            "MaxAgeSeconds": 300}]}
    (tmp_path / "cors.json").write_text(json.dumps(rules))
    aws.run("s3api", "put-bucket-cors", "--bucket", bucket,
            "--cors-configuration", f"file://{tmp_path / 'cors.json'}")
    assert aws.json("s3api", "get-bucket-cors", "--bucket", bucket) == rules
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == rules["CORSRules"]
    aws.run("s3api", "delete-bucket-cors", "--bucket", bucket)
    missing = aws.run("s3api", "get-bucket-cors", "--bucket", bucket, check=False)
    assert missing.returncode != 0 and "NoSuchCORSConfiguration" in missing.stderr
    bad = {"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    refused = aws.run("s3api", "put-bucket-cors", "--bucket", bucket,
                      "--cors-configuration", f"file://{tmp_path / 'bad.json'}", check=False)
    assert refused.returncode != 0 and "InvalidRequest" in refused.stderr
