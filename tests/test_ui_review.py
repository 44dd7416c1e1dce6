"""The review UI in a real headless Chromium against a real ``provgate serve``, on both
backends: a reviewer logs in, works the queue, marks up an image and decides; a second
reviewer approves; the record read back through the API and through ExifTool shows what
they did in the browser. A writer's page offers no decision, and the API refuses one.
"""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from tests.conftest import client, storage_section
from tests.support.admin import admin_call
from tests.support.browser import fetch, login
from tests.support.policies import write
from tests.support.records import exiftool_json, record_events
from tests.support.server import ADMIN, READER, WRITER, ProvgateServer

pytestmark = pytest.mark.timeout(300)

BOB = {"name": "bob", "access_key": "AKIAUIREVIEWBOB", "secret": "bob-ui-secret", "role": "reviewer"}
LEE = {"name": "lee", "access_key": "AKIAUIREVIEWLEE", "secret": "lee-ui-secret", "role": "reviewer"}

TWO_APPROVALS = """
[[rule]]
id = "review-two-approvals"
stage = "review"
quorum = true
validate = 'size(review.approvals) >= 2'
message = "two approvals are needed"
"""


@pytest.fixture(scope="module")
def server(backend_kind, tmp_path_factory, request):
    workdir = tmp_path_factory.mktemp(f"ui-{backend_kind}")
    instance = ProvgateServer(workdir, storage_section(backend_kind, workdir, request),
                              identities=[ADMIN, WRITER, READER, BOB, LEE])
    write(instance.policy_dir, "review.toml", TWO_APPROVALS)
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def bucket(server) -> str:
    name = f"ui-{uuid.uuid4().hex[:12]}"
    client(server.endpoint).create_bucket(Bucket=name)
    return name


