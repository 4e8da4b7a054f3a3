"""Cinemap's document model: a Qt-free library.

Open a DICOM file of any size in constant time and memory::

    from viewer.model import open_document

    with open_document("cine.dcm") as doc:
        print(doc.num_frames, doc.frame_shape, doc.dtype)
        first = doc.frame(0)        # equals pydicom.pixels.pixel_array(path, index=0)
        stack = doc.frames          # zero-copy (frames, rows, cols[, samples]) for native data

Nothing here imports Qt; the GUI (:mod:`viewer.ui`) is built on top.
"""

from viewer.model.display.metadata import WindowPreset
from viewer.model.document import DEFAULT_CACHE_BYTES, DEFAULT_MEMMAP_THRESHOLD, Document
from viewer.model.opening import open_document
from viewer.model.errors import (
    DicomError,
    FileChangedError,
    LockedError,
    NotDicomError,
    ReadOnlyError,
    SaveError,
    TruncatedFileError,
    UnsupportedError,
)
from viewer.model.dicom.mapped import MappedElement, MappedValue, format_bytes
from viewer.model.slide import Slide, SlideLevel, open_slide

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "DEFAULT_MEMMAP_THRESHOLD",
    "DicomError",
    "Document",
    "FileChangedError",
    "LockedError",
    "MappedElement",
    "MappedValue",
    "NotDicomError",
    "ReadOnlyError",
    "Slide",
    "SlideLevel",
    "SaveError",
    "TruncatedFileError",
    "UnsupportedError",
    "WindowPreset",
    "format_bytes",
    "open_document",
    "open_slide",
]
