"""The folder door: real shares on disk, a real gateway, the sidecar in-process
(``provgate serve``) or alone (``provgate watch``), on both storage backends."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from gateway.provenance.xmp import parse_sidecar
from tests.conftest import client
from tests.support import media
from tests.support.metrics import metric, scrape
from tests.support.server import ROOT, WRITER
from tests.support.polling import wait_for
from tests.support.sidecar import (WatchProcess, objects, share, sidecar_section, versions,
                                   wait_for_metric)

INGESTED = "provgate_sidecar_files_ingested_total"


def _bucket() -> str:
    return f"drops-{uuid.uuid4().hex[:10]}"


def _xmp_record(path: Path):
    return parse_sidecar(path.read_bytes()).record


def _wait_for_xmp(path: Path, log=None, timeout: float = 60.0) -> Path:
    xmp = path.with_name(path.name + ".xmp")
    wait_for(xmp.exists, timeout, f"{xmp.name} beside {path.name}", log)
    return xmp


@pytest.fixture
def watch(tmp_path, gateway):
    """Start ``provgate watch`` processes against the session's gateway."""
    started: list[WatchProcess] = []

    def make(shares: list[dict], **settings) -> WatchProcess:
        process = WatchProcess(tmp_path / f"watch{len(started)}", sidecar_section(
            tmp_path, shares, endpoint=gateway.endpoint, **settings))
        started.append(process)
        return process.start()

    yield make
    for process in started:
        process.stop()


def test_served_share_writes_the_xmp_with_the_prompt_beside_the_file(make_server, tmp_path):
    bucket = _bucket()       # does not exist: the first write creates it
    config = share(tmp_path, bucket, template="{brand}/{campaign}",
                   fields={"license": "LicenseRef-studio", "channel": "web"})
    server = make_server(sections={"sidecar": sidecar_section(tmp_path, [config])})
    folder = Path(config["path"]) / "acme" / "spring"
    folder.mkdir(parents=True)
    fixture = media.a1111_png(tmp_path)
    shutil.copy(fixture.path, folder / "fox.png")
    (folder / "brief.pdf").write_bytes(b"%PDF-1.4 not much of a brief")
    (folder / "brief.pdf.txt").write_text(media.NONLATIN_PROMPT, encoding="utf-8")
    (folder / "brief.pdf.json").write_text(json.dumps(
        {"model": "studio-model-2", "people": ["Ana", "Bo"], "shot-by": "night crew"}))

    briefs = Path(config["path"]) / "acme" / "summer"
    briefs.mkdir(parents=True)
    (briefs / "prompt.txt").write_text("summer campaign, beach at noon\n")
    (briefs / "plain.bin").write_bytes(b"rendered without metadata")
    (briefs / "own.bin").write_bytes(b"rendered with its own prompt")
    (briefs / "own.bin.txt").write_text("its own prompt")

    record = _xmp_record(_wait_for_xmp(folder / "fox.png", server.log))
    assert record.prompt == media.A1111_PROMPT
    assert record.seed == 3141592653
    assert (record.brand, record.campaign) == ("acme", "spring")
    assert (record.license, record.channel) == ("LicenseRef-studio", "web")
    brief = _xmp_record(_wait_for_xmp(folder / "brief.pdf", server.log))
    assert brief.prompt == media.NONLATIN_PROMPT
    assert brief.model == "studio-model-2"
    assert brief.people == ["Ana", "Bo"]
    assert brief.custom["shot-by"] == "night crew"

    plain = _xmp_record(_wait_for_xmp(briefs / "plain.bin", server.log))
    assert (plain.prompt, plain.campaign) == ("summer campaign, beach at noon", "summer")
    assert _xmp_record(_wait_for_xmp(briefs / "own.bin", server.log)).prompt == "its own prompt"

    s3 = client(server.endpoint)
    stored = s3.get_object(Bucket=bucket, Key="acme/spring/fox.png")["Body"].read()
    assert stored == fixture.path.read_bytes()
    # The companions travelled as provenance; they are not objects of their own.
    paths = ("spring/fox.png", "spring/brief.pdf", "summer/plain.bin", "summer/own.bin")
    assert set(objects(s3, bucket)) == {f"acme/{path}" for path in paths}
    for path in paths:   # each object's record is served beside it (not listed)
        assert s3.get_object(Bucket=bucket, Key=f"acme/{path}.xmp")["ContentType"] == \
            "application/rdf+xml"
    samples = scrape(server.admin)
    share_name = Path(config["path"]).name
    assert metric(samples, INGESTED, share=share_name) == 4
    assert metric(samples, "provgate_sidecar_drop_to_xmp_seconds_count") == 4


