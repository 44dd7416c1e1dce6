"""The first hour of a new user: the README's walk-through, the commands it names, and
what the user sees when something is off (a port in use, a closed pipe, a bad signature).

The walk-through runs against a real ``provgate serve`` whose configuration is
``config.example.toml`` itself (what ``make run`` serves), with only its listen ports and
folders moved into the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomlkit
from PIL import Image

from gateway import config as config_module
from sidecar.settings import load_sidecar
from tests.conftest import client
from tests.support.admin import admin_call
from tests.support.polling import wait_for
from tests.support.media import exiftool_write
from tests.support.server import ADMIN, ROOT, ProvgateProcess

EXAMPLES = ROOT / "examples"
DEV = {"access_key": "provgate-dev", "secret": "provgate-dev-secret"}


def provgate(*args: str, cwd: Path = ROOT, env: dict | None = None,
             **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, **kwargs)


def example_config(workdir: Path) -> Path:
    """config.example.toml with its ports free and its folders under ``workdir``."""
    doc = tomlkit.parse((ROOT / "config.example.toml").read_text())
    doc["server"]["listen"] = "127.0.0.1:0"
    doc["admin"]["listen"] = "127.0.0.1:0"
    doc["storage"]["path"] = str(workdir / "data")
    doc["catalog"]["path"] = str(workdir / "data" / ".catalog")
    doc["policies"]["dirs"] = [str(ROOT / "policies")]
    doc["policies"]["workers"] = 1
    doc["sidecar"]["state_dir"] = str(workdir / "data" / ".sidecar")
    share, = doc["sidecar"]["shares"]
    share["path"] = str(workdir / "inbox")
    share["quarantine"] = str(workdir / "quarantine")
    (workdir / "inbox").mkdir(parents=True)
    path = workdir / "provgate.toml"
    path.write_text(tomlkit.dumps(doc))
    return path


class Served(ProvgateProcess):
    endpoint = ""
    admin = ""

    def serve(self, config: Path, env: dict | None = None) -> "Served":
        def on_line(line: str) -> bool:
            if line.startswith("provgate: S3 endpoint "):
                self.endpoint = line.split()[-1]
            elif line.startswith("provgate: admin "):
                self.admin = line.split()[-1]
            return "rclone" in line            # the banner's last address line
        self.launch(["serve", "--config", str(config)], on_line, env)
        return self


@pytest.fixture
def example_server(tmp_path):
    config = example_config(tmp_path)
    server = Served().serve(config)
    yield server, config
    server.stop()


def stored_examples(server, *keys: str):
    """A client of ``server`` as the dev identity, after storing examples/a1111.png as
    renders/KEY for each key."""
    s3 = client(server.endpoint, DEV)
    s3.create_bucket(Bucket="renders")
    for key in keys:
        s3.put_object(Bucket="renders", Key=key, Body=(EXAMPLES / "a1111.png").read_bytes(),
                      ContentType="image/png")
    return s3


def png_chunks_apart_from_xmp(data: bytes) -> tuple[list[tuple[bytes, bytes]], bytes | None]:
    """The (type, data) chunks of a PNG in order, without its XMP packet (the iTXt chunk
    with keyword XML:com.adobe.xmp), and that packet (None when there is none)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks, xmp, at = [], None, 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        at += 12 + length
        if kind == b"iTXt" and body.startswith(b"XML:com.adobe.xmp\0"):
            assert xmp is None, "two XMP packets"
            xmp = body
        else:
            chunks.append((kind, body))
    return chunks, xmp