def png(size=(320, 200), colour=(200, 60, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def put(server, bucket, name, **metadata) -> str:
    reply = client(server.endpoint, WRITER).put_object(
        Bucket=bucket, Key=name, Body=png(), ContentType="image/png",
        Metadata={"prompt": "a red sneaker on wet asphalt", "model": "sdxl-base",
                  "seed": "1234", "campaign": "spring", **metadata})
    return reply["VersionId"]


def review(server, bucket, name) -> dict:
    status, doc, _ = admin_call(server, "GET", f"/api/v1/reviews/{bucket}/{name}")
    assert status == 200, doc
    return doc


def drag(page, selector, start, end):
    """Press at ``start`` and release at ``end`` (fractions of the element's box)."""
    box = page.locator(selector).bounding_box()
    page.mouse.move(box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (start[0] + end[0]) / 2,
                    box["y"] + box["height"] * (start[1] + end[1]) / 2)
    page.mouse.move(box["x"] + box["width"] * end[0], box["y"] + box["height"] * end[1])
    page.mouse.up()


def test_a_review_round_in_the_browser(server, bucket, chromium, tmp_path):
    name = f"hero/{uuid.uuid4().hex[:8]}.png"
    version = put(server, bucket, name)

    page = login(chromium, server, BOB, f"/ui/queue?bucket={bucket}")
    row = page.locator(".qrow", has_text=name)
    row.wait_for()
    assert "a red sneaker on wet asphalt" in row.inner_text()
    assert "campaign spring" in row.inner_text()
    row.locator("a.qkey").click()

    page.wait_for_url("**/ui/asset/**")
    page.locator("#provenance", has_text="a red sneaker on wet asphalt").wait_for()
    assert "sdxl-base" in page.inner_text("#provenance")
    assert "1234" in page.inner_text("#provenance")
    page.wait_for_function("() => document.querySelector('#media-image')?.naturalWidth > 0")

    drag(page, "#overlay", (0.10, 0.20), (0.50, 0.60))
    assert "Pinned to region" in page.inner_text("#pin")
    page.fill("#new-comment-text", "the logo is clipped here")
    page.click("#new-comment-send")
    marker = page.locator('.region[data-comment="c1"]')
    marker.wait_for()
    page.locator(".comment", has_text="the logo is clipped here").wait_for()

    page.fill("#decision-note", "fix the logo")
    page.click("#request-changes")
    page.locator("#status-badge", has_text="Changes requested").wait_for()

    # Bob changes his mind; one approval is short of the two the rules ask for.
    page.click("#approve")
    page.locator("#approvals", has_text="1 approval standing").wait_for()
    page.locator("#status-badge", has_text="Pending").wait_for()

    second = login(chromium, server, LEE, f"/ui/asset/{bucket}/{name}")
    second.locator("#approve").wait_for()
    second.locator('.region[data-comment="c1"]').wait_for()
    second.click("#approve")
    second.locator("#status-badge", has_text="Approved").wait_for()
    second.click('button.star[data-rating="4"]')
    second.locator('button.star.on[data-rating="4"]').wait_for()
    assert second.locator("button.star.on").count() == 4
    assert page.errors == [] and second.errors == []

    shown = review(server, bucket, name)
    assert shown["version_id"] == version and shown["status"] == "approved"
    assert [(d["by"], d["decision"]) for d in shown["decisions"]] == [
        ("bob", "changes_requested"), ("bob", "approved"), ("lee", "approved")]
    assert shown["decisions"][0]["note"] == "fix the logo"
    [comment] = shown["comments"]
    assert comment["by"] == "bob" and comment["text"] == "the logo is clipped here"
    for field, drawn in (("x", 0.10), ("y", 0.20), ("w", 0.40), ("h", 0.40)):
        assert abs(comment[field] - drawn) < 0.02, (field, comment)

    events = record_events(server, tmp_path, bucket, name)
    assert [e.get("Action") for e in events] == [
        "created", "commented", "reviewed", "reviewed", "reviewed", "reviewed"]
    assert "comment c1 by bob at region" in events[1]["Parameters"]
    assert "changes_requested by bob" in events[2]["Parameters"]
    assert "approved by lee" in events[4]["Parameters"]
    assert events[5]["Parameters"] == "rated 4 by lee"
    tags = exiftool_json(server, tmp_path, bucket, name)
    assert tags["XMP-xmp:Rating"] == 4 and shown["rating"] == 4
    assert tags["XMP-pg:ReviewStatus"] == "approved"
    assert [d["By"] for d in tags["XMP-pg:ReviewDecisions"]] == ["bob", "bob", "lee"]


def test_the_queue_is_worked_from_the_keyboard(server, bucket, chromium):
    names = [f"kbd/{uuid.uuid4().hex[:8]}-{i}.png" for i in range(3)]
    for name in names:
        put(server, bucket, name)
    page = login(chromium, server, BOB, f"/ui/queue?bucket={bucket}&campaign=spring")
    page.locator(".qrow", has_text=names[2]).wait_for()
    keys = page.locator(".qrow .qkey").all_inner_texts()
    first = keys.index(names[0])
    assert keys[first:first + 3] == names          # oldest first
    page.locator(".qrow.selected").wait_for()
    while page.locator(".qrow.selected .qkey").inner_text() != names[0]:
        page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.locator(".qrow.selected .qkey").inner_text() == names[1]
    page.keyboard.press("k")
    page.keyboard.press("j")
    page.keyboard.press("r")
    page.locator(".qrow.selected .result", has_text="rejected").wait_for()
    page.keyboard.press("c")
    page.fill("#comment-text", "why so dark?")
    page.click("#comment-send")
    page.locator("#toast", has_text="Comment added").wait_for()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/ui/asset/{bucket}/{names[1]}*")
    page.locator(".comment", has_text="why so dark?").wait_for()

    shown = review(server, bucket, names[1])
    assert shown["status"] == "rejected"
    assert [c["text"] for c in shown["comments"]] == ["why so dark?"]
    assert review(server, bucket, names[0])["status"] == "pending"
    assert page.errors == []


def test_a_writer_can_comment_but_not_decide(server, bucket, chromium):
    name = f"w/{uuid.uuid4().hex[:8]}.png"
    put(server, bucket, name)
    page = login(chromium, server, WRITER, f"/ui/asset/{bucket}/{name}")
    page.locator("#actions", has_text="Decisions are made by reviewers").wait_for()
    assert page.locator("#approve, #reject, #request-changes").count() == 0
    assert page.locator("button.star").count() == 0
    page.goto(f"/ui/queue?bucket={bucket}")
    page.locator(".qrow", has_text=name).wait_for()
    assert page.locator(".qrow button[data-action]").count() == 0
    assert page.locator('nav a[data-nav="quarantine"]').count() == 0

    refused = fetch(page, "POST", f"/api/v1/reviews/{bucket}/{name}/decisions",
                    {"decision": "approve"})
    assert refused["status"] == 403
    assert "this needs reviewer" in refused["body"]["error"]["message"]
    commented = fetch(page, "POST", f"/api/v1/reviews/{bucket}/{name}/comments",
                      {"text": "fixed in the next version"})
    assert commented["status"] == 201
    shown = review(server, bucket, name)
    assert shown["decisions"] == [] and shown["status"] == "pending"
    assert [c["by"] for c in shown["comments"]] == ["writer"]


def test_a_reader_sees_the_asset_but_no_comment_box(server, bucket, chromium):
    name = f"r/{uuid.uuid4().hex[:8]}.png"
    put(server, bucket, name)
    page = login(chromium, server, READER, f"/ui/asset/{bucket}/{name}")
    page.locator("#provenance", has_text="a red sneaker").wait_for()
    assert page.locator("#new-comment").count() == 0
    assert page.locator("#approve").count() == 0
    refused = fetch(page, "POST", f"/api/v1/reviews/{bucket}/{name}/comments", {"text": "hi"})
    assert refused["status"] == 403
    assert review(server, bucket, name)["comments"] == []
