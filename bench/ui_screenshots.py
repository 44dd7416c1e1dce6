"""Screenshots of the review UI for the docs (docs/ui/*.png, 1400×900).

    python -m bench.ui_screenshots                 # writes docs/ui/
    python -m bench.ui_screenshots --out /tmp/shots

Starts a ``provgate serve`` (fs backend, in a temporary directory) with a small studio's
identities, writes a campaign's renders through the S3 door as a generator would (prompt,
model, seed, cost, campaign, brand; a second version; a derived crop), reviews some of
them through the admin API (comments on regions, replies, approvals and ratings), then
opens the pages in headless Chromium (Debian's ``/usr/bin/chromium``) and saves:

``queue.png``        the review queue
``asset.png``        an asset page: media, review, provenance
``annotation.png``   region comments drawn on the image, with the thread beside
``prompts.png``      the prompt library
``spend.png``        credits by campaign
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import random
import tempfile
import urllib.request
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from tests.conftest import client
from tests.support.server import ADMIN, ProvgateServer

ROOT = Path(__file__).resolve().parents[1]
MAYA = {"name": "maya", "access_key": "AKIASHOTSMAYA", "secret": "maya-shots-secret", "role": "writer"}
RITA = {"name": "rita", "access_key": "AKIASHOTSRITA", "secret": "rita-shots-secret", "role": "reviewer"}
SAM = {"name": "sam", "access_key": "AKIASHOTSSAM", "secret": "sam-shots-secret", "role": "reviewer"}
BUCKET = "renders"

RENDERS = [
    ("spring/hero-sneaker.png", "a red running sneaker on wet asphalt at dusk, neon reflections, "
     "shallow depth of field, product photography", "sdxl-base-1.0", "ComfyUI", 4.5,
     "spring-drop", "Stride", ((200, 40, 50), (30, 20, 60))),
    ("spring/lookbook-01.png", "model in a pastel trench coat walking through a flower market, "
     "soft morning light, 35mm film", "flux-1-dev", "ComfyUI", 6.0, "spring-drop", "Stride",
     ((240, 190, 200), (120, 160, 210))),
    ("spring/banner-wide.png", "minimal banner, floating sneakers over a mint gradient, clean "
     "studio lighting", "sdxl-base-1.0", "AUTOMATIC1111", 3.0, "spring-drop", "Stride",
     ((120, 220, 190), (40, 90, 120))),
    ("summer/beach-bottle.png", "glass perfume bottle on white sand, turquoise water, "
     "caustics, luxury advertising", "midjourney-v7", "Midjourney", 8.0, "summer-scent",
     "Aurelle", ((40, 180, 210), (250, 230, 190))),
    ("summer/sunset-portrait.png", "portrait of a woman at golden hour, warm rim light, "
     "freckles, editorial", "flux-1-pro", "ComfyUI", 12.0, "summer-scent", "Aurelle",
     ((250, 150, 60), (120, 40, 90))),
    ("social/teaser-square.png", "bold typographic teaser, sneaker silhouette, grain, "
     "brutalist poster", "sdxl-turbo", "InvokeAI", 1.5, "spring-drop", "Stride",
     ((20, 20, 24), (220, 60, 60))),
    ("social/story-9x16.png", "vertical story frame, perfume bottle in falling petals, "
     "pink haze", "flux-1-dev", "ComfyUI", 5.5, "summer-scent", "Aurelle",
     ((230, 120, 170), (80, 40, 120))),
]


# Renders still waiting for review (the queue), with the policy warnings intake gave them.
PENDING = [
    ("fall/parka-street.png", "oversized olive parka on a rainy city street, overcast, "
     "documentary style", "flux-1-dev", "ComfyUI", 7.0, "fall-outerwear", "Northline",
     ((90, 110, 90), (30, 40, 50))),
    ("fall/boots-leaves.png", "leather boots in autumn leaves, low angle, golden backlight",
     "sdxl-base-1.0", "AUTOMATIC1111", 3.5, "fall-outerwear", "Northline",
     ((200, 120, 40), (60, 30, 20))),
    ("holiday/gift-box.png", "red gift box with satin ribbon on a snowy windowsill, bokeh "
     "fairy lights", "midjourney-v7", "Midjourney", 9.0, "holiday-gifting", "Aurelle",
     ((180, 30, 40), (240, 240, 250))),
    ("holiday/family-table.png", "family around a festive dinner table, candid, warm tungsten "
     "light", "flux-1-pro", "ComfyUI", 14.0, "holiday-gifting", "Aurelle",
     ((220, 150, 80), (70, 30, 30))),
    ("school/backpack-flatlay.png", "flat lay of a yellow backpack with notebooks and pencils, "
     "top down, pastel background", "sdxl-turbo", "InvokeAI", 1.0, "back-to-school", "Stride",
     ((250, 220, 90), (170, 200, 240))),
]


WARNINGS = """
[[rule]]
id = "people-need-release"
stage = "intake"
match = 'has(asset.people) && size(asset.people) > 0'
validate = 'has(asset.model_release)'
message = "people are shown but no model release is recorded"
action = "warn"

