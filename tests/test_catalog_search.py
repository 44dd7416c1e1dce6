"""The catalog's search indexes and the review queue, on the catalog itself.

Index correctness is a property of the LMDB catalog alone, so these tests write versions
through ``Catalog`` as intake does and ask ``search``/``queue``; the end-to-end path
(boto3 writes through a running gateway, the CLI and the admin API) is in
``test_search_server.py``.
"""

from __future__ import annotations

import datetime as dt

import pytest

from gateway import errors
from gateway.catalog import Catalog
from gateway.catalog import search as searching

DAY = 86400.0
T0 = dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc).timestamp()


@pytest.fixture
def catalog(tmp_path):
    opened = Catalog(tmp_path / "catalog")
    yield opened
    opened.close()


def put(catalog: Catalog, bucket: str, key: str, version: str, when: float, *,
        warnings=None, **record) -> None:
    catalog.add_version(bucket, key, version_id=version, document_id=f"doc-{key}",
                        instance_id=f"inst-{version}", record=record, committed=when,
                        policy_warnings=warnings)


def found(page) -> list[tuple[str, str, str]]:
    return [(i["bucket"], i["key"], i["version_id"]) for i in page.items]


def every_page(run, limit: int, **filters) -> list[tuple[str, str, str]]:
    seen, token = [], None
    while True:
        page = run(limit=limit, page=token, **filters)
        seen += found(page)
        token = page.next
        if token is None:
            return seen


def test_prompt_words_match_all_words_in_any_order_and_case(catalog):
    put(catalog, "r", "a.png", "1", T0, prompt="A red FOX, jumping over snow")
    put(catalog, "r", "b.png", "1", T0 + 1, prompt="fox in a blue forest")
    put(catalog, "r", "c.png", "1", T0 + 2, prompt="red car")
    assert found(catalog.search(prompt="fox")) == [("r", "b.png", "1"), ("r", "a.png", "1")]
    assert found(catalog.search(prompt="snow Red fox")) == [("r", "a.png", "1")]
    assert found(catalog.search(prompt="fox car")) == []
    assert found(catalog.search(prompt="jump")) == []          # words, not substrings


def test_prompt_words_are_unicode_words_compared_caseless(catalog):
    put(catalog, "r", "de.png", "1", T0, prompt="Große STRASSE im Schnee")
    put(catalog, "r", "jp.png", "1", T0 + 1, prompt="夜の 東京, neon")
    put(catalog, "r", "wide.png", "1", T0 + 2, prompt="ｆｏｘ at night")  # full-width letters
    assert found(catalog.search(prompt="straße")) == [("r", "de.png", "1")]
    assert found(catalog.search(prompt="schnee GROSSE")) == [("r", "de.png", "1")]
    assert found(catalog.search(prompt="東京")) == [("r", "jp.png", "1")]
    assert found(catalog.search(prompt="fox")) == [("r", "wide.png", "1")]


def test_exact_fields_match_whole_values_ignoring_case(catalog):
    put(catalog, "r", "a.png", "1", T0, prompt="x", model="sd_xl_base_1.0", generator="ComfyUI",
        campaign="Spring 26", brand="Acme", sku="SKU-1", identity="alice", door="s3")
    put(catalog, "r", "b.png", "1", T0 + 1, prompt="x", model="flux-dev", generator="ComfyUI",
        campaign="spring 26", brand="Other", identity="bob", door="sidecar")
    assert found(catalog.search(model="SD_XL_BASE_1.0")) == [("r", "a.png", "1")]
    assert found(catalog.search(model="sd_xl")) == []
    assert len(catalog.search(generator="comfyui").items) == 2
    assert len(catalog.search(campaign="SPRING  26").items) == 2   # spaces collapse
    assert found(catalog.search(campaign="spring 26", brand="acme")) == [("r", "a.png", "1")]
    assert found(catalog.search(sku="sku-1")) == [("r", "a.png", "1")]
    assert found(catalog.search(identity="bob")) == [("r", "b.png", "1")]
    assert found(catalog.search(door="sidecar", prompt="x")) == [("r", "b.png", "1")]