def test_walkthrough_runs_against_the_example_config(example_server, tmp_path):
    server, config = example_server
    banner = server.log()
    # The banner names the endpoint, the example identity and ready-to-paste client lines.
    assert f"aws --endpoint-url {server.endpoint} s3 ls" in banner
    assert "AWS_ACCESS_KEY_ID=provgate-dev AWS_SECRET_ACCESS_KEY=provgate-dev-secret" in banner
    assert f"rclone config create provgate s3 provider=Other endpoint={server.endpoint}" \
        in banner
    assert f"Review UI  {server.admin}/ui/" in banner

    run = subprocess.run(["bash", str(EXAMPLES / "walkthrough.sh")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PROVGATE_ENDPOINT": server.endpoint,
                              "PROVGATE_ADMIN_ENDPOINT": server.admin,
                              "PROVGATE_CONFIG": str(config),
                              "PROVGATE": str(Path(sys.executable).with_name("provgate"))})
    assert run.returncode == 0, run.stdout + run.stderr + server.log()
    out = run.stdout
    assert re.search(r"^\s+prompt\s+a red fox in fresh snow", out, re.M)
    assert "403, rule bucket-content-types" in out and "nothing was stored" in out
    # 5. review: one approval is enough while review-two-approvals is in warn mode.
    assert "review status: approved" in out and "review-two-approvals" in out
    # (published already, if the copy was quicker than the HEAD)
    assert re.search(r"HEAD: x-provgate-review: (approved|published)$", out, re.M)
    # 6. distribution: what the script printed, and what a client and the folder show.
    assert "x-amz-replication-status: COMPLETED" in out
    s3 = client(server.endpoint, DEV)
    head = s3.head_object(Bucket="renders", Key="examples/a1111.png")
    assert head["ReplicationStatus"] == "COMPLETED"
    wait_for(lambda: s3.head_object(Bucket="renders", Key="examples/a1111.png")
             ["ResponseMetadata"]["HTTPHeaders"].get("x-provgate-review") == "published",
             what="review state published once the copy is out", log=server.log)
    stored = s3.get_object(Bucket="renders", Key="examples/a1111.png")["Body"].read()
    assert stored == (EXAMPLES / "a1111.png").read_bytes()
    copy = tmp_path / "published" / "examples" / "a1111.png"    # [targets.www] ./published
    chunks, xmp = png_chunks_apart_from_xmp(copy.read_bytes())
    assert chunks == png_chunks_apart_from_xmp(stored)[0]        # only the XMP was added
    assert xmp is not None
    tags = json.loads(subprocess.run(["exiftool", "-j", "-G1", str(copy)], check=True,
                                     capture_output=True, text=True).stdout)[0]
    assert tags["XMP-iptcExt:DigitalSourceType"] == \
        "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    assert tags["XMP-iptcExt:AIPromptInformation"].startswith("a red fox in fresh snow")
    assert tags["XMP-plus:LicenseID"] == "LicenseRef-ExampleBrand-Internal"
    assert tags["PNG:Parameters"].startswith("a red fox in fresh snow")  # the webui's own

    # What the README says of ./inbox: files land in renders/inbox/<path>, XMP beside them.
    dropped = tmp_path / "inbox" / "acme" / "spring" / "hero.png"
    dropped.parent.mkdir(parents=True)
    shutil.copyfile(EXAMPLES / "a1111.png", dropped)
    wait_for(lambda: dropped.with_name("hero.png.xmp").exists(), what="XMP beside the drop",
             log=server.log)
    s3 = client(server.endpoint, DEV)
    head = s3.head_object(Bucket="renders", Key="inbox/acme/spring/hero.png")
    assert head["ContentLength"] == dropped.stat().st_size


def test_a_render_dropped_without_its_prompt_is_held_until_a_reviewer_releases_it(
        example_server, tmp_path):
    """The shipped rule render-prompt-held: a render in ./inbox that carries no prompt is
    kept, not refused — held in the quarantine bucket where a reviewer sees why; its
    local copy moves to ./quarantine with the reason; the render beside it that carries
    its prompt gets its record as usual."""
    server, config = example_server
    spring = tmp_path / "inbox" / "acme" / "spring"
    spring.mkdir(parents=True)
    Image.new("RGB", (64, 48), (20, 90, 160)).save(spring / "blind.png")
    shutil.copyfile(EXAMPLES / "a1111.png", spring / "hero.png")

    reason_file = tmp_path / "quarantine" / "acme" / "spring" / "blind.png.reason.json"
    wait_for(reason_file.exists, what="the held render's reason", log=server.log)
    wait_for(lambda: (spring / "hero.png.xmp").exists(), what="XMP beside the prompted render",
             log=server.log)
    reason = json.loads(reason_file.read_text())
    assert (reason["rule"], reason["action"], reason["key"]) == \
        ("render-prompt-held", "quarantine", "inbox/acme/spring/blind.png")
    assert "prompt" in reason["message"]
    assert not (spring / "blind.png").exists()

    s3 = client(server.endpoint, DEV)
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket="renders")["Contents"]}
    assert listed == {"inbox/acme/spring/hero.png"}
    code, held, _ = admin_call(server, "GET", "/api/v1/quarantine", identity=DEV)
    assert code == 200
    entry, = [e for e in held["items"] if e["key"] == "inbox/acme/spring/blind.png"]
    assert (entry["bucket"], entry["rule"]) == ("renders", "render-prompt-held")

    code, answer, _ = admin_call(server, "POST",
                                 "/api/v1/quarantine/renders/inbox/acme/spring/blind.png/release",
                                 {"note": "brief says the prompt is in the job ticket"},
                                 identity=DEV)
    assert code == 200, answer
    released = s3.get_object(Bucket="renders", Key="inbox/acme/spring/blind.png")["Body"].read()
    assert released == (tmp_path / "quarantine" / "acme" / "spring" / "blind.png").read_bytes()


