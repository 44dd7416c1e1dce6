"""ListObjectsV2 and ListObjects (V1): prefixes, delimiters, paging, ordering, encoding.

A module-scoped bucket holds a few hundred keys; every expectation is computed here from
the key list with S3's rules (UTF-8 binary order, common prefixes rolled up in place).
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, unquote

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.support.server import ADMIN, DAM
from tests.support.functional import (AWKWARD_KEYS, S3_NS, error_code, listing_keys,
                                      listing_prefixes, signed_request)

KEYS = sorted(
    [f"photos/2024/{i:03d}.png" for i in range(150)]
    + [f"photos/2025/{i:03d}.png" for i in range(40)]
    + [f"docs/{i:02d}.txt" for i in range(30)]
    + [f"top-{i:02d}" for i in range(20)]
    + ["photos", "photos-", "photos.txt", "photos0", "photos/readme.txt", "photos/2024",
       "docs", "docs/sub/deep/file", "z", "zz/", "a", "A", "_under", "é/accent", "日本/1", "日本/2"],
    key=lambda k: k.encode())


def utf8_sorted(items):
    return sorted(items, key=lambda k: k.encode())


def with_records(keys):
    """What an identity with xmp = "listed" lists after `keys` were written: each object
    and its XMP record."""
    keys = list(keys)
    return keys + [k + ".xmp" for k in keys]


# Every listing test runs for a plain S3 client, which lists exactly what it wrote, and
# for a DAM identity (xmp = "listed"), which also lists each object's record: its pages,
# cursors and roll-ups must interleave the records in S3 order.
VIEWS = {"served": (ADMIN, lambda keys: list(keys)), "listed": (DAM, with_records)}


@pytest.fixture(params=list(VIEWS))
def view(request):
    return request.param


@pytest.fixture
def s3(gateway, view):
    return client(gateway.endpoint, VIEWS[view][0])


@pytest.fixture
def shown(view):
    """What the module's bucket lists for this view, in S3 order."""
    return utf8_sorted(VIEWS[view][1](KEYS))


@pytest.fixture
def listing_of(view):
    """What a bucket holding `keys` lists for this view."""
    return VIEWS[view][1]


def expected_entries(keys, prefix="", delimiter="", after=""):
    """[(kind, name)] for a full listing, S3-style: keys and rolled-up prefixes in order."""
    entries = []
    for key in utf8_sorted(keys):
        if not key.startswith(prefix):
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            common = key[:cut + len(delimiter)]
            if not entries or entries[-1] != ("prefix", common):
                entries.append(("prefix", common))
        else:
            entries.append(("key", key))
    return [e for e in entries if e[1].encode() > after.encode()]


@pytest.fixture(scope="module")
def listed(gateway):
    """A bucket holding KEYS (each body is its key), shared by this module's tests."""
    s3 = client(gateway.endpoint, max_pool_connections=16)
    name = f"list-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=name, Key=k, Body=k.encode()), KEYS))
    return name


def entries_of(page):
    found = [("key", o["Key"]) for o in page.get("Contents", [])]
    found += [("prefix", p["Prefix"]) for p in page.get("CommonPrefixes", [])]
    return sorted(found, key=lambda e: e[1].encode())


# -- ListObjectsV2 -------------------------------------------------------------------------------


def test_v2_full_listing_in_binary_order(s3, listed, shown):
    page = s3.list_objects_v2(Bucket=listed)
    keys = [o["Key"] for o in page["Contents"]]
    assert keys == shown
    assert page["KeyCount"] == len(shown)
    assert page["IsTruncated"] is False
    assert page["MaxKeys"] == 1000
    assert page["Name"] == listed
    first = page["Contents"][0]
    assert first["Size"] == len(first["Key"].encode())
    assert first["ETag"].startswith('"') and first["StorageClass"] == "STANDARD"
    assert "Owner" not in first


@pytest.mark.parametrize("page_size", [1, 7, 100])
def test_v2_paging_with_continuation_token(s3, listed, page_size, shown):
    if page_size == 1:
        scope = {"Prefix": "photos/2025/"}
        expected = [k for k in shown if k.startswith("photos/2025/")]
    else:
        scope, expected = {}, shown
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"Bucket": listed, "MaxKeys": page_size, **scope}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(**kwargs)
        pages += 1
        assert page["KeyCount"] == len(page.get("Contents", []))
        assert page["KeyCount"] <= page_size
        seen += [o["Key"] for o in page.get("Contents", [])]
        if token:
            assert page["ContinuationToken"] == token
        if not page["IsTruncated"]:
            assert "NextContinuationToken" not in page
            break
        token = page["NextContinuationToken"]
        assert pages < 1000
    assert seen == expected


