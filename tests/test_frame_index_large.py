"""A compressed cine past 4 GiB: frames past 4 GiB located by the Extended Offset Table, and by a walk."""

from __future__ import annotations

import os
import resource

import numpy as np
import pydicom
import pytest
from pydicom.encaps import get_frame
from pydicom.pixels import get_decoder, pixel_array
from pydicom.pixels.utils import as_pixel_options

from viewer.model.dicom.frame_index import FrameIndex, positional_reader
from viewer.synthetic.encapsulated import encapsulated_frames_for_size, write_encapsulated_cine

FOUR_GIB = 1 << 32


@pytest.fixture(scope="module")
def big_cine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big")
    frames = encapsulated_frames_for_size(4.5 * 2**30, rows=1024, columns=1024)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cine = write_encapsulated_cine(folder / "big.dcm", frames=frames, rows=1024, columns=1024)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    try:
        yield cine, grown_mib
    finally:
        cine.path.unlink(missing_ok=True)


def _past_4_gib(cine):
    return [k for k, offset in enumerate(cine.frame_offsets) if offset > FOUR_GIB]


@pytest.mark.slow
def test_writer_streams_past_4_gib_in_bounded_memory(big_cine):
    cine, grown_mib = big_cine
    assert os.path.getsize(cine.path) > 4.4 * 2**30 and len(_past_4_gib(cine)) > 100
    assert grown_mib < 200, f"the writer's peak memory grew by {grown_mib:.0f} MiB"


@pytest.mark.slow
def test_extended_offset_table_frames_past_4_gib(big_cine):
    cine, _ = big_cine
    dataset = pydicom.dcmread(cine.path, stop_before_pixels=True)
    tables = (dataset.ExtendedOffsetTable, dataset.ExtendedOffsetTableLengths)
    frames = int(dataset.NumberOfFrames)
    calls = []
    fd = os.open(cine.path, os.O_RDONLY)
    read = positional_reader(str(cine.path), fd)
    try:
        index = FrameIndex(str(cine.path), lambda offset, length: calls.append(offset) or read(offset, length),
                           cine.pixel_offset, os.path.getsize(cine.path), frames, extended=tables)
        assert calls == [cine.pixel_offset], "only the Basic Offset Table item is read at open"
        far = _past_4_gib(cine)
        with open(cine.path, "rb") as handle:
            for k in (far[0], far[len(far) // 2], frames - 1):
                handle.seek(cine.pixel_offset)
                stream = index.codestream(k)
                assert stream == get_frame(handle, k, extended_offsets=tables)
                assert b"cinemap frame %010d" % k in stream
        decoder = get_decoder(cine.transfer_syntax)
        options = dict(as_pixel_options(dataset), number_of_frames=1)
        options.pop("extended_offsets", None)
        array, _ = decoder.as_array(index.frame_bytes(frames - 1), index=0, **options)
        np.testing.assert_array_equal(array, pixel_array(cine.path, index=frames - 1))
        assert index.locate_end() == os.path.getsize(cine.path)
    finally:
        os.close(fd)


@pytest.mark.slow
def test_walk_reaches_frames_past_4_gib(big_cine):
    cine, _ = big_cine
    frames = len(cine.frame_offsets)
    fd = os.open(cine.path, os.O_RDONLY)
    try:
        index = FrameIndex(str(cine.path), positional_reader(str(cine.path), fd), cine.pixel_offset,
                           os.path.getsize(cine.path), frames)  # the same file, its tables not given
        status = index.complete_index()
        assert status.complete and status.num_frames == frames and index.items_read == frames + 1
        for k in (_past_4_gib(cine)[0], frames - 1):
            assert index.location(k).start == cine.frame_offsets[k]
            assert b"cinemap frame %010d" % k in index.codestream(k)
    finally:
        os.close(fd)
