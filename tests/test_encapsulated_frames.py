"""The compressed frame source: pydicom's pixels, both caches behind the file check, one decode per frame."""

from __future__ import annotations

import os
import threading

import numpy as np
import pydicom
import pytest
from pydicom.pixels import get_decoder, pixel_array
from pydicom.pixels.utils import as_pixel_options

from viewer.model.dicom.frame_index import FrameIndex, has_end_markers, positional_reader
from viewer.model.errors import FileChangedError, UnsupportedError
from viewer.model.frames.encapsulated import EncapsulatedFrames, disk_cache_opener, pydicom_decode
from viewer.model.storage.cache import FrameCache
from viewer.synthetic.encapsulated import write_encapsulated_cine


@pytest.fixture
def opened():
    """Builds sources over files; closes their descriptors and sources afterwards."""
    made = []

    def make(cine, decode=None, check=lambda: None, cache_bytes=64 << 20, disk=None, extended=True):
        fd = os.open(cine.path, os.O_RDONLY)
        dataset = pydicom.dcmread(cine.path, stop_before_pixels=True)
        tables = None
        if extended and "ExtendedOffsetTable" in dataset:
            tables = (dataset.ExtendedOffsetTable, dataset.ExtendedOffsetTableLengths)
        frames = int(dataset.NumberOfFrames)
        index = FrameIndex(str(cine.path), positional_reader(str(cine.path), fd), cine.pixel_offset,
                           os.path.getsize(cine.path), frames, extended=tables,
                           frame_markers=has_end_markers(cine.transfer_syntax))
        if decode is None:
            decode = pydicom_decode(get_decoder(cine.transfer_syntax), as_pixel_options(dataset))
        first = pixel_array(cine.path, index=0)
        opener = None
        if disk is not None:
            status = os.stat(cine.path)
            opener = disk_cache_opener(str(disk), 64 << 20, str(cine.path), status.st_size, status.st_mtime_ns, frames)
        source = EncapsulatedFrames(index, first.shape, first.dtype, decode, check=check,
                                    cache=FrameCache(cache_bytes), open_disk_cache=opener)
        made.append((source, fd))
        return source

    yield make
    for source, fd in made:
        source.close()
        os.close(fd)


@pytest.fixture(scope="module")
def jpeg_cine(tmp_path_factory):
    return write_encapsulated_cine(tmp_path_factory.mktemp("cine") / "jpeg.dcm", frames=10, rows=40, columns=56,
                                   distinct_frames=4, table="empty", fragments_per_frame=2)


@pytest.mark.parametrize("kwargs", [dict(table="extended"), dict(table="empty", fragments_per_frame=2),
                                    dict(syntax="rle", table="basic"), dict(samples_per_pixel=3, table="empty")])
def test_frames_equal_pydicoms(tmp_path, opened, kwargs):
    cine = write_encapsulated_cine(tmp_path / "c.dcm", frames=7, rows=40, columns=56, distinct_frames=3, **kwargs)
    source = opened(cine)
    assert source.num_frames == 7
    for k in (6, 0, 3, 3):
        np.testing.assert_array_equal(source.frame(k), pixel_array(cine.path, index=k))


def test_the_file_is_checked_before_either_cache(tmp_path, opened, jpeg_cine):
    changed = threading.Event()

    def check():
        if changed.is_set():
            raise FileChangedError(str(jpeg_cine.path), "changed")

    source = opened(jpeg_cine, check=check, disk=tmp_path)
    source.frame(2)
    assert source.disk_cache is not None and source.disk_cache.stores == 1
    changed.set()
    with pytest.raises(FileChangedError):
        source.frame(2)  # held in memory and on disk, but the file changed


def test_disk_cache_serves_a_second_source_without_decoding(tmp_path, opened, jpeg_cine):
    first = opened(jpeg_cine, disk=tmp_path)
    expected = [first.frame(k).copy() for k in range(10)]
    first.close()
    decoded = []
    decode = pydicom_decode(get_decoder(jpeg_cine.transfer_syntax),
                            as_pixel_options(pydicom.dcmread(jpeg_cine.path, stop_before_pixels=True)))
    second = opened(jpeg_cine, decode=lambda data: decoded.append(1) or decode(data), disk=tmp_path, cache_bytes=0)
    for k in range(10):
        np.testing.assert_array_equal(second.frame(k), expected[k])
    assert len(decoded) == 1, "only the first frame is decoded (it opens the scratch file); the rest come from disk"


def test_concurrent_requests_for_one_frame_decode_it_once(opened, jpeg_cine):
    started, release = threading.Event(), threading.Event()
    calls = []
    decode = pydicom_decode(get_decoder(jpeg_cine.transfer_syntax),
                            as_pixel_options(pydicom.dcmread(jpeg_cine.path, stop_before_pixels=True)))

    def slow_decode(data):
        calls.append(1)
        started.set()
        assert release.wait(30)
        return decode(data)

    source = opened(jpeg_cine, decode=slow_decode)
    results = []
    threads = [threading.Thread(target=lambda: results.append(source.frame(5))) for _ in range(3)]
    threads[0].start()
    assert started.wait(30)
    for thread in threads[1:]:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(30)
    assert len(results) == 3 and len(calls) == 1
    for result in results:
        np.testing.assert_array_equal(result, pixel_array(jpeg_cine.path, index=5))


def test_decoder_failure_names_the_frame(opened, jpeg_cine):
    def broken(data):
        raise ValueError("bad marker")

    source = opened(jpeg_cine, decode=broken)
    with pytest.raises(UnsupportedError, match="frame 4 of 10: bad marker"):
        source.frame(3)


def test_count_learned_when_the_index_completes(tmp_path, opened):
    cine = write_encapsulated_cine(tmp_path / "short.dcm", frames=6, rows=16, columns=16, table="empty")
    data = bytearray(cine.path.read_bytes())
    data[: cine.pixel_offset] = data[: cine.pixel_offset].replace(b"IS\x02\x006 ", b"IS\x02\x009 ")
    cine.path.write_bytes(bytes(data))  # Number of Frames now says 9
    source = opened(cine)
    assert source.num_frames == 9 and not source.is_located(0)
    statuses = []
    source.add_index_callback(statuses.append)
    thread = threading.Thread(target=source.index.complete_index)
    thread.start()
    thread.join(30)
    assert statuses and statuses[0].num_frames == 6 and source.num_frames == 6
    assert any("only 6 frame(s)" in text for text in statuses[0].warnings)
    np.testing.assert_array_equal(source.frame(5), pixel_array(cine.path, index=5))
