"""Per-frame Functional Groups parsed on demand, not at open.

Enhanced multi-frame files carry one Per-frame Functional Groups item per
frame, often written with undefined lengths; pydicom builds every item at
open (0.5 s for 5,000 frames, 2.7 s for 20,000 here). For files with many
frames Cinemap instead:

1. stops pydicom's header parse at (5200,9230);
2. finds where the sequence ends: for undefined length, first by searching
   the mapping for "sequence delimiter + Pixel Data tag" (a memchr-speed
   scan, checked by parsing the Pixel Data header that follows), else by
   walking element headers with :func:`skip_sequence`;
3. on the first request for frame k, walks item headers up to k (a few
   microseconds an item, remembered for later requests) and lets pydicom
   parse just item k, keeping recent items in a small LRU.

The sequence itself appears in the dataset as a memory-mapped ``UN`` value
(never read unless asked for); :class:`PerFrameGroups` is the accessor.
"""

from __future__ import annotations

import io
import struct
import threading
from collections import OrderedDict

from pydicom.charset import default_encoding
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset

from viewer.model.dicom.encoding import EXPLICIT_LONG_VRS, UNDEFINED_LENGTH
from viewer.model.errors import DicomError, TruncatedFileError, converted_errors

PER_FRAME_TAG = 0x52009230
"""Per-frame Functional Groups Sequence (5200,9230): the one definition every module uses."""
LAZY_MIN_FRAMES = 100
ITEM = (0xFFFE, 0xE000)
ITEM_END = (0xFFFE, 0xE00D)
SEQUENCE_END = (0xFFFE, 0xE0DD)
_ITEM_CACHE = 64
_WINDOW = 1 << 16


class _Walker:
    """Bounds-checked reads of element headers from the file's bytes.

    `buffer` offers ``read(offset, length) -> bytes``, ``find(pattern, start)``
    and ``len()``: :class:`~viewer.model.storage.opened.FileBytes` (the mapping
    while one is safe, else cached positional reads). Headers are unpacked
    from a window of :data:`_WINDOW` bytes read at once: a walk reads
    hundreds of thousands of headers, and one read per header cost 1 us each.
    """

    def __init__(self, path: str, buffer, implicit_vr: bool, little_endian: bool) -> None:
        self.path = path
        self.buffer = buffer
        self.size = len(buffer)
        self.implicit_vr = implicit_vr
        order = "<" if little_endian else ">"
        self._tag_length = struct.Struct(order + "HHI")
        self._short = struct.Struct(order + "H")
        self._long = struct.Struct(order + "I")
        self._window = b""
        self._window_start = 0

    def _at(self, position: int, count: int) -> int:
        """Offset of `position` in the window, which is moved to hold ``count`` bytes from there."""
        start = self._window_start
        if position < start or position + count > start + len(self._window):
            self._window = self.buffer.read(position, min(max(count, _WINDOW), self.size - position))
            self._window_start = start = position
        return position - start

    def _need(self, position: int, count: int) -> None:
        if position + count > self.size:
            raise TruncatedFileError(self.path, "the file ends inside the Per-frame Functional Groups Sequence")

    def header(self, position: int) -> tuple[tuple[int, int], int, int]:
        """(tag, value length, header size) of the element or item at `position`."""
        self._need(position, 8)
        at = self._at(position, min(12, self.size - position))
        window = self._window
        group, element, length = self._tag_length.unpack_from(window, at)
        if group == 0xFFFE or self.implicit_vr:
            return (group, element), length, 8
        vr = window[at + 4 : at + 6]
        if vr in EXPLICIT_LONG_VRS:
            self._need(position, 12)
            return (group, element), self._long.unpack_from(window, at + 8)[0], 12
        return (group, element), self._short.unpack_from(window, at + 6)[0], 8

    def skip_value(self, position: int, length: int) -> int:
        """Position after a defined-length value."""
        self._need(position, length)
        return position + length

    def skip_undefined_item(self, position: int) -> int:
        """Position after the item delimiter of an undefined-length item body."""
        while True:
            tag, length, size = self.header(position)
            if tag == ITEM_END:
                return position + 8
            if length == UNDEFINED_LENGTH:
                position = self.skip_sequence_body(position + size)
            else:
                position = self.skip_value(position + size, length)

    def skip_sequence_body(self, position: int) -> int:
        """Position after the delimiter of an undefined-length sequence value."""
        while True:
            tag, length, _ = self.header(position)
            if tag == SEQUENCE_END:
                return position + 8
            if tag != ITEM:
                raise DicomError(self.path, f"expected a sequence item at byte {position}, found {tag[0]:04X},{tag[1]:04X}")
            position = self.next_item(position)

    def next_item(self, position: int) -> int:
        """Position after the item starting at `position`."""
        _, length, _ = self.header(position)
        if length == UNDEFINED_LENGTH:
            return self.skip_undefined_item(position + 8)
        return self.skip_value(position + 8, length)


