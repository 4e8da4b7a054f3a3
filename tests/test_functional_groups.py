"""Per-frame Functional Groups parsed on demand for files with many frames."""

from __future__ import annotations

import random

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from viewer.model import open_document
from viewer.model.dicom.functional_groups import LAZY_MIN_FRAMES
from viewer.synthetic.enhanced import expected_rescale, write_enhanced


@pytest.mark.parametrize("undefined", [True, False], ids=["undefined-length", "defined-length"])
@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_lazy_per_frame_rescale_equals_pydicom(tmp_path, undefined, implicit):
    frames = LAZY_MIN_FRAMES * 3
    path = write_enhanced(tmp_path / "e.dcm", frames, undefined_lengths=undefined, implicit_vr=implicit)
    reference = pydicom.dcmread(path)
    with open_document(path) as doc:
        mapped = {e.keyword: e for e in doc.mapped_elements}
        assert "PerFrameFunctionalGroupsSequence" in mapped, "large sequences are mapped, not parsed"
        assert "memory-mapped" in str(doc.dataset)
        assert doc.rescale_unit == "HU"
        order = list(range(frames))
        random.Random(4).shuffle(order)
        for index in order[:60] + [frames - 1, 0]:
            expected = reference.PerFrameFunctionalGroupsSequence[index].PixelValueTransformationSequence[0]
            assert doc.rescale(index) == (float(expected.RescaleSlope), float(expected.RescaleIntercept))
            position = doc.per_frame_groups(index).PlanePositionSequence[0].ImagePositionPatient
            assert float(position[2]) == index
        assert doc.per_frame_groups(frames) is None
        np.testing.assert_array_equal(doc.frame(frames - 1), reference.pixel_array[frames - 1])


def test_small_enhanced_files_are_parsed_whole(tmp_path):
    path = write_enhanced(tmp_path / "small.dcm", 5)
    with open_document(path) as doc:
        assert "PerFrameFunctionalGroupsSequence" not in {e.keyword for e in doc.mapped_elements}
        assert len(doc.dataset.PerFrameFunctionalGroupsSequence) == 5
        assert doc.rescale(3) == expected_rescale(3) == (1 + 3 / 8, -1024 + 3)


def test_truncated_per_frame_sequence_is_an_error(tmp_path):
    from viewer.model import DicomError

    path = write_enhanced(tmp_path / "cut.dcm", LAZY_MIN_FRAMES * 2)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(DicomError):
        with open_document(path) as doc:
            doc.rescale(LAZY_MIN_FRAMES * 2 - 1)
            doc.frame(0)


def test_lazy_items_without_the_wanted_group_fall_back_to_shared(tmp_path):
    path = tmp_path / "plain.dcm"
    write_enhanced(path, LAZY_MIN_FRAMES)
    dataset = pydicom.dcmread(path)
    shared_transform = Dataset()
    shared_transform.RescaleSlope, shared_transform.RescaleIntercept = 2, -5
    dataset.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence = Sequence([shared_transform])
    for item in dataset.PerFrameFunctionalGroupsSequence:
        del item.PixelValueTransformationSequence
    dataset.save_as(path)
    with open_document(path) as doc:
        assert "PerFrameFunctionalGroupsSequence" in {e.keyword for e in doc.mapped_elements}
        assert doc.rescale(LAZY_MIN_FRAMES - 1) == (2.0, -5.0)
        assert doc.window_presets == []
