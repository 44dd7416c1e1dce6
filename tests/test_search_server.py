"""Search and the review queue end to end, on both backends.

Versions are written through a running gateway with boto3 (prompts in headers and
embedded in the file), then found with ``provgate asset search`` / ``provgate review
queue`` and the admin API (``/api/v1/assets``, ``/api/v1/reviews/queue``). The server
runs a ``warn`` intake rule so the queue's "policy warnings" filter has something to find.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlencode

import lmdb
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.admin.search_api import add_search_routes
from gateway.catalog import Catalog
from gateway.identities import Identity
from tests.conftest import client, storage_section
from tests.support.admin import admin_call
from tests.support.media import a1111_png, a_png
from tests.support.policies import write
from tests.support.server import ROOT, WRITER, ProvgateServer

WARN_RULE = '''
[[rule]]
id = "storefront-needs-sku"
stage = "intake"
match = 'object.bucket.startsWith("shop-") && !object.key.endsWith(".xmp")'
validate = 'has(asset.sku)'
message = "storefront images need a SKU"
action = "warn"

[[rule]]
id = "held-for-review"
stage = "intake"
match = 'object.bucket.startsWith("hold-") && !object.key.endsWith(".xmp")'
validate = 'false'
message = "held until a reviewer releases it"
action = "quarantine"
'''
QUARANTINE = "provgate-quarantine"


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("search-media")
    return {"plain": a_png(d), "a1111": a1111_png(d)}


def start_studio(workdir, storage) -> ProvgateServer:
    server = ProvgateServer(workdir, storage)
    write(server.policy_dir, "warn.toml", WARN_RULE)
    return server.start()


@pytest.fixture(scope="module")
def studio(backend_kind, tmp_path_factory, request):
    workdir = tmp_path_factory.mktemp(f"search-{backend_kind}")
    server = start_studio(workdir, storage_section(backend_kind, workdir, request))
    yield server
    server.stop()


def new_bucket(s3, kind: str) -> str:
    name = f"{kind}-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def put(s3, bucket: str, key: str, body: bytes, **metadata) -> str:
    return s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/png",
                         Metadata=metadata)["VersionId"]


def cli(server, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "gateway.cli", *args,
                          "--config", str(server.config_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == expect, out.stderr
    return out


def cli_json(server, *args: str) -> dict:
    return json.loads(cli(server, *args, "--json").stdout)


def api(server, path: str, **params) -> tuple[int, dict]:
    """GET an admin API path as the admin identity (the API authenticates every caller)."""
    # admin_call quotes the path itself: only "/" may stay literal in the query here.
    query = urlencode(params, safe="/")
    status, doc, _ = admin_call(server, "GET", f"{path}?{query}" if params else path)
    return status, doc


def where(items: list[dict]) -> list[tuple[str, str]]:
    return [(i["key"], i["version_id"]) for i in items]


def test_versions_written_through_s3_are_found_by_cli_and_api(studio, media):
    s3 = client(studio.endpoint)
    shop, lab = new_bucket(s3, "shop"), new_bucket(s3, "lab")
    png = media["plain"].path.read_bytes()
    hero_v1 = put(s3, shop, "spring/hero.png", png, prompt="A lighthouse on a cliff at dawn",
                  model="SDXL-Base", campaign="spring", brand="acme", sku="SKU-1")
    alt = put(s3, shop, "spring/alt.png", png, prompt="a lighthouse at night",
              model="flux-dev", campaign="spring")
    hero_v2 = put(s3, shop, "spring/hero.png", png + b"\0", prompt="Lighthouse in a storm",
                  model="SDXL-Base", campaign="spring", brand="acme", sku="SKU-1")
    # The prompt and model of this one are only inside the file (AUTOMATIC1111 parameters).
    fox = put(client(studio.endpoint, WRITER), lab, "fox.png",
              media["a1111"].path.read_bytes())

    found = cli_json(studio, "asset", "search", "--prompt", "LIGHTHOUSE", "--bucket", shop)
    assert where(found["items"]) == [("spring/hero.png", hero_v2), ("spring/alt.png", alt)]
    assert found["next"] is None
    assert found["items"][0]["prompt"] == "Lighthouse in a storm"
    assert api(studio, "/api/v1/assets", q="lighthouse", bucket=shop) == (200, found)

    every = cli_json(studio, "asset", "search", "--prompt", "lighthouse", "--bucket", shop,
                     "--all-versions")
    assert [(k, v, i["current"]) for (k, v), i in zip(where(every["items"]), every["items"])] == [
        ("spring/hero.png", hero_v2, True), ("spring/alt.png", alt, True),
        ("spring/hero.png", hero_v1, False)]
    assert where(cli_json(studio, "asset", "search", "--prompt", "dawn", "--bucket", shop)["items"]) == []

    status, by_fields = api(studio, "/api/v1/assets", model="sdxl-base", campaign="SPRING",
                            brand="Acme", sku="sku-1", bucket=shop)
    assert status == 200 and where(by_fields["items"]) == [("spring/hero.png", hero_v2)]

    status, from_file = api(studio, "/api/v1/assets", q="fox snow", bucket=lab)
    assert status == 200 and where(from_file["items"]) == [("fox.png", fox)]
    assert from_file["items"][0]["model"] == "sd_xl_base_1.0"
    assert from_file["items"][0]["identity"] == "writer"
    assert where(api(studio, "/api/v1/assets", identity="writer", bucket=lab)[1]["items"]) == [
        ("fox.png", fox)]
    assert where(api(studio, "/api/v1/assets", identity="tester", bucket=lab)[1]["items"]) == []

    first = api(studio, "/api/v1/assets", q="lighthouse", bucket=shop, limit=1)[1]
    assert where(first["items"]) == [("spring/hero.png", hero_v2)] and first["next"]
    second = api(studio, "/api/v1/assets", q="lighthouse", bucket=shop, limit=1,
                 page=first["next"])[1]
    assert where(second["items"]) == [("spring/alt.png", alt)]
    assert second["next"] is None or api(studio, "/api/v1/assets", q="lighthouse", bucket=shop,
                                         limit=1, page=second["next"])[1]["items"] == []

    s3.delete_object(Bucket=lab, Key="fox.png")
    assert api(studio, "/api/v1/assets", q="fox", bucket=lab)[1]["items"] == []
    gone = api(studio, "/api/v1/assets", q="fox", bucket=lab, all_versions="true")[1]
    assert [(k, v, i["current"]) for (k, v), i in zip(where(gone["items"]), gone["items"])] == [
        ("fox.png", fox, False)]

    text = cli(studio, "asset", "search", "--prompt", "lighthouse", "--bucket", shop).stdout
    assert f"{shop}/spring/hero.png  version {hero_v2}" in text
    assert 'prompt "Lighthouse in a storm"' in text


def test_queue_lists_pending_versions_oldest_first_with_filters(studio, media):
    s3 = client(studio.endpoint)
    shop = new_bucket(s3, "shop")
    png = media["plain"].path.read_bytes()
    first = put(s3, shop, "spring/a.png", png, prompt="one", sku="S-1", campaign="spring")
    second = put(s3, shop, "spring/b.png", png, prompt="two", campaign="spring")
    third = put(s3, shop, "summer/c.png", png, prompt="three", sku="S-3", campaign="summer",
                model="flux-dev")

    status, queue = api(studio, "/api/v1/reviews/queue", bucket=shop)
    assert status == 200
    assert where(queue["items"]) == [("spring/a.png", first), ("spring/b.png", second),
                                     ("summer/c.png", third)]
    assert {i["review"] for i in queue["items"]} == {"pending"}

    warned = api(studio, "/api/v1/reviews/queue", bucket=shop, warned="true")[1]["items"]
    assert where(warned) == [("spring/b.png", second)]
    assert warned[0]["policy_warnings"] == ["storefront-needs-sku: storefront images need a SKU"]
    assert cli_json(studio, "review", "queue", "--bucket", shop, "--warned")["items"] == warned

    assert where(api(studio, "/api/v1/reviews/queue", bucket=shop, prefix="summer/")[1]["items"]) \
        == [("summer/c.png", third)]
    assert where(api(studio, "/api/v1/reviews/queue", bucket=shop, campaign="spring",
                     limit=1)[1]["items"]) == [("spring/a.png", first)]
    assert where(api(studio, "/api/v1/reviews/queue", bucket=shop, model="FLUX-dev")[1]["items"]) \
        == [("summer/c.png", third)]

    text = cli(studio, "review", "queue", "--bucket", shop, "--warned").stdout
    assert f"{shop}/spring/b.png" in text
    assert "warning storefront-needs-sku: storefront images need a SKU" in text

    # A quarantined write is found by search but never queued: it is released or discarded.
    hold = new_bucket(s3, "hold")
    s3.put_object(Bucket=hold, Key="held.png", Body=png, ContentType="image/png",
                  Metadata={"prompt": f"quarantined {hold}"})
    held = api(studio, "/api/v1/assets", q=hold, bucket=QUARANTINE)[1]["items"]
    assert [(i["key"], i["review"]) for i in held] == [(f"{hold}/held.png", "pending")]
    for queue in (api(studio, "/api/v1/reviews/queue", bucket=QUARANTINE)[1],
                  cli_json(studio, "review", "queue", "--bucket", QUARANTINE)):
        assert queue == {"items": [], "next": None}


@pytest.mark.parametrize("path, params, complaint", [
    ("/api/v1/assets", {"q": "x" * 3000}, "longer than 2048"),
    ("/api/v1/assets", {"q": " ".join(f"w{n}" for n in range(40))}, "more than 32 words"),
    ("/api/v1/assets", {"from": "2026-13-01"}, "not a date"),
    ("/api/v1/assets", {"to": "soon"}, "not a date"),
    ("/api/v1/assets", {"page": "bm90IGEgdG9rZW4"}, "page token"),
    ("/api/v1/assets", {"limit": "0"}, "limit"),
    ("/api/v1/assets", {"colour": "red"}, "unknown parameter"),
    ("/api/v1/assets", {"review": "ok"}, "not one of"),
    ("/api/v1/assets", {"prefix": "a/"}, "needs a bucket"),
    ("/api/v1/assets", {"model": "m" * 1500}, "longer than 1024"),
    ("/api/v1/reviews/queue", {"review": "approved"}, "unknown parameter"),
    ("/api/v1/reviews/queue", {"warned": "sometimes"}, "not true or false"),
])
def test_hostile_queries_get_a_clear_400(studio, path, params, complaint):
    status, body = api(studio, path, **params)
    assert status == 400, body
    assert body["error"]["code"] == "InvalidArgument"
    assert complaint in body["error"]["message"]
    assert api(studio, "/healthz") == (200, {"status": "ok"})


def test_a_repeated_parameter_is_refused(studio):
    status, body, _ = admin_call(studio, "GET", "/api/v1/assets?q=a&q=b")
    assert status == 400
    assert "more than once" in body["error"]["message"]


def test_cli_refuses_bad_filters_with_a_message(studio):
    out = cli(studio, "asset", "search", "--from", "31/12/2026", expect=2)
    assert "not a date" in out.stderr and out.stdout == ""
    out = cli(studio, "review", "queue", "--page", "garbage", expect=2)
    assert "page token" in out.stderr


def test_reindex_rebuilds_search_and_queue_warnings(media, tmp_path, backend_kind, request):
    workdir = tmp_path / "reindexed"
    server = start_studio(workdir, storage_section(backend_kind, workdir, request))
    try:
        s3 = client(server.endpoint)
        shop = new_bucket(s3, "shop")
        png = media["plain"].path.read_bytes()
        put(s3, shop, "a.png", png, prompt="orange kite", sku="K-1")
        put(s3, shop, "b.png", png, prompt="orange balloon")
        put(s3, shop, "b.png", png + b"\0", prompt="orange balloon again")
    finally:
        server.stop()
    questions = [("asset", "search", "--prompt", "orange", "--all-versions"),
                 ("review", "queue", "--warned"), ("review", "queue")]
    before = [cli_json(server, *q) for q in questions]
    assert len(before[0]["items"]) == 3 and len(before[1]["items"]) == 1

    catalog_dir = workdir / "catalog"
    env = lmdb.open(str(catalog_dir), max_dbs=16)    # an index-less catalog, as before
    for name in (b"ix_docs", b"ix_vdoc", b"ix_post", b"ix_meta"):
        with env.begin(write=True) as txn:
            txn.drop(env.open_db(name, txn=txn), delete=True)
    env.close()
    opened = cli(server, *questions[0], "--json")
    assert "indexed 3 catalog versions for search" in opened.stderr
    assert json.loads(opened.stdout) == before[0]

    # A reindex drops every catalog table and reads the records back from storage; the
    # warnings come back from the policy audit log beside them.
    assert "reindexed 2 assets (3 versions)" in cli(server, "reindex").stdout
    assert [cli_json(server, *q) for q in questions] == before
    rebuilt = cli(server, "reindex", "--indexes-only")
    assert "rebuilt the search indexes of 3 catalogued versions" in rebuilt.stdout
    assert [cli_json(server, *q) for q in questions] == before


# request["identity"] is the agreed name the admin authentication middleware sets.
@pytest.mark.filterwarnings("ignore::aiohttp.web.NotAppKeyWarning")
def test_api_results_are_limited_to_the_callers_buckets(tmp_path):
    """With an authenticated caller (``request["identity"]``), only its buckets answer."""
    catalog = Catalog(tmp_path / "catalog")
    for n, bucket in enumerate(("mine", "theirs", "mine")):
        catalog.add_version(bucket, f"k{n}.png", version_id=f"v{n}", document_id="d",
                            instance_id="i", record={"prompt": "shared words"},
                            committed=1_700_000_000 + n)
    scoped = Identity("scoped", "AKIASCOPED", "secret", role="reviewer", buckets=("mine",))

    @web.middleware
    async def authenticated(request, handler):
        if request.headers.get("x-test-caller") == "scoped":
            request["identity"] = scoped
        return await handler(request)

    async def ask(path: str, caller: str | None) -> dict:
        app = web.Application(middlewares=[authenticated])
        add_search_routes(app, catalog=catalog)
        async with TestClient(TestServer(app, host="127.0.0.1")) as http:
            reply = await http.get(path, headers={"x-test-caller": caller} if caller else {})
            assert reply.status == 200
            return await reply.json()

    try:
        mine = asyncio.run(ask("/api/v1/assets?q=shared", "scoped"))
        assert [i["bucket"] for i in mine["items"]] == ["mine", "mine"]
        anyone = asyncio.run(ask("/api/v1/assets?q=shared", None))
        assert [i["bucket"] for i in anyone["items"]] == ["mine", "theirs", "mine"]
        named = asyncio.run(ask("/api/v1/reviews/queue?bucket=theirs", "scoped"))
        assert named["items"] == []
    finally:
        catalog.close()


def test_a_query_longer_than_the_listener_reads_is_refused(studio):
    """Past the HTTP request-line bound (8 KiB) aiohttp itself answers 400; nothing breaks."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{studio.admin}/api/v1/assets?q=" + "word%20" * 3000, timeout=10)
    assert refused.value.code == 400
    assert api(studio, "/healthz") == (200, {"status": "ok"})
