"""Catalog search and the review queue among many catalogued assets.

    python -m bench --search                   # 10,000 assets, 100 queries per kind
    python -m bench --search --assets 50000 --queries 200

The catalog is filled the way intake fills it — one ``Catalog.add_version`` (one LMDB
write transaction, fsync included) per version, with full provenance records as
extraction produces them: prompts drawn from a prompt-like vocabulary with a long tail
(Zipf), generator, model, sampler, seed, campaign, brand, SKU, writer and door. One key
in ten gets a second version; 30 % of current versions are approved (``set_review``),
5 % carry an intake policy warning; commit times spread over 90 days.

Then a ``provgate serve`` (fs backend) is started on that catalog, and every query kind is
timed both in-process (``Catalog.search`` / ``Catalog.queue``) and through the admin API
(``GET /api/v1/assets?q=...``, ``GET /api/v1/reviews/queue``) with keep-alive HTTP,
first page of 50 each. Words are picked by how many current versions carry them:
rare (≤ 20), medium (100–1,000) and common (≥ 2,000).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import statistics
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from gateway.catalog import Catalog
from gateway.catalog import search as searching
from gateway.provenance import ProvenanceRecord, document_id_for, instance_id_for
from tests.support.server import ProvgateServer

SUBJECTS = """fox lighthouse sneaker astronaut portrait castle robot dragon forest city street
cat dog horse car bicycle bottle perfume watch handbag dress jacket chair lamp sofa kitchen
mountain lake ocean beach desert island bridge tower temple garden flower rose tulip apple
coffee cup cake burger pizza sushi ramen cocktail wine guitar piano violin camera phone
laptop headphones shoe boot hat scarf necklace ring earring skyscraper train airplane ship
""".split()
STYLES = """cinematic photo studio packshot illustration watercolor oil painting anime
photorealistic isometric render 3d octane unreal engine minimalist vintage retro cyberpunk
steampunk baroque surreal noir pastel vibrant moody dramatic soft editorial fashion
product macro aerial wide angle closeup bokeh film grain polaroid sketch lineart flat
vector low poly claymation""".split()
LIGHT = """golden hour blue hour sunrise sunset night neon rim light backlit overcast foggy
rainy snowy storm clouds volumetric light god rays softbox high key low key candlelight
moonlight studio lighting natural light""".split()
QUALIFIERS = """highly detailed sharp focus 8k masterpiece trending award winning intricate
elegant symmetrical centered white background red green blue orange purple gold silver
black wooden marble glass metallic matte glossy""".split()
MODELS = ["sd_xl_base_1.0", "flux1-dev", "flux1-schnell", "gpt-image-1", "midjourney-v6",
          "dall-e-3", "sd3.5-large", "juggernautXL_v9"]
GENERATORS = ["ComfyUI", "AUTOMATIC1111", "InvokeAI", "Midjourney", "OpenAI API", "Fooocus"]
SAMPLERS = ["Euler a", "DPM++ 2M", "DPM++ SDE", "UniPC", "DDIM"]
BRANDS = ["acme", "northwind", "contoso", "globex", "initech"]
WRITERS = ["render-farm", "comfy-bot", "alice", "bob", "agency"]
DAY = 86400.0


def run(workdir: Path, assets: int, queries: int) -> None:
    rng = random.Random(20261206)
    server = ProvgateServer(workdir / "provgate", {"kind": "fs", "path": str(workdir / "data")})
    catalog_path = workdir / "provgate" / "catalog"
    words, write_ms, versions = fill_catalog(Catalog(catalog_path), assets, rng)
    print(f"catalogued {assets} assets ({versions} versions) — add_version p50 "
          f"{percentile(write_ms, 50):.2f} ms, p95 {percentile(write_ms, 95):.2f} ms (one LMDB write "
          f"transaction with fsync each, indexes included)")
    print(f"LMDB file: {(catalog_path / 'data.mdb').stat().st_size / 2**20:.1f} MiB\n")

    # By the share of current versions carrying the word (for 10,000 assets: rare ≤ 20
    # hits, medium 100–1,000, common ≥ 2,000).
    rare = [w for w, n in words.items() if n <= assets // 500]
    medium = [w for w, n in words.items() if assets // 100 <= n <= assets // 10]
    common = [w for w, n in words.items() if n >= assets // 5]
    kinds = {
        f"prompt word, rare ({len(rare)} words, ≤ {assets // 500} hits)":
            [{"q": w} for w in _pick(rng, rare, queries)],
        f"prompt word, medium ({len(medium)} words, {assets // 100}–{assets // 10} hits)":
            [{"q": w} for w in _pick(rng, medium, queries)],
        f"prompt word, common ({len(common)} words, ≥ {assets // 5} hits)":
            [{"q": w} for w in _pick(rng, common, queries)],
        "two words (common AND rare)":
            [{"q": f"{c} {r}"} for c, r in zip(_pick(rng, common, queries),
                                                _pick(rng, rare, queries))],
        "word AND model AND campaign":
            [{"q": w, "model": rng.choice(MODELS), "campaign": f"campaign-{rng.randrange(12)}"}
             for w in _pick(rng, medium, queries)],
        "word, 1-day date range":
            [{"q": w, "from": day, "to": day}
             for w, day in zip(_pick(rng, common, queries), (_day(rng) for _ in range(queries)))],
        "queue, first page": [{}] * queries,
        "queue, campaign filter":
            [{"campaign": f"campaign-{rng.randrange(12)}"} for _ in range(queries)],
        "queue, warned only": [{"warned": "true"}] * queries,
    }

    catalog = Catalog(catalog_path)
    print("| query (first page of 50) | in-process p50 ms | p95 ms | admin API p50 ms | p95 ms "
          "| hits on page |")
    print("|---|---|---|---|---|---|")
    server.start()
    try:
        api = _Api(server.admin)
        for label, params_list in kinds.items():
            queue = label.startswith("queue")
            local, remote, hits = [], [], []
            for params in params_list:
                filters = searching.parse_params(
                    {("prompt" if k == "q" else k): v for k, v in params.items()})
                started = time.perf_counter()
                page = (catalog.queue if queue else catalog.search)(limit=50, **filters)
                local.append((time.perf_counter() - started) * 1000)
                hits.append(len(page.items))
                path = "/api/v1/reviews/queue" if queue else "/api/v1/assets"
                started = time.perf_counter()
                body = api.get(path, {**params, "limit": 50})
                remote.append((time.perf_counter() - started) * 1000)
                assert len(body["items"]) == len(page.items), (label, params)
            print(f"| {label} | {percentile(local, 50):.2f} | {percentile(local, 95):.2f} | {percentile(remote, 50):.2f} | "
                  f"{percentile(remote, 95):.2f} | {statistics.median(hits):.0f} |", flush=True)
        started = time.perf_counter()
        summary = catalog.queue_summary()
        print(f"\nqueue_summary (count of pending, oldest): {summary['count']} pending, "
              f"{(time.perf_counter() - started) * 1000:.1f} ms")
    finally:
        catalog.close()
        server.stop()


def fill_catalog(catalog: Catalog, assets: int, rng: random.Random) -> tuple[Counter, list[float], int]:
    vocabulary = SUBJECTS + STYLES + LIGHT + QUALIFIERS
    tail = [f"{rng.choice(SUBJECTS)}{n}" for n in range(3000)]   # product names, ids, ...
    head_weights = [1 / (rank + 1) ** 0.8 for rank in range(len(vocabulary))]
    start = time.time() - 90 * DAY
    step = 90 * DAY / (assets * 1.1)
    moment = start
    current_words: Counter = Counter()
    write_ms: list[float] = []
    versions = 0
    try:
        for n in range(assets):
            bucket = rng.choice(("renders", "storefront", "social"))
            key = f"campaign-{n % 12}/{rng.choice(SUBJECTS)}/{n:06d}.png"
            last_words: list[str] = []
            for revision in range(2 if n % 10 == 0 else 1):
                moment += step * rng.uniform(0.5, 1.5)
                words = rng.choices(vocabulary, head_weights, k=rng.randint(8, 30))
                words += rng.sample(tail, rng.randint(0, 2))
                prompt = ", ".join(" ".join(words[i:i + 3]) for i in range(0, len(words), 3))
                version_id = hashlib.md5(f"{n}-{revision}".encode()).hexdigest()
                record = _record(rng, bucket, key, version_id, n, prompt, moment)
                warned = ["storefront-needs-sku: storefront images need a SKU"] \
                    if rng.random() < 0.05 else []
                started = time.perf_counter()
                catalog.add_version(bucket, key, version_id=version_id,
                                    document_id=document_id_for(bucket, key),
                                    instance_id=instance_id_for(bucket, key, version_id),
                                    record=record, committed=moment, history=[
                                        {"action": "created", "when": record["captured_at"]}],
                                    policy_warnings=warned)
                write_ms.append((time.perf_counter() - started) * 1000)
                versions += 1
                last_words = words
            if rng.random() < 0.3:
                catalog.set_review(bucket, key, version_id, {"status": "approved", "decisions": [
                    {"by": "rita", "decision": "approved", "at": record["captured_at"]}]})
            current_words.update(set(w.casefold() for phrase in last_words for w in phrase.split()))
    finally:
        catalog.close()
    return current_words, write_ms, versions


def _record(rng: random.Random, bucket: str, key: str, version_id: str, n: int, prompt: str,
            moment: float) -> dict:
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
    return ProvenanceRecord(
        bucket=bucket, key=key, version_id=version_id, content_type="image/png",
        size=rng.randint(200_000, 4_000_000), sha256=hashlib.sha256(key.encode()).hexdigest(),
        identity=rng.choice(WRITERS), door=rng.choice(("s3", "s3", "s3", "sidecar")),
        captured_at=when, prompt=prompt,
        negative_prompt="blurry, lowres, watermark, text, extra fingers",
        generator=rng.choice(GENERATORS), model=rng.choice(MODELS),
        seed=rng.randrange(2**32), steps=rng.choice((20, 25, 28, 30, 40)),
        sampler=rng.choice(SAMPLERS), cfg_scale=rng.choice((3.5, 5.0, 6.5, 7.0)),
        source_type="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
        campaign=f"campaign-{n % 12}", brand=rng.choice(BRANDS),
        sku=f"SKU-{rng.randrange(5000):05d}" if bucket == "storefront" else None,
    ).to_dict()


class _Api:
    """Keep-alive GETs to the admin listener, as a UI or script would make them."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def get(self, path: str, params: dict) -> dict:
        self.conn.request("GET", f"{path}?{urlencode(params)}")
        reply = self.conn.getresponse()
        body = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"{path} {params}: {reply.status} {body[:200]!r}")
        return json.loads(body)


def _pick(rng: random.Random, pool: list[str], count: int) -> list[str]:
    if not pool:
        raise SystemExit("too few assets for this query kind; use --assets 10000 or more")
    return [rng.choice(pool) for _ in range(count)]


def _day(rng: random.Random) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() - rng.uniform(1, 89) * DAY))


def percentile(values: list[float], rank: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[rank - 1]
