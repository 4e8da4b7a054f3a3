"""Tile positions of TILED_SPARSE instances, read from the Per-frame Functional Groups bytes.

Each tile's Plane Position (Slide) holds Column and Row Position In Total
Image Pixel Matrix (0048,021E/021F), two adjacent SL elements. pydicom would
build a dataset per item (seconds for 150,000 tiles); wsidicom 0.36 instead
searches the sequence's bytes for these elements, and so does this module:

1. read the sequence value (until its delimiter when the length is undefined);
2. find the first two Column Position elements; if the items are all the
   same length (writers repeat one layout), every position sits one stride
   further, which numpy checks and reads at once; else a regular expression
   finds each element;
3. the count of Column Position tags must equal the number of frames;
   otherwise (positions inside private data, odd layouts) fall back to
   pydicom's parse of the whole sequence.
"""

from __future__ import annotations

import io
import re
import struct

import numpy as np
from pydicom.filereader import read_sequence

from viewer.model.errors import DicomError, TruncatedFileError
from viewer.model.platform.positional import pread_into

_CHUNK = 8 << 20
_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_COLUMN_TAG = b"\x48\x00\x1e\x02"
_ROW_TAG = b"\x48\x00\x1f\x02"
_EXPLICIT = re.compile(re.escape(_COLUMN_TAG + b"SL\x04\x00") + b"(.{4})" + re.escape(_ROW_TAG + b"SL\x04\x00") + b"(.{4})",
                       re.DOTALL)
_IMPLICIT = re.compile(re.escape(_COLUMN_TAG + b"\x04\x00\x00\x00") + b"(.{4})"
                       + re.escape(_ROW_TAG + b"\x04\x00\x00\x00") + b"(.{4})", re.DOTALL)


def read_sequence_value(path: str, fd: int, offset: int, implicit_vr: bool, file_size: int) -> tuple[bytes, int]:
    """(value bytes, offset just past the sequence) of the sequence element at `offset`."""
    head = _pread(path, fd, 12, offset)
    if implicit_vr:
        (length,), value_start = struct.unpack_from("<I", head, 4), offset + 8
    else:
        if head[4:6] not in (b"SQ", b"UN"):
            raise DicomError(path, f"the Per-frame Functional Groups Sequence has VR {head[4:6]!r}")
        (length,), value_start = struct.unpack_from("<I", head, 8), offset + 12
    if length != 0xFFFFFFFF:
        if value_start + length > file_size:
            raise TruncatedFileError(path, "the file ends inside the Per-frame Functional Groups Sequence")
        return bytes(_pread(path, fd, length, value_start)), value_start + length
    return _read_until_delimiter(path, fd, value_start, file_size)


def _read_until_delimiter(path: str, fd: int, start: int, file_size: int) -> tuple[bytes, int]:
    """Read an undefined-length sequence value up to its top-level delimiter.

    The delimiter of the top-level sequence is the one followed by an element
    of a later group than (5200,9230) (Pixel Data, the offset tables, or the
    end of the file); nested sequence delimiters are followed by item
    delimiters or by elements of the item, whose groups are smaller.
    """
    data = bytearray()
    searched = 0
    while True:
        position = start + len(data)
        if position >= file_size:
            raise TruncatedFileError(path, "the Per-frame Functional Groups Sequence has no end")
        chunk = _pread(path, fd, min(_CHUNK, file_size - position), position)
        data += chunk
        found = data.find(_DELIMITER, max(0, searched - 8))
        while found >= 0:
            after = found + 8
            if after + 4 > len(data) and start + after < file_size:
                break  # read on: the next tag is in the next chunk
            group = struct.unpack_from("<H", data, after)[0] if after + 2 <= len(data) else 0xFFFF
            if start + after >= file_size or (group > 0x5200 and group != 0xFFFE):
                return bytes(data[:found]), start + after
            found = data.find(_DELIMITER, found + 1)
        searched = len(data)


def tile_positions(path: str, value: bytes, frames: int, implicit_vr: bool, encoding=None) -> np.ndarray:
    """``(frames, 2)`` int64 array of 1-based (column, row) pixel positions, in frame order.

    Raises
    ------
    DicomError
        If some frame has no Plane Position (Slide).
    """
    if value.count(_COLUMN_TAG) == frames:
        found = _strided(value, frames, implicit_vr)
        if found is None:
            found = _searched(value, frames, implicit_vr)
        if found is not None:
            return found
    return _parsed(path, value, frames, implicit_vr, encoding)


def _strided(value: bytes, frames: int, implicit_vr: bool) -> np.ndarray | None:
    pattern = _IMPLICIT if implicit_vr else _EXPLICIT
    first = pattern.search(value)
    if first is None:
        return None
    if frames == 1:
        return np.array([struct.unpack("<ii", first.group(1) + first.group(2))], np.int64)
    second = pattern.search(value, first.end())
    if second is None:
        return None
    start, stride = first.start(), second.start() - first.start()
    last = start + stride * (frames - 1)
    if last + 24 > len(value):
        return None
    array = np.frombuffer(value, np.uint8)
    rows = array[np.arange(start, last + 1, stride, dtype=np.int64)[:, None] + np.arange(24)]
    template = np.frombuffer(first.group(0), np.uint8).copy()
    fixed = np.ones(24, bool)
    fixed[8:12] = fixed[20:24] = False  # the values
    if not np.array_equal(rows[:, fixed], np.broadcast_to(template[fixed], (frames, int(fixed.sum())))):
        return None
    values = np.ascontiguousarray(rows[:, [8, 9, 10, 11, 20, 21, 22, 23]]).view("<i4")
    return values.astype(np.int64)


def _searched(value: bytes, frames: int, implicit_vr: bool) -> np.ndarray | None:
    pattern = _IMPLICIT if implicit_vr else _EXPLICIT
    pairs = pattern.findall(value)
    if len(pairs) != frames:
        return None
    return np.frombuffer(b"".join(column + row for column, row in pairs), "<i4").reshape(frames, 2).astype(np.int64)


def _parsed(path: str, value: bytes, frames: int, implicit_vr: bool, encoding) -> np.ndarray:
    """Every item through pydicom: slow, for layouts the byte search cannot trust."""
    try:
        items = read_sequence(io.BytesIO(value), implicit_vr, True, len(value), encoding or "iso8859")
        positions = []
        for item in items:
            plane = item.PlanePositionSlideSequence[0]
            positions.append((int(plane.ColumnPositionInTotalImagePixelMatrix),
                              int(plane.RowPositionInTotalImagePixelMatrix)))
    except Exception as exc:
        raise DicomError(path, f"cannot read the tile positions of a TILED_SPARSE image: {exc}") from exc
    if len(positions) < frames:
        raise DicomError(path, f"only {len(positions)} of {frames} frames have a Plane Position (Slide)")
    return np.asarray(positions[:frames], np.int64).reshape(frames, 2)


def _pread(path: str, fd: int, length: int, offset: int) -> bytearray:
    buffer = bytearray(length)
    if pread_into(fd, buffer, offset) != length:
        raise TruncatedFileError(path, f"the file ends before byte {offset + length}")
    return buffer
