"""The Extended and Basic Offset Tables, trusted lazily: O(1) checks per frame, no I/O at open.

A table says where each frame's first item header is, counted from the
first item after the Basic Offset Table (``base``). Nothing is read to
believe it: :meth:`locate` checks only what frame k needs (its entry and
its neighbours: increasing, not overlapping, inside the file) and the
reader then checks that an item header really is where the table says.
Counting the frames inside a file cut short is a binary search over the
table (entries increase), again without reading the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from viewer.model.errors import DicomError, TruncatedFileError


@dataclass(frozen=True)
class FrameRun:
    """Where one frame's bytes lie in the file.

    Attributes
    ----------
    start, stop : int
        File offsets: the frame's first item header, and the end of its last
        fragment (for an Extended Offset Table frame, ``start + 8 + raw_length``).
    raw_length : int or None
        Extended Offset Table frames: the frame is the first `raw_length`
        bytes of the item at `start` (as pydicom's ``get_frame`` reads it).
        None: the frame is the fragments of the whole items in ``[start, stop)``.
    """

    start: int
    stop: int
    raw_length: int | None = None


def frame_label(index: int, count: int) -> str:
    """``frame 3 of 10`` (1-based) for messages."""
    return f"frame {index + 1} of {count}"


def decode_table(values: bytes | Sequence[int] | np.ndarray, little_endian: bool = True) -> np.ndarray:
    """An Extended Offset Table value (raw bytes or numbers) as ``uint64`` numbers."""
    if isinstance(values, (bytes, bytearray, memoryview)):
        raw = bytes(values)
        return np.frombuffer(raw[: len(raw) // 8 * 8], dtype="<u8" if little_endian else ">u8").astype(np.uint64)
    return np.asarray(values, dtype=np.uint64).reshape(-1)


def _largest_prefix(count: int, inside) -> int:
    """How many leading entries satisfy `inside` (binary search; entries increase)."""
    if count == 0 or inside(count - 1):
        return count
    low, high = 0, count - 1  # inside(high) is False
    while low < high:
        middle = (low + high) // 2
        if inside(middle):
            low = middle + 1
        else:
            high = middle
    return low


class ExtendedTable:
    """Extended Offset Table (7FE0,0001) and its lengths (7FE0,0002): 64-bit, one fragment per frame.

    Parameters
    ----------
    path : str
        For messages.
    offsets, lengths : numpy.ndarray
        ``uint64``: each frame's item header offset from `base`, and the frame's length.
    base : int
        File offset of the first item after the (empty) Basic Offset Table.
    file_size : int
        Size of the file.
    """

    name = "Extended Offset Table"

    def __init__(self, path: str, offsets: np.ndarray, lengths: np.ndarray, base: int, file_size: int) -> None:
        self.path = path
        self._offsets = offsets
        self._lengths = lengths
        self._base = base
        self._file_size = file_size
        self.count = len(offsets)

    def _end(self, index: int) -> int:
        return self._base + int(self._offsets[index]) + 8 + int(self._lengths[index])

    def frames_in_file(self) -> int:
        """Leading frames whose bytes lie inside the file (O(log n), no I/O)."""
        return _largest_prefix(self.count, lambda index: self._end(index) <= self._file_size)

    def locate(self, index: int) -> FrameRun:
        """Frame `index`'s item, after O(1) checks of its entry against its neighbours and the file."""
        offset, length = int(self._offsets[index]), int(self._lengths[index])
        label = frame_label(index, self.count)
        if length == 0:
            raise DicomError(self.path, f"{label}: the {self.name} gives it a length of 0")
        if index > 0:
            previous_end = int(self._offsets[index - 1]) + 8 + int(self._lengths[index - 1])
            if offset < previous_end:
                raise DicomError(
                    self.path,
                    f"{label}: the {self.name} puts it at offset {offset}, inside the previous frame "
                    f"(which ends at {previous_end}); the table is not in increasing order",
                )
        if index + 1 < self.count and offset + 8 + length > int(self._offsets[index + 1]):
            raise DicomError(
                self.path,
                f"{label}: the {self.name} gives it {length} bytes at offset {offset}, "
                f"overlapping the next frame at {int(self._offsets[index + 1])}",
            )
        start = self._base + offset
        if start + 8 + length > self._file_size:
            raise TruncatedFileError(
                self.path,
                f"{label}: the {self.name} puts its {length} bytes at file offset {start + 8}, "
                f"past the end of the file ({self._file_size} bytes)",
            )
        return FrameRun(start, start + 8 + length, raw_length=length)


class BasicTable:
    """Basic Offset Table: 32-bit offsets of each frame's first item, frames of one or more fragments.

    The last frame runs to the sequence delimiter, which is found by walking
    its items (done by the caller, :meth:`last_start` says from where).
    """

    name = "Basic Offset Table"

    def __init__(self, path: str, offsets: Sequence[int], base: int, file_size: int) -> None:
        self.path = path
        self._offsets = np.asarray(offsets, dtype=np.uint64)
        self._base = base
        self._file_size = file_size
        self.count = len(self._offsets)

    def _start(self, index: int) -> int:
        return self._base + int(self._offsets[index])

    def frames_in_file(self) -> int:
        """Leading frames that end inside the file (the last one: that starts inside it)."""

        def inside(index: int) -> bool:
            if index + 1 < self.count:
                return self._start(index + 1) <= self._file_size
            return self._start(index) + 8 <= self._file_size

        return _largest_prefix(self.count, inside)

    @property
    def last_start(self) -> int:
        """File offset of the last frame's first item header."""
        return self._start(self.count - 1)

    def locate(self, index: int) -> FrameRun | None:
        """Frame `index`'s items, or None for the last frame (its end must be scanned for)."""
        label = frame_label(index, self.count)
        start = self._start(index)
        if index > 0 and start <= self._start(index - 1):
            raise DicomError(
                self.path, f"{label}: the {self.name} is not in increasing order at entry {index + 1}"
            )
        if index + 1 == self.count:
            if start + 8 > self._file_size:
                raise TruncatedFileError(self.path, f"{label}: the {self.name} puts it past the end of the file")
            return None
        stop = self._start(index + 1)
        if stop <= start:
            raise DicomError(
                self.path, f"{label}: the {self.name} is not in increasing order at entry {index + 2}"
            )
        if stop > self._file_size:
            raise TruncatedFileError(
                self.path,
                f"{label}: the {self.name} puts it at file offsets {start}..{stop}, past the end of the file "
                f"({self._file_size} bytes)",
            )
        return FrameRun(start, stop)