def test_only_current_versions_unless_all_versions(catalog):
    put(catalog, "r", "a.png", "v1", T0, prompt="old cat")
    put(catalog, "r", "a.png", "v2", T0 + 10, prompt="new dog")
    assert found(catalog.search(prompt="cat")) == []
    assert found(catalog.search(prompt="dog")) == [("r", "a.png", "v2")]
    old = catalog.search(prompt="cat", all_versions=True).items
    assert [(i["version_id"], i["current"]) for i in old] == [("v1", False)]


def test_delete_marker_restore_and_version_removal_keep_the_index_true(catalog):
    put(catalog, "r", "a.png", "v1", T0, prompt="cat one")
    put(catalog, "r", "a.png", "v2", T0 + 1, prompt="cat two")
    catalog.mark_deleted("r", "a.png", T0 + 2)
    assert found(catalog.search(prompt="cat")) == []
    assert len(catalog.search(prompt="cat", all_versions=True).items) == 2
    catalog.restore("r", "a.png")
    assert found(catalog.search(prompt="cat")) == [("r", "a.png", "v2")]
    catalog.remove_version("r", "a.png", "v2")
    assert found(catalog.search(prompt="cat")) == [("r", "a.png", "v1")]
    assert found(catalog.search(prompt="two", all_versions=True)) == []
    catalog.remove_version("r", "a.png", "v1")
    assert found(catalog.search(prompt="cat", all_versions=True)) == []


def test_a_replaced_record_is_found_by_its_new_words_only(catalog):
    put(catalog, "r", "a.png", "v1", T0, prompt="lighthouse at dawn", brand="Old")
    put(catalog, "r", "a.png", "v1", T0, prompt="harbour at dusk", brand="New")  # DAM edit
    assert found(catalog.search(prompt="lighthouse", all_versions=True)) == []
    assert found(catalog.search(brand="old", all_versions=True)) == []
    assert found(catalog.search(prompt="harbour", brand="new")) == [("r", "a.png", "v1")]


def test_review_state_is_indexed_and_follows_the_record_on_update(catalog):
    put(catalog, "r", "a.png", "v1", T0, prompt="x")
    put(catalog, "r", "b.png", "v1", T0 + 1, prompt="x")
    assert len(catalog.search(review="pending").items) == 2
    catalog.set_review("r", "a.png", "v1", {"status": "approved", "decisions": [
        {"by": "rita", "decision": "approved"}]})
    assert found(catalog.search(review="approved")) == [("r", "a.png", "v1")]
    assert found(catalog.search(review="pending")) == [("r", "b.png", "v1")]
    # The same version re-recorded: its record carries the review state (the XMP is the
    # durable review record), and the catalog indexes what the record says.
    put(catalog, "r", "a.png", "v1", T0, prompt="x edited", review={
        "status": "approved", "decisions": [{"by": "rita", "decision": "approved"}]})
    assert found(catalog.search(review="approved")) == [("r", "a.png", "v1")]
    assert catalog.version("r", "a.png")["review"]["decisions"][0]["by"] == "rita"
    put(catalog, "r", "a.png", "v2", T0 + 5, prompt="x")       # a new version starts pending
    assert found(catalog.search(review="pending")) == [("r", "a.png", "v2"), ("r", "b.png", "v1")]
    assert found(catalog.search(review="approved", all_versions=True)) == [("r", "a.png", "v1")]
    with pytest.raises(KeyError):
        catalog.set_review("r", "a.png", "nope", {"status": "approved"})
    with pytest.raises(ValueError):
        catalog.set_review("r", "a.png", "v2", {"decision": "approved"})


def test_a_review_state_from_the_record_counts_when_the_catalog_has_none(catalog):
    """After a reindex the review state comes from the XMP record (pg:ReviewStatus)."""
    put(catalog, "r", "a.png", "v1", T0, prompt="x", review={"status": "rejected", "by": "rita"})
    assert found(catalog.search(review="rejected")) == [("r", "a.png", "v1")]


