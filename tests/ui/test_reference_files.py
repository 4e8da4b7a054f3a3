"""Real files of every colour model display without error: MONOCHROME1/2, PALETTE COLOR, RGB, YBR.

The table is built by walking pydicom's own test files and pydicom-data's
(``tests/reference_files.py``; never ``get_testdata_files``, which may go to
the network): one file per photometric interpretation, transfer syntax and
pixel representation, among the files whose first frame pydicom decodes --
those Cinemap must show. (Files pydicom cannot decode are checked by
``tests/test_conformance.py``: a DicomError or frames, never a crash.)
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
import pytest  # noqa: E402
from pydicom.pixels import pixel_array  # noqa: E402
from reference_files import reference_files  # noqa: E402

from viewer.model import open_document  # noqa: E402
from viewer.model.display import render  # noqa: E402
from viewer.ui.image_view import ImageView  # noqa: E402

_PHOTOMETRIC = ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB", "YBR_FULL", "YBR_FULL_422")


def _table() -> list[Path]:
    chosen: dict[tuple, Path] = {}
    for path in reference_files():
        if path.suffix.lower() != ".dcm":
            continue
        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 -- not every test file is a valid header
            continue
        photometric = str(dataset.get("PhotometricInterpretation", ""))
        if photometric not in _PHOTOMETRIC:
            continue
        syntax = str(getattr(dataset.file_meta, "TransferSyntaxUID", "")) if hasattr(dataset, "file_meta") else ""
        key = (photometric, syntax, int(dataset.get("PixelRepresentation", 0) or 0))
        if key not in chosen and _pydicom_decodes(path):
            chosen[key] = path
    return sorted(chosen.values())


def _pydicom_decodes(path: Path) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixel_array(path, index=0)
    except Exception:  # noqa: BLE001 -- any failure: no reference for what the file shows
        return False
    return True


TABLE = _table()


def test_table_covers_every_colour_model():
    found = set()
    for path in TABLE:
        found.add(str(pydicom.dcmread(path, stop_before_pixels=True).PhotometricInterpretation))
    assert {"MONOCHROME2", "PALETTE COLOR", "RGB"} <= found
    if any("data_store" in str(path) for path in reference_files()):
        assert "MONOCHROME1" in found  # pydicom-data has them; pydicom's own files do not
    assert found & {"YBR_FULL", "YBR_FULL_422"}


@pytest.mark.parametrize("path", TABLE, ids=[path.name for path in TABLE])
def test_reference_file_displays(qtbot, state, path):
    document = open_document(path)
    view = ImageView(state)
    qtbot.addWidget(view)
    failures = []
    view.frame_failed.connect(failures.append)
    with document:
        state.set_document(document)
        assert not failures, failures[0]
        image = view.image_item.image
        assert image is not None and image.flags.c_contiguous and image.dtype.isnative
        kind = state.display_kind
        if kind == render.GREY:
            assert image.shape == document.frame_shape
            inverted = document.photometric_interpretation == "MONOCHROME1"
            assert (view.image_item.lut is not None) == inverted
        else:
            assert image.shape == document.frame_shape[:2] + (3,)
            assert view.image_item.levels is not None
        if document.num_frames > 1:
            state.set_frame(document.num_frames - 1)
            assert not failures
        qtbot.wait(1)
        view.grab()  # paints: the renderer accepts the frame
        assert np.isfinite(np.asarray(view.image_item.levels, dtype=float)).all()
        state.set_document(None)
