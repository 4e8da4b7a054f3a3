"""A JPEG Baseline ultrasound cine, written frame by frame, and its decode speed.

:func:`write_jpeg_cine` takes frames from the synthetic writer (an 8-bit RGB
ultrasound cine written by :func:`viewer.synthetic.cine.write_cine` to a
temporary file and read back through the document model), encodes each with
:func:`viewer.benchmarks.jpeg.encode_baseline` and streams it into an
encapsulated Pixel Data element whose Basic Offset Table is patched in at
the end. pydicom has no JPEG Baseline encoder (its encoders cover RLE,
JPEG-LS and JPEG 2000), hence the small encoder of our own.

:func:`measure` is the worker side: decode speed of every frame, in order,
twice (the second pass shows the decoded-frame cache), per method.
"""

from __future__ import annotations

import os
import pathlib
import struct
import time
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import JPEGBaseline8Bit

from viewer.benchmarks import probe

_ITEM_TAG = struct.pack("<HH", 0xFFFE, 0xE000)
_SEQUENCE_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
_EMPTY_OFFSET_TABLE = _ITEM_TAG + struct.pack("<I", 0)


def write_jpeg_cine(path: str | os.PathLike[str], frames: int, *, rows: int = 480, columns: int = 640,
                    quality: int = 90) -> list[tuple[int, int]]:
    """Write a JPEG Baseline multi-frame ultrasound cine with a Basic Offset Table.

    Parameters
    ----------
    path : str or os.PathLike
        File to create; a temporary native cine ``path + ".source"`` is
        written beside it and deleted.
    frames : int
        Number of frames.
    rows, columns : int, optional
        Frame size (RGB, 8-bit, stored as YBR_FULL_422).
    quality : int, optional
        JPEG quality.

    Returns
    -------
    list of (int, int)
        File offset and length of each frame's JPEG stream (one fragment each).
    """
    from viewer.benchmarks.jpeg import encode_baseline
    from viewer.model import open_document
    from viewer.synthetic import write_cine

    path = pathlib.Path(path)
    source = path.with_name(path.name + ".source")
    try:
        write_cine(source, frames=frames, rows=rows, columns=columns, bits_allocated=8, samples_per_pixel=3,
                   kind="us")
        with open_document(source) as document, open(path, "wb") as file:
            file.write(_header(document.dataset, frames))
            table_offset = file.tell() + 8
            file.write(_ITEM_TAG + struct.pack("<I", 4 * frames) + bytes(4 * frames))
            first_item = file.tell()
            spans = []
            for index in range(frames):
                stream = encode_baseline(np.asarray(document.frame(index)), quality)
                stream += b"\x00" * (len(stream) % 2)  # fragments have even length
                spans.append((file.tell() + 8, len(stream)))
                file.write(_ITEM_TAG + struct.pack("<I", len(stream)) + stream)
            file.write(_SEQUENCE_END)
            file.seek(table_offset)
            file.write(struct.pack(f"<{frames}I", *[offset - 8 - first_item for offset, _ in spans]))
    finally:
        source.unlink(missing_ok=True)
    return spans


def scan_fragments(path: str | os.PathLike[str], pixel_offset: int) -> list[tuple[int, int]]:
    """File offset and length of every fragment after the Basic Offset Table.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`write_jpeg_cine` (one fragment per frame).
    pixel_offset : int
        Offset of the Pixel Data value (the Basic Offset Table item).

    Raises
    ------
    ValueError
        If the items do not end with a sequence delimiter before the file does.
    """
    spans: list[tuple[int, int]] = []
    with open(path, "rb") as file:
        file.seek(pixel_offset)
        first = True
        while True:
            head = file.read(8)
            if len(head) < 8:
                raise ValueError(f"{path}: the encapsulated pixel data is cut short")
            group, element, length = struct.unpack("<HHI", head)
            if (group, element) == (0xFFFE, 0xE0DD):
                return spans
            if (group, element) != (0xFFFE, 0xE000):
                raise ValueError(f"{path}: not an item at offset {file.tell() - 8}")
            if not first:
                spans.append((file.tell(), length))
            first = False
            file.seek(length, os.SEEK_CUR)


def _header(source: Dataset, frames: int) -> bytes:
    """File meta, data set and the Pixel Data element header (undefined length)."""
    import copy
    import io

    import pydicom

    dataset = Dataset()
    for element in source:
        if element.tag < 0x7FE00010 and element.tag.group != 0x0002:
            dataset.add(element)
    dataset.file_meta = copy.deepcopy(source.file_meta)
    dataset.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    dataset.PhotometricInterpretation = "YBR_FULL_422"
    dataset.NumberOfFrames = frames
    dataset.LossyImageCompression = "01"
    dataset.LossyImageCompressionMethod = "ISO_10918_1"
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue() + struct.pack("<HH", 0x7FE0, 0x0010) + b"OB\x00\x00" + struct.pack("<I", 0xFFFFFFFF)


