"""The review UI's pages in a real headless Chromium against a real ``provgate serve`` on
both backends: audio and video comments on a time or a range, each format shown as it
can be, versions side by side, lineage, the quarantine, the prompt library and spend; a
hostile prompt or key stays text; the bytes the players fetch come with headers that
keep a client's file from running on the UI's origin.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request
import uuid
from urllib.parse import quote

import pytest
from PIL import Image

from tests.conftest import client, storage_section
from tests.support import media
from tests.support.admin import admin_call, basic_auth
from tests.support.browser import fetch, login
from tests.support.policies import write
from tests.support.polling import wait_for
from tests.support.server import ADMIN, READER, WRITER, ProvgateServer

pytestmark = pytest.mark.timeout(300)

RITA = {"name": "rita", "access_key": "AKIAUIPAGESRITA", "secret": "rita-pages-secret",
        "role": "reviewer"}
HOLD = """
[[rule]]
id = "hold-for-legal"
stage = "intake"
match = 'object.key.startsWith("hold/")'
validate = 'false'
message = "held for a legal check"
action = "quarantine"

[[route]]
id = "shop"
when = 'review.status == "approved" && has(asset.sku)'
targets = ["folder"]
"""


@pytest.fixture(scope="module")
def server(backend_kind, tmp_path_factory, request):
    workdir = tmp_path_factory.mktemp(f"ui-pages-{backend_kind}")
    instance = ProvgateServer(workdir, storage_section(backend_kind, workdir, request),
                              identities=[ADMIN, WRITER, READER, RITA], sections={
                                  "distribution": {"poll_interval": 0.2},
                                  "targets": {"folder": {"kind": "fs",
                                                         "path": str(workdir / "shop")}}})
    write(instance.policy_dir, "hold.toml", HOLD)
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def bucket(server) -> str:
    name = f"pg-{uuid.uuid4().hex[:12]}"
    client(server.endpoint).create_bucket(Bucket=name)
    return name


def png(colour=(40, 90, 160)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 120), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def put(server, bucket, name, body, content_type, **metadata) -> str | None:
    return client(server.endpoint, WRITER).put_object(
        Bucket=bucket, Key=name, Body=body, ContentType=content_type,
        Metadata=metadata).get("VersionId")


def comments(server, bucket, name) -> list[dict]:
    status, doc, _ = admin_call(server, "GET", f"/api/v1/reviews/{bucket}/{name}")
    assert status == 200, doc
    return doc["comments"]


@pytest.mark.parametrize("fixture", [media.wav, media.mp4], ids=["audio", "video"])
def test_a_comment_at_a_moment_and_over_a_range_of_a_recording(server, bucket, chromium,
                                                                tmp_path, fixture):
    made = fixture(tmp_path)
    name = f"av/{uuid.uuid4().hex[:8]}-{made.path.name}"
    put(server, bucket, name, made.path.read_bytes(), made.content_type, **made.headers)
    page = login(chromium, server, RITA, f"/ui/asset/{bucket}/{name}")
    page.wait_for_function("() => document.querySelector('#player')?.duration > 0")

    page.evaluate("() => { document.querySelector('#player').currentTime = 0.2; }")
    page.wait_for_function("() => Math.abs(document.querySelector('#player').currentTime - 0.2) < 0.05")
    page.click("#mark-time")
    assert "Pinned to 0:00.2" in page.inner_text("#pin")
    page.fill("#new-comment-text", "a click here")
    page.click("#new-comment-send")
    page.locator('.marker[data-comment="c1"]').wait_for()

    page.evaluate("() => { document.querySelector('#player').currentTime = 0.1; }")
    page.wait_for_function("() => Math.abs(document.querySelector('#player').currentTime - 0.1) < 0.05")
    page.click("#mark-range")
    page.evaluate("() => { document.querySelector('#player').currentTime = 0.4; }")
    page.wait_for_function("() => Math.abs(document.querySelector('#player').currentTime - 0.4) < 0.05")
    page.click("#mark-range")
    page.fill("#new-comment-text", "too loud from here")
    page.click("#new-comment-send")
    page.locator('.marker[data-comment="c2"]').wait_for()
    assert page.locator(".comment", has_text="too loud from here").inner_text().count("0:00.1") == 1

    first, second = comments(server, bucket, name)
    assert first["text"] == "a click here" and abs(first["start"] - 0.2) < 0.05
    assert first["start"] == first["end"] and first.get("x") is None
    assert abs(second["start"] - 0.1) < 0.05 and abs(second["end"] - 0.4) < 0.05
    assert page.errors == []


def test_a_thread_is_answered_and_resolved_in_the_page(server, bucket, chromium):
    name = f"thread/{uuid.uuid4().hex[:8]}.png"
    put(server, bucket, name, png(), "image/png", prompt="a lamp")
    assert admin_call(server, "POST", f"/api/v1/reviews/{bucket}/{name}/comments",
                      {"text": "too dark", "region": {"x": 0.5, "y": 0.5, "w": 0.25, "h": 0.25}},
                      identity=RITA)[0] == 201
    author = login(chromium, server, WRITER, f"/ui/asset/{bucket}/{name}")
    thread = author.locator('.comment[data-id="c1"]')
    thread.wait_for()
    thread.locator("button", has_text="Reply").click()
    thread.locator(".reply-box textarea").fill("brightened in v2")
    thread.locator(".reply-box button", has_text="Send").click()
    author.locator('.comment[data-id="c1"] .reply', has_text="brightened in v2").wait_for()

    reviewer = login(chromium, server, RITA, f"/ui/asset/{bucket}/{name}")
    reviewer.locator('.region[data-comment="c1"]').wait_for()
    reviewer.locator('.comment[data-id="c1"] button.resolve').click()
    reviewer.locator('.comment.resolved[data-id="c1"]', has_text="resolved by rita").wait_for()
    reviewer.locator('.region.resolved[data-comment="c1"]').wait_for()

    first, reply = comments(server, bucket, name)
    assert (reply["by"], reply["reply_to"], reply["text"]) == ("writer", "c1", "brightened in v2")
    assert first["resolved_by"] == "rita"
    assert author.errors == [] and reviewer.errors == []


def test_each_format_is_shown_as_it_can_be(server, bucket, chromium, tmp_path):
    brief, chair = media.pdf(tmp_path), media.glb(tmp_path)
    put(server, bucket, "formats/brief.pdf", brief.path.read_bytes(), brief.content_type,
        **brief.headers)
    put(server, bucket, "formats/chair.glb", chair.path.read_bytes(), chair.content_type,
        **chair.headers)
    page = login(chromium, server, READER, f"/ui/asset/{bucket}/formats/brief.pdf")
    page.wait_for_function("() => document.querySelector('#media img.thumb')?.naturalWidth > 0")
    assert page.locator("#media-tools a", has_text="Download the PDF").count() == 1
    page.goto(f"/ui/asset/{bucket}/formats/chair.glb")
    card = page.locator("#media .format-card")
    card.wait_for()
    assert "GLB" in card.inner_text() and "model/gltf-binary" in card.inner_text()
    assert page.locator("#provenance", has_text="mid-century lounge chair").count() == 1
    assert page.errors == []


def test_markup_in_a_prompt_or_key_stays_text(server, bucket, chromium):
    hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    name = 'xss/"><svg onload=window.pwned=3>.png'
    put(server, bucket, name, png(), "image/png", prompt=quote(hostile))
    page = login(chromium, server, READER, f"/ui/queue?bucket={bucket}")
    page.locator(".qrow", has_text=hostile).wait_for()
    page.goto(f"/ui/asset/{bucket}/{quote(name)}")
    page.locator("#provenance", has_text=hostile).wait_for()
    assert page.inner_text("#asset-key") == name
    assert page.evaluate("() => window.pwned === undefined")
    assert page.locator("#provenance img, #provenance script").count() == 0
    assert page.errors == []


def test_two_versions_side_by_side_show_their_parameter_differences(server, bucket, chromium):
    name = f"v/{uuid.uuid4().hex[:8]}.png"
    first = put(server, bucket, name, png(), "image/png", prompt="a blue car", seed="1",
                steps="20", model="sdxl")
    second = put(server, bucket, name, png((200, 40, 40)), "image/png", prompt="a red car",
                 seed="2", steps="20", model="sdxl")
    page = login(chromium, server, READER, f"/ui/asset/{bucket}/{name}")
    page.locator(f'input.pick[data-version="{first}"]').check()
    page.locator(f'input.pick[data-version="{second}"]').check()
    diff = page.locator("table.diff")
    diff.wait_for()
    rows = {row.locator("td").nth(0).inner_text(): [row.locator("td").nth(1).inner_text(),
                                                   row.locator("td").nth(2).inner_text()]
            for row in diff.locator("tbody tr").all()}
    assert rows["prompt"] == ["a blue car", "a red car"]
    assert rows["seed"] == ["1", "2"]
    assert "steps" not in rows and "model" not in rows
    assert page.locator(".side-by-side img").count() == 2
    assert page.errors == []


def test_the_lineage_graph_links_parents_and_children(server, bucket, chromium):
    parent = f"l/{uuid.uuid4().hex[:8]}-parent.png"
    child = f"l/{uuid.uuid4().hex[:8]}-child.png"
    put(server, bucket, parent, png(), "image/png", prompt="the original")
    put(server, bucket, child, png(), "image/png", prompt="an upscale",
        **{"derived-from": f"{bucket}/{parent}"})
    page = login(chromium, server, READER, f"/ui/asset/{bucket}/{parent}")
    page.locator("#lineage", has_text="1 derived").wait_for()
    page.locator("#lineage svg a").filter(has=page.locator("rect.child")).click()
    page.wait_for_url(f"**/ui/asset/{bucket}/{child}*")
    page.locator("#lineage", has_text="1 parent").wait_for()
    assert page.locator("#lineage rect.parent").count() == 1
    assert page.errors == []


def test_a_reviewer_releases_and_discards_from_the_quarantine(server, bucket, chromium):
    kept, dropped = f"hold/{uuid.uuid4().hex[:8]}.png", f"hold/{uuid.uuid4().hex[:8]}.png"
    for name in (kept, dropped):
        put(server, bucket, name, png(), "image/png", prompt="needs legal")
    page = login(chromium, server, RITA, "/ui/quarantine")
    row = page.locator("tr", has_text=kept)
    row.wait_for()
    assert "hold-for-legal" in row.inner_text() and "held for a legal check" in row.inner_text()
    row.locator("button", has_text="Release").click()
    row.wait_for(state="detached")
    other = page.locator("tr", has_text=dropped)
    other.locator("button", has_text="Discard").click()
    other.wait_for(state="detached")
    status, doc, _ = admin_call(server, "GET", f"/api/v1/reviews/{bucket}/{kept}")
    assert status == 200 and [d["decision"] for d in doc["decisions"]] == ["approved"]
    status, _, _ = admin_call(server, "GET", f"/api/v1/reviews/{bucket}/{dropped}")
    assert status == 404
    assert page.errors == []

    writer = login(chromium, server, WRITER, "/ui/queue")
    assert writer.locator('nav a[data-nav="quarantine"]').count() == 0
    assert fetch(writer, "GET", "/api/v1/quarantine")["status"] == 403


def test_the_prompt_library_and_spend_pages_show_what_the_api_answers(server, bucket, chromium):
    name = f"lib/{uuid.uuid4().hex[:8]}.png"
    word = f"zebra{uuid.uuid4().hex[:6]}"
    put(server, bucket, name, png(), "image/png", prompt=f"a {word} in the snow",
        model="ui-model", generator="ComfyUI", seed="77", cost="2.5", campaign=word)
    assert admin_call(server, "POST", f"/api/v1/reviews/{bucket}/{name}/decisions",
                      {"decision": "approve"}, identity=RITA)[0] == 200
    admin_call(server, "PUT", f"/api/v1/reviews/{bucket}/{name}/rating", {"rating": 4},
               identity=RITA)
    page = login(chromium, server, READER, "/ui/prompts")
    page.fill('#prompt-search input[name="q"]', word)
    page.click("#prompt-search button[type=submit]")
    card = page.locator(".prompt-card", has_text=word)
    card.wait_for()
    assert page.locator(".prompt-group h2", has_text="ui-model").count() == 1
    assert "seed: 77" in card.inner_text()
    assert card.locator(".best a").get_attribute("href").startswith(f"/ui/asset/{bucket}/{name}?")
    assert card.locator(".stars").inner_text() == "★★★★"

    page.goto("/ui/spend?by=campaign")
    row = page.locator(".bar-row", has_text=word)
    row.wait_for()
    assert "2.5" in row.inner_text() and "1 asset" in row.inner_text()
    page.click('.tab[data-by="model"]')
    page.locator(".bar-row", has_text="ui-model").wait_for()
    assert "by=model" in page.url
    assert page.errors == []


def test_the_asset_page_shows_where_an_approved_version_was_delivered(server, bucket, chromium):
    name = f"shop/{uuid.uuid4().hex[:8]}.png"
    version = put(server, bucket, name, png(), "image/png", prompt="a shoe", sku="SKU-1")
    assert admin_call(server, "POST", f"/api/v1/reviews/{bucket}/{name}/decisions",
                      {"decision": "approve"}, identity=RITA)[0] == 200
    wait_for(lambda: any(job["state"] == "done" and job["version_id"] == version
                         for job in admin_call(server, "GET", f"/api/v1/distribution/status"
                                               f"?bucket={bucket}&key={name}")[1]["jobs"]),
             what="the delivery to the folder target")
    page = login(chromium, server, READER, f"/ui/asset/{bucket}/{name}")
    row = page.locator("#distribution tr", has_text="folder")
    row.wait_for()
    assert "deliver" in row.inner_text() and "done" in row.inner_text()
    page.locator("#history li", has_text="published").first.wait_for()
    assert page.errors == []


# -- the bytes the players fetch --------------------------------------------------------

def content(server, path, identity=READER, headers=None) -> tuple[int, bytes, dict]:
    """GET a path of the content API: (status, body bytes, headers)."""
    request = urllib.request.Request(server.admin + path, headers={
        **({"Authorization": basic_auth(identity)} if identity else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read(), dict(reply.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_content_is_served_with_ranges_and_never_runs_on_the_ui_origin(server, bucket):
    put(server, bucket, "c/page.html", b"<script>alert(1)</script>", "text/html")
    status, body, headers = content(server, f"/api/v1/content/{bucket}/c/page.html")
    assert status == 200 and body == b"<script>alert(1)</script>"
    assert headers["Content-Disposition"].startswith("attachment")
    assert "sandbox" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"

    audio = b"RIFF" + bytes(range(256)) * 8
    put(server, bucket, "c/clip.wav", audio, "audio/wav")
    status, body, headers = content(server, f"/api/v1/content/{bucket}/c/clip.wav",
                                    headers={"Range": "bytes=100-299"})
    assert status == 206 and body == audio[100:300]
    assert headers["Content-Range"] == f"bytes 100-299/{len(audio)}"
    assert headers["Content-Disposition"].startswith("inline")
    status, body, _ = content(server, f"/api/v1/content/{bucket}/c/clip.wav")
    assert status == 200 and body == audio
    assert content(server, f"/api/v1/content/{bucket}/c/clip.wav",
                   headers={"Range": f"bytes={len(audio) + 5}-"})[0] == 416
    assert content(server, f"/api/v1/content/{bucket}/c/clip.wav", identity=None)[0] == 401
    assert content(server, f"/api/v1/content/{bucket}/c/none.wav")[0] == 404


def test_the_quarantine_bytes_are_for_reviewers_only(server, bucket):
    name = f"hold/{uuid.uuid4().hex[:8]}.png"
    put(server, bucket, name, png(), "image/png", prompt="held")
    path = f"/api/v1/content/provgate-quarantine/{bucket}/{name}"
    assert content(server, path, identity=WRITER)[0] == 403
    status, body, _ = content(server, path, identity=RITA)
    assert status == 200 and body == png()