SHARE_POLICY = """
[[rule]]
id = "shares-need-a-prompt"
stage = "intake"
match = 'object.door == "sidecar" && object.key.startsWith("renders/")'
validate = 'has(asset.prompt) && asset.prompt != ""'
message = "files from the shares must say which prompt made them"
action = "deny"

[[rule]]
id = "review-first"
stage = "intake"
match = 'object.door == "sidecar" && object.key.startsWith("review/")'
validate = 'false'
message = "this folder is reviewed before it is stored"
action = "quarantine"

[[rule]]
id = "no-executables"
stage = "intake"
match = 'object.door == "sidecar" && object.key.startsWith("types/")'
validate = '!object.key.endsWith(".exe")'
message = "executables are not creative assets"
action = "deny"
"""


def test_policy_denial_moves_the_file_to_quarantine_with_its_reason(make_server, tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "shares.toml").write_text(SHARE_POLICY)
    bucket = _bucket()
    config = share(tmp_path, bucket)
    server = make_server(policies={"dirs": [str(policies)]},
                         sections={"sidecar": sidecar_section(tmp_path, [config])})
    root, quarantine = Path(config["path"]), Path(config["quarantine"])
    (root / "renders").mkdir()
    (root / "review").mkdir()
    (root / "types").mkdir()
    (root / "types" / "setup.exe").write_bytes(b"MZ not an image")
    (root / "renders" / "no-prompt.bin").write_bytes(b"made by who knows what")
    (root / "renders" / "no-prompt.bin.json").write_text('{"model": "mystery"}')
    (root / "renders" / "with-prompt.bin").write_bytes(b"made from a prompt")
    (root / "renders" / "with-prompt.bin.txt").write_text("a lighthouse at dusk")
    (root / "review" / "held.bin").write_bytes(b"held for a reviewer")

    denied = quarantine / "renders" / "no-prompt.bin"
    reason_file = denied.with_name("no-prompt.bin.reason.json")
    wait_for(reason_file.exists, what="the reason file in quarantine", log=server.log)
    reason = json.loads(reason_file.read_text())
    assert (reason["rule"], reason["action"], reason["key"]) == (
        "shares-need-a-prompt", "deny", "renders/no-prompt.bin")
    assert "must say which prompt made them" in reason["message"]
    assert "move the file back" in reason["retry"]
    assert "no-prompt.bin.json" in reason["retry"]          # a missing field: the companion

    by_type = quarantine / "types" / "setup.exe.reason.json"
    wait_for(by_type.exists, what="the type denial's reason", log=server.log)
    advice = json.loads(by_type.read_text())["retry"]
    # A rule about the file itself: adding provenance would not help, so it is not advised.
    assert ".json" not in advice and "no provenance can change" in advice
    assert denied.read_bytes() == b"made by who knows what"            # nothing lost
    assert (quarantine / "renders" / "no-prompt.bin.json").exists()     # its companion too
    assert not (root / "renders" / "no-prompt.bin").exists()

    assert _xmp_record(_wait_for_xmp(root / "renders" / "with-prompt.bin", server.log)).door \
        == "sidecar"
    held = quarantine / "review" / "held.bin.reason.json"
    wait_for(held.exists, what="the held file's reason", log=server.log)
    assert json.loads(held.read_text())["action"] == "quarantine"
    assert (quarantine / "review" / "held.bin").read_bytes() == b"held for a reviewer"

    s3 = client(server.endpoint)
    assert set(objects(s3, bucket)) == {"renders/with-prompt.bin"}
    assert s3.head_object(Bucket=bucket, Key="renders/with-prompt.bin.xmp")["ContentLength"] > 0
    samples = scrape(server.admin)
    assert metric(samples, "provgate_sidecar_files_quarantined_total", share=root.name) == 3   # two denials, one hold
    assert metric(samples, INGESTED, share=root.name) == 1


