"""Spend (credits by campaign, brand, model, month) end to end, on both backends.

Assets are written through a running gateway with boto3, their credits in the ``cost``
header; ``GET /api/v1/spend`` and the ``provgate_spend_credits`` gauges must show the
sums of what the test wrote. Months need commit times the test chooses, so they are
checked on a catalog the test fills itself (the same tally the server runs).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from gateway.catalog import Catalog
from gateway.catalog.spend import Spend
from tests.conftest import client, storage_section
from tests.support.admin import admin_call
from tests.support.media import a_png
from tests.support.metrics import metric, scrape
from tests.support.server import ADMIN, READER, SCOPED, ProvgateServer


@pytest.fixture(scope="module")
def studio(backend_kind, tmp_path_factory, request):
    workdir = tmp_path_factory.mktemp(f"spend-{backend_kind}")
    server = ProvgateServer(workdir, storage_section(backend_kind, workdir, request)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def png(tmp_path_factory) -> bytes:
    return a_png(tmp_path_factory.mktemp("spend-media")).path.read_bytes()


def spend(server, identity=ADMIN, **params):
    status, body, _ = admin_call(server, "GET", "/api/v1/spend?" + query(params),
                                 identity=identity)
    return status, body


def new_bucket(s3, name: str | None = None) -> str:
    name = name or f"spend-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def query(params: dict) -> str:
    # admin_call percent-encodes the path itself.
    return "&".join(f"{name}={value}" for name, value in params.items())


def put(s3, bucket, key, body, **metadata) -> str:
    return s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/png",
                         Metadata={k: str(v) for k, v in metadata.items()})["VersionId"]


def test_credits_are_summed_by_campaign_brand_and_model(studio, png):
    s3 = client(studio.endpoint)
    shop = new_bucket(s3)
    # What each write cost, as the render farm reported it.
    writes = [("a.png", dict(cost=2.5, campaign="Spring", brand="acme", model="flux-dev")),
              ("b.png", dict(cost=4, campaign="spring", brand="acme", model="sdxl")),
              ("c.png", dict(cost=1.25, campaign="summer", brand="globex", model="flux-dev")),
              ("d.png", dict(cost=10, brand="globex", model="veo-3")),
              ("e.png", dict(campaign="summer", model="sdxl"))]          # no cost
    for key, fields in writes:
        put(s3, shop, key, png, **fields)

    status, by_campaign = spend(studio, by="campaign", bucket=shop)
    assert status == 200
    # "Spring" and "spring" are one campaign, shown as first written; d.png has none.
    assert by_campaign == {"by": "campaign", "total": 17.75, "uncosted": 1, "rows": [
        {"group": "", "credits": 10.0, "assets": 1},
        {"group": "Spring", "credits": 6.5, "assets": 2},
        {"group": "summer", "credits": 1.25, "assets": 1}]}
    assert spend(studio, by="brand", bucket=shop)[1]["rows"] == [
        {"group": "globex", "credits": 11.25, "assets": 2},
        {"group": "acme", "credits": 6.5, "assets": 2}]
    assert spend(studio, by="model", bucket=shop)[1]["rows"] == [
        {"group": "veo-3", "credits": 10.0, "assets": 1},
        {"group": "sdxl", "credits": 4.0, "assets": 1},
        {"group": "flux-dev", "credits": 3.75, "assets": 2}]
    this_month = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    by_month = spend(studio, by="month", bucket=shop)[1]
    assert by_month["rows"] == [{"group": this_month, "credits": 17.75, "assets": 4}]
    assert spend(studio, by="month", bucket=shop, until="2001-01")[1] == {
        "by": "month", "rows": [], "total": 0, "uncosted": 0}

    # Only the current version counts: a re-render replaces the spend of the one before,
    # a deleted asset is no spend any more.
    put(s3, shop, "b.png", png + b"\0", cost=0.5, campaign="spring", brand="acme")
    s3.delete_object(Bucket=shop, Key="d.png")
    after = spend(studio, by="campaign", bucket=shop)[1]
    assert after["rows"] == [{"group": "Spring", "credits": 3.0, "assets": 2},
                             {"group": "summer", "credits": 1.25, "assets": 1}]
    assert after["total"] == 4.25


def test_gauges_show_the_same_sums(studio, png):
    s3 = client(studio.endpoint)
    shop = new_bucket(s3)
    campaign = f"gauge-{uuid.uuid4().hex[:8]}"
    put(s3, shop, "one.png", png, cost=3, campaign=campaign)
    put(s3, shop, "two.png", png, cost=0.75, campaign=campaign)
    assert metric(scrape(studio.admin), "provgate_spend_credits",
                  by="campaign", group=campaign) == 3.75
    put(s3, shop, "three.png", png, cost=1, campaign=campaign)
    assert metric(scrape(studio.admin), "provgate_spend_credits",
                  by="campaign", group=campaign) == 4.75


def test_callers_see_the_spend_of_their_buckets_only(studio, png):
    s3 = client(studio.endpoint)
    mine = new_bucket(s3, SCOPED["buckets"][0])
    other = new_bucket(s3)
    put(s3, mine, "x.png", png, cost=7, campaign="scoped-campaign")
    put(s3, other, "y.png", png, cost=100, campaign="scoped-campaign")

    status, seen = spend(studio, SCOPED, by="campaign")
    assert status == 200
    assert seen["rows"] == [{"group": "scoped-campaign", "credits": 7.0, "assets": 1}]
    assert seen["total"] == 7.0
    assert spend(studio, SCOPED, by="campaign", bucket=mine)[1]["total"] == 7.0
    status, denied = spend(studio, SCOPED, by="campaign", bucket=other)
    assert status == 403 and denied["error"]["code"] == "AccessDenied"
    assert spend(studio, READER, by="campaign", bucket=other)[1]["total"] == 100.0
    status, _ = spend(studio, None, by="campaign")
    assert status == 401


@pytest.mark.parametrize("params, name", [
    ({}, "by"), ({"by": "sku"}, "by"), ({"by": "month", "since": "2026-13"}, "since"),
    ({"by": "month", "until": "May 2026"}, "until"),
    ({"by": "month", "since": "2026-06", "until": "2026-05"}, "until"),
    ({"by": "month", "colour": "red"}, "colour")])
def test_bad_parameters_are_refused(studio, params, name):
    status, body = spend(studio, **params)
    assert status == 400
    assert body["error"]["code"] == "InvalidArgument"
    assert body["error"]["message"].startswith(f"{name}:")


def test_months_group_by_commit_time(tmp_path):
    catalog = Catalog(tmp_path / "catalog")
    spend = Spend(catalog, skip_buckets=("provgate-quarantine",))

    def add(bucket, key, when: str, **record):
        committed = dt.datetime.fromisoformat(when).replace(tzinfo=dt.timezone.utc).timestamp()
        catalog.add_version(bucket, key, version_id=uuid.uuid4().hex, document_id=key,
                            instance_id=uuid.uuid4().hex, record=record, committed=committed)

    add("art", "jan-1.png", "2026-01-05T10:00:00", cost=2.0, campaign="winter")
    add("art", "jan-2.png", "2026-01-31T23:59:59", cost=3.0, campaign="winter")
    add("art", "feb.png", "2026-02-01T00:00:00", cost=5.5, campaign="winter")
    add("art", "mar.png", "2026-03-15T12:00:00", cost=1.0, campaign="spring")
    add("art", "mar-free.png", "2026-03-16T12:00:00", campaign="spring")
    add("provgate-quarantine", "art/held.png", "2026-03-17T12:00:00", cost=99.0)

    assert spend.report("month")["rows"] == [
        {"group": "2026-02", "credits": 5.5, "assets": 1},
        {"group": "2026-01", "credits": 5.0, "assets": 2},
        {"group": "2026-03", "credits": 1.0, "assets": 1}]
    assert spend.report("month", since="2026-02", until="2026-03") == {
        "by": "month", "total": 6.5, "uncosted": 1, "rows": [
            {"group": "2026-02", "credits": 5.5, "assets": 1},
            {"group": "2026-03", "credits": 1.0, "assets": 1}]}
    assert spend.report("campaign", until="2026-01")["rows"] == [
        {"group": "winter", "credits": 5.0, "assets": 2}]
    assert spend.gauges()[("campaign", "winter")] == 10.5
    # A write after a report is in the next one.
    add("art", "apr.png", "2026-04-01T00:00:00", cost=4.0, campaign="spring")
    assert spend.report("campaign")["rows"][1] == {"group": "spring", "credits": 5.0,
                                                   "assets": 2}
    catalog.close()
