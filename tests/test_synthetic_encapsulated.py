"""The synthetic compressed cine writer: valid files (dciodvfy), pydicom's pixels, every layout."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest
from pydicom.encaps import get_frame

from viewer.synthetic import expected_frame
from viewer.synthetic.encapsulated import write_encapsulated_cine

LAYOUTS = [
    dict(table="extended"), dict(table="basic"), dict(table="empty"), dict(table="empty", fragments_per_frame=3),
    dict(syntax="rle", table="empty"), dict(samples_per_pixel=3, table="extended"), dict(kind="us", table="basic"),
]


@pytest.mark.parametrize("kwargs", LAYOUTS)
def test_dciodvfy_reports_no_errors(tmp_path, kwargs):
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (dicom3tools) is not on PATH")
    cine = write_encapsulated_cine(tmp_path / "c.dcm", frames=5, rows=32, columns=48, distinct_frames=2, **kwargs)
    result = subprocess.run(["dciodvfy", str(cine.path)], capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert not [line for line in output.splitlines() if "Error" in line], output


@pytest.mark.parametrize("kwargs", LAYOUTS)
def test_pydicom_reads_every_frame_with_its_stamp(tmp_path, kwargs):
    cine = write_encapsulated_cine(tmp_path / "c.dcm", frames=7, rows=32, columns=48, distinct_frames=3, **kwargs)
    dataset = pydicom.dcmread(cine.path)
    assert dataset.pixel_array.shape[0] == 7
    tables = None
    if "ExtendedOffsetTable" in dataset:
        tables = (dataset.ExtendedOffsetTable, dataset.ExtendedOffsetTableLengths)
    for k in range(7):
        stream = get_frame(dataset.PixelData, k, extended_offsets=tables, number_of_frames=7)
        assert len(stream) == cine.frame_lengths[k] or len(stream) + 1 == cine.frame_lengths[k]
        if kwargs.get("syntax") == "rle":  # lossless: the pixels of frame k % 3, exactly
            np.testing.assert_array_equal(dataset.pixel_array[k], expected_frame(k % 3, rows=32, columns=48,
                                                                                   bits_allocated=8))
        else:
            assert b"cinemap frame %010d" % k in stream


def test_several_fragments_per_frame_with_an_extended_table_are_refused(tmp_path):
    with pytest.raises(ValueError, match="fragments"):
        write_encapsulated_cine(tmp_path / "x.dcm", frames=2, table="extended", fragments_per_frame=2)
    assert not (tmp_path / "x.dcm").exists()


def test_jpeg2000_cines_hold_the_encoded_16_bit_frames_at_the_frame_time(tmp_path):
    from viewer.synthetic.codestreams import encode_frames

    cine = write_encapsulated_cine(tmp_path / "j.dcm", frames=5, rows=32, columns=48, syntax="j2k", distinct_frames=2,
                                   frame_time_ms=20.0, table="empty")
    dataset = pydicom.dcmread(cine.path)
    assert (dataset.BitsAllocated, dataset.BitsStored, float(dataset.FrameTime)) == (16, 12, 20.0)
    originals = encode_frames(cine.transfer_syntax, 2, 32, 48, bits_stored=12).originals
    for k in range(5):
        np.testing.assert_array_equal(dataset.pixel_array[k], originals[k % 2])


def test_jpeg2000_cines_are_grey_with_more_than_8_bits(tmp_path):
    with pytest.raises(ValueError, match="grey"):
        write_encapsulated_cine(tmp_path / "x.dcm", frames=2, syntax="j2k", samples_per_pixel=3)
    with pytest.raises(ValueError, match="8 bits"):
        write_encapsulated_cine(tmp_path / "y.dcm", frames=2, bits_stored=12)
