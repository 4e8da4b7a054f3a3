"""What Cinemap relies on in pydicom, through viewer.model.dicom.pydicom_adapter (no Qt).

Each test states one behaviour of pydicom the adapter depends on. A failure
here after a pydicom upgrade means the adapter (and only the adapter) needs
changing: the message says what pydicom now does differently.
"""

from __future__ import annotations

import io
import os
import struct

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from viewer.model.dicom import pydicom_adapter
from viewer.model.dicom.functional_groups import PER_FRAME_TAG
from viewer.model.dicom.mapped import MappedValue

PRIVATE_CREATOR, PRIVATE_BLOB = 0x00290010, 0x00291010
BLOB_BYTES = 4096


class CountingValue(MappedValue):
    """A buffered value that counts every read of its bytes."""

    def __init__(self, data: bytes, offset: int = 1234) -> None:
        super().__init__(np.frombuffer(data, np.uint8), offset)
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        return super().read(size)


def _dataset_with(value: CountingValue, tag: int = 0x7FE00010, vr: str = "OB") -> Dataset:
    dataset = Dataset()
    dataset.PatientName = "Adapter^Test"
    item = Dataset()
    item.SeriesDescription = "nested"
    dataset.ReferencedSeriesSequence = [item]
    pydicom_adapter.put_element(dataset, pydicom_adapter.buffered_element(tag, vr, value))
    return dataset


