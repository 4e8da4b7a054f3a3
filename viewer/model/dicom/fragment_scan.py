"""Walking the items of an encapsulated value with one small positional read per item.

Without an offset table, the only way to find frame k is to walk the item
headers before it. :class:`FragmentScan` does that one item at a time and
remembers what it found, so that a caller can scan exactly as far as it
needs and another can carry on later. Each step reads the last bytes of the
current fragment *and* the next item header in a single read (18 bytes):
the tail tells whether the fragment ends with a JPEG EOI / JPEG 2000 EOC
marker (pydicom's ``get_frame`` splits multi-fragment frames on it), the
header says where the next fragment is. Fragment data is never read.

A scan is not thread-safe by itself: :class:`~viewer.model.dicom.frame_index.FrameIndex`
lets one thread step it at a time.
"""

from __future__ import annotations

import struct
from array import array
from typing import Callable

from viewer.model.dicom.encoding import UNDEFINED_LENGTH
from viewer.model.errors import DicomError

Reader = Callable[[int, int], bytes | bytearray]
"""``read(offset, length) -> bytes or bytearray``: a positional read of the file (exactly `length` bytes)."""

ITEM = 0xFFFEE000
DELIMITER = 0xFFFEE0DD
END_MARKER = b"\xff\xd9"
"""JPEG EOI, also JPEG 2000 EOC: pydicom's ``get_frame`` looks for it to split frames."""
MARKER_WINDOW = 10
"""pydicom looks for the marker in a fragment's last 10 bytes."""

DELIMITER_REACHED, END_OF_FILE = "delimiter", "end of file"


class FragmentScan:
    """Fragments of an encapsulated value found so far, from `first_item` on.

    Parameters
    ----------
    path : str
        The file, for messages.
    read : callable
        ``read(offset, length) -> bytes`` over the file.
    first_item : int
        File offset of the first item header to walk (after the Basic Offset Table).
    file_size : int
        Size of the file when it was opened: items are not read past it.
    little_endian : bool
        Byte order of the item tags and lengths.

    Attributes
    ----------
    offsets, lengths : array of int
        File offset of each fragment's item header, and the fragment's length.
    marked : bytearray
        1 where the fragment's last 10 bytes hold an end-of-image marker.
    items_read : int
        Item headers read so far (the delimiter included).
    end : int or None
        Once done, the file offset just past the delimiter (or past the last
        complete item when the file ends first).
    ended_by : str or None
        ``"delimiter"`` or ``"end of file"`` once done.
    """

    def __init__(self, path: str, read: Reader, first_item: int, file_size: int, little_endian: bool = True) -> None:
        self.path = path
        self._read = read
        self._file_size = file_size
        self._header = struct.Struct(("<" if little_endian else ">") + "HHI")
        self.offsets = array("q")
        self.lengths = array("q")
        self.marked = bytearray()
        self.items_read = 0
        self.end: int | None = None
        self.ended_by: str | None = None
        self._next = first_item  # file offset of the next item header
        self._next_header: bytes | None = None  # read together with the previous fragment's tail

    @property
    def done(self) -> bool:
        """True once the delimiter or the end of the file was reached."""
        return self.ended_by is not None

    def __len__(self) -> int:
        return len(self.offsets)

    def step(self) -> bool:
        """Read the next item; False (and :attr:`done`) when there is none."""
        if self.ended_by is not None:
            return False
        position = self._next
        header = self._next_header
        if header is None:
            if position + 8 > self._file_size:
                return self._finish(END_OF_FILE, position)
            header = bytes(self._read(position, 8))
        self._next_header = None
        self.items_read += 1
        group, element, length = self._header.unpack(header)
        tag = group << 16 | element
        if tag == DELIMITER:
            return self._finish(DELIMITER_REACHED, position + 8)
        if tag != ITEM or length == UNDEFINED_LENGTH:
            raise DicomError(
                self.path,
                f"expected a fragment item at byte {position} of the file in the encapsulated Pixel Data, "
                f"found tag ({group:04X},{element:04X}) with length {length}",
            )
        data_start = position + 8
        data_end = data_start + length
        if data_end > self._file_size:
            return self._finish(END_OF_FILE, position)
        tail_start = max(data_start, data_end - MARKER_WINDOW)
        read_end = min(data_end + 8, self._file_size)
        chunk = bytes(self._read(tail_start, read_end - tail_start)) if read_end > tail_start else b""
        tail_length = data_end - tail_start
        self.offsets.append(position)
        self.lengths.append(length)
        self.marked.append(END_MARKER in chunk[:tail_length])
        if len(chunk) - tail_length == 8:
            self._next_header = chunk[tail_length:]
        self._next = data_end
        return True

    def _finish(self, reason: str, end: int) -> bool:
        self.ended_by = reason
        self.end = end
        return False

    def item_end(self, fragment: int) -> int:
        """File offset just past fragment `fragment`'s data."""
        return self.offsets[fragment] + 8 + self.lengths[fragment]


def group_by_markers(marked: bytearray, start: int, stop: int) -> list[tuple[int, int]]:
    """(first, last) fragment of each frame, split after every marked fragment (pydicom's rule).

    Fragments after the last marked one form a last frame, as pydicom returns them.
    """
    groups = []
    first = start
    for fragment in range(start, stop):
        if marked[fragment]:
            groups.append((first, fragment))
            first = fragment + 1
    if first < stop:
        groups.append((first, stop - 1))
    return groups


def final_grouping(marked: bytearray, number_of_frames: int) -> list[tuple[int, int]]:
    """(first, last) fragment of each frame once every fragment is known: ``get_frame``'s rules.

    One fragment is one frame; as many fragments as frames is one fragment per
    frame; one frame takes every fragment; otherwise frames end at markers.
    """
    count = len(marked)
    if count == 0:
        return []
    if count == 1:
        return [(0, 0)]
    if count == number_of_frames:
        return [(fragment, fragment) for fragment in range(count)]
    if number_of_frames <= 1:
        return [(0, count - 1)]
    return group_by_markers(marked, 0, count)
