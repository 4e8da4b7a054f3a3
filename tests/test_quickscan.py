"""The fast open path (viewer.model.dicom.quickscan): plain files open without pydicom's parse.

What must hold: every file the scan accepts gives the same Image Pixel
values and Pixel Data position as pydicom, and the same dataset once it is
parsed on first use; every file that is not plain takes the full path and
still shows pydicom's frames.
"""

from __future__ import annotations

import struct
import threading
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filereader import read_file_meta_info
from pydicom.sequence import Sequence

from dicom_builders import write_dicom
from reference_files import reference_files
from viewer.model import open_document
from viewer.model.dicom import encoding, header
from viewer.model.dicom import quickscan
from viewer.synthetic import write_cine


def _scan(path, threshold=1 << 20):
    with open(path, "rb") as file:
        head = file.read(quickscan.HEAD_BYTES)
    return quickscan.scan(head, path.stat().st_size, threshold)


@pytest.fixture
def parse_count(monkeypatch):
    """How many times pydicom's header parse ran (header.parse_header, counted)."""
    calls = []
    original = header.parse_header

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(header, "parse_header", counting)
    return calls


def test_the_file_meta_walk_finds_the_transfer_syntax_pydicom_reads():
    """encoding.scan_meta (the deflate-bomb check's reader) against pydicom's public file meta reader."""
    checked = 0
    for path in reference_files():
        head = path.read_bytes()[: 1 << 16]
        if head[128:132] != b"DICM":
            continue  # read_file_meta_info needs the preamble
        position, syntax = encoding.scan_meta(head)
        meta = read_file_meta_info(path)
        assert syntax == meta.get("TransferSyntaxUID"), path.name
        group_length = meta.get("FileMetaInformationGroupLength")
        if group_length is not None:
            assert position == encoding.PREAMBLE_BYTES + 12 + group_length, path.name
        checked += 1
    assert checked > 100


def test_real_plain_files_scan_as_pydicom_reads_them():
    accepted = 0
    for path in reference_files():
        quick = _scan(path)
        if quick is None:
            continue
        accepted += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = pydicom.dcmread(path, stop_before_pixels=True)
        with open(path, "rb") as file:
            parsed = header.parse_header(str(path), file, 1 << 20)
            pixel = header.read_pixel_element_header(
                str(path), file, quick.transfer_syntax.is_implicit_VR, True, parsed.get("BitsAllocated")
            )
        assert quick.transfer_syntax == reference.file_meta.TransferSyntaxUID, path
        assert quick.pixel == pixel, path
        for keyword, value in quick.image.items():
            assert reference[keyword].value == value, (path, keyword)
        assert {keyword for keyword, _ in quickscan.IMAGE_PIXEL.values() if keyword in reference} == set(quick.image), path
        with open_document(path) as document:
            dataset = document.dataset
            assert document.warnings == [], path
            assert sorted(dataset.keys()) == sorted([*reference.keys(), pixel.tag]), path
            for element in reference:
                if element.VR not in header.BINARY_VRS and element.VR != "SQ":
                    assert dataset[element.tag].value == element.value, (path, element.keyword)
    # pydicom's test files and pydicom-data hold dozens of plain files (49 when this was written)
    assert accepted >= 30


@pytest.mark.parametrize("options", [
    {},
    {"implicit_vr": True},
    {"samples_per_pixel": 3, "bits_allocated": 8, "planar_configuration": 1, "window": None},
    {"kind": "us", "bits_allocated": 8, "window": None},
], ids=["explicit", "implicit", "rgb planar", "ultrasound"])
def test_plain_file_opens_and_shows_frames_before_the_header_is_parsed(tmp_path, parse_count, options):
    path = write_cine(tmp_path / "cine.dcm", frames=6, rows=32, columns=48, **{"window": (100.0, 50.0), **options})
    with open_document(path) as document:
        first = np.array(document.frame(0))
        assert document.num_frames == 6 and document.frame_shape[:2] == (32, 48)
        assert parse_count == []
        assert document.frame_time_ms is not None  # reads the dataset: parsed now, once
        assert document.dataset.Rows == 32
        assert len(parse_count) == 1
        assert "memory-mapped" in repr(document.dataset.PixelData)
    np.testing.assert_array_equal(first, pydicom.pixels.pixel_array(path, index=0))


