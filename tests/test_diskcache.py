"""The decoded-frame disk cache: second pass without decoding, bounded, crash-safe."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.pixels import pixel_array

from reference_files import reference_files
from viewer.model.platform import positional
from viewer.model import open_document
from viewer.model.storage.diskcache import HEADER_BYTES, DiskFrameCache

RLE = next(p for p in reference_files() if p.name == "emri_small_RLE.dcm")


def _open(path, folder, capacity=64 << 20):
    return open_document(path, disk_cache_dir=folder, disk_cache_bytes=capacity, cache_bytes=0)


def test_second_pass_comes_from_disk_without_decoding(tmp_path, monkeypatch):
    with _open(RLE, tmp_path) as doc:
        first = [doc.frame(k).copy() for k in range(doc.num_frames)]
        assert doc.disk_cache is not None and doc.disk_cache.stores == doc.num_frames
    with _open(RLE, tmp_path) as doc:
        doc.frame(0)  # opens the scratch file (one decode to learn the decoded shape)
        monkeypatch.setattr(doc.source.requests, "_decode", lambda data, index=None: pytest.fail(f"frame {index} was decoded again"))
        for k in range(doc.num_frames):
            frame = doc.frame(k)
            np.testing.assert_array_equal(frame, first[k])
            np.testing.assert_array_equal(frame, pixel_array(RLE, index=k))
        assert doc.disk_cache.hits >= doc.num_frames - 1


def test_capacity_bounds_slots_and_folder(tmp_path):
    frame_bytes = 64 * 64 * 2
    capacity = HEADER_BYTES + 3 * (frame_bytes + 8)
    with _open(RLE, tmp_path, capacity) as doc:
        for k in range(doc.num_frames):
            np.testing.assert_array_equal(doc.frame(k), pixel_array(RLE, index=k))
        assert doc.disk_cache.slots == 3
    sizes = [p.stat().st_size for p in tmp_path.glob("*.frames")]
    assert len(sizes) == 1 and sizes[0] <= capacity


def test_unclean_scratch_file_is_reset(tmp_path):
    import subprocess
    import sys

    crash = (
        "import os, numpy as np; from viewer.model.storage.diskcache import DiskFrameCache; "
        f"c = DiskFrameCache.open({str(tmp_path)!r}, '/x.dcm', 10, 1, 4, (2, 2), np.uint16, 1 << 20); "
        "c.put(1, np.full((2, 2), 7, np.uint16)); assert c.get(1) is not None; os._exit(0)"
    )
    assert subprocess.run([sys.executable, "-c", crash]).returncode == 0
    again = DiskFrameCache.open(tmp_path, "/x.dcm", 10, 1, 4, (2, 2), np.uint16, 1 << 20)
    assert again is not None and again.get(1) is None, "a crashed writer's slots must not be trusted"
    again.put(1, np.full((2, 2), 9, np.uint16))
    again.close()
    clean = DiskFrameCache.open(tmp_path, "/x.dcm", 10, 1, 4, (2, 2), np.uint16, 1 << 20)
    assert clean.get(1) is not None and int(clean.get(1)[0, 0]) == 9, "a cleanly closed cache keeps its frames"
    clean.close()


def test_second_process_runs_without_the_scratch_file(tmp_path):
    first = DiskFrameCache.open(tmp_path, "/y.dcm", 10, 1, 4, (2, 2), np.uint8, 1 << 20)
    assert first is not None
    assert DiskFrameCache.open(tmp_path, "/y.dcm", 10, 1, 4, (2, 2), np.uint8, 1 << 20) is None
    first.close()
    reopened = DiskFrameCache.open(tmp_path, "/y.dcm", 10, 1, 4, (2, 2), np.uint8, 1 << 20)
    assert reopened is not None
    reopened.close()


def test_a_full_disk_switches_the_cache_off_instead_of_failing(tmp_path, monkeypatch):
    """A mapped scratch file would die of SIGBUS on a full disk; positional writes fail cleanly."""
    cache = DiskFrameCache.open(tmp_path, "/z.dcm", 10, 1, 4, (2, 2), np.uint16, 1 << 20)
    cache.put(0, np.full((2, 2), 5, np.uint16))

    def disk_full(fd, data, offset):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(positional, "pwrite_some", disk_full)
    cache.put(1, np.full((2, 2), 6, np.uint16))  # no exception
    assert cache.get(0) is None and cache.get(1) is None and cache.stores == 1
    cache.close()
    monkeypatch.undo()
    again = DiskFrameCache.open(tmp_path, "/z.dcm", 10, 1, 4, (2, 2), np.uint16, 1 << 20)
    assert again is not None and again.get(0) is None, "a cache switched off mid-write must not be trusted"
    again.close()
