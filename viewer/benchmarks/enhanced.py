"""An Enhanced CT-like file with a large Per-frame Functional Groups Sequence.

:func:`write_enhanced` writes small frames (64x64 16-bit by default) under a
header whose Per-frame Functional Groups Sequence has one item per frame,
every sequence and item of undefined length, each item holding a Frame
Content, a Plane Position and a Pixel Value Transformation (rescale) item.
The rescale differs from frame to frame (:func:`expected_rescale`), so a
reader that applies the wrong frame's rescale is caught. The per-frame items
are encoded by hand (explicit VR little endian), which writes 20,000 frames
in well under a second; the rest of the header is encoded by pydicom.

:func:`measure` is the worker side: open time of ``open_document`` versus
``pydicom.dcmread``, and the cost of ``pydicom.pixels.pixel_array(path,
index=k)`` per frame, which parses the whole header on every call.
"""

from __future__ import annotations

import io
import os
import pathlib
import struct
import time
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

from viewer.benchmarks import probe

ENHANCED_CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
_CHUNK_FRAMES = 512


def expected_rescale(index: int) -> tuple[float, float]:
    """(slope, intercept) that :func:`write_enhanced` gives frame `index`."""
    return 1.0 + 0.5 * (index % 4), -1024.0 - (index % 10)