def test_queue_is_pending_current_versions_oldest_first_with_filters(catalog):
    put(catalog, "shop", "spring/hero.png", "1", T0 + 30, campaign="spring", brand="acme",
        model="flux", door="s3")
    put(catalog, "shop", "spring/old/alt.png", "1", T0 + 10, campaign="spring", brand="acme",
        model="sdxl", door="sidecar", warnings=["no-sku: storefront images need a SKU"])
    put(catalog, "shop", "summer/x.png", "1", T0 + 20, campaign="summer", door="s3")
    put(catalog, "lab", "spring/y.png", "1", T0 + 5, campaign="spring", door="s3")
    put(catalog, "lab", "done.png", "1", T0, door="s3")
    catalog.set_review("lab", "done.png", "1", {"status": "approved"})
    assert found(catalog.queue()) == [("lab", "spring/y.png", "1"),
                                      ("shop", "spring/old/alt.png", "1"),
                                      ("shop", "summer/x.png", "1"),
                                      ("shop", "spring/hero.png", "1")]
    assert [k for _, k, _ in found(catalog.queue(bucket="shop", prefix="spring/"))] == [
        "spring/old/alt.png", "spring/hero.png"]
    assert [k for _, k, _ in found(catalog.queue(bucket="shop", prefix="spring/h"))] == [
        "spring/hero.png"]                                     # past the last folder
    assert [k for _, k, _ in found(catalog.queue(bucket="shop", prefix="sp"))] == [
        "spring/old/alt.png", "spring/hero.png"]
    assert [k for _, k, _ in found(catalog.queue(campaign="spring", brand="ACME"))] == [
        "spring/old/alt.png", "spring/hero.png"]
    assert [k for _, k, _ in found(catalog.queue(model="flux"))] == ["spring/hero.png"]
    assert [k for _, k, _ in found(catalog.queue(door="sidecar"))] == ["spring/old/alt.png"]
    warned = catalog.queue(warned=True).items
    assert [(i["key"], i["policy_warnings"]) for i in warned] == [
        ("spring/old/alt.png", ["no-sku: storefront images need a SKU"])]
    assert "spring/old/alt.png" not in [k for _, k, _ in found(catalog.queue(warned=False))]
    assert catalog.queue_summary() == {"count": 4, "oldest": T0 + 5}
    assert catalog.queue_summary(buckets=["shop"]) == {"count": 3, "oldest": T0 + 10}
    assert catalog.queue_summary(skip_buckets=("lab",)) == {"count": 3, "oldest": T0 + 10}
    assert [b for b, _, _ in found(catalog.queue(skip_buckets=("lab",)))] == ["shop"] * 3
    with pytest.raises(errors.InvalidArgument):
        catalog.queue(review="approved")                       # not a queue filter


def test_date_range_bounds_commit_time_and_a_date_means_the_whole_day(catalog):
    for day in range(5):    # May 1st .. 5th, at noon
        put(catalog, "r", f"d{day}.png", "1", T0 + day * DAY + 12 * 3600, prompt="sky")
    keys = lambda page: [k for _, k, _ in found(page)]  # noqa: E731
    assert keys(catalog.search(prompt="sky", date_from="2026-05-02", date_to="2026-05-03")) == [
        "d2.png", "d1.png"]
    assert keys(catalog.search(date_from="2026-05-04T12:00:00Z")) == ["d4.png", "d3.png"]
    assert keys(catalog.search(date_to="2026-05-01T12:59:59+01:00")) == []   # 11:59:59 UTC
    assert keys(catalog.search(date_to="2026-05-01T13:00:00+01:00")) == ["d0.png"]  # inclusive
    assert keys(catalog.search(date_from=T0 + 4 * DAY)) == ["d4.png"]


def test_a_corrected_commit_time_moves_the_version_in_time_and_order(catalog):
    """Intake catalogues a version with the time the store acknowledged it and corrects
    it when the stored Last-Modified, read back meanwhile, is a second later."""
    put(catalog, "r", "a.png", "1", T0 + 10, prompt="sky")
    put(catalog, "r", "b.png", "1", T0 + 11, prompt="sky")
    assert catalog.set_committed("r", "a.png", "1", T0 + 10, T0 + 12)
    assert catalog.version("r", "a.png", "1")["committed"] == T0 + 12
    assert (catalog.asset("r", "a.png")["created"], catalog.asset("r", "a.png")["updated"]) == (
        T0 + 12, T0 + 12)
    assert [k for _, k, _ in found(catalog.search(prompt="sky"))] == ["a.png", "b.png"]
    assert [k for _, k, _ in found(catalog.queue())] == ["b.png", "a.png"]
    assert [k for _, k, _ in found(catalog.search(date_to=T0 + 11))] == ["b.png"]
    # A later version's correction leaves the asset's creation alone.
    put(catalog, "r", "a.png", "2", T0 + 20, prompt="sky")
    assert catalog.set_committed("r", "a.png", "2", T0 + 20, T0 + 21)
    assert (catalog.asset("r", "a.png")["created"], catalog.asset("r", "a.png")["updated"]) == (
        T0 + 12, T0 + 21)
    assert not catalog.set_committed("r", "a.png", "3", T0, T0 + 1)