def _file_with_deferred_values(tmp_path) -> str:
    """A small file with a large standard value and a large private one (both deferred at 1 KB)."""
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID = generate_uid()
    dataset.SpecificCharacterSet = "ISO_IR 100"
    dataset.PatientName = "Müller^Jörg"
    dataset.add_new(PRIVATE_CREATOR, "LO", "CINEMAP TEST")
    dataset.add_new(PRIVATE_BLOB, "OB", bytes(range(256)) * (BLOB_BYTES // 256))
    dataset.add_new(0x00420011, "OB", b"\x01" * BLOB_BYTES)  # Encapsulated Document
    path = str(tmp_path / "deferred.dcm")
    dataset.save_as(path, enforce_file_format=True)
    return path


def test_a_buffered_value_is_not_read_when_the_dataset_is_printed_or_walked():
    value = CountingValue(b"\x07" * 64)
    dataset = _dataset_with(value)
    text = str(dataset) + repr(dataset)
    dataset.walk(lambda ds, element: element.repval)
    _ = [element.value for element in dataset]
    _ = [element.VM for element in dataset.iterall()]
    assert value.reads == 0, "pydicom now reads buffered values when a dataset is printed or walked"
    assert repr(value) in text, "pydicom no longer shows a buffered value by its repr"
    assert dataset[0x7FE00010].is_buffered


def test_stored_value_returns_the_buffer_itself():
    value = CountingValue(b"\x07" * 64)
    dataset = _dataset_with(value)
    element = pydicom_adapter.raw_element(dataset, 0x7FE00010)
    assert pydicom_adapter.stored_value(element) is value, "DataElement.value no longer returns the buffer as held"
    assert value.reads == 0


def test_a_short_per_frame_sequence_value_stays_un_and_unread():
    """A mapped Per-frame Functional Groups Sequence must not become SQ (pydicom would parse the buffer)."""
    value = CountingValue(b"\xfe\xff\x00\xe0" + bytes(12))  # shorter than 0xFFFF: pydicom's "UN -> known VR" rule
    dataset = _dataset_with(value, PER_FRAME_TAG, "UN")
    str(dataset)
    element = dataset[PER_FRAME_TAG]
    assert element.VR == "UN", f"a buffered UN element of a known tag became {element.VR}"
    assert pydicom_adapter.stored_value(element) is value and value.reads == 0


def test_an_unparsed_sequence_stays_un_with_its_bytes():
    data = b"\xfe\xff\x00\xe0\x08\x00\x00\x00a\\b\x00\x01"  # a backslash pydicom must not split at
    element = pydicom_adapter.unparsed_element(PER_FRAME_TAG, data)
    dataset = Dataset()
    pydicom_adapter.put_element(dataset, element)
    assert dataset[PER_FRAME_TAG].VR == "UN"
    assert dataset[PER_FRAME_TAG].value == data


def test_get_item_keep_deferred_does_not_read_a_deferred_value(tmp_path):
    path = _file_with_deferred_values(tmp_path)
    dataset = pydicom.dcmread(path, defer_size=1024)
    os.remove(path)  # a deferred read would now raise FileNotFoundError
    for tag in (0x00420011, PRIVATE_BLOB):
        element = pydicom_adapter.raw_element(dataset, tag)
        assert isinstance(element, RawDataElement), f"get_item(keep_deferred=True) converted {tag:08X}"
        assert element.value is None and element.length == BLOB_BYTES and element.value_tell > 0
    assert pydicom_adapter.raw_element(dataset, 0x00100020) is None  # absent
    assert 0x00420011 in dataset


def test_raw_items_converts_nothing_and_reads_nothing(tmp_path):
    path = _file_with_deferred_values(tmp_path)
    dataset = pydicom.dcmread(path, defer_size=1024)
    items = list(pydicom_adapter.raw_items(dataset))
    assert [int(tag) for tag, _ in items] == sorted(int(tag) for tag in dataset.keys())
    raw = {int(tag) for tag, element in items if isinstance(element, RawDataElement)}
    assert {0x00100010, PRIVATE_CREATOR, PRIVATE_BLOB, 0x00420011} <= raw
    assert all(isinstance(dataset.get_item(tag, keep_deferred=True), RawDataElement) for tag in raw), (
        "walking the dataset converted raw elements"
    )


def test_merge_raw_keeps_a_deferred_private_value_raw(tmp_path):
    path = _file_with_deferred_values(tmp_path)
    parsed = pydicom.dcmread(path, defer_size=1024)
    target = Dataset()
    target.add_new(PRIVATE_CREATOR, "LO", "CINEMAP TEST")
    rest = Dataset()
    for tag, element in pydicom_adapter.raw_items(parsed):
        if tag == PRIVATE_BLOB:
            rest[tag] = element  # no creator in `rest`: stored raw
    assert isinstance(rest.get_item(PRIVATE_BLOB, keep_deferred=True), RawDataElement)
    pydicom_adapter.merge_raw(target, rest)
    element = target.get_item(PRIVATE_BLOB, keep_deferred=True)
    assert isinstance(element, RawDataElement) and element.value is None, (
        "merge_raw no longer reaches the dict behind Dataset.get_item"
    )


def test_the_public_update_still_converts_raw_private_elements(tmp_path):
    """Why merge_raw is private: if this fails, pydicom keeps them raw and merge_raw can use Dataset.update."""
    path = _file_with_deferred_values(tmp_path)
    parsed = pydicom.dcmread(path, defer_size=1024)
    rest = Dataset()
    rest[PRIVATE_BLOB] = parsed.get_item(PRIVATE_BLOB, keep_deferred=True)
    target = Dataset()
    target.add_new(PRIVATE_CREATOR, "LO", "CINEMAP TEST")
    target.update(rest)
    assert not isinstance(target.get_item(PRIVATE_BLOB, keep_deferred=True), RawDataElement)


def test_setitem_delitem_and_contains_convert_nothing(tmp_path):
    path = _file_with_deferred_values(tmp_path)
    dataset = pydicom.dcmread(path, defer_size=1024)
    assert 0x00100010 in dataset
    del dataset[0x00420011]
    assert 0x00420011 not in dataset
    assert isinstance(dataset.get_item(0x00100010, keep_deferred=True), RawDataElement)


@pytest.mark.parametrize(
    ("character_set", "text", "codec"),
    [(None, "Plain ASCII", "ascii"), ("ISO_IR 100", "Größe Müller", "latin_1"),
     ("ISO_IR 192", "Größe 大きさ", "utf_8"), ("ISO_IR 144", "Размер", "iso8859_5")],
)
def test_a_continued_parse_decodes_text_with_the_adapters_character_set(character_set, text, codec):
    """file_header parses on after a skipped Per-frame sequence with this encoding (read_dataset's parent_encoding)."""
    dataset = Dataset()
    if character_set is not None:
        dataset.SpecificCharacterSet = character_set
    value = text.encode(codec)
    value += b" " * (len(value) % 2)
    raw = struct.pack("<HH2sH", 0x0040, 0x0254, b"LO", len(value)) + value  # Performed Procedure Step Description
    parsed = read_dataset(io.BytesIO(raw), False, True, parent_encoding=pydicom_adapter.character_set(dataset))
    assert parsed[0x00400254].value == text