def write_enhanced(path: str | os.PathLike[str], frames: int, *, rows: int = 64,
                   columns: int = 64) -> pathlib.Path:
    """Write an Enhanced CT-like multi-frame file with per-frame functional groups.

    Parameters
    ----------
    path : str or os.PathLike
        File to create (overwritten).
    frames : int
        Number of frames (and of Per-frame Functional Groups items).
    rows, columns : int, optional
        Frame size; samples are unsigned 16-bit.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    if frames < 1:
        raise ValueError(f"frames must be at least 1, not {frames!r}")
    path = pathlib.Path(path)
    frame_nbytes = rows * columns * 2
    with open(path, "wb") as file:
        file.write(_encode_header(_dataset(frames, rows, columns)))
        file.write(_sequence_header(0x5200, 0x9230))
        for index in range(frames):
            file.write(_per_frame_item(index))
        file.write(_tag(*_SEQUENCE_END) + struct.pack("<I", 0))
        file.write(_tag(0x7FE0, 0x0010) + b"OW\x00\x00" + struct.pack("<I", frames * frame_nbytes))
        _write_pixels(file, frames, rows, columns)
    return path


def _dataset(frames: int, rows: int, columns: int) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = ENHANCED_CT_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.PatientName, ds.PatientID = "Synthetic^Enhanced", "CINEMAP-ENHANCED"
    ds.ContentDate, ds.ContentTime = "20240101", "120000"
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SharedFunctionalGroupsSequence = Sequence([_shared_groups()])
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return ds


def _shared_groups() -> Dataset:
    measures, orientation, window = Dataset(), Dataset(), Dataset()
    measures.PixelSpacing, measures.SliceThickness = [0.5, 0.5], 1.0
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    window.WindowCenter, window.WindowWidth = 40, 400
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.FrameVOILUTSequence = Sequence([window])
    return shared


def _encode_header(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def _tag(group: int, element: int) -> bytes:
    return struct.pack("<HH", group, element)


def _element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\x00" if vr == b"UI" else b" "
    return _tag(group, element) + vr + struct.pack("<H", len(value)) + value


def _sequence_header(group: int, element: int) -> bytes:
    return _tag(group, element) + b"SQ\x00\x00" + struct.pack("<I", _UNDEFINED)


def _wrapped_item(body: bytes) -> bytes:
    return _tag(*_ITEM) + struct.pack("<I", _UNDEFINED) + body + _tag(*_ITEM_END) + struct.pack("<I", 0)


def _sequence(group: int, element: int, body: bytes) -> bytes:
    """A one-item sequence, sequence and item of undefined length."""
    return _sequence_header(group, element) + _wrapped_item(body) + _tag(*_SEQUENCE_END) + struct.pack("<I", 0)


def _per_frame_item(index: int) -> bytes:
    slope, intercept = expected_rescale(index)
    content = (
        _element(0x0020, 0x9056, b"SH", b"1")
        + _element(0x0020, 0x9057, b"UL", struct.pack("<I", index + 1))
        + _element(0x0020, 0x9157, b"UL", struct.pack("<II", 1, index + 1))
    )
    position = _element(0x0020, 0x0032, b"DS", f"-100\\-100\\{index * 0.5:g}".encode())
    transformation = (
        _element(0x0028, 0x1052, b"DS", f"{intercept:g}".encode())
        + _element(0x0028, 0x1053, b"DS", f"{slope:g}".encode())
        + _element(0x0028, 0x1054, b"LO", b"HU")
    )
    return _wrapped_item(
        _sequence(0x0020, 0x9111, content)
        + _sequence(0x0020, 0x9113, position)
        + _sequence(0x0028, 0x9145, transformation)
    )


def _write_pixels(file, frames: int, rows: int, columns: int) -> None:
    base = (np.add.outer(np.arange(rows), np.arange(columns)) * 8 % 4096).astype("<u2")
    for start in range(0, frames, _CHUNK_FRAMES):
        count = min(_CHUNK_FRAMES, frames - start)
        chunk = np.broadcast_to(base, (count, rows, columns)).copy()
        chunk[:, 0, 0] = np.arange(start, start + count) % 65536
        file.write(chunk.tobytes())


# --------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Open time of one method on an enhanced file (``spec["method"]``).

    Methods: ``cinemap`` (``open_document`` then ``Document.rescale(k)`` on
    sample frames, checked against :func:`expected_rescale`),
    ``pydicom_dcmread`` (``dcmread(path)``, pixel data read as pydicom does by
    default) and ``pydicom_index`` (``pixel_array(path, index=k)``, per call).
    The file is in the page cache for every method.
    """
    path, frames, method = spec["path"], int(spec["frames"]), spec["method"]
    probe.warm_up_pydicom()
    if method == "cinemap":
        import viewer.model  # noqa: F401  (imports are not timed)
    elif method == "pydicom_index":
        from pydicom import pixels  # noqa: F401
    probe.warm_ranges(path, [(0, os.path.getsize(path))])
    samples = sorted({0, 1, frames // 2, frames - 1} | set(np.random.default_rng(7).integers(0, frames, 16).tolist()))
    result: dict[str, Any] = {"method": method, "frames": frames}
    if method == "cinemap":
        result.update(_measure_cinemap(path, samples))
    elif method == "pydicom_dcmread":
        result.update(_measure_dcmread(path, samples))
    elif method == "pydicom_index":
        from pydicom.pixels import pixel_array

        indices = samples[:3]
        durations = probe.time_each(indices, lambda k: pixel_array(path, index=k).sum())
        result["per_frame"] = probe.summarize_ms(durations)
    else:
        raise ValueError(f"unknown enhanced method {method!r}")
    return result


def _measure_cinemap(path: str, samples: list[int]) -> dict[str, Any]:
    from viewer.model import open_document

    last = samples[-1]
    started = time.perf_counter()
    document = open_document(path)
    opened = time.perf_counter()
    try:
        last_rescale = document.rescale(last)
        looked_up = time.perf_counter()
        rescales = [document.rescale(k) for k in samples]
        document.frame(last).sum()
    finally:
        document.close()
    wrong = [k for k, got in zip(samples, rescales) if tuple(got) != expected_rescale(k)]
    if tuple(last_rescale) != expected_rescale(last):
        wrong.append(last)
    return {
        "open_ms": round((opened - started) * 1000, 3),
        "open_and_last_rescale_ms": round((looked_up - started) * 1000, 3),
        "rescale_ok": not wrong,
        "rescale_wrong_frames": wrong[:5],
    }


def _measure_dcmread(path: str, samples: list[int]) -> dict[str, Any]:
    last = samples[-1]
    started = time.perf_counter()
    dataset = pydicom.dcmread(path)
    opened = time.perf_counter()
    groups = dataset.PerFrameFunctionalGroupsSequence
    last_rescale = _pydicom_rescale(groups[last])
    looked_up = time.perf_counter()
    ok = last_rescale == expected_rescale(last) and all(
        _pydicom_rescale(groups[k]) == expected_rescale(k) for k in samples
    )
    return {
        "open_ms": round((opened - started) * 1000, 3),
        "open_and_last_rescale_ms": round((looked_up - started) * 1000, 3),
        "rescale_ok": ok,
    }


def _pydicom_rescale(group: Dataset) -> tuple[float, float]:
    item = group.PixelValueTransformationSequence[0]
    return float(item.RescaleSlope), float(item.RescaleIntercept)