def test_a_file_written_slowly_is_ingested_once_and_complete(watch, tmp_path, gateway):
    bucket = _bucket()
    config = share(tmp_path, bucket)
    # A window far longer than the writer's pauses, so that a loaded machine does not make
    # the writer look finished (no fsync either: on a busy disk one can stall for seconds).
    process = watch([config], stable_seconds=3.0)
    target = Path(config["path"]) / "render.mov"
    pieces = [os.urandom(256 * 1024) for _ in range(6)]
    with open(target, "wb") as fh:
        for piece in pieces:
            fh.write(piece)
            fh.flush()
            time.sleep(0.2)        # a writer slower than the disk, faster than the window
    _wait_for_xmp(target, process.log)
    s3 = client(gateway.endpoint)
    assert s3.get_object(Bucket=bucket, Key="render.mov")["Body"].read() == b"".join(pieces)
    assert versions(s3, bucket)["render.mov"] == 1


def test_temporary_and_system_names_are_never_ingested(watch, tmp_path, gateway):
    bucket = _bucket()
    config = share(tmp_path, bucket, ignore=["*.lock", "drafts/*"])
    process = watch([config])
    root = Path(config["path"])
    for name in ("a.tmp", "b.part", "c.crdownload", ".~lock.doc#", "~$report.docx",
                 ".syncthing.d.png.tmp", ".DS_Store", "Thumbs.db", "e.lock", "f.png.xmp",
                 "g.png.reason.json", "@eaDir/h.png", "deep/@eaDir/i.png", "drafts/j.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"scratch " + name.encode())
    # A download finishing: written as .part, renamed when complete.
    (root / "final.png.part").write_bytes(b"finished bytes")
    os.rename(root / "final.png.part", root / "final.png")
    _wait_for_xmp(root / "final.png", process.log)
    wait_for_metric(process.metrics_url, "provgate_sidecar_rescans_total", 1,
                    share=root.name, log=process.log)
    wait_for(lambda: process.counter("provgate_sidecar_backlog_files", share=root.name) == 0,
               what="an empty backlog")
    assert set(objects(client(gateway.endpoint), bucket)) == {"final.png"}


@pytest.mark.timeout(900)             # long by design: the default is 300 s
def test_two_thousand_files_copied_in_at_once_are_each_ingested_once(watch, tmp_path, gateway):
    bucket = _bucket()
    config = share(tmp_path, bucket)
    process = watch([config], workers=8)
    staging = tmp_path / "staging"
    for folder in range(20):
        (staging / f"batch{folder:02d}").mkdir(parents=True)
        for n in range(100):
            (staging / f"batch{folder:02d}" / f"img{n:03d}.bin").write_bytes(
                f"{folder}/{n} ".encode() + os.urandom(512))
    # How long this takes is measured by `python -m bench --sidecar`, not here.
    shutil.copytree(staging, Path(config["path"]), dirs_exist_ok=True)
    wait_for_metric(process.metrics_url, INGESTED, 2000, timeout=600,
                    share=Path(config["path"]).name, log=process.log)
    counts = versions(client(gateway.endpoint), bucket)
    files = counts          # records are not versions of objects: one version per file
    assert len(files) == 2000 and set(files.values()) == {1}
    assert all(Path(config["path"], k + ".xmp").exists() for k in files)
    assert process.counter(INGESTED, share=Path(config["path"]).name) == 2000


def test_gateway_away_while_files_arrive_then_back_everything_once(make_server, tmp_path):
    server = make_server()
    # The sidecar knows the gateway by its address: the restart below keeps the port the
    # first start was given by the OS (no port chosen free and then bound by someone else).
    server.server["listen"] = server.endpoint.removeprefix("http://")
    bucket = _bucket()
    config = share(tmp_path, bucket)
    process = WatchProcess(tmp_path / "watch", sidecar_section(
        tmp_path, [config], endpoint=server.endpoint))
    process.start()
    try:
        root = Path(config["path"])
        (root / "before.bin").write_bytes(b"sent while the gateway is up")
        _wait_for_xmp(root / "before.bin", process.log)
        server.stop()
        for n in range(40):
            (root / f"while-away-{n:02d}.bin").write_bytes(os.urandom(4096))
        wait_for(lambda: process.counter("provgate_sidecar_gateway_up") == 0,
                   what="the sidecar noticing the gateway is away", log=process.log)
        assert not (root / "while-away-00.bin.xmp").exists()
        server.start()
        wait_for_metric(process.metrics_url, INGESTED, 41, share=root.name, log=process.log)
        counts = versions(client(server.endpoint), bucket)
        assert counts == {
            "before.bin": 1, **{f"while-away-{n:02d}.bin": 1 for n in range(40)}}
        assert all((root / f"while-away-{n:02d}.bin.xmp").exists() for n in range(40))
        assert process.counter("provgate_sidecar_files_failed_total", share=root.name,
                               kind="retry") >= 1
    finally:
        process.stop()


def test_polling_share_finds_files_without_native_events(watch, tmp_path, gateway):
    bucket = _bucket()
    config = share(tmp_path, bucket, poll=True, poll_seconds=0.2)
    # No periodic rescan within the test: only the poller can find the file.
    process = watch([config], rescan_seconds=3600)
    wait_for_metric(process.metrics_url, "provgate_sidecar_rescans_total", 1,
                    share=Path(config["path"]).name, log=process.log)
    target = Path(config["path"]) / "from-another-host.png"
    shutil.copy(media.a1111_png(tmp_path).path, target)
    assert _xmp_record(_wait_for_xmp(target, process.log)).prompt == media.A1111_PROMPT


def test_restarting_the_sidecar_reingests_nothing(watch, tmp_path, gateway):
    bucket = _bucket()
    config = share(tmp_path, bucket)
    root = Path(config["path"])
    first = watch([config])
    for n in range(20):
        (root / f"f{n:02d}.bin").write_bytes(os.urandom(2048))
    wait_for_metric(first.metrics_url, INGESTED, 20, share=root.name, log=first.log)
    assert first.stop() == 0
    os.utime(root / "f00.bin")                       # touched, same content
    os.utime(root / "f01.bin", ns=(0, 10 ** 18))     # mtime changed, same content
    (root / "f02.bin").write_bytes(b"new content")   # a real change: a new version
    second = watch([config])
    wait_for_metric(second.metrics_url, INGESTED, 1, share=root.name, log=second.log)
    wait_for_metric(second.metrics_url, "provgate_sidecar_files_unchanged_total", 2,
                    share=root.name, log=second.log)
    wait_for(lambda: second.counter("provgate_sidecar_backlog_files", share=root.name) == 0,
               what="an empty backlog")
    counts = versions(client(gateway.endpoint), bucket)
    assert counts == {
        f"f{n:02d}.bin": 2 if n == 2 else 1 for n in range(20)}
    assert second.counter(INGESTED, share=root.name) == 1
    stored = client(gateway.endpoint).get_object(Bucket=bucket, Key="f02.bin")["Body"].read()
    assert stored == b"new content"


def test_sigterm_finishes_in_flight_uploads_and_nothing_is_doubled(watch, tmp_path, gateway):
    bucket = _bucket()
    config = share(tmp_path, bucket)
    root = Path(config["path"])
    first = watch([config], workers=4)
    for n in range(300):
        (root / f"s{n:03d}.bin").write_bytes(os.urandom(8192))
    wait_for_metric(first.metrics_url, INGESTED, 10, share=root.name, log=first.log)
    assert first.stop() == 0, first.log()
    second = watch([config], workers=4)
    wait_for(lambda: all((root / f"s{n:03d}.bin.xmp").exists() for n in range(300)),
               timeout=300, what="every XMP", log=second.log)
    counts = versions(client(gateway.endpoint), bucket)
    assert counts == {
        f"s{n:03d}.bin": 1 for n in range(300)}


def test_a_persons_edit_to_the_xmp_survives(watch, tmp_path, gateway):
    bucket = _bucket()
    config = share(tmp_path, bucket)
    root = Path(config["path"])
    process = watch([config])
    target = root / "hero.png"
    shutil.copy(media.a1111_png(tmp_path).path, target)
    xmp = _wait_for_xmp(target, process.log)
    # A person rates and titles the image in a DAM that saves into the sidecar.
    media.exiftool_write(xmp, "-XMP-dc:Title=Hero shot", "-XMP-xmp:Rating=4",
                         "-XMP-iptcExt:AIPromptInformation=a forged prompt")
    wait_for_metric(process.metrics_url, "provgate_sidecar_xmp_edits_merged_total", 1,
                    share=root.name, log=process.log)
    s3 = client(gateway.endpoint)

    def gateway_record():
        body = s3.get_object(Bucket=bucket, Key="hero.png.xmp")["Body"].read()
        return parse_sidecar(body).record

    wait_for(lambda: gateway_record().title == "Hero shot", what="the merged edit")
    merged = gateway_record()
    assert merged.rating == 4
    assert merged.prompt == media.A1111_PROMPT           # what happened is not editable
    wait_for(lambda: _xmp_record(xmp).title == "Hero shot", what="the merged XMP beside")

    # A new version of the image: the person's edit is carried to it, not overwritten.
    shutil.copy(media.a_png(tmp_path).path, target)
    wait_for(lambda: versions(s3, bucket).get("hero.png") == 2, what="a second version")
    wait_for(lambda: _xmp_record(xmp).version_id == s3.head_object(
        Bucket=bucket, Key="hero.png")["VersionId"], what="the new version's XMP beside")
    assert (_xmp_record(xmp).title, _xmp_record(xmp).rating) == ("Hero shot", 4)


def test_after_ingest_move_and_delete_only_once_acknowledged(watch, tmp_path, gateway):
    moved_bucket, deleted_bucket = _bucket(), _bucket()
    moving = share(tmp_path / "m", moved_bucket, after="move", done=str(tmp_path / "m" / "done"))
    deleting = share(tmp_path / "d", deleted_bucket, after="delete", name="deleting")
    process = watch([moving, deleting])
    (Path(moving["path"]) / "sub").mkdir()
    (Path(moving["path"]) / "sub" / "a.bin").write_bytes(b"moved once stored")
    (Path(deleting["path"]) / "b.bin").write_bytes(b"deleted once stored")
    done = tmp_path / "m" / "done" / "sub"
    wait_for(lambda: (done / "a.bin.xmp").exists(), what="the moved file and its XMP",
               log=process.log)
    assert (done / "a.bin").read_bytes() == b"moved once stored"
    assert not (Path(moving["path"]) / "sub" / "a.bin").exists()
    wait_for(lambda: not (Path(deleting["path"]) / "b.bin").exists(), what="the deletion",
               log=process.log)
    assert not (Path(deleting["path"]) / "b.bin.xmp").exists()
    s3 = client(gateway.endpoint)
    assert s3.get_object(Bucket=moved_bucket, Key="sub/a.bin")["Body"].read() == b"moved once stored"
    assert s3.get_object(Bucket=deleted_bucket, Key="b.bin")["Body"].read() == b"deleted once stored"


def test_identical_content_under_two_names_is_recorded(watch, tmp_path, gateway):
    bucket = _bucket()
    config = share(tmp_path, bucket)
    root = Path(config["path"])
    process = watch([config])
    body = os.urandom(4096)
    (root / "original.bin").write_bytes(body)
    _wait_for_xmp(root / "original.bin", process.log)
    (root / "copy-of-original.bin").write_bytes(body)
    record = _xmp_record(_wait_for_xmp(root / "copy-of-original.bin", process.log))
    assert record.custom["same-content-as"] == f"{bucket}/original.bin"
    assert "same-content-as" not in _xmp_record(root / "original.bin.xmp").custom


# -- hostile input ---------------------------------------------------------------------------

def test_hostile_files_are_refused_clearly_and_never_lost(watch, tmp_path, gateway):
    bucket = _bucket()
    config = share(tmp_path, bucket)
    root = Path(config["path"])
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the share")
    # Watchers report a name that is not UTF-8 mangled; walks find it as it is.
    process = watch([config], rescan_seconds=1.0)
    (root / "link.txt").symlink_to(outside)                 # could point anywhere
    (root / "linked-folder").symlink_to(tmp_path, target_is_directory=True)
    with open(os.fsencode(root) + b"/latin1-caf\xe9.bin", "wb") as fh:   # not UTF-8
        fh.write(b"a name no object key can carry")
    (root / "bad.png").write_bytes(b"\x89PNG broken")
    (root / "bad.png.json").write_text('{"prompt": "unterminated')
    (root / "big.bin").write_bytes(b"x")
    (root / "big.bin.txt").write_bytes(b"y" * (65 * 1024))
    # A key longer than S3 allows (1024 bytes): the gateway refuses it for good.
    deep = root.joinpath(*(["d" * 200] * 6))
    deep.mkdir(parents=True)
    (deep / "too-long.bin").write_bytes(b"kept in place")
    record = _xmp_record(_wait_for_xmp(root / "bad.png", process.log))
    # A person (or a broken tool) saves something unreadable as the sidecar: the gateway
    # refuses the edit, and the sidecar never overwrites what the person wrote.
    garbage = b"<x:xmpmeta>not closed"
    (root / "bad.png.xmp").write_bytes(garbage)
    assert "bad.png.json ignored: not valid JSON" in record.custom["sidecar-warning"]
    big = _xmp_record(_wait_for_xmp(root / "big.bin", process.log))
    assert "big.bin.txt ignored" in big.custom["sidecar-warning"] and big.prompt is None
    wait_for_metric(process.metrics_url, "provgate_sidecar_files_failed_total", 1,
                    share=root.name, kind="rejected", log=process.log)
    assert (deep / "too-long.bin").read_bytes() == b"kept in place"
    wait_for(lambda: "KeyTooLongError" in process.log(), what="the refusal in the log",
               log=process.log)
    wait_for(lambda: "bad.png.xmp was refused" in process.log(), what="the refused edit",
               log=process.log)
    assert (root / "bad.png.xmp").read_bytes() == garbage
    wait_for(lambda: "its name is not valid UTF-8" in process.log(), log=process.log,
               what="the skipped name in the log")
    assert os.path.exists(os.fsencode(root) + b"/latin1-caf\xe9.bin")
    s3 = client(gateway.endpoint)
    assert set(objects(s3, bucket)) == {"bad.png", "big.bin"}
    # The refused edit changed nothing: the stored record is still the one written back.
    assert parse_sidecar(s3.get_object(Bucket=bucket, Key="bad.png.xmp")["Body"].read()
                         ).record.version_id == record.version_id


@pytest.mark.parametrize("share_extra, sidecar_extra, message", [
    ({"colour": "blue"}, {}, "unknown key 'sidecar.shares[0].colour'"),
    ({"identity": "nobody"}, {}, "names 'nobody', which is not among [[identities]]"),
    ({"path": "/nonexistent/share"}, {}, "is not a folder"),
    ({"after": "move"}, {}, "needs 'sidecar.shares[0].done'"),
    ({"after": "archive"}, {}, "'sidecar.shares[0].after' must be one of"),
    ({"template": "{brand}-{campaign}"}, {}, "a placeholder must be a whole folder name"),
    ({"fields": {"Brand": "x"}}, {}, "must be a lower-case field name"),
    ({}, {"stable_seconds": 0}, "'sidecar.stable_seconds' must be greater than 0"),
    ({}, {"endpoint": "ftp://gateway"}, "'sidecar.endpoint' must be http(s)://host:port"),
])
def test_bad_sidecar_config_stops_with_the_key_named(tmp_path, share_extra, sidecar_extra, message):
    config = {**share(tmp_path, "drops"), **share_extra}
    process = WatchProcess(tmp_path / "watch", sidecar_section(tmp_path, [config], **sidecar_extra))
    process.write_config()
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "watch", "--config",
                             str(process.config_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr


def test_overlapping_shares_and_no_shares_are_refused(tmp_path):
    outer = share(tmp_path, "outer")
    inner_root = Path(outer["path"]) / "inner"
    inner_root.mkdir()
    inner = {**share(tmp_path / "x", "inner"), "path": str(inner_root)}
    for shares, message in (([outer, inner], "overlap"), ([], "configures no [[sidecar.shares]]")):
        process = WatchProcess(tmp_path / f"watch{len(shares)}", sidecar_section(tmp_path, shares))
        process.write_config()
        result = subprocess.run([sys.executable, "-m", "gateway.cli", "watch", "--config",
                                 str(process.config_path)], cwd=ROOT, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 2 and message in result.stderr


def test_writer_identity_is_what_the_share_writes_with(watch, tmp_path, gateway):
    bucket = _bucket()
    client(gateway.endpoint).create_bucket(Bucket=bucket)
    config = share(tmp_path, bucket, identity=WRITER["name"])
    process = watch([config])
    (Path(config["path"]) / "w.bin").write_bytes(b"by the writer")
    record = _xmp_record(_wait_for_xmp(Path(config["path"]) / "w.bin", process.log))
    assert record.identity == WRITER["name"]
