"""One tiled instance (file) of a slide: where each tile's bytes are, read with positional reads.

Opening is lazy and cheap: on the first tile the file is opened, the elements
after the header scan's stop are walked (Per-frame Functional Groups for
TILED_SPARSE positions, Extended Offset Table, Pixel Data header), and the
Basic Offset Table is read. No item header is walked when an offset table
exists, so a 200,000-tile level costs one read of its table. Without a table
the item headers are walked once.

Tiles are read with positional reads (``viewer.model.platform.positional``),
never through a mapping: a file truncated by another program gives
:class:`~viewer.model.errors.DicomError`, not SIGBUS, and no lease is needed.
The descriptor is opened and closed by :class:`DescriptorPool`, which keeps
at most a few open across the whole slide.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Iterator

import numpy as np

from viewer.model.dicom.encoding import EXPLICIT_LONG_VRS, UNDEFINED_LENGTH
from viewer.model.dicom.functional_groups import PER_FRAME_TAG
from viewer.model.errors import DicomError, FileChangedError, TruncatedFileError, UnsupportedError
from viewer.model.platform.positional import pread_into
from viewer.model.slide import positions as position_scan
from viewer.model.slide.scan import EXTENDED_LENGTHS_TAG, EXTENDED_OFFSET_TAG, InstanceHeader

PIXEL_DATA_TAG = 0x7FE00010
_ITEM = 0xE000FFFE  # (FFFE,E000) read as a little-endian u32 of group then element
_DELIMITER = 0xE0DDFFFE


class DescriptorPool:
    """At most `limit` files of a slide open at once (least recently used closed first).

    A descriptor in use by a reader is never closed under it: the pool may
    then hold more than `limit` for a moment.
    """

    def __init__(self, limit: int = 8) -> None:
        self.limit = max(1, int(limit))
        self._open: OrderedDict[str, list] = OrderedDict()  # path -> [fd, users]
        self._lock = threading.Lock()

    @contextmanager
    def use(self, header: InstanceHeader) -> Iterator[int]:
        """A descriptor of the instance's file, checked to be the file scanned."""
        with self._lock:
            entry = self._open.get(header.path)
            if entry is None:
                entry = self._open[header.path] = [_open_checked(header), 0]
            self._open.move_to_end(header.path)
            entry[1] += 1
            self._close_idle()
        try:
            yield entry[0]
        finally:
            with self._lock:
                entry[1] -= 1
                self._close_idle()

    @property
    def open_count(self) -> int:
        return len(self._open)

    def _close_idle(self) -> None:
        for path in list(self._open):
            if len(self._open) <= self.limit:
                return
            fd, users = self._open[path]
            if users == 0:
                del self._open[path]
                os.close(fd)

    def close(self) -> None:
        with self._lock:
            for fd, _users in self._open.values():
                os.close(fd)
            self._open.clear()