def test_v2_paginator(s3, listed, shown):
    keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(
        Bucket=listed, PaginationConfig={"PageSize": 64}) for o in p["Contents"]]
    assert keys == shown


@pytest.mark.parametrize("prefix,delimiter", [
    ("", "/"), ("photos/", "/"), ("photos", "/"), ("photos/2024/", "/"), ("docs/", "/"),
    ("", "-"), ("photos", "."), ("", "/2"), ("日本", "/"), ("nothing-here/", "/"), ("p", ""),
])
def test_v2_prefix_and_delimiter(s3, listed, prefix, delimiter, shown):
    page = s3.list_objects_v2(Bucket=listed, Prefix=prefix, Delimiter=delimiter)
    assert entries_of(page) == expected_entries(shown, prefix, delimiter)
    assert page.get("Prefix", "") == prefix
    if delimiter:
        assert page["Delimiter"] == delimiter
    assert page["KeyCount"] == len(expected_entries(shown, prefix, delimiter))


@pytest.mark.parametrize("prefix,delimiter,page_size", [
    ("", "/", 1), ("photos", "/", 2), ("", "-", 3), ("photos/", "/", 1),
])
def test_v2_paging_interleaves_prefixes_and_keys_in_order(s3, listed, prefix, delimiter, page_size, shown):
    """Page by page, keys and common prefixes come out in one merged binary order."""
    order, token = [], None
    while True:
        kwargs = {"Bucket": listed, "Prefix": prefix, "Delimiter": delimiter, "MaxKeys": page_size}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(**kwargs)
        batch = entries_of(page)
        assert len(batch) <= page_size
        order += batch
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert order == expected_entries(shown, prefix, delimiter)


@pytest.mark.parametrize("start_after,prefix", [
    ("photos/2024/100.png", ""), ("photos/2024/100.png", "photos/"), ("b", ""),
    ("a", "photos/2025/"), ("zzz", ""), ("photos/2024/149.png", "photos/2024/"),
])
def test_v2_start_after(s3, listed, start_after, prefix, shown):
    keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(
        Bucket=listed, StartAfter=start_after, Prefix=prefix) for o in p.get("Contents", [])]
    assert keys == [k for k in shown if k.encode() > start_after.encode() and k.startswith(prefix)]
    page = s3.list_objects_v2(Bucket=listed, StartAfter=start_after, Prefix=prefix, MaxKeys=5)
    assert page["StartAfter"] == start_after


def test_v2_fetch_owner(s3, listed):
    page = s3.list_objects_v2(Bucket=listed, MaxKeys=3, FetchOwner=True)
    for obj in page["Contents"]:
        assert obj["Owner"]["ID"]
        assert obj["Owner"]["DisplayName"]
    page = s3.list_objects_v2(Bucket=listed, MaxKeys=3, FetchOwner=False)
    assert all("Owner" not in o for o in page["Contents"])


def test_v2_max_keys_zero_and_empty_bucket(s3, listed, bucket):
    page = s3.list_objects_v2(Bucket=listed, MaxKeys=0)
    assert page["KeyCount"] == 0
    assert "Contents" not in page
    empty = s3.list_objects_v2(Bucket=bucket)
    assert empty["KeyCount"] == 0 and empty["IsTruncated"] is False
    assert "Contents" not in empty and "CommonPrefixes" not in empty


def test_listing_missing_bucket(s3):
    for call in (s3.list_objects_v2, s3.list_objects):
        with pytest.raises(ClientError) as exc:
            call(Bucket="no-such-bucket-here")
        assert error_code(exc.value) == "NoSuchBucket"


def test_v2_max_keys_above_1000_is_capped(s3, listed, shown):
    page = s3.list_objects_v2(Bucket=listed, MaxKeys=5000)
    assert len(page["Contents"]) == len(shown)


# -- ListObjects (V1) --------------------------------------------------------------------------------


def test_v1_full_listing_has_owner(s3, listed, shown):
    page = s3.list_objects(Bucket=listed)
    assert [o["Key"] for o in page["Contents"]] == shown
    assert page["IsTruncated"] is False
    assert all(o["Owner"]["ID"] for o in page["Contents"])


