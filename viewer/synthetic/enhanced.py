"""Writer of Enhanced CT-like multi-frame files with one Per-frame Functional Groups item per frame.

Used by the tests (per-frame groups parsed on demand, the display pipeline,
the tag browser, the fuzzer's seeds) and the benchmarks (open time against
pydicom at 20,000 frames). The header is built by pydicom; the Per-frame
Functional Groups Sequence is encoded by hand, item by item, and streamed with
the frames, so that 20,000 frames are written in well under a second and
memory does not grow with the frame count.

Each item holds a Frame Content (Frame Acquisition Number = the frame index,
In-Stack Position Number one more), a Plane Position (z = the frame index)
and, as asked, a Pixel Value
Transformation (:func:`expected_rescale`, different from frame to frame so
that a reader applying the wrong frame's rescale is caught) and a Frame VOI
LUT (:func:`expected_window`). Samples are signed 16-bit with `bits_stored`
bits; frame k holds the values ``k * rows * columns + i`` (i the pixel's
index), wrapped into the stored range, except its first pixel, which holds k
(wrapped likewise): a reader that returns the wrong frame is caught.
"""

from __future__ import annotations

import os
import pathlib
import struct

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from viewer.synthetic.dataset import MAX_PIXEL_DATA_BYTES, encode_header, file_meta
from viewer.synthetic.elements import SEQUENCE_END, ElementEncoder

__all__ = ["ENHANCED_CT_STORAGE", "expected_rescale", "expected_window", "write_enhanced"]

ENHANCED_CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
_CHUNK_BYTES = 8 << 20


def expected_rescale(index: int) -> tuple[float, float]:
    """(Rescale Slope, Rescale Intercept) that :func:`write_enhanced` gives frame `index`."""
    return 1 + (index % 7) / 8, float(-1024 + index % 13)


def expected_window(index: int) -> tuple[float, float]:
    """(Window Center, Window Width) that :func:`write_enhanced` gives frame `index` with ``window=True``."""
    return float(40 + index), 400.0


