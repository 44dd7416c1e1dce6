"""A studio's day, end to end, on the configuration `make run` serves (config.example.toml
with the shipped policies and the ./inbox share), plus what a studio adds: a reviewer, a
CDN bucket and a commerce webhook as targets, and a route to them.

Renders dropped in the share get their records beside them; a render without a prompt is
held for a reviewer; a reviewer approves in a real browser (headless Chromium on the
review UI); the approved file lands in the CDN bucket with its provenance written into it
and at the commerce webhook with its record and a presigned URL of the stored version.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
import uuid

import pytest
import tomlkit
from botocore.exceptions import ClientError
from PIL import Image

from tests.conftest import client, storage_section
from tests.support.browser import login
from tests.support.polling import wait_for
from tests.support.webhook import WebhookReceiver
from tests.test_first_hour import DEV, EXAMPLES, Served, example_config

pytestmark = pytest.mark.timeout(300)

HOOK_SECRET = "studio-shop-hook-secret"
RITA = {"name": "rita", "access_key": "AKIASTUDIORITA", "secret": "rita-studio-secret",
        "role": "reviewer"}
STUDIO_ROUTES = """
[[route]]
id = "renders-to-cdn-and-shop"
description = "Approved renders with a SKU go to the CDN origin and the storefront"
when = 'object.bucket == "renders" && review.status == "approved" && has(asset.sku)'
targets = ["cdn", "shop"]
"""


@pytest.fixture
def receiver():
    hook = WebhookReceiver(HOOK_SECRET).start()
    yield hook
    hook.stop()


def studio_config(tmp_path, backend_kind, request, cdn_bucket: str, hook_url: str):
    """config.example.toml as a studio runs it: the shipped policies and share, with the
    backend under test, a reviewer, targets cdn (an S3 bucket) and shop (a webhook)."""
    path = example_config(tmp_path)
    doc = tomlkit.parse(path.read_text())
    doc["storage"] = storage_section(backend_kind, tmp_path, request)
    doc["identities"].append(RITA)
    studio_policies = tmp_path / "studio-policies"
    studio_policies.mkdir()
    (studio_policies / "routes.toml").write_text(STUDIO_ROUTES)
    doc["policies"]["dirs"].append(str(studio_policies))
    doc["targets"]["www"]["path"] = str(tmp_path / "published")
    weed = request.getfixturevalue("seaweedfs")
    doc["targets"]["cdn"] = {"kind": "s3", "endpoint": weed.endpoint, "region": weed.region,
                             "access_key": weed.access_key, "secret": weed.secret,
                             "bucket": cdn_bucket, "key_template": "{brand}/{sku}/{basename}",
                             "embed_xmp": True}
    doc["targets"]["shop"] = {"kind": "webhook", "url": hook_url, "secret": HOOK_SECRET,
                              "identity": "dev", "url_lifetime": 600}
    doc["distribution"].update({"backoff_initial": 0.2, "backoff_max": 1.0,
                                "poll_interval": 0.2})
    path.write_text(tomlkit.dumps(doc))
    return path, weed


def test_a_studio_day_from_the_share_to_the_cdn_and_the_storefront(
        backend_kind, request, tmp_path, chromium, receiver):
    cdn_bucket = f"cdn-{uuid.uuid4().hex[:10]}"
    config, weed = studio_config(tmp_path, backend_kind, request, cdn_bucket, receiver.url)
    server = Served().serve(config)
    try:
        # Morning: the render farm writes into the share. hero.png is an AUTOMATIC1111
        # render (its prompt is in the file); the studio's job sheet adds SKU and licence
        # as a companion. blind.png came out of a tool that writes no metadata.
        spring = tmp_path / "inbox" / "acme" / "spring"
        spring.mkdir(parents=True)
        (spring / "hero.png.json").write_text(json.dumps(
            {"sku": "SKU-77", "license": "LicenseRef-Acme-Web"}))
        shutil.copyfile(EXAMPLES / "a1111.png", spring / "hero.png")
        Image.new("RGB", (64, 48), (20, 90, 160)).save(spring / "blind.png")

        wait_for(lambda: (spring / "hero.png.xmp").exists(), what="the render's record",
                 log=server.log)
        beside = (spring / "hero.png.xmp").read_text()
        assert "a red fox in fresh snow" in beside and "SKU-77" in beside
        held = tmp_path / "quarantine" / "acme" / "spring" / "blind.png.reason.json"
        wait_for(held.exists, what="the prompt-less render held", log=server.log)
        assert json.loads(held.read_text())["rule"] == "render-prompt-held"

        # Afternoon: the reviewer works the queue in the browser.
        page = login(chromium, server, RITA, "/ui/queue?bucket=renders")
        row = page.locator(".qrow", has_text="inbox/acme/spring/hero.png")
        row.wait_for()
        assert page.locator(".qrow", has_text="blind.png").count() == 0
        row.locator("a.qkey").click()
        page.wait_for_url("**/ui/asset/**")
        page.locator("#provenance", has_text="a red fox in fresh snow").wait_for()
        page.click("#approve")
        page.locator("#status-badge", has_text="Approved").wait_for()
        page.goto("/ui/quarantine")
        page.locator("body", has_text="render-prompt-held").wait_for()
        assert page.errors == []

        # Evening: the approved render is at the CDN origin and at the storefront.
        cdn = client(weed.endpoint, {"access_key": weed.access_key, "secret": weed.secret})
        stored = client(server.endpoint, DEV).get_object(
            Bucket="renders", Key="inbox/acme/spring/hero.png")
        original = stored["Body"].read()
        copy_key = "acme/SKU-77/hero.png"
        wait_for(lambda: receiver.of("published"), what="the storefront's webhook",
                 log=server.log)

        delivered = tmp_path / "hero-from-cdn.png"
        # NoSuchBucket / NoSuchKey until the first copy lands (the bucket is made with it)
        delivered.write_bytes(wait_for(
            lambda: cdn.get_object(Bucket=cdn_bucket, Key=copy_key)["Body"].read(),
            what="the CDN copy", log=server.log, errors=(ClientError,)))
        tags = json.loads(subprocess.run(["exiftool", "-j", "-G1", str(delivered)], check=True,
                                         capture_output=True, text=True).stdout)[0]
        assert tags["XMP-iptcExt:DigitalSourceType"].endswith("/trainedAlgorithmicMedia")
        assert tags["XMP-iptcExt:AIPromptInformation"].startswith("a red fox in fresh snow")
        assert tags["XMP-plus:LicenseID"] == "LicenseRef-Acme-Web"

        [event] = receiver.of("published")
        assert event["key"] == "inbox/acme/spring/hero.png"
        assert event["record"]["prompt"].startswith("a red fox in fresh snow")
        assert event["record"]["sku"] == "SKU-77"
        assert event["review"]["status"] in ("approved", "published")
        with urllib.request.urlopen(event["url"], timeout=30) as answer:
            assert answer.read() == original
        assert receiver.rejected == []
    finally:
        server.stop()