@pytest.mark.parametrize("prefix,delimiter,page_size", [
    ("", "", 60), ("", "/", 2), ("photos/", "/", 1), ("photos/2024/", "", 45),
])
def test_v1_paging_with_marker(s3, listed, prefix, delimiter, page_size, shown):
    order, marker = [], ""
    while True:
        page = s3.list_objects(Bucket=listed, Prefix=prefix, Delimiter=delimiter,
                               MaxKeys=page_size, Marker=marker)
        batch = entries_of(page)
        assert len(batch) <= page_size
        assert page.get("Marker", "") == marker
        order += batch
        if not page["IsTruncated"]:
            break
        # S3 gives NextMarker with a delimiter; without one, clients use the last key.
        marker = page.get("NextMarker") or page["Contents"][-1]["Key"]
        if delimiter:
            assert page["NextMarker"] == batch[-1][1]
    assert order == expected_entries(shown, prefix, delimiter)


def test_v1_marker_mid_listing(s3, listed, shown):
    page = s3.list_objects(Bucket=listed, Marker="photos/2024/120.png", Prefix="photos/")
    assert [o["Key"] for o in page["Contents"]] == [
        k for k in shown if k.startswith("photos/") and k > "photos/2024/120.png"]


def test_v1_paginator(s3, listed, shown):
    keys = [o["Key"] for p in s3.get_paginator("list_objects").paginate(
        Bucket=listed, PaginationConfig={"PageSize": 50}) for o in p["Contents"]]
    assert keys == shown


# -- awkward keys and encoding-type=url ---------------------------------------------------------------


@pytest.fixture
def awkward(s3, bucket, listing_of):
    keys = AWKWARD_KEYS + ["dir one/x", "dir one/y", "dir+two/z", "日本/語/深い"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    return bucket, listing_of(keys)


def test_awkward_keys_list_exactly_v1_and_v2(s3, awkward):
    bucket, keys = awkward
    for method in ("list_objects", "list_objects_v2"):
        page = getattr(s3, method)(Bucket=bucket)
        assert [o["Key"] for o in page["Contents"]] == utf8_sorted(keys), method
        page = getattr(s3, method)(Bucket=bucket, Delimiter="/")
        assert entries_of(page) == expected_entries(keys, "", "/"), method


@pytest.mark.parametrize("prefix", ["dir one/", "dir+two/", "日本/", "a/../", "&+-é"])
def test_awkward_prefixes(s3, awkward, prefix):
    bucket, keys = awkward
    page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/")
    assert entries_of(page) == expected_entries(keys, prefix, "/")
    page = s3.list_objects(Bucket=bucket, Prefix=prefix, Delimiter="/")
    assert entries_of(page) == expected_entries(keys, prefix, "/")


def test_awkward_keys_page_with_tokens_and_markers(s3, awkward):
    bucket, keys = awkward
    v2 = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 3}) for o in p["Contents"]]
    assert v2 == utf8_sorted(keys)
    v1, marker = [], ""
    while True:
        page = s3.list_objects(Bucket=bucket, MaxKeys=4, Marker=marker)
        v1 += [o["Key"] for o in page["Contents"]]
        if not page["IsTruncated"]:
            break
        marker = page["Contents"][-1]["Key"]
    assert v1 == utf8_sorted(keys)
    after = 'quote"d'
    page = s3.list_objects_v2(Bucket=bucket, StartAfter=after)
    assert [o["Key"] for o in page["Contents"]] == [k for k in utf8_sorted(keys) if k > after]


def test_encoding_type_url_on_the_wire(gateway, awkward, view):
    bucket, keys = awkward
    for query in ("list-type=2&encoding-type=url", "encoding-type=url"):
        reply = signed_request(gateway.endpoint, "GET", f"/{bucket}?{query}&delimiter=%2F",
                               identity=VIEWS[view][0])
        assert reply.status == 200, reply.body
        doc = reply.xml()
        assert doc.findtext(f"{S3_NS}EncodingType") == "url"
        raw_keys = listing_keys(doc)
        raw_prefixes = listing_prefixes(doc)
        expected = expected_entries(keys, "", "/")
        assert [unquote(k) for k in raw_keys] == [n for kind, n in expected if kind == "key"]
        assert [unquote(p) for p in raw_prefixes] == [n for kind, n in expected if kind == "prefix"]
        # Encoded: nothing XML 1.0 or a naive client would choke on stays raw.
        for raw in raw_keys + raw_prefixes:
            assert " " not in raw and "&" not in raw and '"' not in raw and "\t" not in raw
            assert raw.isascii()
        assert quote("with space", safe="/") in raw_keys
        assert doc.findtext(f"{S3_NS}Delimiter") == "%2F" or doc.findtext(f"{S3_NS}Delimiter") == "/"