def write_enhanced(
    path: str | os.PathLike[str],
    frames: int,
    *,
    rows: int = 8,
    columns: int = 8,
    bits_stored: int = 16,
    implicit_vr: bool = False,
    undefined_lengths: bool = True,
    rescale: bool = True,
    window: bool = False,
    sop_instance_uid: str | None = None,
) -> pathlib.Path:
    """Write an Enhanced CT-like file with one Per-frame Functional Groups item per frame.

    Parameters
    ----------
    path : str or os.PathLike
        File to create (overwritten; removed again if writing fails).
    frames : int
        Number of frames (and of per-frame items), at least 1.
    rows, columns : int, optional
        Frame size.
    bits_stored : int, optional
        Bits Stored of the signed 16-bit samples (High Bit one less).
    implicit_vr : bool, optional
        Implicit VR Little Endian instead of Explicit VR Little Endian.
    undefined_lengths : bool, optional
        The per-frame sequence, its items and their sequences have undefined
        lengths (as vendors write them); else defined lengths.
    rescale : bool, optional
        Each item has a Pixel Value Transformation (:func:`expected_rescale`).
    window : bool, optional
        Each item has a Frame VOI LUT (:func:`expected_window`).
    sop_instance_uid : str, optional
        Fixed SOP Instance UID; the other UIDs are derived from it, so the
        file's bytes are the same on every run. A new UID by default.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    if frames < 1:
        raise ValueError(f"frames must be at least 1, not {frames!r}")
    if not 1 <= bits_stored <= 16:
        raise ValueError(f"bits_stored must be in 1..16, not {bits_stored!r}")
    pixel_bytes = frames * rows * columns * 2
    if pixel_bytes > MAX_PIXEL_DATA_BYTES:
        raise ValueError(f"{frames} frames of {rows}x{columns} need {pixel_bytes} bytes, more than Pixel Data holds")
    path = pathlib.Path(path)
    encoder = ElementEncoder(implicit_vr, undefined_lengths)

    def item(index: int) -> bytes:
        return encoder.item(_per_frame_groups(encoder, index, rescale, window))

    dataset = _dataset(frames, rows, columns, bits_stored, sop_instance_uid)
    dataset.file_meta = file_meta(dataset, ImplicitVRLittleEndian if implicit_vr else ExplicitVRLittleEndian)
    try:
        with open(path, "wb") as file:
            file.write(encode_header(dataset))
            # Defined lengths: the items are encoded twice (once to measure), not held.
            length = None if undefined_lengths else sum(len(item(index)) for index in range(frames))
            file.write(encoder.sequence_header(0x5200, 0x9230, length))
            for index in range(frames):
                file.write(item(index))
            if undefined_lengths:
                file.write(encoder.delimiter(SEQUENCE_END))
            file.write(encoder.long_header(0x7FE0, 0x0010, b"OW", pixel_bytes))
            _write_pixels(file, frames, rows * columns, bits_stored)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _per_frame_groups(encoder: ElementEncoder, index: int, rescale: bool, window: bool) -> bytes:
    """The body of frame `index`'s Per-frame Functional Groups item."""
    content = (
        encoder.element(0x0020, 0x9056, b"SH", b"1")  # Stack ID
        + encoder.element(0x0020, 0x9057, b"UL", struct.pack("<I", index + 1))  # In-Stack Position Number
        + encoder.element(0x0020, 0x9156, b"US", struct.pack("<H", index % 65536))  # Frame Acquisition Number
    )
    position = encoder.element(0x0020, 0x0032, b"DS", f"0\\0\\{index}".encode())  # Image Position (Patient)
    groups = encoder.sequence(0x0020, 0x9111, content) + encoder.sequence(0x0020, 0x9113, position)
    if window:
        center, width = expected_window(index)
        voi = encoder.element(0x0028, 0x1050, b"DS", f"{center:g}".encode())
        voi += encoder.element(0x0028, 0x1051, b"DS", f"{width:g}".encode())
        groups += encoder.sequence(0x0028, 0x9132, voi)
    if rescale:
        slope, intercept = expected_rescale(index)
        transformation = (
            encoder.element(0x0028, 0x1052, b"DS", f"{intercept:g}".encode())
            + encoder.element(0x0028, 0x1053, b"DS", f"{slope:g}".encode())
            + encoder.element(0x0028, 0x1054, b"LO", b"HU")
        )
        groups += encoder.sequence(0x0028, 0x9145, transformation)
    return groups


def _dataset(frames: int, rows: int, columns: int, bits_stored: int, sop_instance_uid: str | None) -> Dataset:
    """Every top-level attribute before the Per-frame Functional Groups Sequence."""
    ds = Dataset()
    ds.SOPClassUID = ENHANCED_CT_STORAGE
    ds.SOPInstanceUID = sop_instance_uid or generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = (
        generate_uid(entropy_srcs=[ds.SOPInstanceUID, part]) for part in ("study", "series", "frame of reference")
    )
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.PatientName, ds.PatientID = "Synthetic^Enhanced", "CINEMAP-ENHANCED"
    ds.ContentDate, ds.ContentTime = "20240101", "120000"
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits_stored, bits_stored - 1, 1
    measures, orientation, shared = Dataset(), Dataset(), Dataset()
    measures.PixelSpacing, measures.SliceThickness = [0.5, 0.5], 1.0
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PlaneOrientationSequence = Sequence([orientation])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    return ds


def _write_pixels(file, frames: int, frame_pixels: int, bits_stored: int) -> None:
    """Frame k's pixel i holds ``k * frame_pixels + i`` and its pixel 0 holds k, wrapped into the stored range.

    The values repeat every ``2**bits_stored`` samples, which divides the
    chunk: one chunk is computed once, and each written chunk is a copy of it
    with the first pixels of its frames set.
    """
    span = 1 << bits_stored
    total = frames * frame_pixels
    step = _CHUNK_BYTES // 2
    pattern = (np.arange(min(step, total), dtype=np.int64) % span - span // 2).astype("<i2")
    for start in range(0, total, step):
        chunk = pattern[: min(step, total - start)].copy()
        first = -(-start // frame_pixels)  # the first frame starting in this chunk
        indices = np.arange(first, -(-(start + chunk.size) // frame_pixels), dtype=np.int64)
        chunk[indices * frame_pixels - start] = (indices + span // 2) % span - span // 2
        file.write(chunk.tobytes())
