"""Every write through S3 gets a provenance record, an XMP sidecar and a catalog entry.

Runs against the real server on both backends: fixtures are PUT with boto3, the sidecar is
fetched back over S3 and read with ExifTool, and the record is read from the admin API
and the CLI.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import urllib.request

import pytest
from botocore.exceptions import ClientError
from defusedxml import ElementTree as SafeET

from gateway.provenance import CONFIG_FILE, document_id_for
from gateway.provenance.xmp import compose_prompt
from tests.support import media as media_fixtures
from tests.support.admin import basic_auth
from tests.support.server import ADMIN, ROOT

TAM = media_fixtures.TAM


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    return media_fixtures.build_all(tmp_path_factory.mktemp("media"))


def exiftool_json(path) -> dict:
    out = subprocess.run(["exiftool", "-config", str(CONFIG_FILE), "-j", "-G1", "-struct",
                          str(path)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)[0]


def admin_record(gateway, bucket: str, key: str, version_id: str | None = None) -> dict:
    url = f"{gateway.admin}/api/v1/assets/{bucket}/{urllib.request.quote(key)}"
    if version_id:
        url += f"?versionId={version_id}"
    request = urllib.request.Request(url, headers={"Authorization": basic_auth(ADMIN)})
    return json.load(urllib.request.urlopen(request, timeout=10))


def cli(gateway, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "gateway.cli", *args, "--json",
                          "--config", str(gateway.config_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("name", media_fixtures.FIXTURE_NAMES)
def test_fixture_put_yields_record_and_sidecar(name, media, s3, bucket, gateway, tmp_path):
    fx = media[name]
    data = fx.path.read_bytes()
    key = f"in/{fx.path.name}"
    put = s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=fx.content_type,
                        Metadata=fx.headers)
    version = put["VersionId"]

    xmp = s3.get_object(Bucket=bucket, Key=key + ".xmp")["Body"].read()
    root = SafeET.fromstring(xmp)
    assert root.tag == "{adobe:ns:meta/}xmpmeta"
    (tmp_path / "s.xmp").write_bytes(xmp)
    tags = exiftool_json(tmp_path / "s.xmp")
    assert "ExifTool:Error" not in tags, tags

    record = admin_record(gateway, bucket, key)["record"]
    for field, value in fx.expected.items():
        assert record[field] == value, field
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["size"] == len(data)
    assert (record["bucket"], record["key"], record["version_id"]) == (bucket, key, version)
    assert record["identity"] == "tester" and record["door"] == "s3"
    assert {n["code"] for n in record.get("notices", [])} >= set(fx.notices)
    # What ExifTool reads back from the stored sidecar is what the record says.
    assert tags["XMP-iptcExt:AIPromptInformation"] == compose_prompt(
        record.get("prompt"), record.get("negative_prompt"))
    assert str(tags["XMP-iptcExt:AISystemUsed"]) == str(record.get("model"))
    assert tags["XMP-iptcExt:DigitalSourceType"] == record.get("source_type")
    assert tags["XMP-xmpMM:DocumentID"] == document_id_for(bucket, key)
    # The object itself is stored exactly as sent: provenance lives beside it.
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data


def test_a_png_and_a_jpg_get_separate_sidecars(media, s3, bucket):
    for name in ("a_png", "a_jpg"):
        fx = media[name]
        s3.put_object(Bucket=bucket, Key=fx.path.name, Body=fx.path.read_bytes(),
                      ContentType=fx.content_type, Metadata=fx.headers)
    # Records are not objects: the listing holds what the client wrote, nothing more.
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {"a.png", "a.jpg"}
    records = {name: s3.get_object(Bucket=bucket, Key=name + ".xmp")["Body"].read().decode()
               for name in ("a.png", "a.jpg")}
    for name, xmp in records.items():
        assert f"<pg:Key>{name}</pg:Key>" in xmp


def test_headers_win_over_embedded_metadata(media, s3, bucket, gateway):
    fx = media["a1111_png"]
    s3.put_object(Bucket=bucket, Key="over.png", Body=fx.path.read_bytes(),
                  ContentType="image/png",
                  Metadata={"prompt": "=?UTF-8?B?" + __import__("base64").b64encode(
                      "ein Fuchs im Schnee 🦊".encode()).decode() + "?=",
                      "model": "house-model-2"})
    record = admin_record(gateway, bucket, "over.png")["record"]
    assert record["prompt"] == "ein Fuchs im Schnee 🦊"
    assert record["model"] == "house-model-2"
    assert record["seed"] == 3141592653          # from the file: headers name no seed


def test_overwrite_keeps_versions_with_history(media, s3, bucket, gateway, tmp_path):
    fx = media["a1111_png"]
    first = s3.put_object(Bucket=bucket, Key="v.png", Body=fx.path.read_bytes(),
                          Metadata={"prompt": "first"})["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="v.png", Body=fx.path.read_bytes() + b"\0",
                           Metadata={"prompt": "second"})["VersionId"]
    assert first != second
    assert s3.get_object(Bucket=bucket, Key="v.png", VersionId=first)["Body"].read() == \
        fx.path.read_bytes()
    assert admin_record(gateway, bucket, "v.png", first)["record"]["prompt"] == "first"
    assert admin_record(gateway, bucket, "v.png")["record"]["prompt"] == "second"

    # The version listing shows the object's two versions and nothing of the records.
    listed = s3.list_object_versions(Bucket=bucket, Prefix="v.png")["Versions"]
    assert sorted(v["VersionId"] for v in listed) == sorted([first, second])
    docs, instances, history_lengths = set(), set(), []
    for n, version in enumerate((first, second)):
        path = tmp_path / f"{n}.xmp"
        answer = s3.get_object(Bucket=bucket, Key="v.png.xmp", VersionId=version)
        assert answer["VersionId"] == version
        path.write_bytes(answer["Body"].read())
        tags = exiftool_json(path)
        docs.add(tags["XMP-xmpMM:DocumentID"])
        instances.add(tags["XMP-xmpMM:InstanceID"])
        history = tags["XMP-xmpMM:History"]
        history_lengths.append(len(history) if isinstance(history, list) else 1)
    # Same asset, two instances; each version's sidecar carries one more history event.
    assert len(docs) == 1 and len(instances) == 2
    assert history_lengths == [1, 2]

    history = cli(gateway, "asset", "history", f"{bucket}/v.png")
    assert [v["version_id"] for v in history["versions"]] == [first, second]


def test_lineage_from_derived_from_header(media, s3, bucket, gateway, tmp_path):
    fx = media["a_png"]
    parent = s3.put_object(Bucket=bucket, Key="src/base.png", Body=fx.path.read_bytes(),
                           ContentType="image/png")["VersionId"]
    s3.put_object(Bucket=bucket, Key="out/variant.png", Body=fx.path.read_bytes(),
                  ContentType="image/png",
                  Metadata={"derived-from": f"{bucket}/src/base.png?versionId={parent}"})
    up = cli(gateway, "asset", "lineage", f"{bucket}/out/variant.png")
    assert [(p["bucket"], p["key"], p["version_id"]) for p in up["parents"]] == \
        [(bucket, "src/base.png", parent)]
    down = cli(gateway, "asset", "lineage", f"{bucket}/src/base.png")
    assert [(c["bucket"], c["key"]) for c in down["children"]] == [(bucket, "out/variant.png")]
    (tmp_path / "v.xmp").write_bytes(
        s3.get_object(Bucket=bucket, Key="out/variant.png.xmp")["Body"].read())
    derived = exiftool_json(tmp_path / "v.xmp")["XMP-xmpMM:DerivedFrom"]
    assert parent in json.dumps(derived)


def test_multipart_and_copy_go_through_intake(media, s3, bucket, gateway):
    fx = media["comfyui_png"]
    data = fx.path.read_bytes()
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp.png", ContentType="image/png")
    etag = s3.upload_part(Bucket=bucket, Key="mp.png", UploadId=upload["UploadId"],
                          PartNumber=1, Body=data)["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp.png", UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    record = admin_record(gateway, bucket, "mp.png")["record"]
    assert record["prompt"] == fx.expected["prompt"]
    s3.copy_object(Bucket=bucket, Key="copy.png", CopySource={"Bucket": bucket, "Key": "mp.png"})
    copied = admin_record(gateway, bucket, "copy.png")["record"]
    assert copied["prompt"] == fx.expected["prompt"] and copied["key"] == "copy.png"
    assert s3.head_object(Bucket=bucket, Key="copy.png.xmp")["ContentLength"] > 0


def test_dam_edit_of_sidecar_is_merged_not_stored_blindly(media, s3, bucket, gateway, tmp_path):
    fx = media["midjourney_png"]
    s3.put_object(Bucket=bucket, Key="mj.png", Body=fx.path.read_bytes(), ContentType="image/png")
    original = s3.get_object(Bucket=bucket, Key="mj.png.xmp")["Body"].read().decode()
    source_type = admin_record(gateway, bucket, "mj.png")["record"]["source_type"]
    path = tmp_path / "mj.png.xmp"
    path.write_text(original)
    # A DAM sets a rating and a title, and (wrongly) claims the image is a photograph.
    subprocess.run(["exiftool", "-config", str(CONFIG_FILE), "-overwrite_original",
                    "-XMP-xmp:Rating=4", "-XMP-dc:Title=Hero candidate",
                    "-XMP-iptcExt:DigitalSourceType=http://cv.iptc.org/newscodes/"
                    "digitalsourcetype/digitalCapture", str(path)], check=True,
                   capture_output=True)
    answer = s3.put_object(Bucket=bucket, Key="mj.png.xmp", Body=path.read_bytes(),
                           ContentType="application/rdf+xml")
    warning = answer["ResponseMetadata"]["HTTPHeaders"].get("x-provgate-warning", "")
    assert "source_type" in warning
    record = admin_record(gateway, bucket, "mj.png")["record"]
    assert record["rating"] == 4 and record["title"] == "Hero candidate"
    assert record["source_type"] == source_type
    stored = tmp_path / "stored.xmp"
    stored.write_bytes(s3.get_object(Bucket=bucket, Key="mj.png.xmp")["Body"].read())
    tags = exiftool_json(stored)
    assert tags["XMP-xmp:Rating"] == 4
    assert tags["XMP-iptcExt:DigitalSourceType"] == source_type


def test_sidecar_that_is_not_xmp_is_refused_and_changes_nothing(media, s3, bucket):
    fx = media["a_png"]
    s3.put_object(Bucket=bucket, Key="keep.png", Body=fx.path.read_bytes(), ContentType="image/png")
    before = s3.get_object(Bucket=bucket, Key="keep.png.xmp")["Body"].read()
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="keep.png.xmp", Body=b"<not-xmp/>")
    assert refused.value.response["Error"]["Code"] == "MalformedXML"
    assert s3.get_object(Bucket=bucket, Key="keep.png.xmp")["Body"].read() == before


def test_reindex_reproduces_the_catalog(media, make_server):
    server = make_server()
    from tests.conftest import client
    s3 = client(server.endpoint)
    s3.create_bucket(Bucket="reidx")
    fx = media["comfyui_png"]
    base = s3.put_object(Bucket="reidx", Key="base.png", Body=media["a_png"].path.read_bytes(),
                         ContentType="image/png")["VersionId"]
    s3.put_object(Bucket="reidx", Key="gen.png", Body=fx.path.read_bytes(),
                  ContentType="image/png", Metadata={"derived-from": f"reidx/base.png?versionId={base}"})
    s3.put_object(Bucket="reidx", Key="gen.png", Body=fx.path.read_bytes() + b"\0",
                  ContentType="image/png", Metadata={"campaign": "spring"})
    s3.put_object(Bucket="reidx", Key="gone.png", Body=b"x", ContentType="image/png")
    s3.delete_object(Bucket="reidx", Key="gone.png")
    questions = [("asset", "show", "reidx/gen.png"), ("asset", "history", "reidx/gen.png"),
                 ("asset", "lineage", "reidx/base.png"), ("asset", "lineage", "reidx/gen.png"),
                 ("asset", "history", "reidx/base.png")]
    before = [cli(server, *q) for q in questions]
    server.stop()
    shutil.rmtree(server.workdir / "catalog")
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "reindex", "--json", "--progress",
                          "--config", str(server.config_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["assets"] >= 3 and not summary["unreadable_records"]
    assert not summary["mismatched_records"] and not summary["missing_records"]
    assert "reindex:" in out.stderr      # the progress line
    after = [cli(server, *q) for q in questions]
    for question, old, new in zip(questions, before, after):
        assert new == old, question


def test_inputs_named_in_the_file_become_lineage_edges(media, s3, bucket, gateway):
    """ComfyUI's LoadImage input and a C2PA ingredient appear as parents of the output."""
    # The inputs as the fixtures made them: the graph's LoadImage node, the manifest's
    # ingredient title.
    made_from = {"comfyui_png": ("pose_reference.png", "controlnet"),
                 "c2pa_png": ("sketch.png", "c2pa_ingredient")}
    for name, parent in made_from.items():
        fx = media[name]
        s3.put_object(Bucket=bucket, Key=f"{name}.png", Body=fx.path.read_bytes(),
                      ContentType=fx.content_type, Metadata=fx.headers)
        parents = cli(gateway, "asset", "lineage", f"{bucket}/{name}.png")["parents"]
        assert parent in {(p["key"], p["relation"]) for p in parents}, parents