def _open_checked(header: InstanceHeader) -> int:
    try:
        fd = os.open(header.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise DicomError(header.path, f"cannot open: {exc.strerror}") from exc
    status = os.fstat(fd)
    if (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns) != header.identity:
        os.close(fd)
        raise FileChangedError(header.path, "the file changed on disk since the slide was opened")
    return fd


class TiledInstance:
    """Tiles of one file: their positions (TILED_SPARSE) and where their bytes lie."""

    def __init__(self, header: InstanceHeader, pool: DescriptorPool) -> None:
        self.header = header
        self._pool = pool
        self._lock = threading.Lock()
        self._indexed = False
        self.positions: np.ndarray | None = None  # (frames, 2) 1-based column, row (TILED_SPARSE)
        self.pixel_offset = 0  # first byte of the Pixel Data value
        self.pixel_length: int | None = None  # None: encapsulated
        self._first_fragment = 0
        self._basic: np.ndarray | None = None
        self._extended: tuple[np.ndarray, np.ndarray] | None = None
        # The Extended Offset Table's two elements as the header walk meets them.
        self._extended_parts: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        self._fragments: np.ndarray | None = None  # (n, 2) item offset, length, when no table exists

    @property
    def encapsulated(self) -> bool:
        self.index()
        return self.pixel_length is None

    @property
    def tile_nbytes(self) -> int:
        h = self.header
        return h.tile_width * h.tile_height * h.samples * h.bits_allocated // 8

    # ------------------------------------------------------------- indexing
    def index(self) -> None:
        """Walk the elements after the header scan (once): positions, offset tables, Pixel Data."""
        if self._indexed:
            return
        with self._lock:
            if self._indexed:
                return
            with self._pool.use(self.header) as fd:
                self._walk_elements(fd)
                if self.pixel_length is None:
                    self._read_basic_offsets(fd)
            self._indexed = True

    def _walk_elements(self, fd: int) -> None:
        h = self.header
        position = h.stop_offset
        while position + 8 <= h.file_size:
            group, element = struct.unpack("<HH", self._read(fd, 4, position))
            tag = group << 16 | element
            if tag == PER_FRAME_TAG:
                value, position = position_scan.read_sequence_value(h.path, fd, position, h.implicit_vr, h.file_size)
                if h.tiling == "TILED_SPARSE":
                    self.positions = position_scan.tile_positions(h.path, value, h.frames, h.implicit_vr)
                continue
            length, value_start = self._element_header(fd, position)
            if tag == PIXEL_DATA_TAG:
                self.pixel_offset = value_start
                self.pixel_length = None if length == UNDEFINED_LENGTH else length
                self._check_native_length()
                break
            if length == UNDEFINED_LENGTH:
                raise DicomError(h.path, f"element ({group:04X},{element:04X}) of undefined length before the pixel data")
            if tag in (EXTENDED_OFFSET_TAG, EXTENDED_LENGTHS_TAG):
                table = np.frombuffer(self._read(fd, length, value_start), "<u8").astype(np.int64)
                offsets, lengths = self._extended_parts
                self._extended_parts = (table, lengths) if tag == EXTENDED_OFFSET_TAG else (offsets, table)
            position = value_start + length
        else:
            raise DicomError(h.path, "the whole-slide image has no Pixel Data")
        if h.tiling == "TILED_SPARSE" and self.positions is None:
            raise DicomError(h.path, "a TILED_SPARSE image without Per-frame Functional Groups")

    def _element_header(self, fd: int, position: int) -> tuple[int, int]:
        """(value length, value offset) of the element at `position`."""
        head = self._read(fd, 12, position) if position + 12 <= self.header.file_size else self._read(fd, 8, position)
        if self.header.implicit_vr:
            return struct.unpack_from("<I", head, 4)[0], position + 8
        if bytes(head[4:6]) in EXPLICIT_LONG_VRS:
            return struct.unpack_from("<I", head, 8)[0], position + 12
        return struct.unpack_from("<H", head, 6)[0], position + 8

    def _check_native_length(self) -> None:
        h = self.header
        if self.pixel_length is not None and self.pixel_offset + h.frames * self.tile_nbytes > h.file_size:
            raise TruncatedFileError(h.path, f"the file holds fewer than the {h.frames} tiles it declares")

    def _read_basic_offsets(self, fd: int) -> None:
        tag, length = struct.unpack("<II", self._read(fd, 8, self.pixel_offset))
        if tag != _ITEM:
            raise DicomError(self.header.path, "encapsulated Pixel Data does not start with a Basic Offset Table item")
        self._first_fragment = self.pixel_offset + 8 + length
        if length:
            self._basic = np.frombuffer(self._read(fd, length, self.pixel_offset + 8), "<u4").astype(np.int64)
        offsets, lengths = self._extended_parts
        if offsets is not None and lengths is not None and len(offsets) == len(lengths):
            self._extended = (offsets, lengths)
        if self._extended is None and (self._basic is None or len(self._basic) < self.header.frames):
            self._fragments = self._walk_fragments(fd)

    def _walk_fragments(self, fd: int) -> np.ndarray:
        """(item offset, length) of every fragment: the slow path for files without offset tables."""
        fragments, position, size = [], self._first_fragment, self.header.file_size
        while position + 8 <= size:
            tag, length = struct.unpack("<II", self._read(fd, 8, position))
            if tag == _DELIMITER:
                break
            if tag != _ITEM or position + 8 + length > size:
                raise DicomError(self.header.path, f"a damaged fragment item at byte {position}")
            fragments.append((position, length))
            position += 8 + length
        if len(fragments) != self.header.frames and not (self.header.frames == 1 and fragments):
            raise UnsupportedError(
                self.header.path,
                f"{len(fragments)} fragments for {self.header.frames} tiles and no offset table: tiles cannot be told apart",
            )
        return np.asarray(fragments, np.int64).reshape(-1, 2)

    # ---------------------------------------------------------------- tiles
    def read_native(self, frame: int) -> np.ndarray:
        """Native tile `frame` as ``(rows, columns, samples)``."""
        self.index()
        h = self.header
        dtype = np.dtype(("<i" if h.pixel_representation else "<u") + str(h.bits_allocated // 8))
        buffer = np.empty(self.tile_nbytes // dtype.itemsize, dtype)
        with self._pool.use(h) as fd:
            self._read_into(fd, buffer, self.pixel_offset + frame * self.tile_nbytes)
        if h.samples == 1:
            return buffer.reshape(h.tile_height, h.tile_width, 1)
        if h.planar_configuration == 0:
            return buffer.reshape(h.tile_height, h.tile_width, h.samples)
        return buffer.reshape(h.samples, h.tile_height, h.tile_width).transpose(1, 2, 0)

    def read_encoded(self, frame: int) -> bytes:
        """The codestream of compressed tile `frame` (its fragments joined)."""
        self.index()
        with self._pool.use(self.header) as fd:
            if self._extended is not None:
                # One read for the usual one-fragment tile: its item header and value.
                offsets, lengths = self._extended
                item_offset, total = self._first_fragment + int(offsets[frame]), int(lengths[frame])
                head = self._read(fd, 8 + total, item_offset)
                tag, length = struct.unpack_from("<II", head)
                if tag == _ITEM and length >= total:
                    return bytes(head[8:8 + total])
            return b"".join(bytes(self._read(fd, length, offset)) for offset, length in self._ranges(fd, frame))

    def fragment_ranges(self, frame: int) -> list[tuple[int, int]]:
        """(file offset, length) of the values of the fragments holding compressed tile `frame`."""
        self.index()
        with self._pool.use(self.header) as fd:
            return self._ranges(fd, frame)

    def _ranges(self, fd: int, frame: int) -> list[tuple[int, int]]:
        if self._extended is not None:
            offsets, lengths = self._extended
            return self._items(fd, self._first_fragment + int(offsets[frame]), None, int(lengths[frame]))
        if self._fragments is not None:
            chosen = self._fragments if self.header.frames == 1 else self._fragments[frame:frame + 1]
            return [(int(offset) + 8, int(length)) for offset, length in chosen]
        assert self._basic is not None
        start = self._first_fragment + int(self._basic[frame])
        stop = self._first_fragment + int(self._basic[frame + 1]) if frame + 1 < len(self._basic) else None
        return self._items(fd, start, stop, None)

    def _items(self, fd: int, position: int, stop: int | None, total: int | None) -> list[tuple[int, int]]:
        """Values of the items from `position` up to `stop` (or the delimiter, or `total` bytes).

        The last frame of a Basic Offset Table runs to the delimiter, as in
        pydicom's ``get_frame``.
        """
        ranges: list[tuple[int, int]] = []
        gathered = 0
        size = self.header.file_size
        while position + 8 <= size and (stop is None or position < stop) and (total is None or gathered < total):
            tag, length = struct.unpack("<II", self._read(fd, 8, position))
            if tag == _DELIMITER:
                break
            if tag != _ITEM or position + 8 + length > size:
                raise DicomError(self.header.path, f"expected a fragment item at byte {position}")
            ranges.append((position + 8, length))
            gathered += length
            position += 8 + length
        if not ranges:
            raise DicomError(self.header.path, f"no fragment at byte {position}")
        return ranges

    # ------------------------------------------------------------------ I/O
    def _read(self, fd: int, length: int, offset: int) -> bytearray:
        buffer = bytearray(length)
        self._read_into(fd, buffer, offset)
        return buffer

    def _read_into(self, fd: int, buffer, offset: int) -> None:
        length = memoryview(buffer).nbytes
        if offset + length > self.header.file_size or pread_into(fd, buffer, offset) != length:
            raise TruncatedFileError(self.header.path, f"the file ends before byte {offset + length}")