def test_shipped_route_on_a_config_without_its_target_blocks_with_a_reason(tmp_path):
    """policies/routes.toml names target www: a config that lacks it still serves, and an
    approved render is held with a message saying so, not lost or half-delivered."""
    config = example_config(tmp_path)
    doc = tomlkit.parse(config.read_text())
    del doc["targets"]["www"]
    config.write_text(tomlkit.dumps(doc))
    server = Served().serve(config)
    try:
        s3 = client(server.endpoint, DEV)
        s3.create_bucket(Bucket="renders")
        version = s3.put_object(Bucket="renders", Key="x/fox.png", ContentType="image/png",
                                Body=(EXAMPLES / "a1111.png").read_bytes(),
                                Metadata={"license": "CC-BY-4.0"})["VersionId"]
        code, answer, _ = admin_call(server, "POST", "/api/v1/reviews/renders/x/fox.png/decisions",
                                     {"decision": "approve"}, identity=DEV)
        assert (code, answer["status"]) == (200, "approved"), answer
        wait_for(lambda: s3.head_object(Bucket="renders", Key="x/fox.png").get(
            "ReplicationStatus") == "FAILED", what="the routed version marked FAILED",
            log=server.log)
        shown = provgate("distribute", "status", "renders/x/fox.png", "--json",
                         "--config", str(config))
        assert shown.returncode == 0, shown.stderr
        job, = json.loads(shown.stdout)["jobs"]
        assert (job["target"], job["state"], job["version_id"]) == ("www", "blocked", version)
        assert job["reason"] == "target 'www' is not configured"
        assert not (tmp_path / "published").exists()
    finally:
        server.stop()


def test_asset_show_aligns_labels_and_shows_a_dam_edit(example_server, tmp_path):
    server, config = example_server
    s3 = stored_examples(server, "fox.png")
    xmp = tmp_path / "fox.png.xmp"
    xmp.write_bytes(s3.get_object(Bucket="renders", Key="fox.png.xmp")["Body"].read())
    exiftool_write(xmp, "-XMP-dc:Title=Fox at dawn", "-XMP-xmp:Rating=4")
    s3.put_object(Bucket="renders", Key="fox.png.xmp", Body=xmp.read_bytes(),
                  ContentType="application/rdf+xml")

    shown = provgate("asset", "show", "renders/fox.png", "--config", str(config))
    assert shown.returncode == 0, shown.stderr
    rows = shown.stdout.splitlines()[1:]
    values = {}
    for row in rows:
        match = re.match(r"^  (\S(?:.*?\S)?)( {2,})(\S.*)$", row)
        if match and not row.lstrip().startswith(("warning:", "error:")):
            values[match.group(1)] = (match.group(3), len(match.group(1)) + len(match.group(2)))
    assert values["title"][0] == "Fox at dawn" and values["rating"][0] == "4"
    assert values["negative prompt"][0] == "blurry, lowres, watermark"
    assert len({column for _, column in values.values()}) == 1     # one value column