def test_header_is_parsed_once_when_threads_race_for_it(tmp_path, parse_count):
    path = write_cine(tmp_path / "cine.dcm", frames=2, rows=16, columns=16)
    with open_document(path) as document:
        start = threading.Barrier(4)
        seen = []

        def read() -> None:
            start.wait()
            seen.append(document.dataset)

        threads = [threading.Thread(target=read) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(parse_count) == 1
    assert all(dataset is seen[0] for dataset in seen)


def _append_element(path, tag_group, tag_element, vr, value):
    with open(path, "ab") as file:
        file.write(struct.pack("<HH", tag_group, tag_element) + vr + struct.pack("<H", len(value)) + value)


def _plain(path, frames=3):
    pixels = np.arange(frames * 4 * 5, dtype=np.uint16).reshape(frames, 4, 5)
    write_dicom(path, pixels)
    return path


def _with(path, change):
    _plain(path)
    dataset = pydicom.dcmread(path)
    change(dataset)
    dataset.save_as(path)
    return path


def _patched(path, old: bytes, new: bytes):
    """Replace the one occurrence of `old` in the file by `new` (same length)."""
    data = path.read_bytes()
    assert data.count(old) == 1 and len(old) == len(new)
    path.write_bytes(data.replace(old, new))
    return path


def _many_private_elements(dataset: Dataset) -> None:
    dataset.add_new(0x00090010, "LO", "CINEMAP TEST")
    for number in range(0x1000, 0x1000 + 1200):  # 1200 x 16 bytes: past the bytes scanned
        dataset.add_new(0x00090000 | number, "LO", "abcdefgh")


def _add_undefined_sequence(dataset: Dataset) -> None:
    item = Dataset()
    item.CodeValue = "1"
    dataset.ReferencedImageSequence = Sequence([item])
    dataset["ReferencedImageSequence"].is_undefined_length = True


def _truncate(path, count):
    with open(path, "r+b") as file:
        file.truncate(path.stat().st_size - count)
    return path


NOT_PLAIN = {
    "big endian": lambda path: write_dicom(path, np.ones((2, 4, 5), np.uint16), big_endian=True) or path,
    "header longer than the bytes scanned": lambda path: _with(path, _many_private_elements),
    "element after the pixel data": lambda path: _append_element(_plain(path), 0xFFFC, 0xFFFC, b"OB", b"\0\0")
    or path,
    "truncated pixel data": lambda path: _truncate(_plain(path), 3),
    "undefined-length sequence": lambda path: _with(path, _add_undefined_sequence),
    "a value over the mapping threshold": lambda path: _with(path, lambda ds: setattr(ds, "ImageComments", "y" * 300)),
    "Rows with VR SS": lambda path: _patched(_plain(path), b"\x28\x00\x10\x00US", b"\x28\x00\x10\x00SS"),
    "Number of Frames with a null byte": lambda path: _patched(
        _plain(path), b"\x28\x00\x08\x00IS\x02\x003 ", b"\x28\x00\x08\x00IS\x02\x003\x00"
    ),
    "zeroed bytes in the header": lambda path: _patched(  # two empty (0000,0000) elements
        _with(path, lambda ds: setattr(ds, "Modality", "OT      ")), b"\x08\x00\x60\x00CS\x08\x00OT      ", bytes(16)
    ),
}


@pytest.mark.parametrize("name", sorted(NOT_PLAIN))
def test_files_that_are_not_plain_take_the_full_path(tmp_path, name, parse_count):
    path = NOT_PLAIN[name](tmp_path / "file.dcm")
    threshold = 256
    assert _scan(path, threshold) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with open_document(path, memmap_threshold=threshold) as document:
            assert parse_count == [str(path)]  # parsed at open
            frames = [np.array(document.frame(k)) for k in range(document.num_frames)]
            reference = [pydicom.pixels.pixel_array(path, index=k) for k in range(len(frames))]
    for frame, expected in zip(frames, reference):
        np.testing.assert_array_equal(frame, expected)


def test_a_plain_file_is_accepted_by_the_scan(tmp_path):
    """The builders above start from a file the scan takes: the rejections are the changes."""
    path = _plain(tmp_path / "plain.dcm")
    quick = _scan(path, 256)
    assert quick is not None
    assert quick.image["Rows"] == 4 and quick.image["NumberOfFrames"] == 3
    assert quick.pixel.value_offset + quick.pixel.length == path.stat().st_size


def test_header_damaged_after_open_leaves_the_frames_and_a_warning(tmp_path):
    path = _plain(tmp_path / "plain.dcm")
    with open_document(path) as document:
        with open(path, "r+b") as file:  # (7FE0,0010) becomes (7FE0,0011): the header no longer ends there
            file.seek(document.pixel_element.header_offset)
            file.write(b"\xe0\x7f\x11\x00")
        dataset = document.dataset
        assert "PixelData" in dataset
        assert any("could not be parsed" in warning for warning in document.warnings)


def test_scan_of_any_prefix_or_damaged_head_returns_or_declines(tmp_path):
    """The scan reads only the bytes it is given: never an exception, whatever they hold.

    (The fuzzer found the first version unpacking past a file meta cut short.)
    """
    path = write_cine(tmp_path / "cine.dcm", frames=2, rows=8, columns=8, implicit_vr=False)
    data = path.read_bytes()
    head = data[: quickscan.HEAD_BYTES]
    whole = quickscan.scan(head, len(data), 1 << 20)
    assert whole is not None
    for end in range(len(head)):  # enough bytes once they hold the Pixel Data element header
        expected = whole if end >= whole.pixel.value_offset else None
        assert quickscan.scan(head[:end], len(data), 1 << 20) == expected
    rng = np.random.default_rng(7)
    for _ in range(3000):
        damaged = bytearray(head)
        for position in rng.integers(0, len(head), size=int(rng.integers(1, 4))):
            damaged[position] = int(rng.integers(0, 256))
        quickscan.scan(bytes(damaged), len(data), 1 << 20)
