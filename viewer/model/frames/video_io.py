"""The video bitstream inside encapsulated Pixel Data, read in place.

A DICOM video file holds its bitstream in the fragments of one encapsulated
Pixel Data element: one fragment (the non-fragmentable syntaxes), or many
(the ``.1`` fragmentable ones, up to 4 GiB each), after a Basic Offset Table
that may be empty or not. :class:`FragmentTable` finds the fragments lazily,
one 8-byte item header at a time, only as far as a read needs (a stream of
100,000 fragments is not walked at open), and reads any byte range of the
concatenated stream with the positional-read callable it is given: no copy
of the stream is ever made, whatever its size. :class:`StreamFile` is a
read/seek file object over it, for FFmpeg's demuxer.
"""

from __future__ import annotations

import bisect
import io
import struct
import threading
from array import array
from typing import Callable

from viewer.model.errors import DicomError, TruncatedFileError

ReadAt = Callable[[int, int], bytes | bytearray]
"""``read(offset, length) -> bytes or bytearray``: positional read of the file (fewer bytes only at its end)."""

_ITEM = b"\xfe\xff\x00\xe0"
_DELIMITER = b"\xfe\xff\xdd\xe0"


class FragmentTable:
    """The fragments of an encapsulated value, found on demand; thread-safe.

    Parameters
    ----------
    path : str
        The file (for error messages).
    read : callable
        ``read(offset, length) -> bytes`` over the file.
    value_offset : int
        File offset of the Pixel Data value (the Basic Offset Table item).
    value_end : int
        Where the value must end at the latest (the file size).

    Raises
    ------
    DicomError
        If the value does not start with a Basic Offset Table item.
    """

    def __init__(self, path: str, read: ReadAt, value_offset: int, value_end: int) -> None:
        self.path = path
        self._read = read
        self._value_end = value_end
        header = read(value_offset, 8)
        if len(header) < 8:
            raise TruncatedFileError(path, "the file ends inside the encapsulated Pixel Data")
        if header[:4] != _ITEM:
            raise DicomError(path, "encapsulated Pixel Data does not start with a Basic Offset Table item")
        (table_length,) = struct.unpack("<I", header[4:])
        self._next_item = value_offset + 8 + table_length
        self.basic_offset_table_bytes = table_length
        self._stream_starts = array("q")  # offset in the stream of each fragment's first byte
        self._file_offsets = array("q")  # file offset of each fragment's first byte
        self._stream_end = 0  # stream bytes in the fragments found so far
        self.complete = False
        self.truncated = False
        self._lock = threading.Lock()

    @property
    def fragments_found(self) -> int:
        """Fragments located so far."""
        return len(self._file_offsets)

    def length_hint(self) -> int:
        """The stream's length if every fragment is found, else an upper bound (no item header read)."""
        with self._lock:
            if self.complete:
                return self._stream_end
            first = self._file_offsets[0] if self._file_offsets else self._next_item + 8
            return max(self._stream_end, self._value_end - first)

    def length(self) -> int:
        """Total length of the stream (walks every item header the first time)."""
        with self._lock:
            while not self.complete:
                self._walk_one()
            return self._stream_end

    def read(self, offset: int, length: int) -> bytes:
        """Up to `length` stream bytes from `offset` (fewer only at the end of the stream)."""
        if length <= 0:
            return b""
        with self._lock:
            while self._stream_end < offset + length and not self.complete:
                self._walk_one()
            fragment = bisect.bisect_right(self._stream_starts, offset) - 1
            pieces = []
            while fragment >= 0 and fragment < len(self._file_offsets) and length > 0:
                start = self._stream_starts[fragment]
                end = self._stream_starts[fragment + 1] if fragment + 1 < len(self._stream_starts) else self._stream_end
                if offset >= end:
                    break
                count = min(length, end - offset)
                pieces.append((self._file_offsets[fragment] + offset - start, count))
                offset += count
                length -= count
                fragment += 1
        return b"".join(self._read_exact(position, count) for position, count in pieces)

    def _read_exact(self, position: int, count: int) -> bytes | bytearray:
        data = self._read(position, count)
        if len(data) != count:
            raise TruncatedFileError(self.path, f"the file ends inside the video stream (at byte {position + len(data)})")
        return data

    def _walk_one(self) -> None:
        """Read the next item header: one more fragment, or the end of the value."""
        position = self._next_item
        header = self._read(position, 8) if position + 8 <= self._value_end else b""
        if len(header) < 8:
            self.complete = self.truncated = True
            return
        if header[:4] == _DELIMITER:
            self.complete = True
            return
        if header[:4] != _ITEM:
            raise DicomError(
                self.path, f"expected a fragment item at byte {position} of the video Pixel Data, found {header[:4].hex()}"
            )
        (length,) = struct.unpack("<I", header[4:])
        available = min(length, self._value_end - position - 8)
        if available < length:
            self.truncated = True
        if available > 0:
            self._stream_starts.append(self._stream_end)
            self._file_offsets.append(position + 8)
            self._stream_end += available
        self._next_item = position + 8 + length
        if available < length:
            self.complete = True


class StreamFile(io.RawIOBase):
    """A read/seek file object over the stream of a :class:`FragmentTable` (for ``av.open``).

    Each file object has its own position; use one per thread. Seeking from
    the end uses :meth:`FragmentTable.length_hint` until every fragment is
    found: FFmpeg asks for the size at open only to estimate the duration
    from the bit rate, and walking every item header of a long fragmented
    stream for that would delay the first frame. Reads past the real end
    return nothing, as at the end of a file.
    """

    def __init__(self, table: FragmentTable) -> None:
        super().__init__()
        self._table = table
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence == io.SEEK_END:
            offset += self._table.length_hint()
        if offset < 0:
            raise ValueError(f"negative seek position {offset}")
        self._position = offset
        return offset

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._table.read(self._position, len(view))
        view[: len(data)] = data
        self._position += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, self._table.length_hint() - self._position)
        data = self._table.read(self._position, size)
        self._position += len(data)
        return data
