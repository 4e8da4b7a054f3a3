"""Writer of valid synthetic encapsulated (compressed) multi-frame files, of any size.

The frames are the moving rings of :mod:`viewer.synthetic.cine`, compressed
with JPEG Baseline (Pillow) or RLE Lossless (pydicom's encoder), or -- 16-bit
grey with noise, as an MR frame -- JPEG 2000 Lossless
(:func:`viewer.synthetic.codestreams.encode_frames`, openjpeg). Encoding
tens of thousands of frames would take minutes, so a handful of distinct
frames (`distinct_frames`) is encoded once and repeated: frame k holds the
pixels of frame ``k % distinct_frames``, and a JPEG frame also carries a
comment segment ``cinemap frame 0000000042`` naming k (decoders skip it), so
every frame's bytes are distinct and a reader's off-by-one shows.

Layouts (`table`): an Extended Offset Table with an empty Basic Offset Table
(what the standard asks for past 4 GiB), a Basic Offset Table only (32-bit:
below 4 GiB), or an empty Basic Offset Table; JPEG frames may be split into
several fragments (without an Extended Offset Table, which requires one
fragment per frame). The file is streamed to disk with the tables patched in
at the end; memory holds the encoded frames and 16 bytes per frame.
"""

from __future__ import annotations

import io
import math
import os
import pathlib
import struct
from array import array
from dataclasses import dataclass

import numpy as np
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, RLELossless

from viewer.synthetic.cine import ProgressCallback, _painter, _ProgressReporter
from viewer.synthetic.dataset import build_dataset as _build_dataset
from viewer.synthetic.dataset import encode_header as _encode_header
from viewer.synthetic.dataset import file_meta as _file_meta
from viewer.synthetic.dataset import sop_class as _sop_class

__all__ = ["EncapsulatedCine", "encapsulated_frames_for_size", "write_encapsulated_cine"]

EXTENDED, BASIC, EMPTY = "extended", "basic", "empty"
_ITEM = struct.pack("<HH", 0xFFFE, 0xE000)
_DELIMITER = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
_PIXEL_DATA_HEADER = struct.pack("<HH", 0x7FE0, 0x0010) + b"OB\x00\x00" + struct.pack("<I", 0xFFFFFFFF)
_STAMP = b"cinemap frame %010d"
_STAMP_SEGMENT = 2 + 2 + len(_STAMP % 0)  # COM marker, length, text


@dataclass(frozen=True)
class EncapsulatedCine:
    """What :func:`write_encapsulated_cine` wrote.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    pixel_offset : int
        File offset of the Pixel Data value (its Basic Offset Table item).
    frame_offsets : array of int
        File offset of each frame's first item header.
    frame_lengths : array of int
        Bytes of each frame's codestream (even, padding included; fragments' item headers excluded).
    transfer_syntax : str
        Transfer Syntax UID.
    distinct_frames : int
        Frame k holds the pixels of frame ``k % distinct_frames``.
    """

    path: pathlib.Path
    pixel_offset: int
    frame_offsets: array
    frame_lengths: array
    transfer_syntax: str
    distinct_frames: int


def _syntax(name: str) -> str:
    syntaxes = {"jpeg": JPEGBaseline8Bit, "rle": RLELossless, "j2k": JPEG2000Lossless}
    if name not in syntaxes:
        raise ValueError(f"syntax must be one of {', '.join(syntaxes)}, not {name!r}")
    return syntaxes[name]


def _encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    if frame.shape[2] == 1:
        Image.fromarray(np.ascontiguousarray(frame[..., 0]), "L").save(buffer, "JPEG", quality=quality)
    else:  # 4:2:2, which is what YBR_FULL_422 says
        Image.fromarray(np.ascontiguousarray(frame), "RGB").save(buffer, "JPEG", quality=quality, subsampling=1)
    return buffer.getvalue()


def _encode_rle(frame: np.ndarray) -> bytes:
    from pydicom.pixels.encoders import RLELosslessEncoder

    samples = frame.shape[2]
    return RLELosslessEncoder.encode(
        np.ascontiguousarray(frame if samples == 3 else frame[..., 0]), rows=frame.shape[0], columns=frame.shape[1],
        samples_per_pixel=samples, bits_allocated=8, bits_stored=8, pixel_representation=0,
        photometric_interpretation="RGB" if samples == 3 else "MONOCHROME2", planar_configuration=0,
        number_of_frames=1,
    )


