"""Mask outside ultrasound regions on real deid-data cines, saved in place."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import zipfile

import numpy as np
import pydicom
import pytest
from pydicom.pixels import pixel_array

from reference_files import deid_ultrasounds
from viewer.model import open_document

FOLDER = deid_ultrasounds()
pytestmark = pytest.mark.skipif(FOLDER is None, reason="deid-data is not installed")


def _real_cines(tmp_path):
    """Copies of the real ultrasound cines (the zips unpacked)."""
    paths = [shutil.copy(FOLDER / "ultrasound-multiframe.dcm", tmp_path / "ultrasound-multiframe.dcm")]
    for name in ("GREYSCALE_CINE.zip", "RGB_CINE.zip"):
        with zipfile.ZipFile(FOLDER / name) as archive:
            member = next(m for m in archive.namelist() if m.lower().endswith(".dcm"))
            target = tmp_path / name.replace(".zip", ".dcm")
            with archive.open(member) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            paths.append(target)
    return paths


def _regions_inside(dataset, rows, columns):
    inside = np.zeros((rows, columns), dtype=bool)
    for item in dataset.SequenceOfUltrasoundRegions:
        inside[item.RegionLocationMinY0 : item.RegionLocationMaxY1 + 1,
               item.RegionLocationMinX0 : item.RegionLocationMaxX1 + 1] = True
    return inside


@pytest.mark.slow
@pytest.mark.parametrize("update_annotation", [True, False], ids=["record-NO", "keep-annotation"])
def test_mask_outside_regions_on_real_cines(tmp_path, update_annotation):
    for path in _real_cines(tmp_path):
        path = str(path)
        original = pydicom.dcmread(path)
        frames_before = [pixel_array(path, index=k) for k in range(int(original.get("NumberOfFrames", 1)))]
        raw_before = open(path, "rb").read()
        with open_document(path) as doc:
            pixel_offset = doc.pixel_offset
            doc.set_writable(True)
            doc.mask_outside_ultrasound_regions()
            changed_header = update_annotation and doc.burned_in_annotation == "YES"
            if update_annotation:
                assert doc.record_no_burned_in_annotation() == changed_header
            doc.save()
            assert not doc.dirty
        inside = _regions_inside(original, original.Rows, original.Columns)
        for index, before in enumerate(frames_before):
            after = pixel_array(path, index=index)
            assert not after[~inside].any(), f"{path}: frame {index} has pixels left outside the regions"
            np.testing.assert_array_equal(after[inside], before[inside])
        raw_after = open(path, "rb").read()
        assert len(raw_after) == len(raw_before)
        header_before, header_after = raw_before[:pixel_offset], raw_after[:pixel_offset]
        dataset_after = pydicom.dcmread(path)
        if changed_header:
            assert dataset_after.BurnedInAnnotation == "NO"
            differing = [i for i in range(pixel_offset) if header_before[i] != header_after[i]]
            assert differing and max(differing) - min(differing) < 4, "only the Burned In Annotation value changed"
        else:
            assert header_after == header_before
            assert dataset_after.get("BurnedInAnnotation") == original.get("BurnedInAnnotation")
        if shutil.which("dcmdump"):
            result = subprocess.run(["dcmdump", "-q", path], capture_output=True, text=True)
            assert result.returncode == 0, result.stderr


def test_read_only_session_never_changes_the_file(tmp_path):
    path = shutil.copy(FOLDER / "ultrasound-multiframe.dcm", tmp_path / "us.dcm")
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    from viewer.model import ReadOnlyError

    with open_document(path) as doc:
        assert doc.ultrasound_regions
        for attempt in (
            lambda: doc.mask_outside_ultrasound_regions(),
            lambda: doc.apply_mask(np.ones(doc.frame_shape[:2], bool), 0),
            lambda: doc.save(),
            lambda: doc.undo(),
            lambda: doc.record_no_burned_in_annotation(),
        ):
            with pytest.raises(ReadOnlyError):
                attempt()
        for index in range(doc.num_frames):
            doc.frame(index)
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == digest


def _grey_cine_with_regions(path, photometric: str, slope: float = 1.0):
    """A small 8-bit grey ultrasound cine with one region (rows 2-5, columns 3-8)."""
    from viewer.synthetic import write_cine

    write_cine(path, frames=2, rows=10, columns=12, bits_allocated=8, kind="us", ultrasound_regions=[(3, 2, 8, 5)])
    dataset = pydicom.dcmread(path)
    dataset.PhotometricInterpretation = photometric
    dataset.RescaleSlope, dataset.RescaleIntercept = slope, 0
    dataset.save_as(path)
    return path


@pytest.mark.parametrize("photometric, slope, black", [
    ("MONOCHROME2", 1.0, 0),
    ("MONOCHROME1", 1.0, 255),  # 0 would be white: a white box where the burned-in text was
    ("MONOCHROME2", -1.0, 255),
    ("MONOCHROME1", -1.0, 0),
])
def test_masking_outside_regions_fills_black(tmp_path, photometric, slope, black):
    path = _grey_cine_with_regions(tmp_path / "cine.dcm", photometric, slope)
    with open_document(path) as doc:
        assert doc.black_value == black
        doc.set_writable(True)
        doc.mask_outside_ultrasound_regions()
        doc.save()
    inside = np.zeros((10, 12), bool)
    inside[2:6, 3:9] = True
    for index in range(2):
        after = pixel_array(path, index=index)
        assert (after[~inside] == black).all()
