"""Synthetic DICOM files for the tests, the built-in demo and the benchmarks.

Not part of the document model: these are writers, streamed to disk in
bounded memory, of files whose every pixel is known (see
:func:`viewer.synthetic.cine.expected_frame` and, for regions and pyramid
levels of the grid pattern, :func:`viewer.synthetic.cine.expected_region`).
"""

from viewer.synthetic.cine import (
    MAX_PIXEL_DATA_BYTES,
    expected_frame,
    expected_region,
    frame_index_of,
    frames_for_size,
    write_cine,
)
from viewer.synthetic.encapsulated import encapsulated_frames_for_size, write_encapsulated_cine

__all__ = [
    "MAX_PIXEL_DATA_BYTES",
    "encapsulated_frames_for_size",
    "expected_frame",
    "expected_region",
    "frame_index_of",
    "frames_for_size",
    "write_cine",
    "write_encapsulated_cine",
]
