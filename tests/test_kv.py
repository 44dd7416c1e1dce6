"""gateway.kv, the one LMDB wrapper: bounded keys, JSON values, writes off the event loop."""

from __future__ import annotations

import asyncio

import pytest

from gateway import kv


def test_long_key_parts_stay_within_lmdb_limits_and_apart(tmp_path):
    store = kv.Store(tmp_path / "db")
    try:
        table = store.table("t")
        # S3 keys reach 1024 bytes; LMDB refuses keys over 511. Two keys that share
        # their first 1000 bytes must still be two entries.
        long_a, long_b = "é" * 500 + "a", "é" * 500 + "b"
        keys = [kv.key("bucket", long_a), kv.key("bucket", long_b)]
        assert all(len(k) <= 511 for k in keys) and keys[0] != keys[1]
        with store.write() as txn:
            kv.put(txn, table, keys[0], {"key": long_a})
            kv.put(txn, table, keys[1], {"key": long_b})
        with store.read() as txn:
            assert kv.get(txn, table, keys[0]) == {"key": long_a}
            assert kv.get(txn, table, keys[1]) == {"key": long_b}
            # A shortened part sorts by its digest, so only membership is certain.
            assert sorted(doc["key"] for _, doc in kv.scan(txn, table, kv.key("bucket") + kv.SEP)) \
                == [long_a, long_b]
    finally:
        store.close()


def test_values_keep_text_that_is_not_valid_unicode(tmp_path):
    # A file name that is not UTF-8 reaches Python as lone surrogates (surrogateescape).
    name = "render-\udcff.png"
    store = kv.Store(tmp_path / "db")
    try:
        table = store.table("t")
        with store.write() as txn:
            kv.put(txn, table, kv.key("share", name), {"name": name, "note": "日本語"})
        with store.read() as txn:
            assert kv.get(txn, table, kv.key("share", name)) == {"name": name, "note": "日本語"}
    finally:
        store.close()


def test_a_write_on_the_event_loop_is_refused_and_offload_runs_it(tmp_path):
    store = kv.Store(tmp_path / "db")
    table = store.table("t")

    def write(value: int) -> int:
        with store.write() as txn:
            kv.put(txn, table, b"k", {"value": value})
        return value

    async def scenario():
        with pytest.raises(RuntimeError, match="event loop"):
            write(1)
        return await kv.offload(write, 2)

    try:
        assert asyncio.run(scenario()) == 2
        with store.read() as txn:
            assert kv.get(txn, table, b"k") == {"value": 2}
    finally:
        store.close()


def test_put_without_overwrite_keeps_the_first_value(tmp_path):
    store = kv.Store(tmp_path / "db")
    try:
        table = store.table("t")
        with store.write() as txn:
            assert kv.put(txn, table, b"k", "first", overwrite=False)
            assert not kv.put(txn, table, b"k", "second", overwrite=False)
        with store.read() as txn:
            assert kv.get(txn, table, b"k") == "first"
    finally:
        store.close()


def test_read_only_store_of_nothing_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        kv.Store(tmp_path / "absent", readonly=True)
    assert not (tmp_path / "absent").exists()