# --------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------


class _Decoder:
    """Decodes frame k (in a subclass); prepared outside the timings."""

    whole_file = False
    """True if the first frame decodes every frame: the time cap cannot split that."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.path, self.frames = spec["path"], int(spec["frames"])

    def frame(self, index: int) -> np.ndarray:
        raise NotImplementedError


class _Cinemap(_Decoder):
    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        import atexit
        import shutil
        import tempfile

        from viewer.model import open_document

        # As in the app: decoded frames go to a disk cache, so the second pass
        # reads them back instead of decoding (a scratch folder, not the user's).
        folder = tempfile.mkdtemp(prefix="cinemap-bench-frames-")
        atexit.register(shutil.rmtree, folder, True)
        self.document = open_document(self.path, disk_cache_dir=folder, disk_cache_bytes=4 << 30)
        atexit.register(self.document.close)

    def frame(self, index: int) -> np.ndarray:
        return self.document.frame(index)


class _PydicomIndex(_Decoder):
    def frame(self, index: int) -> np.ndarray:
        from pydicom.pixels import pixel_array

        return pixel_array(self.path, index=index)


class _PydicomDcmread(_Decoder):
    """Decodes the whole file on the first frame, as ``dcmread(...).pixel_array`` does."""

    whole_file = True

    def frame(self, index: int) -> np.ndarray:
        if not hasattr(self, "pixels"):
            import pydicom

            self.pixels = pydicom.dcmread(self.path).pixel_array
        return self.pixels[index]


class _Memmap(_Decoder):
    """The floor: pydicom's decoder on bytes sliced from a bare memmap at known offsets."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        import pydicom
        from pydicom.pixels import get_decoder
        from pydicom.pixels.utils import as_pixel_options

        header = pydicom.dcmread(self.path, stop_before_pixels=True)
        self.options = dict(as_pixel_options(header), transfer_syntax_uid=JPEGBaseline8Bit, number_of_frames=1)
        self.decoder = get_decoder(JPEGBaseline8Bit)
        self.mapping = np.memmap(self.path, dtype=np.uint8, mode="r")
        self.spans = spec["spans"]

    def frame(self, index: int) -> np.ndarray:
        offset, length = self.spans[index]
        # pydicom's decoders take encapsulated data: an empty offset table, then the frame's item.
        source = _EMPTY_OFFSET_TABLE + self.mapping[offset - 8: offset + length].tobytes()
        array, _ = self.decoder.as_array(source, index=0, **self.options)
        return array


_DECODERS = {"cinemap": _Cinemap, "pydicom_index": _PydicomIndex, "pydicom_dcmread": _PydicomDcmread,
             "memmap": _Memmap}


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Decode every frame in order, twice, through ``spec["method"]``.

    Each pass stops after ``spec["seconds"]`` (except for ``dcmread``, whose
    first frame decodes them all); frames count as decoded once copied into
    a buffer. The file is in the page cache.

    Returns
    -------
    dict
        ``first_pass`` and ``second_pass`` (frames, seconds, frames_per_second),
        ``open_ms`` and ``memory``.
    """
    probe.warm_up_pydicom()
    import pydicom.pixels  # noqa: F401  (imports are not timed)
    import viewer.model  # noqa: F401

    probe.warm_ranges(spec["path"], [(0, os.path.getsize(spec["path"]))])
    memory = probe.MemoryTracker()
    started = time.perf_counter()
    decoder = _DECODERS[spec["method"]](spec)
    result: dict[str, Any] = {"method": spec["method"], "open_ms": round((time.perf_counter() - started) * 1000, 3)}
    out = None
    for name in ("first_pass", "second_pass"):
        count, started = 0, time.perf_counter()
        elapsed = 0.0
        while count < decoder.frames and (decoder.whole_file or elapsed < float(spec["seconds"])):
            frame = decoder.frame(count)
            if out is None:
                out = np.empty_like(frame)
            np.copyto(out, frame)
            count += 1
            elapsed = time.perf_counter() - started
        result[name] = {"frames": count, "seconds": round(elapsed, 4),
                        "frames_per_second": round(count / elapsed, 2) if elapsed else None}
        memory.sample(name)
    result["memory"] = memory.as_json()
    result["frame_shape"] = list(out.shape) if out is not None else None
    return result