[[rule]]
id = "holiday-needs-sku"
stage = "intake"
match = 'has(asset.campaign) && asset.campaign == "holiday-gifting"'
validate = 'has(asset.sku)'
message = "holiday storefront images need a SKU"
action = "warn"
"""


def render(size, colours, seed) -> bytes:
    """An abstract 'render': a gradient with soft shapes (stands in for generated art)."""
    rng = random.Random(seed)
    width, height = size
    top, bottom = colours
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / (height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    shapes = Image.new("RGBA", size, (0, 0, 0, 0))
    ink = ImageDraw.Draw(shapes)
    for _ in range(7):
        r = rng.randint(height // 10, height // 3)
        x, y = rng.randint(0, width), rng.randint(0, height)
        tint = tuple(min(255, c + rng.randint(20, 90)) for c in rng.choice(colours))
        ink.ellipse([x - r, y - r, x + r, y + r], fill=(*tint, rng.randint(60, 140)))
    shapes = shapes.filter(ImageFilter.GaussianBlur(height / 40))
    image.paste(shapes, (0, 0), shapes)
    # A soft 'product' in the middle: a rounded slab with a highlight.
    product = Image.new("RGBA", size, (0, 0, 0, 0))
    body = ImageDraw.Draw(product)
    w, h = width * rng.uniform(0.28, 0.4), height * rng.uniform(0.2, 0.3)
    x0, y0 = width * 0.5 - w / 2, height * 0.58 - h / 2
    body.rounded_rectangle([x0, y0, x0 + w, y0 + h], radius=h / 2.5, fill=(*top, 235))
    body.rounded_rectangle([x0 + w * 0.08, y0 + h * 0.12, x0 + w * 0.6, y0 + h * 0.3],
                           radius=h / 8, fill=(255, 255, 255, 90))
    shadow = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(shadow).ellipse([x0, y0 + h * 0.85, x0 + w, y0 + h * 1.25], fill=(0, 0, 0, 110))
    shadow = shadow.filter(ImageFilter.GaussianBlur(height / 50))
    image.paste(shadow, (0, 0), shadow)
    image.paste(product, (0, 0), product)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def api(server, identity, method, path, body=None):
    token = base64.b64encode(f"{identity['access_key']}:{identity['secret']}".encode()).decode()
    request = urllib.request.Request(server.admin + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Basic " + token,
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.loads(reply.read() or b"null")


def seed(server) -> None:
    s3 = client(server.endpoint, ADMIN)
    s3.create_bucket(Bucket=BUCKET)
    writer = client(server.endpoint, MAYA)
    for n, (key, prompt, model, generator, cost, campaign, brand, colours) in enumerate(RENDERS):
        size = (1024, 640) if "square" not in key and "9x16" not in key else (640, 640)
        writer.put_object(Bucket=BUCKET, Key=key, Body=render(size, colours, n),
                          ContentType="image/png", Metadata={
                              "prompt": prompt, "negative-prompt": "blurry, watermark, text",
                              "model": model, "generator": generator, "seed": str(1000 + 37 * n),
                              "steps": "30", "sampler": "dpmpp_2m", "cfg-scale": "6.5",
                              "cost": str(cost), "campaign": campaign, "brand": brand,
                              "creator": "Maya Lind", "copyright": "(c) 2026 Stride Studio",
                              "license": "internal-use"})
    for n, (key, prompt, model, generator, cost, campaign, brand, colours) in enumerate(PENDING):
        writer.put_object(Bucket=BUCKET, Key=key, Body=render((1024, 640), colours, 50 + n),
                          ContentType="image/png", Metadata={
                              "prompt": prompt, "model": model, "generator": generator,
                              "seed": str(4000 + 11 * n), "cost": str(cost),
                              "campaign": campaign, "brand": brand, "creator": "Maya Lind",
                              **({"people": "Ines Duarte"} if "family" in key else {})})
    # A second version of the hero (the author's answer to a review), and a crop made from it.
    hero, hero_prompt = RENDERS[0][0], RENDERS[0][1]
    writer.put_object(Bucket=BUCKET, Key=hero, Body=render((1024, 640), RENDERS[0][7], 99),
                      ContentType="image/png", Metadata={
                          "prompt": hero_prompt + ", logo fully visible", "negative-prompt":
                          "blurry, watermark, text, cropped logo", "model": "sdxl-base-1.0",
                          "generator": "ComfyUI", "seed": "1337", "steps": "40",
                          "sampler": "dpmpp_2m", "cfg-scale": "7.0", "cost": "5.0",
                          "campaign": "spring-drop", "brand": "Stride", "creator": "Maya Lind"})
    writer.put_object(Bucket=BUCKET, Key="spring/hero-sneaker-crop.png",
                      Body=render((640, 640), RENDERS[0][7], 7), ContentType="image/png",
                      Metadata={"prompt": "square crop of the hero", "model": "sdxl-base-1.0",
                                "generator": "ComfyUI", "cost": "0.5", "campaign": "spring-drop",
                                "brand": "Stride", "derived-from": f"{BUCKET}/{hero}"})
    base = f"/api/v1/reviews/{BUCKET}/{hero}"
    api(server, RITA, "POST", base + "/comments", {
        "text": "The logo on the heel is clipped — keep the whole swoosh in frame.",
        "region": {"x": 0.56, "y": 0.48, "w": 0.2, "h": 0.22}})
    api(server, SAM, "POST", base + "/comments", {
        "text": "Reflection reads as a second shoe; tone it down.",
        "region": {"x": 0.12, "y": 0.7, "w": 0.3, "h": 0.18}})
    api(server, MAYA, "POST", base + "/comments", {"text": "Re-rendered with 40 steps, logo masked in.",
                                                   "reply_to": "c1"})
    api(server, RITA, "POST", base + "/decisions", {"decision": "approve",
                                                    "note": "Logo fixed; good to go once legal signs off."})
    for key, rating, reviewers in (("summer/beach-bottle.png", 5, (RITA,)),
                                   ("summer/sunset-portrait.png", 4, (RITA,)),
                                   ("spring/lookbook-01.png", 4, (SAM,)),
                                   ("social/story-9x16.png", 3, (SAM,))):
        for reviewer in reviewers:
            api(server, reviewer, "POST", f"/api/v1/reviews/{BUCKET}/{key}/decisions",
                {"decision": "approve"})
        api(server, RITA, "PUT", f"/api/v1/reviews/{BUCKET}/{key}/rating", {"rating": rating})
    api(server, SAM, "POST", f"/api/v1/reviews/{BUCKET}/social/teaser-square.png/decisions",
        {"decision": "request-changes", "note": "Type is too small for stories."})


def shoot(server, out: Path) -> None:
    from playwright.sync_api import sync_playwright
    out.mkdir(parents=True, exist_ok=True)
    hero = RENDERS[0][0]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 900},
                                       base_url=server.admin).new_page()
            page.goto("/ui/login")
            page.fill("#access_key", SAM["access_key"])
            page.fill("#secret", SAM["secret"])
            page.click("#login")
            page.wait_for_selector(".qrow img.thumb")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / "queue.png"))

            page.goto(f"/ui/asset/{BUCKET}/{hero}")
            page.wait_for_function("() => document.querySelector('#media-image')?.naturalWidth > 0")
            page.wait_for_selector('.region[data-comment="c1"]')
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / "asset.png"))

            box = page.locator("#overlay").bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.15)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.48, box["y"] + box["height"] * 0.38)
            page.mouse.up()
            page.fill("#new-comment-text", "Sky banding here — add a little grain?")
            page.locator(".media-card").scroll_into_view_if_needed()
            page.evaluate("window.scrollTo(0, document.querySelector('.media-card').offsetTop - 70)")
            page.screenshot(path=str(out / "annotation.png"))

            page.goto("/ui/prompts")
            page.wait_for_selector(".prompt-card")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / "prompts.png"))

            page.goto("/ui/spend?by=campaign")
            page.wait_for_selector(".bar-row")
            page.screenshot(path=str(out / "spend.png"))
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ui_screenshots",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "ui")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="provgate-shots-") as workdir:
        server = ProvgateServer(Path(workdir), {"kind": "fs", "path": str(Path(workdir) / "data")},
                                identities=[ADMIN, MAYA, RITA, SAM])
        server.policy_dir.mkdir(parents=True, exist_ok=True)
        (server.policy_dir / "warnings.toml").write_text(WARNINGS)
        server.start()
        try:
            seed(server)
            shoot(server, args.out)
        finally:
            server.stop()
    for name in ("queue", "asset", "annotation", "prompts", "spend"):
        print(args.out / f"{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
