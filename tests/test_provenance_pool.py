"""The ExifTool pool: a hung process is killed and replaced, the pool keeps serving.

A pseudo-terminal is the reliable way to hang ExifTool: it passes ExifTool's "file
exists and is not a pipe" check, and reading from it blocks until someone types.
"""

from __future__ import annotations

import asyncio
import os

import psutil
import pytest
from PIL import Image

from gateway.provenance import ExifToolPool, ExifToolTimeout, Extractor
from gateway.provenance.exiftool_pool import ExifToolError
from tests.support.polling import wait_for


@pytest.fixture
def hanging_path():
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "ok.png"
    Image.new("RGB", (8, 8), "red").save(path)
    return path


def exiftool_children() -> set[int]:
    # Direct children only: provgate servers started by other tests run pools of their own.
    found = set()
    for child in psutil.Process().children(recursive=False):
        try:
            if "exiftool" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return found


def test_hung_exiftool_is_killed_and_replaced(hanging_path, image):
    with ExifToolPool(size=1, timeout=0.5) as pool:
        before = exiftool_children()
        assert len(before) == 1
        with pytest.raises(ExifToolTimeout):
            pool.read_sync(hanging_path)
        assert pool.restarts == 1
        assert exiftool_children().isdisjoint(before)     # the hung process is gone
        assert pool.read_sync(image)["File:FileType"] == "PNG"
        assert len(exiftool_children()) == 1
    assert exiftool_children() == set()


def test_pool_serves_concurrent_requests_while_one_hangs(hanging_path, image):
    async def run(pool):
        hung = asyncio.ensure_future(pool.read(hanging_path))
        ok = await asyncio.gather(*(pool.read(image) for _ in range(8)))
        with pytest.raises(ExifToolTimeout):
            await hung
        return ok

    with ExifToolPool(size=2, timeout=1.0) as pool:
        results = asyncio.run(run(pool))
        assert [r["PNG:ImageWidth"] for r in results] == [8] * 8
        assert pool.restarts == 1


def test_event_loop_is_not_blocked(hanging_path, image):
    # While the only process hangs, the loop keeps serving other coroutines: a second
    # read is queued (and answered once the hung process is replaced), and a coroutine
    # that needs the loop many times over finishes before the hung read gives up.
    async def run(pool):
        hung = asyncio.ensure_future(pool.read(hanging_path))
        turns = 0
        while not hung.done() and turns < 20:
            await asyncio.sleep(0.01)
            turns += 1
        assert turns == 20 and not hung.done(), "the loop stood still while ExifTool hung"
        queued = asyncio.ensure_future(pool.read(image))
        with pytest.raises(ExifToolTimeout):
            await hung
        return await queued

    # 20 turns of 10 ms take far less than the 5 s a hung read is given, loaded or not
    with ExifToolPool(size=1, timeout=5.0) as pool:
        assert asyncio.run(run(pool))["File:FileType"] == "PNG"


def test_extractor_survives_a_hang_with_a_partial_record(hanging_path, image):
    async def run():
        async with Extractor(pool=ExifToolPool(size=1, timeout=0.5)) as ex:
            hung = await ex.extract(hanging_path, "image/png",
                                    {"prompt": "still recorded", "model": "m"}, "alice",
                                    sha256="0" * 64, size=0)
            ok = await ex.extract(image, "image/png", {}, "alice")
            ex.pool.close()
            return hung, ok

    hung, ok = asyncio.run(run())
    assert hung.prompt == "still recorded" and hung.model == "m"
    assert [(n.code, n.severity) for n in hung.notices] == [("exiftool_timeout", "error")]
    assert ok.media.detected_type == "image/png" and ok.notices == []


def test_dead_process_is_replaced(image):
    with ExifToolPool(size=1, timeout=5) as pool:
        (pid,) = exiftool_children()
        psutil.Process(pid).kill()
        psutil.Process(pid).wait(5)
        # the dead process is noticed before use and a new one started
        assert pool.read_sync(image)["File:FileType"] == "PNG"


def test_missing_executable_is_an_error_not_a_hang(image):
    pool = ExifToolPool(size=1, executable="/nonexistent/exiftool", startup_timeout=2)
    try:
        with pytest.raises(ExifToolError):
            pool.read_sync(image)
    finally:
        pool.close()


def test_unknown_and_missing_files_answer_with_errors(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02not a known format")
    with ExifToolPool(size=1) as pool:
        assert pool.read_sync(junk)["ExifTool:Error"] == "Unknown file type"
        with pytest.raises(ExifToolError, match="File not found"):
            pool.read_sync(tmp_path / "missing.png")
        with pytest.raises(ExifToolError, match="newline"):
            pool.read_sync(tmp_path / "bad\nname.png")
        assert pool.restarts == 0


def test_close_wakes_waiting_requests(hanging_path, image):
    import threading

    pool = ExifToolPool(size=1, timeout=2.0)
    pool.start()
    errors: list[Exception] = []

    def hang():
        try:
            pool.read_sync(hanging_path)
        except ExifToolError as exc:
            errors.append(exc)

    def wait_for_slot():
        try:
            pool.read_sync(image)
        except ExifToolError as exc:
            errors.append(exc)

    first = threading.Thread(target=hang)
    first.start()
    wait_for(lambda: pool.busy == 1, what="the only process to hang")
    second = threading.Thread(target=wait_for_slot)
    second.start()
    # the second request is blocked waiting for the idle queue (a condition waiter)
    wait_for(lambda: len(pool._idle.not_empty._waiters) == 1, what="a waiting request")
    pool.close()
    first.join(5)
    second.join(5)
    assert not first.is_alive() and not second.is_alive()
    assert len(errors) == 2
    assert exiftool_children() == set()