def test_audit_into_a_closed_pipe_ends_quietly(example_server):
    server, config = example_server
    stored_examples(server, "f0.png", "f1.png", "f2.png")
    reader, writer = os.pipe()
    os.close(reader)                       # like `| head` that has already exited
    try:
        done = subprocess.run([sys.executable, "-m", "gateway.cli", "audit", "--json",
                               "--config", str(config)], cwd=ROOT, stdout=writer,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(writer)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 141                                  # 128 + SIGPIPE, as cat


def test_version_is_printed():
    done = provgate("--version")
    assert done.returncode == 0
    assert re.fullmatch(r"provgate \d+\.\d+\.\d+\S*\n", done.stdout)


def test_a_port_in_use_is_one_clear_line(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        config = example_config(tmp_path)
        text = config.read_text().replace('listen = "127.0.0.1:0"',
                                          f'listen = "127.0.0.1:{taken.getsockname()[1]}"', 1)
        config.write_text(text)
        done = provgate("serve", "--config", str(config))
    finally:
        taken.close()
    assert done.returncode == 4
    assert "Traceback" not in done.stderr and "exiftool" not in done.stderr.lower()
    problem = [line for line in done.stderr.splitlines() if "cannot listen" in line]
    assert len(problem) == 1 and "already in use" in problem[0]
    assert "[server] listen" in problem[0]
    assert "provgate: S3 endpoint" not in done.stdout


def test_serve_without_exiftool_says_how_to_install_it(tmp_path):
    config = example_config(tmp_path)
    bare = tmp_path / "bin"
    bare.mkdir()
    done = provgate("serve", "--config", str(config), env={"PATH": str(bare)})
    assert done.returncode == 3
    assert "ExifTool is not installed" in done.stderr and "libimage-exiftool-perl" in done.stderr
    assert "Traceback" not in done.stderr


# --- init and identities --------------------------------------------------------------------

def test_init_writes_a_config_that_serves_with_a_fresh_admin(tmp_path):
    target = tmp_path / "studio"
    done = provgate("init", str(target))
    assert done.returncode == 0, done.stderr
    key = re.search(r"access key (\S+)", done.stdout).group(1)
    secret = re.search(r"secret\s+(\S+)", done.stdout.split("access key", 1)[1]).group(1)
    config_path = target / "provgate.toml"
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600         # it holds a secret
    text = config_path.read_text()
    assert "# Who may call provgate." in text and "provgate-dev-secret" not in text
    assert sorted(p.name for p in (target / "policies").glob("*.toml")) == \
        sorted(p.name for p in (ROOT / "policies").glob("*.toml"))
    loaded = config_module.load(str(config_path))
    admin, = loaded.identities
    assert (admin.access_key, admin.secret, admin.role) == (key, secret, "admin")
    assert load_sidecar(loaded).shares[0].path == target / "inbox"

    again = provgate("init", str(target))
    assert again.returncode == 1 and "exists already" in again.stderr
    assert config_path.read_text() == text                          # nothing overwritten


def test_identity_add_list_rotate_keep_the_file_as_written(tmp_path):
    target = tmp_path / "studio"
    assert provgate("init", str(target)).returncode == 0
    config_path = str(target / "provgate.toml")
    before = Path(config_path).read_text()

    added = provgate("identity", "add", "render-farm", "--role", "writer", "--buckets",
                     "renders,campaign", "--secret-env", "FARM_SECRET", "--config", config_path)
    assert added.returncode == 0, added.stderr
    farm_secret = re.search(r"secret \(shown only now\): (\S+)", added.stdout).group(1)
    after = Path(config_path).read_text()
    assert after.startswith(before.split("[[identities]]")[0])      # comments kept
    assert farm_secret not in after and 'secret_env = "FARM_SECRET"' in after

    listed = provgate("identity", "list", "--json", "--config", config_path)
    names = {i["name"]: i for i in json.loads(listed.stdout)}
    assert names["render-farm"]["secret"] == "$FARM_SECRET"
    assert names["render-farm"]["buckets"] == ["renders", "campaign"]
    assert farm_secret not in listed.stdout

    os.environ["FARM_SECRET"] = farm_secret
    try:
        farm = {i.name: i for i in config_module.load(config_path).identities}["render-farm"]
    finally:
        del os.environ["FARM_SECRET"]
    assert (farm.secret, farm.role, farm.buckets) == (farm_secret, "writer",
                                                      ("renders", "campaign"))

    rotated = provgate("identity", "rotate", "admin", "--config", config_path)
    assert rotated.returncode == 0, rotated.stderr
    new_secret = re.search(r"secret \(shown only now\): (\S+)", rotated.stdout).group(1)
    assert f'secret = "{new_secret}"' in Path(config_path).read_text()


@pytest.mark.parametrize("args, message", [
    (["add", "admin"], "exists already"),
    (["add", 'bad"name'], "identity name"),
    (["add", "ok", "--buckets", ""], "buckets"),
    (["add", "ok", "--secret-env", "NOT-A-VAR"], "not an environment variable name"),
    (["rotate", "nobody"], "no identity named 'nobody'"),
])
def test_identity_edits_refused_leave_the_file_untouched(tmp_path, args, message):
    target = tmp_path / "studio"
    assert provgate("init", str(target)).returncode == 0
    config_path = target / "provgate.toml"
    before = config_path.read_bytes()
    done = provgate("identity", *args, "--config", str(config_path))
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert config_path.read_bytes() == before
    assert sorted(p.name for p in target.iterdir()) == ["inbox", "policies", "provgate.toml"]


def test_identity_on_a_broken_config_says_so(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[[identities]\nname = 'x'\n")
    done = provgate("identity", "add", "bob", "--config", str(path))
    assert done.returncode == 1 and "not valid TOML" in done.stderr
    assert path.read_text() == "[[identities]\nname = 'x'\n"


def test_banner_never_prints_a_secret_from_the_environment_or_the_file(tmp_path):
    target = tmp_path / "studio"
    assert provgate("init", str(target)).returncode == 0
    config_path = target / "provgate.toml"
    rotated = provgate("identity", "rotate", "admin", "--secret-env", "ADMIN_SECRET",
                       "--config", str(config_path))
    env_secret = re.search(r"secret \(shown only now\): (\S+)", rotated.stdout).group(1)
    added = provgate("identity", "add", "farm", "--config", str(config_path))
    file_secret = re.search(r"secret \(shown only now\): (\S+)", added.stdout).group(1)
    doc = tomlkit.parse(config_path.read_text())
    doc["server"]["listen"] = doc["admin"]["listen"] = "127.0.0.1:0"
    config_path.write_text(tomlkit.dumps(doc))
    server = Served().serve(config_path, env={"ADMIN_SECRET": env_secret})
    try:
        shown = server.log()
    finally:
        server.stop()
    assert env_secret not in shown and file_secret not in shown
    assert 'AWS_SECRET_ACCESS_KEY="$ADMIN_SECRET"' in shown


# --- the S3 door tells what is wrong ---------------------------------------------------------

def curl_put(endpoint: str, key: str, secret: str, *extra: str) -> tuple[str, str]:
    done = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--aws-sigv4", "aws:amz:us-east-1:s3",
         "--user", f"{ADMIN['access_key']}:{secret}", "-X", "PUT", "-H",
         "Content-Type: image/png", "--data-binary", "payload", *extra, f"{endpoint}/{key}"],
        capture_output=True, text=True, timeout=30)
    body, _, status = done.stdout.rpartition("\n")
    return status, body


def test_curl_sigv4_put_without_content_sha256_is_told_the_header(gateway):
    s3 = client(gateway.endpoint)
    bucket = f"curl-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    s3.create_bucket(Bucket=bucket)
    status, body = curl_put(gateway.endpoint, f"{bucket}/plain.png", ADMIN["secret"])
    assert status == "400" and "<Code>InvalidRequest</Code>" in body
    assert "Missing required header for this request: x-amz-content-sha256" in body
    status, _ = curl_put(gateway.endpoint, f"{bucket}/plain.png", ADMIN["secret"],
                         "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD")
    assert status == "200"
    assert s3.get_object(Bucket=bucket, Key="plain.png")["Body"].read() == b"payload"


def test_refused_requests_are_logged_with_their_reason_and_no_secret(gateway):
    wrong = "not-the-admin-secret-123"
    status, _ = curl_put(gateway.endpoint, "anything/x.png", wrong,
                         "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD")
    assert status == "403"

    def logged():
        return [line for line in gateway.log().splitlines()
                if "/anything/x.png" in line and "-> 403" in line]
    line, *_ = wait_for(logged, what="the refused request's log line", log=gateway.log)
    assert "reason='SignatureDoesNotMatch:" in line
    assert f"access key {ADMIN['access_key']}" in line
    assert wrong not in gateway.log() and ADMIN["secret"] not in gateway.log()


def test_reindex_refuses_while_the_gateway_answers_and_keeps_the_catalog(example_server,
                                                                          tmp_path):
    server, config = example_server
    stored_examples(server, "kept.png")
    live = tmp_path / "live.toml"
    doc = tomlkit.parse(config.read_text())
    doc["server"]["listen"] = server.endpoint.removeprefix("http://")
    live.write_text(tomlkit.dumps(doc))
    done = provgate("reindex", "--config", str(live))
    assert done.returncode == 1 and "stop it first" in done.stderr
    assert provgate("asset", "show", "renders/kept.png", "--config", str(live)).returncode == 0


# --- the README is true ----------------------------------------------------------------------

README = (ROOT / "README.md").read_text()


def readme_block(language: str, containing: str) -> str:
    """The README's fenced ``language`` block that contains ``containing``."""
    blocks = re.findall(rf"^```{language}\n(.*?)^```", README, re.M | re.S)
    found = [b for b in blocks if containing in b]
    assert len(found) == 1, f"{len(found)} {language} blocks contain {containing!r}"
    return found[0]


def test_readme_client_examples_run_as_written(example_server):
    server, config = example_server
    here = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

    def run(command: list[str], block: str) -> None:
        text = block.replace("http://127.0.0.1:9000", server.endpoint)
        done = subprocess.run(command + [text], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, env={**os.environ, **here})
        assert done.returncode == 0, f"{text}\n{done.stdout}\n{done.stderr}"

    run(["bash", "-euc"], readme_block("sh", "s3 mb s3://renders"))
    run([sys.executable, "-c"], readme_block("python", "import boto3"))
    run(["bash", "-euc"], readme_block("sh", "curl --aws-sigv4").replace(
        "curl ", "curl --fail-with-body -sS ", 1))
    s3 = client(server.endpoint, DEV)
    stored = {o["Key"] for o in s3.list_objects_v2(Bucket="renders")["Contents"]}
    assert {"campaign/hero.png", "campaign/comfy.png", "campaign/curl.png"} <= stored
    assert s3.head_object(Bucket="renders", Key="campaign/comfy.png")["ContentType"] == \
        "image/png"


def test_readme_points_only_inside_the_repository():
    assert "../" not in README and "shared/DESIGN" not in README
    for path in sorted(set(re.findall(r"`((?:docs|examples|policies|systemd)/[\w./-]+)`",
                                      README))):
        assert (ROOT / path).exists(), f"README names {path}, which does not exist"


def test_init_into_a_file_or_an_unwritable_place_is_one_line(tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("not a folder")
    done = provgate("init", str(a_file))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("provgate: cannot set up") and len(done.stderr.splitlines()) == 1
    assert a_file.read_text() == "not a folder"


def test_ctrl_c_in_a_terminal_stops_the_gateway_without_exiftool_noise(tmp_path):
    config = example_config(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config",
                                str(config)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    for line in process.stdout:                 # until the banner is out: the pool runs
        lines.append(line)
        if "rclone" in line:
            break
    os.killpg(process.pid, signal.SIGINT)       # the whole group, as a terminal does
    rest, _ = process.communicate(timeout=60)
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "ExifTool" not in output and "Traceback" not in output


def test_a_wheel_carries_what_init_and_serve_need(tmp_path):
    """`pip install .` / `pipx install .` outside the checkout: the wheel holds the shipped
    policies, the example config and the ExifTool config, and `provgate init` runs from it."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("gateway", "sidecar", "policies"):
        shutil.copytree(ROOT / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "setup.py", "README.md", "config.example.toml"):
        shutil.copyfile(ROOT / name, source / name)
    # Built with the test environment's setuptools: an isolated build would fetch one.
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel, = (tmp_path / "dist").glob("provgate-*.whl")
    installed = tmp_path / "installed"
    shutil.unpack_archive(wheel, installed, "zip")
    for shipped in ("gateway/shipped/config.example.toml", "gateway/shipped/policies/buckets.toml",
                    "gateway/shipped/policies/tests", "gateway/provenance/exiftool.config"):
        assert (installed / shipped).exists(), shipped
    from_wheel = {**os.environ, "PYTHONPATH": str(installed)}
    where = subprocess.run([sys.executable, "-c", "from gateway import starter; "
                            "print(starter.shipped('policies'))"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60, env=from_wheel)
    assert where.stdout.strip() == str(installed / "gateway" / "shipped" / "policies"), \
        where.stdout + where.stderr
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "init", str(tmp_path / "studio")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env=from_wheel)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "studio" / "policies" / "buckets.toml").read_bytes() == \
        (ROOT / "policies" / "buckets.toml").read_bytes()


def test_reindex_progress_is_one_line_on_a_terminal_and_plain_lines_elsewhere(example_server):
    import pty
    server, config = example_server
    stored_examples(server, "a.png", "b.png")
    server.stop()                                   # reindex runs with the gateway stopped
    plain = provgate("reindex", "--config", str(config))
    assert plain.returncode == 0, plain.stderr
    assert "\r" not in plain.stderr and "\x1b[" not in plain.stderr
    assert re.fullmatch(r"reindex: \d+ buckets, 2 assets, 2 versions",
                        plain.stderr.splitlines()[-1]), plain.stderr

    controller, terminal = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "gateway.cli", "reindex", "--config",
                               str(config)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=terminal, timeout=120)
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:                         # the terminal side is closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    assert done.returncode == 0
    assert b"\r\x1b[K" in shown                      # the line rewritten in place
    assert b"reindexed 2 assets" in done.stdout