def test_without_encoding_type_keys_are_raw_xml_text(gateway, awkward, view):
    bucket, keys = awkward
    reply = signed_request(gateway.endpoint, "GET", f"/{bucket}?list-type=2",
                           identity=VIEWS[view][0])
    assert reply.status == 200
    assert listing_keys(reply.xml()) == utf8_sorted(keys)


def test_invalid_encoding_type(gateway, bucket):
    reply = signed_request(gateway.endpoint, "GET", f"/{bucket}?list-type=2&encoding-type=base64")
    assert reply.status == 400
    assert reply.error_code == "InvalidArgument"


# -- long keys ------------------------------------------------------------------------------------------


def test_long_keys_list_in_order(s3, bucket, listing_of):
    """Keys of several hundred bytes sharing long prefixes list and page correctly.
    (S3's 1024-byte maximum itself: test_s3_objects.py::test_key_at_1024_bytes_is_allowed.)"""
    stem = "L/" + "x" * 420
    keys = utf8_sorted([stem, stem + "/a", stem + "/b/1", stem + "/b/2", stem + "a" * 300,
                        stem + "é" * 150, "L/" + "y" * 700, "L/short", "L/" + "x" * 419 + "y",
                        "k/" + "é" * 350])
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode()[-16:])
    stored = utf8_sorted(listing_of(keys))
    listed = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}) for o in p["Contents"]]
    assert listed == stored
    page = s3.list_objects_v2(Bucket=bucket, Prefix=stem + "/", Delimiter="/")
    assert entries_of(page) == expected_entries(stored, stem + "/", "/")
    page = s3.list_objects_v2(Bucket=bucket, Prefix="L/", Delimiter="/b")
    assert entries_of(page) == expected_entries(stored, "L/", "/b")
    page = s3.list_objects_v2(Bucket=bucket, StartAfter=stem + "/a")
    assert [o["Key"] for o in page["Contents"]] == [k for k in stored if k.encode() > (stem + "/a").encode()]
    for key in keys:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()[-16:]
    # Deleted objects leave the listing, and so do their records (kept, but not listed).
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[:5]]})
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == utf8_sorted(listing_of(keys[5:]))


def test_list_object_versions_of_objects_written_once(s3, bucket):
    written = {key: s3.put_object(Bucket=bucket, Key=key, Body=key.encode())["VersionId"]
               for key in ("v/1", "v/2", "w")}
    listing = s3.list_object_versions(Bucket=bucket)
    # Versions are the objects' only: records never appear among them.
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listing["Versions"]] == [
        ("v/1", written["v/1"], True), ("v/2", written["v/2"], True), ("w", written["w"], True)]
    rolled = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["v/"]


def test_listing_matches_a_reference_model(s3, bucket, listing_of):
    """Seeded random keys (short, long, shared long stems) and random listing queries,
    paged, against the S3 rules computed here."""
    import random
    rng = random.Random(20240601)
    alphabet = ["a", "b", "/", "-", "é", "日", "~", " "]
    stems = ["", "s/" + "q" * 398, "s/" + "q" * 399, "t/" + "é" * 210]
    keys = set()
    while len(keys) < 70:
        tail = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
        keys.add((rng.choice(stems) + tail).lstrip("/") or "x")
    keys = utf8_sorted(keys)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b""), keys))
    for _ in range(40):
        base = rng.choice(keys)
        prefix = base[:rng.randint(0, len(base))] if rng.random() < 0.6 else ""
        delimiter = rng.choice(["", "/", "a", "é", "q/", "-"])
        after = rng.choice(keys)[:rng.randint(0, 420)] if rng.random() < 0.4 else ""
        page_size = rng.choice([1, 2, 5, 1000])
        got, token = [], None
        while True:
            kwargs = {"Bucket": bucket, "Prefix": prefix, "Delimiter": delimiter, "MaxKeys": page_size}
            if token:
                kwargs["ContinuationToken"] = token
            elif after:
                kwargs["StartAfter"] = after
            page = s3.list_objects_v2(**kwargs)
            got += entries_of(page)
            if not page["IsTruncated"]:
                break
            token = page["NextContinuationToken"]
        expected = expected_entries(listing_of(keys), prefix, delimiter, after)
        assert got == expected, (prefix, delimiter, after, page_size)
