"""The guard the hostile tests rely on notices each kind of change it claims to."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import remove_bucket


def _fails(guard) -> str:
    with pytest.raises(AssertionError) as failure:
        guard.check()
    return str(failure.value)


def test_an_untouched_guard_passes(guard):
    guard.check()


def test_same_bytes_written_again_is_a_change(guard):
    guard.s3.put_object(Bucket=guard.bucket, Key="sentinel.bin", Body=guard.objects["sentinel.bin"])
    assert "versions or delete markers" in _fails(guard)


def test_a_deleted_object_is_a_change(guard):
    guard.s3.delete_object(Bucket=guard.bucket, Key="dir/nested sentinel é.txt")
    _fails(guard)


def test_a_new_bucket_is_a_change(guard):
    name = f"t-{uuid.uuid4().hex[:16]}"
    guard.s3.create_bucket(Bucket=name)
    try:
        assert "other than the guard's" in _fails(guard)
    finally:
        remove_bucket(guard.s3, name)


def test_a_write_into_another_bucket_is_a_change(s3, guard):
    other = f"t-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=other)
    try:
        guard.snapshot()                       # the other bucket exists, empty
        guard.check()
        s3.put_object(Bucket=other, Key="smuggled", Body=b"x")
        assert "other than the guard's" in _fails(guard)
    finally:
        remove_bucket(s3, other)