def _encoded_frames(syntax: str, rows: int, columns: int, samples_per_pixel: int, kind: str, distinct: int,
                    quality: int, bits_stored: int = 8) -> list[bytes]:
    if syntax == JPEG2000Lossless:
        from viewer.synthetic.codestreams import encode_frames

        return encode_frames(syntax, distinct, rows, columns, bits_stored=bits_stored).frames
    painter = _painter(rows, columns, 8, samples_per_pixel, False, "NO", None, kind)
    encoded = []
    for index in range(distinct):
        frame = painter.frame(index)
        encoded.append(_encode_jpeg(frame, quality) if syntax == JPEGBaseline8Bit else _encode_rle(frame))
    return encoded


def _frame_stream(base: bytes, index: int, syntax: str) -> bytes:
    """Frame `index`'s codestream, padded to even: a JPEG gets its comment stamp after SOI."""
    if syntax == JPEGBaseline8Bit:
        text = _STAMP % index
        base = base[:2] + b"\xff\xfe" + struct.pack(">H", 2 + len(text)) + text + base[2:]
    return base + b"\x00" * (len(base) % 2)


def _bits_stored(syntax: str, bits_stored: int | None, samples_per_pixel: int) -> int:
    """Bits Stored for `syntax`: 8 for JPEG Baseline and RLE, 9..16 (12 by default) for JPEG 2000 grey."""
    if syntax != JPEG2000Lossless:
        if bits_stored not in (None, 8):
            raise ValueError("JPEG Baseline and RLE frames are written with 8 bits stored")
        return 8
    if samples_per_pixel != 1 or not 9 <= (bits_stored or 12) <= 16:
        raise ValueError("JPEG 2000 frames are written grey, with 9 to 16 bits stored")
    return bits_stored or 12


def _split(stream: bytes, fragments: int) -> list[bytes]:
    """`stream` cut into `fragments` pieces of even length (the last may be shorter)."""
    size = math.ceil(len(stream) / fragments)
    size += size % 2
    return [stream[start : start + size] for start in range(0, len(stream), size)] or [stream]


def _header(syntax: str, frames: int, rows: int, columns: int, samples_per_pixel: int, kind: str,
            table: str, frame_time_ms: float, bits_stored: int) -> tuple[bytes, int]:
    """File meta, data set (with placeholder Extended Offset Tables) and the Pixel Data header.

    Returns the bytes and the offset of the Extended Offset Table's value (0 if none).
    """
    bits_allocated = 16 if bits_stored > 8 else 8
    painter = _painter(rows, columns, bits_allocated, samples_per_pixel, False, "NO", None, kind)
    dataset = _build_dataset(
        sop_class=_sop_class(kind, bits_allocated, samples_per_pixel), fmt=painter.fmt, rows=rows, columns=columns,
        frames=frames, planar_configuration=0, kind=kind, frame_time_ms=frame_time_ms, regions=painter.regions,
        burned_in_annotation="NO", window=None, rescale=None,
    )
    dataset.BitsStored, dataset.HighBit = bits_stored, bits_stored - 1
    if syntax == JPEGBaseline8Bit:
        if samples_per_pixel == 3:
            dataset.PhotometricInterpretation = "YBR_FULL_422"
        dataset.LossyImageCompression = "01"
        dataset.LossyImageCompressionMethod = "ISO_10918_1"
    if table == EXTENDED:
        dataset.ExtendedOffsetTable = bytes(8 * frames)
        dataset.ExtendedOffsetTableLengths = bytes(8 * frames)
    dataset.file_meta = _file_meta(dataset, syntax)
    encoded = _encode_header(dataset)
    table_offset = 0
    if table == EXTENDED:
        table_offset = len(encoded) - 8 * frames - 12 - 8 * frames
        assert encoded[table_offset - 12 : table_offset - 8] == struct.pack("<HH", 0x7FE0, 0x0001)
    return encoded + _PIXEL_DATA_HEADER, table_offset