def test_pages_cover_every_result_once_in_order(catalog):
    for n in range(23):
        put(catalog, "r", f"k{n:02d}.png", "1", T0 + n, prompt="tree", brand="b" if n % 2 else "a")
    newest_first = every_page(catalog.search, 5, prompt="tree")
    assert newest_first == [("r", f"k{n:02d}.png", "1") for n in reversed(range(23))]
    assert every_page(catalog.search, 4, prompt="tree", brand="b") == [
        ("r", f"k{n:02d}.png", "1") for n in reversed(range(23)) if n % 2]
    oldest_first = every_page(catalog.queue, 7)
    assert oldest_first == [("r", f"k{n:02d}.png", "1") for n in range(23)]
    last = catalog.search(prompt="tree", limit=23)
    assert len(last.items) == 23 and last.next is None


def test_a_page_token_of_another_query_or_garbage_is_refused(catalog):
    for n in range(3):
        put(catalog, "r", f"k{n}.png", "1", T0 + n, prompt="tree", model="m")
    token = catalog.search(prompt="tree", limit=1).next
    assert token
    with pytest.raises(errors.InvalidArgument, match="another query"):
        catalog.search(prompt="tree", model="m", limit=1, page=token)
    for bad in ("", "abc", "!!!!", "x" * 600, "eyJxIjoxfQ", token[:-3]):
        with pytest.raises(errors.InvalidArgument, match="page"):
            catalog.search(prompt="tree", page=bad)


@pytest.mark.parametrize("filters, complaint", [
    ({"prompt": " ".join(f"w{n}" for n in range(40))}, "more than 32 words"),
    ({"prompt": "x" * 5000}, "longer than 2048"),
    ({"prompt": "!!! ..."}, "no words"),
    ({"prompt": "   "}, "empty"),
    ({"model": "m" * 2000}, "longer than 1024"),
    ({"review": "maybe"}, "not one of"),
    ({"date_from": "2026-02-30"}, "not a date"),
    ({"date_from": "yesterday"}, "not a date"),
    ({"date_to": "2026-05-01T25:00:00Z"}, "not a date"),
    ({"date_from": "2026-05-02", "date_to": "2026-05-01"}, "before from"),
    ({"prefix": "a/"}, "needs a bucket"),
    ({"bucket": "r", "prefix": "é" * 600}, "longer than 1024 bytes"),
    ({"warned": "perhaps"}, "not true or false"),
])
def test_hostile_filters_get_a_clear_error(catalog, filters, complaint):
    with pytest.raises(errors.InvalidArgument, match=complaint) as refused:
        catalog.search(**filters)
    assert refused.value.status == 400


def test_door_strings_are_checked_by_name_and_limit(catalog):
    assert searching.parse_params({"from": "2026-01-01", "q": "x"}, allowed=("from", "q")) == {
        "date_from": "2026-01-01", "q": "x"}
    with pytest.raises(errors.InvalidArgument, match="unknown filter"):
        searching.parse_params({"colour": "red"})
    for bad in ("0", "-1", "ten", "1e3", "9" * 40):
        with pytest.raises(errors.InvalidArgument, match="limit"):
            searching.parse_limit(bad)
    assert searching.parse_limit("5000") == searching.MAX_LIMIT


def test_keys_and_words_at_the_lmdb_key_bound(catalog):
    """S3 keys up to 1024 bytes, words of any length: index keys stay under 511 bytes."""
    folder = "f" * 300 + "/"
    key = folder + "é" * 300 + "/" + "k" * (1024 - len(folder) - 601 - 4) + ".png"
    assert len(key.encode()) == 1024
    giant = "w" * 1500
    twin = "w" * 1499 + "x"           # same start, differs only past the stored prefix
    put(catalog, "r", key, "1", T0, prompt=f"{giant} small", model="m" * 900)
    put(catalog, "r", "other.png", "1", T0 + 1, prompt=f"{twin} small", model="m" * 899 + "n")
    assert found(catalog.search(prompt=giant)) == [("r", key, "1")]
    assert found(catalog.search(prompt=twin)) == [("r", "other.png", "1")]
    assert found(catalog.search(model="m" * 900)) == [("r", key, "1")]
    assert found(catalog.queue(bucket="r", prefix=folder)) == [("r", key, "1")]
    assert found(catalog.queue(bucket="r", prefix=key[:700])) == [("r", key, "1")]
    catalog.remove_version("r", key, "1")
    assert found(catalog.search(prompt="small")) == [("r", "other.png", "1")]


