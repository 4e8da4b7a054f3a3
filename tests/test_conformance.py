"""Every real reference file: frames equal pydicom's, or a DicomError.

For each file in pydicom-data and pydicom's test files, the first, middle
and last frame returned by :meth:`Document.frame` must equal
``pydicom.pixels.pixel_array(path, index=k)`` value for value, dtype and shape
included. Where pydicom cannot parse or decode a file, the model must raise
:class:`DicomError` (never another exception) -- or decode it, which we also
accept and report. A file the model refuses, or in which it finds no frame,
must be one pydicom cannot decode either.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
from pydicom.pixels import pixel_array

from reference_files import reference_files
from viewer.model import DicomError, open_document

FILES = reference_files()


def test_reference_files_found():
    assert len(FILES) > 100, "pydicom-data and pydicom's test files should give well over 100 files"


def _pydicom_frame(path, index):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pixel_array(path, index=index)


@pytest.mark.parametrize(
    "threshold, access", [(1 << 20, "memory-map"), (64, "memory-map"), (1 << 20, "read")], ids=["1MiB", "64B", "read"]
)
@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_frames_equal_pydicom(path, threshold, access):
    logging.disable(logging.WARNING)
    try:
        try:
            document = open_document(path, memmap_threshold=threshold, file_access=access)
        except DicomError:
            with pytest.raises(Exception):
                _pydicom_frame(path, 0)
            return
        with document:
            count = document.num_frames
            if count == 0:  # no frame to show: pydicom must not find one either
                with pytest.raises(Exception):
                    _pydicom_frame(path, 0)
                return
            for index in sorted({0, count // 2, count - 1}):
                try:
                    expected = _pydicom_frame(path, index)
                except Exception:
                    try:
                        document.frame(index)
                    except DicomError:
                        pass
                    continue
                got = document.frame(index)
                assert got.dtype == expected.dtype
                assert got.shape == expected.shape
                assert np.array_equal(got, expected, equal_nan=True), f"frame {index} differs"
    finally:
        logging.disable(logging.NOTSET)
