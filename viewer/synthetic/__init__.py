"""Synthetic DICOM files for the tests, the built-in demo and the benchmarks.

Not part of the document model: these are writers, streamed to disk in
bounded memory, of files whose every pixel is known (see
:func:`viewer.synthetic.cine.expected_frame`).
"""

from viewer.synthetic.cine import MAX_PIXEL_DATA_BYTES, expected_frame, frame_index_of, frames_for_size, write_cine

__all__ = ["MAX_PIXEL_DATA_BYTES", "expected_frame", "frame_index_of", "frames_for_size", "write_cine"]