def test_results_are_limited_to_the_callers_buckets(catalog):
    put(catalog, "a", "x.png", "1", T0, prompt="boat")
    put(catalog, "b", "x.png", "1", T0 + 1, prompt="boat")
    put(catalog, "c", "x.png", "1", T0 + 2, prompt="boat")
    assert [b for b, _, _ in found(catalog.search(prompt="boat", buckets=("a", "c")))] == ["c", "a"]
    assert [b for b, _, _ in found(catalog.search(prompt="boat", buckets=("*",)))] == ["c", "b", "a"]
    assert found(catalog.search(prompt="boat", buckets=())) == []
    assert found(catalog.search(bucket="b", buckets=("a",))) == []
    assert [b for b, _, _ in found(catalog.queue(buckets=("b",)))] == ["b"]


def test_incremental_indexes_equal_a_rebuild(catalog):
    """Whatever sequence of changes happened, the indexes equal those built from scratch."""
    for n in range(12):
        put(catalog, "r", f"k{n % 5}.png", f"v{n}", T0 + n, prompt=f"word{n % 3} shared",
            model=f"m{n % 2}", warnings=["w: x"] if n % 4 == 0 else [])
    catalog.mark_deleted("r", "k1.png", T0 + 20)
    catalog.remove_version("r", "k2.png", "v7")
    catalog.set_review("r", "k3.png", "v8", {"status": "changes_requested"})
    catalog.restore("r", "k1.png")
    catalog.remove_version("r", "k0.png", "v10")
    queries = [{"prompt": "shared"}, {"prompt": "word1"}, {"model": "m0"}, {"warned": True},
               {"review": "pending"}, {"review": "changes_requested"}]

    def answers():
        return [(every_page(catalog.search, 3, **q),
                 every_page(catalog.search, 100, all_versions=True, **q)) for q in queries]

    before = answers()
    assert catalog.rebuild_indexes() == sum(len(catalog.history("r", f"k{n}.png")) for n in range(5))
    assert answers() == before


def test_a_catalog_without_indexes_is_indexed_when_opened(tmp_path):
    path = tmp_path / "catalog"
    old = Catalog(path)
    put(old, "r", "a.png", "1", T0, prompt="moon")
    put(old, "r", "b.png", "1", T0 + 1, prompt="moon")
    with old.env.write() as txn:   # as a catalog written before the indexes
        for db in (old.ix_docs, old.ix_vdoc, old.ix_post, old.ix_meta):
            txn.drop(db, delete=False)
    assert found(old.search(prompt="moon")) == []
    old.close()
    reopened = Catalog(path)
    try:
        assert reopened.indexed_on_open == 2
        assert found(reopened.search(prompt="moon")) == [("r", "b.png", "1"), ("r", "a.png", "1")]
    finally:
        reopened.close()
    again = Catalog(path)
    assert again.indexed_on_open == 0
    again.close()


def test_a_prefix_filter_that_must_look_key_by_key_pages_on_within_its_budget(catalog,
                                                                               monkeypatch):
    """Past the indexed folder a prefix is checked per key; a page stops after
    SCAN_BUDGET candidates with a token to go on, and following it finds the rest."""
    monkeypatch.setattr(searching, "SCAN_BUDGET", 4)
    for n in range(10):
        put(catalog, "r", f"shots/a{n}.png", "1", T0 + n)
    put(catalog, "r", "shots/zebra.png", "1", T0 - 1)          # the oldest: found last
    first = catalog.search(bucket="r", prefix="shots/z")
    assert first.items == [] and first.next is not None
    assert every_page(catalog.search, 50, bucket="r", prefix="shots/z") == [
        ("r", "shots/zebra.png", "1")]
