"""The document model on synthetic and real files: mapping, frames, errors."""

from __future__ import annotations

import os
import struct

import numpy as np
import pydicom
import pytest
from pydicom.pixels import pixel_array

from reference_files import reference_files
from viewer.model.platform import CAPABILITIES
from viewer.model import (
    DicomError,
    FileChangedError,
    MappedValue,
    NotDicomError,
    TruncatedFileError,
    UnsupportedError,
    open_document,
)
from viewer.synthetic import expected_frame, frame_index_of, write_cine

REFERENCE = {path.name: path for path in reference_files()}

# Without read leases Cinemap never maps a file (nothing could warn it before a truncation).
needs_leases = pytest.mark.skipif(not CAPABILITIES.leases, reason="needs kernel read leases (Linux; off in portable mode)")


@pytest.fixture
def cine(tmp_path):
    return write_cine(tmp_path / "cine.dcm", frames=12, rows=64, columns=80)


def _open_fds() -> int:
    """Descriptors open in this process (Linux /proc, macOS /dev/fd; skip elsewhere)."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(folder):
            return len(os.listdir(folder))
    pytest.skip("needs /proc/self/fd or /dev/fd to count open descriptors")


@needs_leases
def test_open_maps_pixel_data_and_frames_are_views(cine):
    with open_document(cine) as doc:
        assert doc.num_frames == 12
        assert doc.frame_shape == (64, 80)
        assert doc.dtype == np.uint16
        assert doc.is_memmapped and not doc.is_encapsulated
        assert doc.frames.shape == (12, 64, 80)
        pixel = [e for e in doc.mapped_elements if e.keyword == "PixelData"]
        assert len(pixel) == 1 and pixel[0].length == 12 * 64 * 80 * 2
        assert pixel[0].offset == doc.pixel_offset
        assert np.shares_memory(pixel[0].array[:], doc.frames), "under a lease the value is a view of the mapping"
        for index in (0, 5, 11):
            frame = doc.frame(index)
            assert not frame.flags.owndata, "native little-endian frames must be views"
            assert np.shares_memory(frame, doc.frames)
            assert frame_index_of(frame) == index
            np.testing.assert_array_equal(frame, expected_frame(index, rows=64, columns=80))
            np.testing.assert_array_equal(frame, pixel_array(cine, index=index))
        assert doc.frame(-1).base is not None
        with pytest.raises(IndexError):
            doc.frame(12)


def test_printing_the_dataset_never_reads_mapped_values(cine, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a mapped value was read")

    monkeypatch.setattr(MappedValue, "read", refuse)
    monkeypatch.setattr(MappedValue, "readinto", refuse)
    with open_document(cine, memmap_threshold=1024) as doc:
        text = str(doc.dataset)
        assert "memory-mapped" in text
        for element in doc.dataset.iterall():
            repr(element)
        value = doc.dataset["PixelData"].value
        assert isinstance(value, MappedValue) and value.tell() == 0


def test_threshold_decides_what_is_mapped(tmp_path):
    path = write_cine(tmp_path / "small.dcm", frames=2, rows=16, columns=16)
    with open_document(path, memmap_threshold=1 << 20) as doc:
        # Pixel data is always mapped; nothing else is that large here.
        assert [e.keyword for e in doc.mapped_elements] == ["PixelData"]
    overlay = REFERENCE["MR-SIEMENS-DICOM-WithOverlays.dcm"]
    with open_document(overlay, memmap_threshold=100) as doc:
        keywords = {e.keyword for e in doc.mapped_elements}
        assert "OverlayData" in keywords or any(e.tag >> 16 == 0x6000 for e in doc.mapped_elements)
        mapped = next(e for e in doc.mapped_elements if e.tag >> 16 == 0x6000)
        reference = pydicom.dcmread(overlay)[mapped.tag].value
        assert mapped.array.tobytes() == reference
    with open_document(overlay, memmap_threshold=1 << 20) as doc:
        assert not any(e.tag >> 16 == 0x6000 for e in doc.mapped_elements)


def test_close_releases_handles(cine):
    before = _open_fds()
    doc = open_document(cine)
    doc.frame(3)
    assert _open_fds() > before
    doc.close()
    assert doc.closed and doc.frames is None
    assert _open_fds() == before
    doc.close()  # idempotent


def test_context_manager_closes(cine):
    with open_document(cine) as doc:
        pass
    assert doc.closed


@pytest.mark.parametrize(
    "variant",
    [
        dict(bits_allocated=8),
        dict(samples_per_pixel=3, bits_allocated=8),
        dict(samples_per_pixel=3, bits_allocated=8, planar_configuration=1),
        dict(signed=True),
        dict(big_endian=True),
        dict(implicit_vr=True),
        dict(kind="us", bits_allocated=8),
    ],
    ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()),
)
def test_synthetic_variants_equal_pydicom(tmp_path, variant):
    path = write_cine(tmp_path / "v.dcm", frames=5, rows=32, columns=40, **variant)
    with open_document(path) as doc:
        assert doc.frames is not None
        for index in range(5):
            got = doc.frame(index)
            expected = pixel_array(path, index=index)
            assert got.dtype == expected.dtype and got.shape == expected.shape
            np.testing.assert_array_equal(got, expected)
            assert frame_index_of(got) == index


@needs_leases
def test_planar_configuration_one_is_a_transposed_view(tmp_path):
    path = write_cine(tmp_path / "p.dcm", frames=3, rows=8, columns=10, bits_allocated=8, samples_per_pixel=3,
                      planar_configuration=1)
    with open_document(path) as doc:
        assert doc.frames.shape == (3, 8, 10, 3)
        frame = doc.frame(1)
        assert np.shares_memory(frame, doc.frames)
        np.testing.assert_array_equal(frame, pixel_array(path, index=1))


def test_no_preamble_or_meta_opens():
    for name in ("ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm"):
        with open_document(REFERENCE[name]) as doc:
            assert len(doc.dataset) > 5
            assert doc.dataset.SOPInstanceUID == pydicom.dcmread(REFERENCE[name], force=True).SOPInstanceUID
    # no_meta.dcm starts one byte off (pydicom finds a single element in it): not recognisably DICOM.
    with pytest.raises(NotDicomError):
        open_document(REFERENCE["no_meta.dcm"])


def test_dataset_without_preamble_written_by_us(tmp_path, cine):
    data = cine.read_bytes()
    dataset = pydicom.dcmread(cine, stop_before_pixels=True)
    # Drop the preamble and file meta: start at the first dataset element.
    meta_end = 132 + 12 + struct.unpack("<I", data[140:144])[0]
    bare = tmp_path / "bare.dcm"
    bare.write_bytes(data[meta_end:])
    with open_document(bare) as doc:
        assert doc.num_frames == 12
        assert frame_index_of(doc.frame(7)) == 7
        assert doc.dataset.SOPInstanceUID == dataset.SOPInstanceUID


@pytest.mark.parametrize(
    "content, error",
    [
        (b"", NotDicomError),
        (b"hello world, not dicom at all" * 10, NotDicomError),
        (bytes(128) + b"DICM", DicomError),
        (os.urandom(4096), NotDicomError),
    ],
    ids=["empty", "text", "preamble-only", "random"],
)
def test_not_dicom(tmp_path, content, error):
    path = tmp_path / "bad.dcm"
    path.write_bytes(content)
    with pytest.raises(error) as info:
        open_document(path)
    assert str(path) in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DicomError, match="no such file"):
        open_document(tmp_path / "nope.dcm")
    with pytest.raises(DicomError, match="folder"):
        open_document(tmp_path)


def test_truncated_pixel_data_opens_complete_frames(tmp_path, cine):
    data = cine.read_bytes()
    frame_bytes = 64 * 80 * 2
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) - 4 * frame_bytes - 100])
    with open_document(cut) as doc:
        assert doc.num_frames == 7
        assert doc.warnings and "complete" in doc.warnings[0]
        assert frame_index_of(doc.frame(6)) == 6


def test_truncated_before_one_frame_refuses(tmp_path, cine):
    with open_document(cine) as doc:
        offset = doc.pixel_offset
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(cine.read_bytes()[: offset + 100])
    with pytest.raises(TruncatedFileError, match="not even one frame"):
        open_document(cut)


def test_lying_header_values_are_refused(tmp_path):
    base = REFERENCE["emri_small.dcm"]
    for keyword, value, message in [
        ("Rows", 0, "Rows x Columns"),
        ("BitsAllocated", 7, "Bits Allocated is 7"),
        ("NumberOfFrames", 2**31, "Number of Frames"),
        ("SamplesPerPixel", 2, "Samples per Pixel"),
        ("Columns", 65535, "not even one frame"),
    ]:
        dataset = pydicom.dcmread(base)
        setattr(dataset, keyword, value)
        path = tmp_path / f"{keyword}.dcm"
        dataset.save_as(path)
        with pytest.raises(DicomError, match=message) as info:
            with open_document(path) as doc:
                doc.frame(0)
        assert isinstance(info.value, (UnsupportedError, DicomError))


def test_mapped_element_past_end_of_file_is_truncation(tmp_path):
    dataset = pydicom.dcmread(REFERENCE["emri_small.dcm"], stop_before_pixels=True)
    dataset.add_new(0x00291010, "OB", b"\x01" * 4096)
    path = tmp_path / "private.dcm"
    dataset.save_as(path)
    data = path.read_bytes()
    path.write_bytes(data[:-2000])
    with pytest.raises(TruncatedFileError, match="declares 4096 bytes"):
        open_document(path, memmap_threshold=1024)


def test_file_truncated_while_open_gives_error_not_sigbus(tmp_path, cine):
    with open_document(cine) as doc:
        doc.frame(11)
        with open(cine, "r+b") as handle:
            handle.truncate(doc.pixel_offset + 3 * 64 * 80 * 2)
        with pytest.raises(FileChangedError, match="truncated"):
            doc.frame(11)


def test_encapsulated_frames_are_cached_within_budget():
    path = REFERENCE["emri_small_RLE.dcm"]
    frame_bytes = 64 * 64 * 2
    with open_document(path, cache_bytes=3 * frame_bytes) as doc:
        assert doc.is_encapsulated and doc.frames.shape == (doc.num_frames, 64, 64)
        np.testing.assert_array_equal(doc.frames[2], pixel_array(path, index=2))  # decoded on access
        for index in range(doc.num_frames):
            np.testing.assert_array_equal(doc.frame(index), pixel_array(path, index=index))
        assert len(doc.cache) == 3 and doc.cache.nbytes <= 3 * frame_bytes
        doc.frame(doc.num_frames - 1)
        assert doc.cache.hits >= 1


def test_display_metadata():
    with open_document(REFERENCE["CT_small.dcm"]) as doc:
        slope, intercept = doc.rescale(0)
        dataset = pydicom.dcmread(REFERENCE["CT_small.dcm"])
        assert (slope, intercept) == (float(dataset.RescaleSlope), float(dataset.RescaleIntercept))
        assert doc.rescale_unit == "HU"
    with open_document(REFERENCE["US1_UNCR.dcm"]) as doc:
        assert doc.photometric_interpretation == "RGB"
    enhanced = REFERENCE["eCT_Supplemental.dcm"]
    with open_document(enhanced) as doc:
        dataset = pydicom.dcmread(enhanced)
        for index in range(doc.num_frames):
            item = dataset.PerFrameFunctionalGroupsSequence[index].get("PixelValueTransformationSequence") or \
                dataset.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence
            assert doc.rescale(index) == (float(item[0].RescaleSlope), float(item[0].RescaleIntercept))


def test_frame_time_from_file(tmp_path):
    path = write_cine(tmp_path / "ft.dcm", frames=2, rows=16, columns=16, frame_time_ms=40.0)
    with open_document(path) as doc:
        assert doc.frame_time_ms == pytest.approx(40.0)
    with open_document(REFERENCE["emri_small.dcm"]) as doc:
        assert doc.frame_time_ms is None or doc.frame_time_ms > 0


def test_window_presets_from_file():
    path = REFERENCE["CT_small.dcm"]
    dataset = pydicom.dcmread(path)
    with open_document(path) as doc:
        if "WindowCenter" in dataset:
            assert doc.window_presets
        else:
            assert doc.window_presets == []
    with open_document(REFERENCE["MR_small.dcm"]) as doc:
        presets = doc.window_presets
        assert all(p.width > 0 for p in presets)


def test_views_outlive_close_without_crashing(tmp_path):
    """A frame still shown by a widget after its document closed must stay readable."""
    import subprocess
    import sys

    path = write_cine(tmp_path / "v.dcm", frames=4, rows=64, columns=64)
    script = (
        "from viewer.model import open_document; from viewer.synthetic import frame_index_of; "
        f"doc = open_document({str(path)!r}); view = doc.frame(3); doc.close(); "
        "import gc; gc.collect(); print(frame_index_of(view), int(view.sum()) > 0)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"return code {result.returncode}: {result.stderr[-2000:]}"
    assert result.stdout.split() == ["3", "True"]


def test_zero_bytes_after_the_pixel_data_add_no_elements_and_no_warnings(tmp_path):
    import warnings

    path = write_cine(tmp_path / "padded.dcm", frames=3, rows=8, columns=8)
    with open(path, "ab") as file:
        file.write(bytes(24))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_document(path) as doc:
            assert [element.tag for element in doc.dataset if element.tag >> 16 == 0] == []
            assert doc.num_frames == 3 and doc.warnings == []
    assert [str(warning.message) for warning in caught] == []  # pydicom took the zeros for implicit VR