def find_sequence_end(
    path: str, buffer, value_start: int, implicit_vr: bool, little_endian: bool
) -> int:
    """End offset of an undefined-length sequence whose value starts at `value_start`.

    Tries the fast pattern search (sequence delimiter directly followed by
    the Pixel Data tag), else walks the element headers.
    """
    order = "<" if little_endian else ">"
    pattern = struct.pack(order + "HHI", 0xFFFE, 0xE0DD, 0) + struct.pack(order + "HH", 0x7FE0, 0x0010)
    found = buffer.find(pattern, value_start)
    if found >= 0:
        return found + 8
    return _Walker(path, buffer, implicit_vr, little_endian).skip_sequence_body(value_start)


class PerFrameGroups:
    """Lazy access to the items of a Per-frame Functional Groups Sequence.

    Parameters
    ----------
    buffer : FileBytes-like
        The whole file (``read``, ``find``, ``len``; see :class:`_Walker`).
    value_start, value_end : int
        The sequence value's extent in the file (end excludes nothing: for an
        undefined length it is just past the sequence delimiter).
    """

    def __init__(
        self, path: str, buffer, value_start: int, value_end: int, implicit_vr: bool, little_endian: bool,
        encoding: str | list[str] = default_encoding,
    ) -> None:
        self.path = path
        self._buffer = buffer
        self._walker = _Walker(path, buffer, implicit_vr, little_endian)
        self._implicit_vr = implicit_vr
        self._little_endian = little_endian
        self._encoding = encoding
        self._end = value_end
        self._spans: list[tuple[int, int]] = []
        self._next = value_start
        self._exhausted = False
        self._items: OrderedDict[int, Dataset] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def indexed(self) -> int:
        """How many item positions are known so far."""
        return len(self._spans)

    def _index_to(self, index: int) -> None:
        """Walk item headers until item `index` is located (or the sequence ends)."""
        while len(self._spans) <= index and not self._exhausted:
            position = self._next
            if position + 8 > self._end or self._walker.header(position)[0] != ITEM:
                self._exhausted = True
                break
            stop = self._walker.next_item(position)
            self._spans.append((position, stop))
            self._next = stop

    def item(self, index: int) -> Dataset | None:
        """The parsed item for frame `index`, or None if the sequence is shorter."""
        with self._lock:
            cached = self._items.get(index)
            if cached is not None:
                self._items.move_to_end(index)
                return cached
            self._index_to(index)
            if index >= len(self._spans):
                return None
            item = self._parse(*self._spans[index])
            self._items[index] = item
            if len(self._items) > _ITEM_CACHE:
                self._items.popitem(last=False)
            return item

    def _parse(self, start: int, stop: int) -> Dataset:
        _, length, _ = self._walker.header(start)
        body_end = stop - 8 if length == UNDEFINED_LENGTH else stop
        body = self._buffer.read(start + 8, body_end - start - 8)
        with converted_errors(self.path, f"cannot parse Per-frame Functional Groups item at byte {start}"):
            item = read_dataset(io.BytesIO(body), self._implicit_vr, self._little_endian, parent_encoding=self._encoding)
        return item