def encapsulated_frames_for_size(target_bytes: int, *, syntax: str = "jpeg", rows: int = 512, columns: int = 512,
                                 samples_per_pixel: int = 1, kind: str = "sc", distinct_frames: int = 8,
                                 quality: int = 90, bits_stored: int | None = None) -> int:
    """Number of frames whose encapsulated Pixel Data comes closest to `target_bytes` (at least 1)."""
    uid = _syntax(syntax)
    bits = _bits_stored(uid, bits_stored, samples_per_pixel)
    encoded = _encoded_frames(uid, rows, columns, samples_per_pixel, kind, distinct_frames, quality, bits)
    stamp = _STAMP_SEGMENT if uid == JPEGBaseline8Bit else 0
    average = sum(len(stream) + stamp + 1 + 8 for stream in encoded) / len(encoded)
    return max(1, int(target_bytes // average))


def write_encapsulated_cine(
    path: str | os.PathLike[str],
    *,
    frames: int,
    rows: int = 512,
    columns: int = 512,
    samples_per_pixel: int = 1,
    syntax: str = "jpeg",
    table: str = EXTENDED,
    fragments_per_frame: int = 1,
    distinct_frames: int | None = 8,
    quality: int = 90,
    kind: str = "sc",
    frame_time_ms: float = 1000 / 30,
    bits_stored: int | None = None,
    progress: ProgressCallback | None = None,
) -> EncapsulatedCine:
    """Write a synthetic compressed multi-frame file, streaming the frames.

    Parameters
    ----------
    path : str or os.PathLike
        File to create (overwritten).
    frames : int
        Number of frames, at least 1; any total size (past 4 GiB with an
        Extended Offset Table or an empty Basic Offset Table).
    rows, columns : int, optional
        Frame size.
    samples_per_pixel : int, optional
        1 (MONOCHROME2) or 3 (JPEG: YBR_FULL_422; RLE: RGB); 8-bit samples
        (JPEG 2000: grey only).
    syntax : {"jpeg", "rle", "j2k"}, optional
        JPEG Baseline (Pillow), RLE Lossless (pydicom), or JPEG 2000
        Lossless (openjpeg through pydicom; 16-bit samples, noisy rings:
        frame k is ``encode_frames(...).originals[k % distinct_frames]``).
    table : {"extended", "basic", "empty"}, optional
        Extended Offset Table (with an empty Basic Offset Table), Basic Offset Table only, or neither.
    fragments_per_frame : int, optional
        Split each JPEG frame into this many fragments (not with an Extended
        Offset Table, nor RLE, whose frames are one fragment each).
    distinct_frames : int or None, optional
        Frames encoded; the others repeat them. None: encode every frame.
    quality : int, optional
        JPEG quality.
    kind : {"sc", "us"}, optional
        Secondary Capture or Ultrasound Multi-frame, as :func:`viewer.synthetic.cine.write_cine`.
    frame_time_ms : float, optional
        Frame Time: the rate a viewer plays the file at (default 30 fps).
    bits_stored : int, optional
        Bits Stored: 8 for JPEG and RLE; 9 to 16 for JPEG 2000 (default 12, as MR2_J2KR).
    progress : callable, optional
        ``progress(frames_written, frames)``, about 100 times at most.

    Returns
    -------
    EncapsulatedCine

    Raises
    ------
    ValueError
        For unsupported arguments, or a Basic Offset Table past 4 GiB.
    """
    uid = _syntax(syntax)
    if frames < 1:
        raise ValueError(f"frames must be at least 1, not {frames!r}")
    if table not in (EXTENDED, BASIC, EMPTY):
        raise ValueError(f"table must be 'extended', 'basic' or 'empty', not {table!r}")
    if fragments_per_frame < 1 or (fragments_per_frame > 1 and (table == EXTENDED or uid == RLELossless)):
        raise ValueError("several fragments per frame need JPEG and no Extended Offset Table")
    bits = _bits_stored(uid, bits_stored, samples_per_pixel)
    distinct = frames if distinct_frames is None else max(1, min(distinct_frames, frames))
    path = pathlib.Path(path)
    encoded = _encoded_frames(uid, rows, columns, samples_per_pixel, kind, distinct, quality, bits)
    header, table_offset = _header(uid, frames, rows, columns, samples_per_pixel, kind, table, frame_time_ms, bits)
    reporter = _ProgressReporter(progress, frames)
    offsets, lengths = array("q"), array("q")
    try:
        with open(path, "wb", buffering=8 << 20) as file:
            file.write(header)
            pixel_offset = len(header)  # the value starts right after the element header
            bot_length = 4 * frames if table == BASIC else 0
            file.write(_ITEM + struct.pack("<I", bot_length) + bytes(bot_length))
            first_item = file.tell()
            for index in range(frames):
                stream = _frame_stream(encoded[index % distinct], index, uid)
                offsets.append(file.tell())
                lengths.append(len(stream))
                for piece in _split(stream, fragments_per_frame):
                    file.write(_ITEM + struct.pack("<I", len(piece)) + piece)
                reporter.update(index + 1)
            file.write(_DELIMITER)
            relative = [offset - first_item for offset in offsets]
            if table == BASIC:
                if relative[-1] > 0xFFFFFFFF:
                    raise ValueError("a Basic Offset Table cannot point past 4 GiB: use table='extended'")
                file.seek(pixel_offset + 8)
                file.write(struct.pack(f"<{frames}I", *relative))
            elif table == EXTENDED:
                file.seek(table_offset)
                file.write(struct.pack(f"<{frames}Q", *relative))
                file.seek(table_offset + 8 * frames + 12)
                file.write(struct.pack(f"<{frames}Q", *lengths))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return EncapsulatedCine(path, pixel_offset, offsets, lengths, uid, distinct)
