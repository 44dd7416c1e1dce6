"""The prompt library (``GET /api/v1/prompts``) end to end, on both backends (the
session's shared servers: each test lists only its own model's prompts).

Assets are written through a running gateway with boto3 (prompts and settings in
headers, or embedded in the file by AUTOMATIC1111), reviewed and rated through the admin
API; the library must list only the approved ones, grouped by model and generator, with
the best-rated results first.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from tests.conftest import client, remove_bucket
from tests.support.admin import admin_call
from tests.support.media import A1111_NEGATIVE, A1111_PROMPT, a1111_png, a_png
from tests.support.server import ADMIN, READER, SCOPED


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("prompt-media")
    return {"plain": a_png(d).path.read_bytes(), "a1111": a1111_png(d).path.read_bytes()}


@pytest.fixture
def new_bucket(gateway):
    """Make buckets (``new_bucket()`` or ``new_bucket(name)``), removed after the test:
    the shared servers keep only the buckets of the tests running now."""
    s3, made = client(gateway.endpoint), []

    def make(name: str | None = None) -> str:
        name = name or f"lib-{uuid.uuid4().hex[:12]}"
        try:
            s3.create_bucket(Bucket=name)
        except s3.exceptions.BucketAlreadyOwnedByYou:   # the scoped bucket, from another test
            pass
        made.append(name)
        return name

    yield make
    for name in made:
        remove_bucket(s3, name)


def prompts(server, identity=ADMIN, **params):
    status, body, _ = admin_call(server, "GET", "/api/v1/prompts?" + query(params),
                                 identity=identity)
    return status, body


def query(params: dict) -> str:
    # admin_call percent-encodes the path itself.
    return "&".join(f"{name}={value}" for name, value in params.items())


def put(s3, bucket, key, body, **metadata) -> str:
    return s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/png",
                         Metadata={k: str(v) for k, v in metadata.items()})["VersionId"]


def review(server, bucket, key, decision="approve", rating=None) -> None:
    where = f"/api/v1/reviews/{bucket}/{quote(key)}"
    status, body, _ = admin_call(server, "POST", f"{where}/decisions", {"decision": decision})
    assert status == 200, body
    if rating is not None:
        status, body, _ = admin_call(server, "PUT", f"{where}/rating", {"rating": rating})
        assert status == 200, body


def test_library_lists_approved_prompts_with_best_rated_results_first(gateway, media, new_bucket):
    s3 = client(gateway.endpoint)
    bucket = new_bucket()
    model = f"flux-{uuid.uuid4().hex[:6]}"       # this test's own model: other tests' assets stay out
    fox = dict(prompt="a red fox in snow, cinematic", model=model, generator="ComfyUI",
               seed=1, steps=30, sampler="euler")
    versions = {}
    for key, rating in (("fox-1.png", 3), ("fox-2.png", 5), ("fox-3.png", 5)):
        versions[key] = put(s3, bucket, key, media["plain"] + key.encode(), **fox)
        review(gateway, bucket, key, rating=rating)
    # The same prompt with another seed, approved but unrated: listed after the rated ones.
    versions["fox-4.png"] = put(s3, bucket, "fox-4.png", media["plain"], **{**fox, "seed": 99})
    review(gateway, bucket, "fox-4.png")
    put(s3, bucket, "fox-pending.png", media["plain"], **fox)
    put(s3, bucket, "fox-rejected.png", media["plain"], **fox)
    review(gateway, bucket, "fox-rejected.png", decision="reject")
    put(s3, bucket, "secret.png", media["plain"], prompt="unreleased teaser concept",
        model=model, generator="ComfyUI")
    lighthouse = put(s3, bucket, "lighthouse.png", media["plain"], prompt="a lighthouse at dawn",
                     **{"negative-prompt": "people", "model": model, "generator": "Forge",
                        "cfg-scale": 4.5})
    review(gateway, bucket, "lighthouse.png", rating=4)

    status, found = prompts(gateway, model=model)
    assert status == 200
    assert found == {"total": 2, "groups": [
        {"model": model, "generator": "ComfyUI", "prompts": [{
            "prompt": fox["prompt"], "negative_prompt": None, "seed": 1,
            "parameters": {"steps": 30, "sampler": "euler"},
            "best": [{"bucket": bucket, "key": k, "version_id": versions[k], "rating": r}
                     for k, r in (("fox-3.png", 5), ("fox-2.png", 5), ("fox-1.png", 3),
                                  ("fox-4.png", None))]}]},
        {"model": model, "generator": "Forge", "prompts": [{
            "prompt": "a lighthouse at dawn", "negative_prompt": "people", "seed": None,
            "parameters": {"cfg_scale": 4.5},
            "best": [{"bucket": bucket, "key": "lighthouse.png", "version_id": lighthouse,
                      "rating": 4}]}]}]}

    status, searched = prompts(gateway, q="FOX snow", model=model)
    assert status == 200 and searched["total"] == 1
    assert searched["groups"][0]["prompts"][0]["prompt"] == fox["prompt"]
    assert prompts(gateway, q="teaser", model=model)[1] == {"groups": [], "total": 0}
    assert prompts(gateway, model=model, generator="forge")[1]["total"] == 1

    status, second = prompts(gateway, model=model, limit=1, offset=1)
    assert status == 200 and second["total"] == 2
    assert [g["generator"] for g in second["groups"]] == ["Forge"]
    assert prompts(gateway, model=model, offset=2)[1] == {"groups": [], "total": 2}

    # A new version of an approved key starts pending: it leaves the library.
    put(s3, bucket, "lighthouse.png", media["plain"] + b"v2", prompt="a lighthouse at dawn",
        model=model, generator="Forge")
    assert prompts(gateway, model=model)[1]["total"] == 1


def test_settings_embedded_by_the_generator_are_the_parameters(gateway, media, new_bucket):
    s3 = client(gateway.endpoint)
    bucket = new_bucket()
    # The model header (which wins over the file's) keeps other tests' foxes out.
    model = f"sdxl-{uuid.uuid4().hex[:6]}"
    version = s3.put_object(Bucket=bucket, Key="fox.png", Body=media["a1111"],
                            ContentType="image/png", Metadata={"model": model})["VersionId"]
    review(gateway, bucket, "fox.png", rating=2)

    status, found = prompts(gateway, q="fox golden hour", generator="AUTOMATIC1111", model=model)
    assert status == 200 and found["total"] == 1
    entry = found["groups"][0]["prompts"][0]
    assert (entry["prompt"], entry["negative_prompt"], entry["seed"]) == (
        A1111_PROMPT, A1111_NEGATIVE, 3141592653)
    assert {k: entry["parameters"].get(k) for k in ("steps", "sampler", "cfg_scale", "width",
                                                     "height", "scheduler", "denoise")} == {
        "steps": 28, "sampler": "DPM++ 2M", "cfg_scale": 6.5, "width": 64, "height": 48,
        "scheduler": "Karras", "denoise": 0.55}
    assert entry["best"] == [{"bucket": bucket, "key": "fox.png", "version_id": version,
                              "rating": 2}]


def test_callers_see_prompts_of_their_buckets_only(gateway, media, new_bucket):
    s3 = client(gateway.endpoint)
    mine, other = new_bucket(SCOPED["buckets"][0]), new_bucket()
    model = f"scope-{uuid.uuid4().hex[:6]}"
    put(s3, mine, "mine.png", media["plain"], prompt="a prompt in my bucket", model=model)
    put(s3, other, "theirs.png", media["plain"], prompt="a prompt elsewhere", model=model)
    review(gateway, mine, "mine.png")
    review(gateway, other, "theirs.png")

    seen = prompts(gateway, SCOPED, model=model)[1]
    assert [p["prompt"] for g in seen["groups"] for p in g["prompts"]] == ["a prompt in my bucket"]
    assert prompts(gateway, READER, model=model)[1]["total"] == 2
    assert prompts(gateway, None, model=model)[0] == 401


@pytest.mark.parametrize("params, name", [
    ({"limit": "0"}, "limit"), ({"offset": "-1"}, "offset"), ({"q": "  "}, "prompt"),
    ({"q": ", ;"}, "prompt"), ({"review": "pending"}, "review"), ({"model": "x" * 2000}, "model")])
def test_bad_parameters_are_refused(gateway, params, name):
    status, body = prompts(gateway, **params)
    assert status == 400
    assert body["error"]["code"] == "InvalidArgument"
    assert body["error"]["message"].startswith(f"{name}:")
